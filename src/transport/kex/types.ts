import type { SshWriter } from '../../wire/writer.js';

/**
 * One key exchange round, as a state machine without I/O (RFC 4253 §7-§8 and the family RFCs):
 * the transport creates it once KEXINIT has chosen the method, sends what `start` returns, hands
 * it every message numbered 30-49 and sends what each step returns. The last step carries the
 * outcome: the shared secret, the exchange hash, and (for a client) the host key and signature
 * the transport must check. KEXINIT, NEWKEYS, strict kex and key derivation stay in the transport.
 */
export interface KexRound {
  /** Payloads to send as the round starts (a client's first message; nothing for a server). */
  start(): Buffer[];
  /** One message of the family (30-49). Throws an SshError on anything unexpected or invalid. */
  receive(payload: Buffer): KexStep;
}

export interface KexStep {
  /** Payloads to send, in order. */
  send?: Buffer[];
  /** Set on the last step. */
  done?: KexOutcome;
}

export interface KexOutcome {
  /** The shared secret K, encoded as it enters the exchange hash and key derivation (mpint or string). */
  k: Buffer;
  /** The exchange hash H. */
  h: Buffer;
  /** The server's host key blob K_S (the client checks it, the server sent it). */
  hostKey: Buffer;
  /** The server's signature over H (the client verifies it against `hostKey`). */
  signature: Buffer;
}

/** DH group exchange parameters of one side (RFC 4419). */
export interface GexSettings {
  /** Client: the sizes it asks for, [min, n, max] in bits (the seed's dh_gex). */
  request?: readonly [number, number, number];
  /** Server: the groups it offers. */
  groups?: readonly GexGroup[];
  /** Server: the sizes it accepts from a client, [min, max] (the seed's dh_gex_limits). */
  limits?: readonly [number, number];
}

export interface GexGroup {
  /** Size in bits. */
  readonly size: number;
  readonly g: bigint;
  readonly p: bigint;
}

/** What a round needs from the transport. */
export interface KexInput {
  role: 'client' | 'server';
  /** V_C, V_S (identification lines without CR LF), I_C, I_S (KEXINIT payloads): every hash starts with them. */
  vc: string;
  vs: string;
  ic: Buffer;
  is: Buffer;
  /** Server: our host key blob, and a signer of the exchange hash with the negotiated algorithm. */
  hostKey?: { blob: Buffer; sign(h: Buffer): Buffer };
  gex?: GexSettings;
  /**
   * Bits of key the negotiated ciphers and MACs need, as OpenSSH's kex->we_need * 8: the largest
   * key, IV or MAC key length over both directions. Sizes a DH private exponent.
   */
  needBits?: number;
}

export interface KexMethodSpec {
  readonly name: string;
  /** The hash of the exchange hash and key derivation (RFC 4253 §7.2). */
  readonly hash: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  /**
   * Makes our ephemeral key ahead of time, while we wait for the peer (optional). Methods whose
   * `ephemeral` is the same function can use each other's (the two curve25519 names do).
   */
  readonly ephemeral?: () => unknown;
  /**
   * Only a client uses what `ephemeral` makes (a KEM server's half depends on the client's value);
   * a server makes `serverEphemeral` ahead instead, when the method has a part that does not.
   */
  readonly ephemeralClientOnly?: boolean;
  readonly serverEphemeral?: () => unknown;
  /** Starts a round; `premade` is what `ephemeral` returned, when it ran ahead. */
  create(input: KexInput, premade?: unknown): KexRound;
}

/** Writes the family's fields of the exchange hash between K_S and K. */
export type HashFields = (w: SshWriter) => void;
