import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { badKey } from './encoding.js';
import { privateKeyFromKeyObject } from './private-key.js';
import type { PrivateKey, PublicKey } from './types.js';

function errorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}

function explain(e: unknown, passphrase: string | undefined, encrypted: boolean): string {
  const code = errorCode(e);
  // OpenSSL reports a missing passphrase as an interrupted password prompt.
  if (
    passphrase === undefined &&
    (code === 'ERR_MISSING_PASSPHRASE' || code === 'ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED')
  ) {
    return 'the key is encrypted and no passphrase was given';
  }
  if (passphrase !== undefined && code === 'ERR_OSSL_BAD_DECRYPT') return 'wrong passphrase';
  const message = e instanceof Error ? e.message : String(e);
  // CBC with a wrong key passes the padding check about once in 256 tries, and the garbage then
  // fails as DER ("DECODER routines::unsupported"): an encrypted key that will not decode under
  // the given passphrase is a wrong passphrase as far as anyone can tell (as ssh-keygen says).
  if (passphrase !== undefined && encrypted) return `wrong passphrase or corrupt key (${message})`;
  return message;
}

/**
 * A PEM private key: PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`,
 * `ENCRYPTED PRIVATE KEY`), encrypted ones with `passphrase`. OpenSSL does the parsing.
 */
export function parsePemPrivateKey(pem: Buffer, passphrase?: string): PrivateKey {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (e) {
    const text = pem.toString('latin1');
    const encrypted = text.includes('ENCRYPTED PRIVATE KEY') || /Proc-Type:\s*4,ENCRYPTED/.test(text);
    throw badKey(`cannot read PEM private key: ${explain(e, passphrase, encrypted)}`, e);
  }
  return privateKeyFromKeyObject(keyObject);
}

/** A DER private key: PKCS#8 (maybe encrypted), PKCS#1 RSA or SEC1 EC, tried in that order. */
export function parseDerPrivateKey(der: Buffer, passphrase?: string): PrivateKey {
  let first: unknown;
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      return privateKeyFromKeyObject(createPrivateKey({ key: der, format: 'der', type, passphrase }));
    } catch (e) {
      first ??= e;
    }
  }
  // A DER file holds no marker of encryption that OpenSSL has not already failed on; say what it said.
  throw badKey(`cannot read DER private key: ${explain(first, passphrase, false)}`, first);
}

/** Options of `formatPemPrivateKey`. */
export interface PemWriteOptions {
  /** 'pkcs1' (RSA only), 'sec1' (ECDSA only) or 'pkcs8' (any); default pkcs8. */
  format?: 'pkcs1' | 'sec1' | 'pkcs8';
  /** Encrypt: PBES2 for pkcs8; the legacy Proc-Type/DEK-Info form for pkcs1 and sec1. */
  passphrase?: string;
  /** OpenSSL's cipher name (default aes-256-cbc; legacy PEM also des-ede3-cbc, aes-128-cbc). */
  cipher?: string;
}

/**
 * A private key as PEM (what `ssh-keygen -m PEM` or `-m PKCS8` writes; the comment is lost, as
 * there): OpenSSL does the encoding. A format that does not fit the key type is BAD_KEY.
 */
export function formatPemPrivateKey(key: PrivateKey, opts: PemWriteOptions = {}): string {
  const format = opts.format ?? 'pkcs8';
  if (format === 'pkcs1' && key.type !== 'ssh-rsa') throw badKey(`PKCS#1 holds RSA keys, not ${key.type}`);
  if (format === 'sec1' && !key.type.startsWith('ecdsa-'))
    throw badKey(`SEC1 holds EC keys, not ${key.type}`);
  const encryption =
    opts.passphrase === undefined
      ? {}
      : { cipher: opts.cipher ?? 'aes-256-cbc', passphrase: opts.passphrase };
  try {
    return key.keyObject.export({ type: format, format: 'pem', ...encryption }) as string;
  } catch (e) {
    throw badKey(`cannot write the key as ${format}: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

/** A public key as PEM: X.509 SubjectPublicKeyInfo (`ssh-keygen -e -m PKCS8`) or, for RSA, PKCS#1 (`-m PEM`). */
export function formatPemPublicKey(key: PublicKey, format: 'spki' | 'pkcs1' = 'spki'): string {
  if (format === 'pkcs1' && key.type !== 'ssh-rsa') throw badKey(`PKCS#1 holds RSA keys, not ${key.type}`);
  return key.keyObject.export({ type: format, format: 'pem' }) as string;
}
