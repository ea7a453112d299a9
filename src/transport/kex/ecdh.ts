import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { SshWriter } from '../../wire/writer.js';
import { OneRoundTrip, kexFailed, type Agreement } from './round.js';
import type { KexMethodSpec } from './types.js';

/**
 * Elliptic-curve Diffie-Hellman: curve25519-sha256 and curve448-sha512 (RFC 8731), and
 * ecdh-sha2-nistp256/384/521 (RFC 5656 §4). Q_C and Q_S are strings; K is the shared secret as an
 * mpint (RFC 8731 §3.1: the X25519/X448 output read as a big-endian unsigned integer; RFC 5656
 * §4: the x coordinate).
 */
export interface EcdhKey {
  /** Our public value as it goes on the wire. */
  readonly publicValue: Buffer;
  /** The raw shared secret (unsigned bytes) with the peer's public value; throws KEY_EXCHANGE_FAILED. */
  agree(peer: Buffer): Buffer;
}

/** An ECDH key as an Agreement: both sides send their public value and derive the same secret. */
export function ecdhAgreement(key: EcdhKey): Agreement {
  const k = (peer: Buffer) => new SshWriter(80).mpintFromUnsigned(key.agree(peer)).finish();
  return {
    clientValue: () => key.publicValue,
    clientSecret: k,
    serverReply: (c) => ({ value: key.publicValue, k: k(c) }),
  };
}

interface MontgomeryCurve {
  name: 'x25519' | 'x448';
  /** How errors name it. */
  label: string;
  jwk: 'X25519' | 'X448';
  size: number;
  /** DER SubjectPublicKeyInfo header of the curve's keys (RFC 8410): the raw key follows it. */
  spki: Buffer;
}

const X25519: MontgomeryCurve = {
  name: 'x25519',
  label: 'curve25519',
  jwk: 'X25519',
  size: 32,
  spki: Buffer.from('302a300506032b656e032100', 'hex'),
};
const X448: MontgomeryCurve = {
  name: 'x448',
  label: 'curve448',
  jwk: 'X448',
  size: 56,
  spki: Buffer.from('3042300506032b656f033900', 'hex'),
};

class MontgomeryKey implements EcdhKey {
  readonly publicValue: Buffer;
  private readonly privateKey: KeyObject;

  constructor(
    private readonly curve: MontgomeryCurve,
    fixed?: KeyObject,
  ) {
    if (fixed) {
      // A given private key (known-answer tests): its public half through SPKI.
      this.privateKey = fixed;
      const spki = createPublicKey(fixed).export({ type: 'spki', format: 'der' });
      this.publicValue = spki.subarray(curve.spki.length);
      return;
    }
    // The public half comes back encoded by the key generation itself. Not KeyObject.export():
    // Node 20's JWK export holds the key's mutex while it allocates, and a garbage collection
    // there that finalizes this very key-generation job locks the same mutex: the process
    // deadlocks (seen under load in the bench daemon and in a fuzz test, stack taken with gdb).
    // (Node returns the encoded half as a Buffer and the other as a KeyObject; @types/node has no
    // overload for that mix.)
    const { publicKey, privateKey } = generateKeyPairSync(curve.name as 'x25519', {
      publicKeyEncoding: { type: 'spki', format: 'der' },
    }) as unknown as { publicKey: Buffer; privateKey: KeyObject };
    this.privateKey = privateKey;
    const n = curve.spki.length;
    if (publicKey.length !== n + curve.size || !publicKey.subarray(0, n).equals(curve.spki))
      throw new Error(`generateKeyPairSync returned an unexpected ${curve.jwk} SubjectPublicKeyInfo`);
    this.publicValue = publicKey.subarray(n);
  }

  agree(peer: Buffer): Buffer {
    const c = this.curve;
    if (peer.length !== c.size)
      throw kexFailed(`${c.label}: peer public key is ${peer.length} bytes, not ${c.size}`);
    let secret: Buffer;
    try {
      // JWK import: measured about ten times cheaper in Node than the same key as DER SPKI.
      const publicKey = createPublicKey({
        key: { kty: 'OKP', crv: c.jwk, x: peer.toString('base64url') },
        format: 'jwk',
      });
      secret = diffieHellman({ privateKey: this.privateKey, publicKey });
    } catch (e) {
      throw kexFailed(`${c.label}: invalid peer public key (${(e as Error).message})`);
    }
    // RFC 8731 §3: an all-zero shared secret (a low-order peer point) MUST abort.
    if (secret.every((b) => b === 0)) throw kexFailed(`${c.label}: shared secret is all zeros`);
    return secret;
  }
}

export function x25519Key(): EcdhKey {
  return new MontgomeryKey(X25519);
}

/** PKCS #8 of an X25519 private key (RFC 8410 §7) up to its 32 bytes. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** An X25519 key from its 32 private bytes (RFC 7748 §6.1's known answers; never for a real exchange). */
export function x25519KeyFrom(privateBytes: Buffer): EcdhKey {
  if (privateBytes.length !== 32) throw new RangeError('an X25519 private key is 32 bytes');
  const key = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, privateBytes]),
    format: 'der',
    type: 'pkcs8',
  });
  return new MontgomeryKey(X25519, key);
}

/** NIST prime curves through OpenSSL's ECDH; points are uncompressed (RFC 5656 §3.1, as OpenSSH sends them). */
class NistKey implements EcdhKey {
  readonly publicValue: Buffer;
  private readonly ecdh;

  constructor(
    private readonly curve: string,
    private readonly fieldBytes: number,
  ) {
    this.ecdh = createECDH(curve);
    this.publicValue = this.ecdh.generateKeys();
  }

  agree(peer: Buffer): Buffer {
    if (peer.length !== 1 + 2 * this.fieldBytes || peer[0] !== 4)
      throw kexFailed(`${this.curve}: peer public key is not an uncompressed point of this curve`);
    try {
      // OpenSSL checks that the point is on the curve and not the point at infinity.
      return this.ecdh.computeSecret(peer);
    } catch (e) {
      throw kexFailed(`${this.curve}: invalid peer public key (${(e as Error).message})`);
    }
  }
}

function ecdh(name: string, hash: KexMethodSpec['hash'], ephemeral: () => EcdhKey): KexMethodSpec {
  const spec: KexMethodSpec = {
    name,
    hash,
    ephemeral,
    create: (input, premade) =>
      new OneRoundTrip(spec, input, ecdhAgreement((premade as EcdhKey | undefined) ?? ephemeral()), {
        init: 30,
        reply: 31,
        mpint: false,
        what: name,
      }),
  };
  return spec;
}

const x448Key = () => new MontgomeryKey(X448);

/** curve25519-sha256 (RFC 8731 §3) and its earlier name curve25519-sha256@libssh.org: one method. */
export const curve25519Sha256 = ecdh('curve25519-sha256', 'sha256', x25519Key);
export const curve25519Sha256Libssh = ecdh('curve25519-sha256@libssh.org', 'sha256', x25519Key);
export const curve448Sha512 = ecdh('curve448-sha512', 'sha512', x448Key);
export const ecdhNistp256 = ecdh('ecdh-sha2-nistp256', 'sha256', () => new NistKey('prime256v1', 32));
export const ecdhNistp384 = ecdh('ecdh-sha2-nistp384', 'sha384', () => new NistKey('secp384r1', 48));
export const ecdhNistp521 = ecdh('ecdh-sha2-nistp521', 'sha512', () => new NistKey('secp521r1', 66));
