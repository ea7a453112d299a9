/**
 * A key exchange of the single round-trip shape shared by ECDH (RFC 5656 §4), curve25519
 * (RFC 8731), classic DH groups (RFC 4253 §8) and the post-quantum hybrids: the client sends
 * its ephemeral public value, the server answers with its own, its host key and a signature
 * over the exchange hash.
 */
export interface KexMethod {
  /** Our ephemeral public value, exactly as it goes in the INIT or REPLY string/mpint. */
  readonly publicValue: Buffer;
  /**
   * The shared secret K from the peer's public value, already encoded as it enters the exchange
   * hash and key derivation (an mpint for ECDH and DH, a string for the hybrids). Throws a
   * KEY_EXCHANGE_FAILED SshError on an invalid peer value.
   */
  computeSecret(peerPublic: Buffer): Buffer;
}

export interface KexMethodSpec {
  readonly name: string;
  /** The hash of the exchange hash and key derivation (RFC 4253 §7.2). */
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  create(): KexMethod;
}
