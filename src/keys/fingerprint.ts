import { createHash } from 'node:crypto';
import type { PublicKey } from './types.js';

export type FingerprintHash = 'md5' | 'sha' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

/**
 * The fingerprint of a key blob, as Erlang's public_key:ssh_hostkey_fingerprint/2 and OpenSSH
 * print it: `SHA256:<base64 without padding>` (likewise SHA1/SHA224/SHA384/SHA512), and for md5
 * lowercase hex pairs joined by ':' without a prefix (ssh-keygen -E md5 adds "MD5:").
 */
export function fingerprint(key: PublicKey, hash: FingerprintHash = 'sha256'): string {
  if (hash === 'md5') {
    const hex = createHash('md5').update(key.blob).digest('hex');
    return hex.match(/../g)!.join(':');
  }
  const alg = hash === 'sha' ? 'sha1' : hash;
  const digest = createHash(alg).update(key.blob).digest('base64').replace(/=+$/, '');
  return `${alg.toUpperCase()}:${digest}`;
}
