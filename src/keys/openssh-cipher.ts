import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import type BcryptPbkdf from 'bcrypt-pbkdf';
import { SshReader } from '../wire/reader.js';
import { SshWriter } from '../wire/writer.js';
import { badKey } from './encoding.js';
import { poly1305 } from './poly1305.js';

/**
 * The encryption of openssh-key-v1 private sections (PROTOCOL.key): a key and IV derived from
 * the passphrase with bcrypt_pbkdf (kdf "bcrypt", options: string salt, uint32 rounds), then the
 * cipher over the private section; an AEAD cipher's tag follows the section's string, outside its
 * length (sshkey.c). bcrypt_pbkdf comes from the `bcrypt-pbkdf` package (pure JavaScript: about
 * 65 ms a round on this machine, 1 s at ssh-keygen's default of 16; the caller caches the key).
 */
interface KeyFileCipher {
  /** OpenSSL's name for Node's createCipheriv ('chacha20-poly1305' is OpenSSH's own, below). */
  node: string;
  keyLength: number;
  ivLength: number;
  blockSize: number;
  tagLength: number;
}

const CIPHERS: Record<string, KeyFileCipher> = {
  'aes128-ctr': { node: 'aes-128-ctr', keyLength: 16, ivLength: 16, blockSize: 16, tagLength: 0 },
  'aes192-ctr': { node: 'aes-192-ctr', keyLength: 24, ivLength: 16, blockSize: 16, tagLength: 0 },
  'aes256-ctr': { node: 'aes-256-ctr', keyLength: 32, ivLength: 16, blockSize: 16, tagLength: 0 },
  'aes128-cbc': { node: 'aes-128-cbc', keyLength: 16, ivLength: 16, blockSize: 16, tagLength: 0 },
  'aes192-cbc': { node: 'aes-192-cbc', keyLength: 24, ivLength: 16, blockSize: 16, tagLength: 0 },
  'aes256-cbc': { node: 'aes-256-cbc', keyLength: 32, ivLength: 16, blockSize: 16, tagLength: 0 },
  'aes128-gcm@openssh.com': {
    node: 'aes-128-gcm',
    keyLength: 16,
    ivLength: 12,
    blockSize: 16,
    tagLength: 16,
  },
  'aes256-gcm@openssh.com': {
    node: 'aes-256-gcm',
    keyLength: 32,
    ivLength: 12,
    blockSize: 16,
    tagLength: 16,
  },
  // cipher.c: block size 8, a 64-byte key, no IV, a 16-byte Poly1305 tag.
  'chacha20-poly1305@openssh.com': {
    node: 'chacha20-poly1305',
    keyLength: 64,
    ivLength: 0,
    blockSize: 8,
    tagLength: 16,
  },
};

const ZERO_32 = Buffer.alloc(32);

/**
 * chacha20-poly1305@openssh.com over a key file's section (PROTOCOL.chacha20poly1305, as
 * sshkey.c calls it: sequence number 0, no length field). Only the first 32 bytes of the key
 * (K_2) are used: the Poly1305 key is ChaCha20(K_2, nonce 0, counter 0) over 32 zero bytes, and
 * the section is encrypted from counter 1; the tag covers the ciphertext. OpenSSL's `chacha20`
 * IV is `counter (LE) || nonce`, the nonce here being eight zero bytes.
 */
function chachaPoly(key: Buffer, data: Buffer, encrypt: boolean, tag?: Buffer): { out: Buffer; tag: Buffer } {
  const k2 = key.subarray(0, 32);
  const iv = Buffer.alloc(16);
  const polyKey = createCipheriv('chacha20', k2, iv).update(ZERO_32);
  if (!encrypt) {
    const want = poly1305(polyKey, data);
    if (tag === undefined || tag.length !== 16 || !timingSafeEqual(want, tag)) {
      throw badKey('wrong passphrase (the authentication tag does not match)');
    }
  }
  iv[0] = 1;
  const c = createCipheriv('chacha20', k2, iv);
  const out = Buffer.concat([c.update(data), c.final()]);
  return { out, tag: encrypt ? poly1305(polyKey, out) : (tag as Buffer) };
}

/** ssh-keygen's default number of bcrypt rounds. */
export const DEFAULT_KDF_ROUNDS = 16;
/** More rounds than this is refused: a hostile key file could ask for hours of work. */
export const MAX_KDF_ROUNDS = 1024;

/** The cipher of an encrypted key file, or a BAD_KEY error naming what is not supported. */
export function keyFileCipher(name: string): KeyFileCipher {
  const c = CIPHERS[name];
  if (!c) {
    throw badKey(
      `the key is encrypted with ${name.slice(0, 64)}, which Seashell cannot decrypt ` +
        `(it can: ${Object.keys(CIPHERS).join(', ')})`,
    );
  }
  return c;
}

/** The bytes after the private section's string (the AEAD tag), for the decoder to read. */
export function tagLength(cipherName: string): number {
  return cipherName === 'none' ? 0 : keyFileCipher(cipherName).tagLength;
}

function deriveKeyIv(
  c: KeyFileCipher,
  kdf: string,
  kdfOptions: Buffer,
  passphrase: string,
): { key: Buffer; iv: Buffer } {
  if (kdf !== 'bcrypt') throw badKey(`unsupported key derivation "${kdf.slice(0, 32)}" (only bcrypt)`);
  const r = new SshReader(kdfOptions);
  const salt = r.string('bcrypt salt');
  const rounds = r.uint32();
  r.done('bcrypt kdf options');
  if (salt.length === 0 || salt.length > 1024) throw badKey(`bcrypt salt of ${salt.length} bytes`);
  if (rounds < 1 || rounds > MAX_KDF_ROUNDS) {
    throw badKey(`bcrypt rounds ${rounds} outside 1-${MAX_KDF_ROUNDS}`);
  }
  const pass = Buffer.from(passphrase, 'utf8');
  const out = Buffer.alloc(c.keyLength + c.ivLength);
  // Loaded on first use: only encrypted private keys need it (README, "Lazy loading").
  const bcrypt = createRequire(import.meta.url)('bcrypt-pbkdf') as typeof BcryptPbkdf;
  if (bcrypt.pbkdf(pass, pass.length, salt, salt.length, out, out.length, rounds) !== 0) {
    throw badKey('bcrypt_pbkdf failed');
  }
  return { key: out.subarray(0, c.keyLength), iv: out.subarray(c.keyLength) };
}

/**
 * Decrypts an encrypted private section. A wrong passphrase shows as check integers that differ
 * (or a tag that fails), which the caller reports as such.
 */
export function decryptSection(
  cipherName: string,
  kdf: string,
  kdfOptions: Buffer,
  section: Buffer,
  tag: Buffer,
  passphrase: string,
): Buffer {
  const c = keyFileCipher(cipherName);
  if (section.length % c.blockSize !== 0) throw badKey(`encrypted section is not a whole number of blocks`);
  const { key, iv } = deriveKeyIv(c, kdf, kdfOptions, passphrase);
  if (c.node === 'chacha20-poly1305') return chachaPoly(key, section, false, tag).out;
  const d = createDecipheriv(c.node, key, iv);
  d.setAutoPadding(false);
  if (c.tagLength) (d as unknown as { setAuthTag(t: Buffer): void }).setAuthTag(tag);
  try {
    return Buffer.concat([d.update(section), d.final()]);
  } catch {
    throw badKey('wrong passphrase (the authentication tag does not match)');
  }
}

/** Encrypts a padded private section with a fresh salt; returns the kdf options and the tag too. */
export function encryptSection(
  cipherName: string,
  section: Buffer,
  passphrase: string,
  rounds = DEFAULT_KDF_ROUNDS,
): { kdfOptions: Buffer; encrypted: Buffer; tag: Buffer } {
  const c = keyFileCipher(cipherName);
  const kdfOptions = new SshWriter(32).string(randomBytes(16)).uint32(rounds).finish();
  const { key, iv } = deriveKeyIv(c, 'bcrypt', kdfOptions, passphrase);
  if (c.node === 'chacha20-poly1305') {
    const { out, tag } = chachaPoly(key, section, true);
    return { kdfOptions, encrypted: out, tag };
  }
  const e = createCipheriv(c.node, key, iv);
  e.setAutoPadding(false);
  const encrypted = Buffer.concat([e.update(section), e.final()]);
  const tag = c.tagLength ? (e as unknown as { getAuthTag(): Buffer }).getAuthTag() : Buffer.alloc(0);
  return { kdfOptions, encrypted, tag };
}

/** The block size the private section is padded to (8 when not encrypted). */
export function sectionBlockSize(cipherName: string): number {
  return cipherName === 'none' ? 8 : keyFileCipher(cipherName).blockSize;
}
