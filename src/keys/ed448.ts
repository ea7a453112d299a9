import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { badKey, toBase64Url } from './encoding.js';

/** RFC 8032 §5.2.5: Ed448 public keys and private seeds are 57 bytes; signatures 114 (RFC 8709 §6). */
export const ED448_KEY_BYTES = 57;
export const ED448_SIGNATURE_BYTES = 114;

/** PKCS#8 PrivateKeyInfo for Ed448 (OID 1.3.101.113, RFC 8410 §7) up to the 57-byte seed. */
const ED448_PKCS8_PREFIX = Buffer.from('3047020100300506032b6571043b0439', 'hex');

export function ed448Public(pub: Buffer): KeyObject {
  if (pub.length !== ED448_KEY_BYTES)
    throw badKey(`ed448 public key is ${pub.length} bytes, not ${ED448_KEY_BYTES}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed448', x: toBase64Url(pub) }, format: 'jwk' });
}

/** An Ed448 private KeyObject from its 57-byte seed. */
export function ed448FromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== ED448_KEY_BYTES)
    throw badKey(`ed448 seed is ${seed.length} bytes, not ${ED448_KEY_BYTES}`);
  return createPrivateKey({ key: Buffer.concat([ED448_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}
