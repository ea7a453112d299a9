import type { KeyObject } from 'node:crypto';

/** Public key algorithm names as they appear in key blobs (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709 §4). */
export type KeyType =
  | 'ssh-ed25519'
  | 'ssh-ed448'
  | 'ecdsa-sha2-nistp256'
  | 'ecdsa-sha2-nistp384'
  | 'ecdsa-sha2-nistp521'
  | 'ssh-rsa'
  | 'ssh-dss';

/** Signature algorithm names (RFC 4253 §6.6, RFC 5656 §3.1.2, RFC 8332 §3, RFC 8709 §6). */
export type SignatureAlgorithm =
  | 'ssh-ed25519'
  | 'ssh-ed448'
  | 'ecdsa-sha2-nistp256'
  | 'ecdsa-sha2-nistp384'
  | 'ecdsa-sha2-nistp521'
  | 'rsa-sha2-256'
  | 'rsa-sha2-512'
  | 'ssh-rsa'
  | 'ssh-dss';

/** A public key: its type, SSH blob and Node KeyObject. */
export interface PublicKey {
  /** The key type (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, …). */
  readonly type: KeyType;
  /** The RFC 4253 §6.6 wire encoding (canonical: the parsers reject other encodings). */
  readonly blob: Buffer;
  /** The key as node:crypto's KeyObject. */
  readonly keyObject: KeyObject;
}

/** A private key with its public half and comment. */
export interface PrivateKey {
  /** The key type. */
  readonly type: KeyType;
  /** The public half. */
  readonly publicKey: PublicKey;
  /** A node private KeyObject. */
  readonly keyObject: KeyObject;
  /** The comment kept in the key file (often user@host). */
  readonly comment: string;
}
