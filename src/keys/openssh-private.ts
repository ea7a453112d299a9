import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SshReader } from '../wire/reader.js';
import { SshWriter } from '../wire/writer.js';
import { curveForKeyType } from './curves.js';
import { decryptSection, encryptSection, sectionBlockSize, tagLength } from './openssh-cipher.js';
import { badKey, bytesToBigint, decodeAs, jwkBytes, leftPad, readUnsignedMpint } from './encoding.js';
import {
  ecdsaFromScalar,
  ed25519FromSeed,
  privateKeyFromKeyObject,
  rsaFromComponents,
} from './private-key.js';
import type { PrivateKey } from './types.js';
import { dsaComponents, dsaPrivateKey } from './dsa.js';
import { ED448_KEY_BYTES, ed448FromSeed } from './ed448.js';

/** PROTOCOL.key: the binary format starts with this magic, NUL included. */
export const OPENSSH_KEY_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/** An encrypted key file was given no passphrase: the caller may ask for one and try again. */
export const PASSPHRASE_NEEDED = 'a passphrase is needed to decrypt this key';

/**
 * Decodes an openssh-key-v1 blob (PROTOCOL.key): magic, cipher, kdf, kdf options, number of keys
 * (1), public key, then the private section (encrypted unless the cipher is "none", with an AEAD
 * tag after it): two equal check integers, the key, its comment and padding 1, 2, 3, ...
 */
export function decodeOpenSshPrivateKey(buf: Buffer, passphrase?: string): PrivateKey {
  return decodeAs('invalid OpenSSH private key', () => {
    if (!buf.subarray(0, OPENSSH_KEY_MAGIC.length).equals(OPENSSH_KEY_MAGIC)) {
      throw badKey('not an openssh-key-v1 private key');
    }
    const r = new SshReader(buf, OPENSSH_KEY_MAGIC.length);
    const cipher = r.ascii('cipher name');
    const kdf = r.ascii('kdf name');
    const kdfOptions = r.string('kdf options');
    if (cipher === 'none' && (kdf !== 'none' || kdfOptions.length !== 0)) {
      throw badKey(`unencrypted key with kdf "${kdf.slice(0, 32)}"`);
    }
    const count = r.uint32();
    if (count !== 1) throw badKey(`the file holds ${count} keys; exactly one is supported`);
    const publicBlob = r.string('public key');
    let section = r.string('private section');
    const tag = r.raw(tagLength(cipher), 'authentication tag');
    r.done('OpenSSH private key');
    const encrypted = cipher !== 'none';
    if (encrypted) {
      if (passphrase === undefined) throw badKey(`${PASSPHRASE_NEEDED} (cipher ${cipher}, kdf ${kdf})`);
      section = decryptSection(cipher, kdf, kdfOptions, section, tag, passphrase);
    }
    if (section.length % sectionBlockSize(cipher) !== 0) {
      throw badKey(`private section is not padded to ${sectionBlockSize(cipher)}-byte blocks`);
    }

    const p = new SshReader(section);
    if (p.uint32() !== p.uint32()) {
      throw badKey(
        encrypted
          ? 'wrong passphrase (the check integers differ)'
          : 'check integers differ: the key is corrupt',
      );
    }
    const keyObject = readPrivateFields(p);
    const comment = p.utf8('comment');
    const padding = p.rest();
    for (let i = 0; i < padding.length; i++) {
      if (padding[i] !== ((i + 1) & 0xff)) throw badKey('bad padding after the private key');
    }
    const key = privateKeyFromKeyObject(keyObject, comment);
    if (!key.publicKey.blob.equals(publicBlob)) throw badKey('the public key does not match the private key');
    return key;
  });
}

/**
 * The public key blob of an openssh-key-v1 file, which is stored outside the encrypted section
 * (PROTOCOL.key), so an encrypted key can be offered before anyone types its passphrase.
 */
export function peekOpenSshPublicBlob(buf: Buffer): Buffer {
  return decodeAs('invalid OpenSSH private key', () => {
    if (!buf.subarray(0, OPENSSH_KEY_MAGIC.length).equals(OPENSSH_KEY_MAGIC)) {
      throw badKey('not an openssh-key-v1 private key');
    }
    const r = new SshReader(buf, OPENSSH_KEY_MAGIC.length);
    r.string('cipher name');
    r.string('kdf name');
    r.string('kdf options');
    if (r.uint32() !== 1) throw badKey('the file does not hold exactly one key');
    return r.string('public key');
  });
}

/** The type-specific private fields (PROTOCOL.key; sshkey.c's sshkey_private_serialize order). */
function readPrivateFields(p: SshReader): KeyObject {
  const type = p.ascii('key type');
  if (type === 'ssh-ed25519') {
    // string pub (32), string seed || pub (64)
    const pub = p.string('ed25519 public key');
    const sk = p.string('ed25519 private key');
    if (pub.length !== 32 || sk.length !== 64) throw badKey('ed25519 key fields have the wrong length');
    if (!sk.subarray(32).equals(pub)) throw badKey('ed25519 private key does not end with its public key');
    return ed25519FromSeed(sk.subarray(0, 32));
  }
  if (type === 'ssh-ed448') {
    // As ed25519 (OpenSSH has no Ed448): string pub (57), string seed || pub (114).
    const pub = p.string('ed448 public key');
    const sk = p.string('ed448 private key');
    if (pub.length !== ED448_KEY_BYTES || sk.length !== 2 * ED448_KEY_BYTES)
      throw badKey('ed448 key fields have the wrong length');
    if (!sk.subarray(ED448_KEY_BYTES).equals(pub))
      throw badKey('ed448 private key does not end with its public key');
    return ed448FromSeed(sk.subarray(0, ED448_KEY_BYTES));
  }
  if (type === 'ssh-dss') {
    // mpint p, q, g, y, x
    const [dp, q, g, y, x] = ['p', 'q', 'g', 'y', 'x'].map((n) =>
      bytesToBigint(readUnsignedMpint(p, `DSA ${n}`, false)),
    ) as [bigint, bigint, bigint, bigint, bigint];
    return dsaPrivateKey({ p: dp, q, g, y, x });
  }
  if (type === 'ssh-rsa') {
    const f = (what: string): Buffer => readUnsignedMpint(p, what, false);
    return rsaFromComponents({ n: f('n'), e: f('e'), d: f('d'), iqmp: f('iqmp'), p: f('p'), q: f('q') });
  }
  const curve = curveForKeyType(type);
  if (curve === undefined) throw badKey(`unsupported private key type "${type.slice(0, 64)}"`);
  // string curve, string Q, mpint d
  if (p.ascii('curve name') !== curve.name) throw badKey(`${type} key names another curve`);
  const q = p.string('ECDSA point');
  return ecdsaFromScalar(curve, readUnsignedMpint(p, 'ECDSA private scalar', false), q);
}

/**
 * The key type and its private fields in sshkey.c's order (PROTOCOL.key's private section, and
 * the agent's ADD_IDENTITY): ed25519 and ed448 `pub, seed || pub`; ecdsa `curve, Q, d`; rsa `n, e,
 * d, iqmp, p, q`; dsa `p, q, g, y, x`.
 */
export function encodePrivateFields(w: SshWriter, key: PrivateKey): void {
  w.string(key.type);
  if (key.type === 'ssh-dss') {
    const c = dsaComponents(key.keyObject);
    w.mpint(c.p).mpint(c.q).mpint(c.g).mpint(c.y).mpint(c.x!);
    return;
  }
  const jwk = key.keyObject.export({ format: 'jwk' });
  const curve = curveForKeyType(key.type);
  if (key.type === 'ssh-ed25519' || key.type === 'ssh-ed448') {
    const pub = jwkBytes(jwk.x, 'x');
    w.string(pub).string(Buffer.concat([jwkBytes(jwk.d, 'd'), pub]));
  } else if (curve !== undefined) {
    const q = Buffer.concat([
      Buffer.of(0x04),
      leftPad(jwkBytes(jwk.x, 'x'), curve.size),
      leftPad(jwkBytes(jwk.y, 'y'), curve.size),
    ]);
    w.string(curve.name).string(q).mpintFromUnsigned(jwkBytes(jwk.d, 'd'));
  } else {
    for (const m of ['n', 'e', 'd', 'qi', 'p', 'q'] as const) w.mpintFromUnsigned(jwkBytes(jwk[m], m));
  }
}

/** How `encodeOpenSshPrivateKey` encrypts: ssh-keygen's defaults are aes256-ctr and 16 rounds. */
export interface KeyEncryption {
  /** The passphrase. */
  passphrase: string;
  /** aes256-ctr (default), aes128/192-ctr, aes128/192/256-cbc, aes128/256-gcm@openssh.com or chacha20-poly1305@openssh.com. */
  cipher?: string;
  /** bcrypt KDF rounds (default 16). */
  rounds?: number;
}

/**
 * Encodes a key as openssh-key-v1 with a random check integer (PROTOCOL.key), encrypted when
 * `encryption` is given (bcrypt kdf; aes256-ctr unless another cipher is named).
 */
export function encodeOpenSshPrivateKey(
  key: PrivateKey,
  comment: string,
  encryption?: KeyEncryption,
): Buffer {
  const cipher = encryption ? (encryption.cipher ?? 'aes256-ctr') : 'none';
  const check = randomBytes(4).readUInt32BE(0);
  const p = new SshWriter(1024).uint32(check).uint32(check);
  encodePrivateFields(p, key);
  p.string(comment);
  const block = sectionBlockSize(cipher);
  for (let i = 1; p.length % block !== 0; i++) p.byte(i);
  let section: Buffer = p.finish();
  let kdfOptions: Buffer = Buffer.alloc(0);
  let tag: Buffer = Buffer.alloc(0);
  if (encryption) {
    const e = encryptSection(cipher, section, encryption.passphrase, encryption.rounds);
    ({ kdfOptions, tag } = e);
    section = e.encrypted;
  }

  return new SshWriter(section.length + key.publicKey.blob.length + 128)
    .raw(OPENSSH_KEY_MAGIC)
    .string(cipher)
    .string(encryption ? 'bcrypt' : 'none')
    .string(kdfOptions)
    .uint32(1)
    .string(key.publicKey.blob)
    .string(section)
    .raw(tag)
    .finish();
}
