import { createPublicKey } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { SshReader } from '../wire/reader.js';
import { SshWriter } from '../wire/writer.js';
import { curveForKeyType, curveForNodeCurve } from './curves.js';
import type { EcdsaCurve } from './curves.js';
import {
  badKey,
  bitLength,
  bytesToBigint,
  decodeAs,
  decodeBase64,
  jwkBytes,
  leftPad,
  readUnsignedMpint,
  toBase64Url,
} from './encoding.js';
import type { KeyType, PublicKey, SignatureAlgorithm } from './types.js';
import { dsaComponents, dsaPublicKey } from './dsa.js';
import { ed448Public } from './ed448.js';

/** OpenSSH refuses RSA moduli below 1024 bits (SSH_RSA_MINIMUM_MODULUS_SIZE) and above 16384. */
export const RSA_MIN_BITS = 1024;
export const RSA_MAX_BITS = 16384;

const ED25519_KEY_BYTES = 32;

/**
 * Parses a public key blob (RFC 4253 §6.6 ssh-rsa, RFC 5656 §3.1 ecdsa-sha2-*, RFC 8709 §4
 * ssh-ed25519). Anything unknown, truncated, trailing or out of range is SshError 'BAD_KEY'.
 * The returned blob is a copy, so later changes to the caller's buffer cannot alter the key.
 */
export function parsePublicKeyBlob(blob: Buffer): PublicKey {
  return decodeAs('invalid public key blob', () => {
    const r = new SshReader(blob);
    const type = r.ascii('key type');
    let keyObject: KeyObject;
    if (type === 'ssh-ed25519') {
      const x = r.string('ed25519 public key');
      if (x.length !== ED25519_KEY_BYTES) throw badKey(`ed25519 public key is ${x.length} bytes, not 32`);
      r.done(`${type} public key`);
      return lazyEd25519(Buffer.from(blob));
    } else if (type === 'ssh-ed448') {
      keyObject = ed448Public(r.string('ed448 public key'));
    } else if (type === 'ssh-dss') {
      // RFC 4253 §6.6: mpint p, mpint q, mpint g, mpint y.
      const [p, q, g, y] = ['p', 'q', 'g', 'y'].map((n) =>
        bytesToBigint(readUnsignedMpint(r, `DSA ${n}`, true)),
      ) as [bigint, bigint, bigint, bigint];
      keyObject = dsaPublicKey({ p, q, g, y });
    } else if (type === 'ssh-rsa') {
      // RFC 4253 §6.6: mpint e, mpint n.
      const e = readUnsignedMpint(r, 'RSA exponent', true);
      const n = readUnsignedMpint(r, 'RSA modulus', true);
      keyObject = rsaPublic(n, e);
    } else {
      const curve = curveForKeyType(type);
      if (curve === undefined) throw badKey(`unsupported key type "${printable(type)}"`);
      // RFC 5656 §3.1: string identifier (the curve), string Q.
      const id = r.ascii('curve name');
      if (id !== curve.name) throw badKey(`${type} key names curve "${printable(id)}"`);
      keyObject = ecdsaPublic(curve, r.string('ECDSA point'));
    }
    r.done(`${type} public key`);
    return { type: type as KeyType, blob: Buffer.from(blob), keyObject };
  });
}

/**
 * An ed25519 key whose KeyObject is made when first used: its 32 bytes need no check beyond their
 * length, and a server answers a publickey query and matches keys against authorized_keys by the
 * blob alone, so a login that queries first (OpenSSH's) makes one KeyObject instead of two, and
 * the keys of an authorized_keys file none. A KeyObject from JWK costs 4–8 µs in a loop; in a
 * daemon's profile, between connections, its import showed 0.1 ms per login (Node 20).
 */
function lazyEd25519(blob: Buffer): PublicKey {
  let keyObject: KeyObject | undefined;
  return {
    type: 'ssh-ed25519',
    blob,
    get keyObject() {
      // The key sits at the end of the blob: string "ssh-ed25519" (4 + 11 bytes), string key (4 + 32).
      if (!keyObject) {
        const x = toBase64Url(blob.subarray(blob.length - ED25519_KEY_BYTES));
        keyObject = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
      }
      return keyObject;
    },
  };
}

/** Only the uncompressed SEC1 point form (0x04 || X || Y) is used by SSH (RFC 5656 §3.1). */
function ecdsaPublic(curve: EcdsaCurve, q: Buffer): KeyObject {
  if (q.length !== 1 + 2 * curve.size || q[0] !== 0x04) {
    throw badKey(`${curve.keyType} point must be ${1 + 2 * curve.size} bytes in uncompressed form`);
  }
  const jwk: JsonWebKey = {
    kty: 'EC',
    crv: curve.jwkCurve,
    x: toBase64Url(q.subarray(1, 1 + curve.size)),
    y: toBase64Url(q.subarray(1 + curve.size)),
  };
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch (e) {
    throw badKey(`${curve.keyType} point is not on the curve`, e);
  }
}

function rsaPublic(n: Buffer, e: Buffer): KeyObject {
  // Size from the bytes (minimal, so the first is non-zero) before any big-number work.
  checkRsaSize(n.length === 0 ? 0 : (n.length - 1) * 8 + bitLength(BigInt(n[0]!)));
  if (e.length > 8) throw badKey('RSA public exponent is too large');
  const ev = bytesToBigint(e);
  if (ev < 3n || ev % 2n === 0n) throw badKey('RSA public exponent must be odd and at least 3');
  return createPublicKey({ key: { kty: 'RSA', n: toBase64Url(n), e: toBase64Url(e) }, format: 'jwk' });
}

export function checkRsaSize(bits: number): void {
  if (bits < RSA_MIN_BITS) throw badKey(`RSA modulus of ${bits} bits is too small (minimum ${RSA_MIN_BITS})`);
  if (bits > RSA_MAX_BITS) throw badKey(`RSA modulus of ${bits} bits is too large (maximum ${RSA_MAX_BITS})`);
}

/** The SSH public key of a node KeyObject (public or private): ed25519, ed448, NIST P-256/384/521 EC, RSA or DSA. */
export function publicKeyFromKeyObject(k: KeyObject): PublicKey {
  if (k.type === 'secret') throw badKey('a secret key is not a public key');
  const pub = k.type === 'private' ? createPublicKey(k) : k;
  // Node has no JWK for DSA keys.
  const jwk = pub.asymmetricKeyType === 'dsa' ? {} : pub.export({ format: 'jwk' });
  const w = new SshWriter();
  switch (pub.asymmetricKeyType) {
    case 'ed25519':
      w.string('ssh-ed25519').string(jwkBytes(jwk.x, 'x'));
      break;
    case 'ed448':
      w.string('ssh-ed448').string(jwkBytes(jwk.x, 'x'));
      break;
    case 'dsa': {
      const c = dsaComponents(pub);
      w.string('ssh-dss').mpint(c.p).mpint(c.q).mpint(c.g).mpint(c.y);
      break;
    }
    case 'ec': {
      const curve = curveForNodeCurve(pub.asymmetricKeyDetails?.namedCurve);
      if (curve === undefined) {
        throw badKey(`unsupported EC curve ${pub.asymmetricKeyDetails?.namedCurve ?? '(unknown)'}`);
      }
      const point = Buffer.concat([
        Buffer.of(0x04),
        leftPad(jwkBytes(jwk.x, 'x'), curve.size),
        leftPad(jwkBytes(jwk.y, 'y'), curve.size),
      ]);
      w.string(curve.keyType).string(curve.name).string(point);
      break;
    }
    case 'rsa':
      w.string('ssh-rsa').mpintFromUnsigned(jwkBytes(jwk.e, 'e')).mpintFromUnsigned(jwkBytes(jwk.n, 'n'));
      break;
    default:
      throw badKey(`unsupported key type ${pub.asymmetricKeyType ?? '(unknown)'}`);
  }
  return parsePublicKeyBlob(w.finish());
}

/**
 * Parses an OpenSSH public key line, `keytype base64 [comment]` (the .pub format; sshd(8)
 * AUTHORIZED_KEYS FILE FORMAT without options). The key type field must name the blob's type.
 */
export function parsePublicKeyLine(line: string): {
  /** The public key. */
  key: PublicKey;
  /** The key's comment (empty when it has none). */
  comment: string;
} {
  const m = /^[ \t]*(\S+)[ \t]+(\S+)(?:[ \t]+(.*?))?[ \t\r\n]*$/.exec(line);
  if (m === null) throw badKey('a public key line is "<key type> <base64 key> [comment]"');
  const [, type, b64, comment] = m;
  const key = parsePublicKeyBlob(decodeBase64(b64!, 'public key'));
  if (key.type !== type)
    throw badKey(`public key line says "${printable(type!)}" but the key is ${key.type}`);
  return { key, comment: comment ?? '' };
}

/** `keytype base64 [comment]`, without a newline. */
export function formatPublicKeyLine(key: PublicKey, comment?: string): string {
  const line = `${key.type} ${key.blob.toString('base64')}`;
  return comment ? `${line} ${comment}` : line;
}

/**
 * The signature algorithms a key of this type can sign with, most preferred first
 * (RFC 8332 §3: rsa-sha2-512, rsa-sha2-256, then the SHA-1 ssh-rsa).
 */
export function signatureAlgorithmsFor(type: KeyType): SignatureAlgorithm[] {
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

/** The key type a signature (or host key) algorithm needs, or undefined for an unknown name. */
export function keyTypeForSignatureAlgorithm(alg: string): KeyType | undefined {
  switch (alg) {
    case 'ssh-ed25519':
    case 'ssh-ed448':
    case 'ssh-dss':
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
    case 'ssh-rsa':
      return alg;
    case 'rsa-sha2-256':
    case 'rsa-sha2-512':
      return 'ssh-rsa';
    default:
      return undefined;
  }
}

/** Narrows a name from the wire to a SignatureAlgorithm. */
export function isSignatureAlgorithm(alg: string): alg is SignatureAlgorithm {
  return keyTypeForSignatureAlgorithm(alg) !== undefined;
}

/** Two keys are the same key when their (canonical) blobs are equal. */
export function publicKeysEqual(a: PublicKey, b: PublicKey): boolean {
  return a.blob.equals(b.blob);
}

/** A name from untrusted input, cut short and stripped of control characters for messages. */
function printable(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 64 ? clean.slice(0, 64) + '…' : clean;
}
