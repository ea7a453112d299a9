import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { badKey } from './encoding.js';
import { privateKeyFromKeyObject } from './private-key.js';
import type { PrivateKey } from './types.js';

function errorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}

function explain(e: unknown, passphrase: string | undefined): string {
  const code = errorCode(e);
  // OpenSSL reports a missing passphrase as an interrupted password prompt.
  if (
    passphrase === undefined &&
    (code === 'ERR_MISSING_PASSPHRASE' || code === 'ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED')
  ) {
    return 'the key is encrypted and no passphrase was given';
  }
  if (passphrase !== undefined && code === 'ERR_OSSL_BAD_DECRYPT') return 'wrong passphrase';
  return e instanceof Error ? e.message : String(e);
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
    throw badKey(`cannot read PEM private key: ${explain(e, passphrase)}`, e);
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
  throw badKey(`cannot read DER private key: ${explain(first, passphrase)}`, first);
}
