/** RFC 6668 / OpenSSH PROTOCOL §1.5 MACs: HMAC over `uint32 seq || packet`, or over the ciphertext in -etm modes. */
export interface MacSpec {
  readonly name: string;
  /** The node:crypto HMAC hash. */
  readonly hash: 'sha256' | 'sha512' | 'sha1';
  readonly keyLength: number;
  readonly macLength: number;
  /** Encrypt-then-MAC: the length goes in the clear and the MAC covers the ciphertext. */
  readonly etm: boolean;
}

function hmac(name: string, hash: MacSpec['hash'], length: number, etm: boolean): MacSpec {
  return { name, hash, keyLength: length, macLength: length, etm };
}

export const hmacSha256Etm = hmac('hmac-sha2-256-etm@openssh.com', 'sha256', 32, true);
export const hmacSha512Etm = hmac('hmac-sha2-512-etm@openssh.com', 'sha512', 64, true);
export const hmacSha256 = hmac('hmac-sha2-256', 'sha256', 32, false);
export const hmacSha512 = hmac('hmac-sha2-512', 'sha512', 64, false);
export const hmacSha1Etm = hmac('hmac-sha1-etm@openssh.com', 'sha1', 20, true);
/** RFC 4253 §6.4: the MAC every SSH implementation had; SHA-1's collisions do not break HMAC-SHA1. */
export const hmacSha1 = hmac('hmac-sha1', 'sha1', 20, false);
