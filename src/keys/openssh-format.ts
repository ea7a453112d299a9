import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { DSA_P_BITS, DSA_Q_BITS } from './dsa.js';
import type { KeyObject } from 'node:crypto';
import { SshError } from '../errors.js';
import { curveForName } from './curves.js';
import type { EcdsaCurveName } from './curves.js';
import { badKey, decodeBase64, wrapBase64 } from './encoding.js';
import {
  decodeOpenSshPrivateKey,
  encodeOpenSshPrivateKey,
  OPENSSH_KEY_MAGIC,
  peekOpenSshPublicBlob,
  type KeyEncryption,
} from './openssh-private.js';
import { parseDerPrivateKey, parsePemPrivateKey } from './pem.js';
import { privateKeyFromKeyObject } from './private-key.js';
import { parsePublicKeyBlob, RSA_MAX_BITS, RSA_MIN_BITS } from './public-key.js';
import type { PrivateKey, PublicKey } from './types.js';

const BEGIN_OPENSSH = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END_OPENSSH = '-----END OPENSSH PRIVATE KEY-----';

/**
 * Reads a private key file: OpenSSH's `-----BEGIN OPENSSH PRIVATE KEY-----` (PROTOCOL.key;
 * encrypted ones with `passphrase`), PEM PKCS#1/PKCS#8/SEC1 (encrypted ones, PBES2 and the legacy
 * Proc-Type/DEK-Info form, with `passphrase`), or the same as DER. Anything else is SshError
 * 'BAD_KEY'; an encrypted key without a passphrase is BAD_KEY saying one is needed.
 */
export function parsePrivateKey(data: string | Buffer, passphrase?: string): PrivateKey {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const text = buf.toString('latin1');
  const begin = text.indexOf(BEGIN_OPENSSH);
  if (begin >= 0) {
    const end = text.indexOf(END_OPENSSH, begin);
    if (end < 0) throw badKey(`OpenSSH private key has no "${END_OPENSSH}" line`);
    const body = text.slice(begin + BEGIN_OPENSSH.length, end).replace(/\s+/g, '');
    return decodeOpenSshPrivateKey(decodeBase64(body, 'OpenSSH private key'), passphrase);
  }
  if (buf.subarray(0, OPENSSH_KEY_MAGIC.length).equals(OPENSSH_KEY_MAGIC))
    return decodeOpenSshPrivateKey(buf, passphrase);
  if (text.includes('-----BEGIN ')) return parsePemPrivateKey(buf, passphrase);
  if (buf[0] === 0x30) return parseDerPrivateKey(buf, passphrase);
  throw badKey('not a private key: expected an OpenSSH or PEM private key');
}

/**
 * The public key of an OpenSSH private key file without decrypting it (PROTOCOL.key keeps it in
 * the clear); undefined for other formats (PEM keeps nothing in the clear: use the .pub file).
 */
export function peekPublicKey(data: string | Buffer): PublicKey | undefined {
  const text = (typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('latin1');
  const begin = text.indexOf(BEGIN_OPENSSH);
  const end = text.indexOf(END_OPENSSH, begin);
  if (begin < 0 || end < 0) return undefined;
  const body = text.slice(begin + BEGIN_OPENSSH.length, end).replace(/\s+/g, '');
  return parsePublicKeyBlob(peekOpenSshPublicBlob(decodeBase64(body, 'OpenSSH private key')));
}

/**
 * The key as an OpenSSH private key file, as ssh-keygen writes it (encrypted with `encryption`): armour lines,
 * base64 wrapped at 70 columns, a final newline.
 */
export function formatOpenSshPrivateKey(
  key: PrivateKey,
  comment?: string,
  encryption?: KeyEncryption,
): string {
  const lines = wrapBase64(encodeOpenSshPrivateKey(key, comment ?? key.comment, encryption));
  return `${BEGIN_OPENSSH}\n${lines.join('\n')}\n${END_OPENSSH}\n`;
}

/** Options of `generatePrivateKey`. */
export interface GenerateKeyOptions {
  /** RSA modulus size (default 3072, 1024…16384); for ECDSA 256/384/521 picks the curve. */
  bits?: number;
  /** ECDSA curve (default nistp256). */
  curve?: EcdsaCurveName;
  /** The key's comment. */
  comment?: string;
}

/**
 * Key generation hands back encodings, and the KeyObject is made from them: a KeyObject that comes
 * straight out of generateKeyPairSync shares a lock with the generation job, and under Node 20 a
 * JWK export of it (which publicKeyFromKeyObject does) deadlocks if a garbage collection during
 * the export finalizes that job. See also transport/kex/curve25519.ts.
 */
const DER_PAIR: {
  publicKeyEncoding: { type: 'spki'; format: 'der' };
  privateKeyEncoding: { type: 'pkcs8'; format: 'der' };
} = {
  publicKeyEncoding: { type: 'spki', format: 'der' },
  privateKeyEncoding: { type: 'pkcs8', format: 'der' },
};

/** The private key of a DER_PAIR generation (a Buffer; @types/node picks the KeyObject overload). */
function detached(pair: { privateKey: unknown }): KeyObject {
  return createPrivateKey({ key: pair.privateKey as Buffer, format: 'der', type: 'pkcs8' });
}

/** A fresh key pair from OpenSSL; defaults follow ssh-keygen (RSA 3072 bits, ECDSA nistp256). */
export function generatePrivateKey(
  type: 'ed25519' | 'ecdsa' | 'rsa' | 'ed448' | 'dsa',
  opts: GenerateKeyOptions = {},
): PrivateKey {
  let keyObject: KeyObject;
  switch (type) {
    case 'ed25519':
      keyObject = detached(generateKeyPairSync('ed25519', DER_PAIR));
      break;
    case 'ed448':
      keyObject = detached(generateKeyPairSync('ed448', DER_PAIR));
      break;
    case 'dsa':
      // The only size ssh-dss has (ssh-keygen -t dsa): 1024-bit p, 160-bit q.
      keyObject = detached(
        generateKeyPairSync('dsa', { modulusLength: DSA_P_BITS, divisorLength: DSA_Q_BITS, ...DER_PAIR }),
      );
      break;
    case 'ecdsa': {
      const name = opts.curve ?? (opts.bits === undefined ? 'nistp256' : `nistp${opts.bits}`);
      const curve = curveForName(name);
      if (curve === undefined || (opts.bits !== undefined && name !== `nistp${opts.bits}`)) {
        throw new SshError('BAD_OPTION', `no ECDSA curve ${name} of ${opts.bits ?? 'default'} bits`);
      }
      keyObject = detached(generateKeyPairSync('ec', { namedCurve: curve.nodeCurve, ...DER_PAIR }));
      break;
    }
    case 'rsa': {
      const bits = opts.bits ?? 3072;
      if (!Number.isInteger(bits) || bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        throw new SshError(
          'BAD_OPTION',
          `RSA key size must be an integer from ${RSA_MIN_BITS} to ${RSA_MAX_BITS}`,
        );
      }
      keyObject = detached(
        generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001, ...DER_PAIR }),
      );
      break;
    }
    default:
      throw new SshError(
        'BAD_OPTION',
        `unknown key type ${String(type)}; use ed25519, ecdsa, rsa, ed448 or dsa`,
      );
  }
  return privateKeyFromKeyObject(keyObject, opts.comment ?? '');
}
