import { createECDH, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { EcdsaCurve } from './curves.js';
import { badKey, bigintToBytes, bytesToBigint, leftPad, toBase64Url } from './encoding.js';
import { publicKeyFromKeyObject } from './public-key.js';
import type { PrivateKey } from './types.js';

/** A PrivateKey from a node private KeyObject (ed25519, NIST P-256/384/521 EC, or RSA). */
export function privateKeyFromKeyObject(keyObject: KeyObject, comment = ''): PrivateKey {
  if (keyObject.type !== 'private') throw badKey(`a ${keyObject.type} key is not a private key`);
  const publicKey = publicKeyFromKeyObject(keyObject);
  return { type: publicKey.type, publicKey, keyObject, comment };
}

/** PKCS#8 PrivateKeyInfo for Ed25519 up to the 32-byte seed (RFC 8410 §7). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 private KeyObject from its 32-byte seed (RFC 8032 §5.1.5). */
export function ed25519FromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw badKey(`ed25519 seed is ${seed.length} bytes, not 32`);
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/**
 * An ECDSA private KeyObject from the scalar d and the point Q stored beside it; Q must be d·G
 * (computed here with OpenSSL's ECDH), so a file whose halves disagree is refused.
 */
export function ecdsaFromScalar(curve: EcdsaCurve, d: Uint8Array, q: Buffer): KeyObject {
  if (d.length === 0 || d.length > curve.size)
    throw badKey(`${curve.keyType} private scalar has a bad length`);
  const dFixed = leftPad(d, curve.size);
  const ecdh = createECDH(curve.nodeCurve);
  try {
    ecdh.setPrivateKey(dFixed);
  } catch (e) {
    throw badKey(`${curve.keyType} private scalar is out of range`, e);
  }
  if (!ecdh.getPublicKey().equals(q))
    throw badKey(`${curve.keyType} public point does not match the private scalar`);
  return createPrivateKey({
    key: {
      kty: 'EC',
      crv: curve.jwkCurve,
      x: toBase64Url(q.subarray(1, 1 + curve.size)),
      y: toBase64Url(q.subarray(1 + curve.size)),
      d: toBase64Url(dFixed),
    },
    format: 'jwk',
  });
}

export interface RsaComponents {
  n: Uint8Array;
  e: Uint8Array;
  d: Uint8Array;
  iqmp: Uint8Array;
  p: Uint8Array;
  q: Uint8Array;
}

/**
 * An RSA private KeyObject from the fields OpenSSH stores (PROTOCOL.key: n, e, d, iqmp, p, q).
 * JWK also wants the CRT exponents dp = d mod (p-1) and dq = d mod (q-1); the parts are checked
 * against each other first (n = pq, e·d ≡ 1 mod p-1 and q-1, iqmp·q ≡ 1 mod p).
 */
export function rsaFromComponents(c: RsaComponents): KeyObject {
  const [n, e, d, iqmp, p, q] = [c.n, c.e, c.d, c.iqmp, c.p, c.q].map(bytesToBigint) as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  if (p < 3n || q < 3n || n !== p * q) throw badKey('RSA key: n is not p·q');
  const dp = d % (p - 1n);
  const dq = d % (q - 1n);
  if ((e * dp) % (p - 1n) !== 1n || (e * dq) % (q - 1n) !== 1n) throw badKey('RSA key: d does not invert e');
  if ((iqmp * q) % p !== 1n) throw badKey('RSA key: iqmp is not q⁻¹ mod p');
  const b = (v: bigint): string => toBase64Url(bigintToBytes(v));
  return createPrivateKey({
    key: { kty: 'RSA', n: b(n), e: b(e), d: b(d), p: b(p), q: b(q), dp: b(dp), dq: b(dq), qi: b(iqmp) },
    format: 'jwk',
  });
}
