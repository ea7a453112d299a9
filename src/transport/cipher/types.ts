import type { MacSpec } from '../mac.js';

/**
 * One direction of packet protection (RFC 4253 §6). Each direction keeps its own sealer or
 * opener, with its own keys and state; the sequence number is passed in by the framer.
 *
 * Packets travel in pieces so that channel data is never copied into a packet buffer nor out of
 * the socket's chunks: a sealer encrypts the bulk of a payload straight from the caller's buffer,
 * an opener decrypts a packet where it lies in the received chunks.
 */
export interface PacketSealer {
  /** Padding alignment: `padding_length || payload || padding` (plus the length field unless `lengthIsAad`) must be a multiple of this. */
  readonly blockSize: number;
  /** True for AEAD and encrypt-then-MAC modes: the 4-byte length is excluded from the alignment (OpenSSH packet.c). */
  readonly lengthIsAad: boolean;
  /** Bytes the sealer appends after the packet (tag or MAC). */
  readonly macLength: number;
  /**
   * Protects one packet given as three consecutive parts:
   * `head` = `uint32 length || padding_length || first bytes of the payload`, sealed in place;
   * `body` = the rest of the payload, which is read but never written (it may be the caller's data);
   * `tail` = `padding` followed by `macLength` spare bytes, sealed in place (the MAC goes at its end).
   * Returns the wire form of `body` (a new buffer; `body` is empty for most messages).
   */
  seal(head: Buffer, body: Buffer, tail: Buffer, seq: number): Buffer;
}

export interface PacketOpener {
  /** How many leading bytes `packetLength` needs (4 when the length is in the clear or separately encrypted). */
  readonly firstBlockSize: number;
  readonly macLength: number;
  /** The `padding_length || payload || padding` length must be a multiple of this (plus 4 unless `lengthIsAad`). */
  readonly blockSize: number;
  readonly lengthIsAad: boolean;
  /**
   * True when `open` returns buffers of its own and keeps nothing it was given: the received
   * chunks are then finished with once a packet is opened (see PacketDeframer.release).
   */
  readonly copies: boolean;
  /** Reads `packet_length` from the first `firstBlockSize` bytes of a packet. */
  packetLength(first: Buffer, seq: number): number;
  /**
   * Verifies and decrypts a packet: `length` is its 4 length bytes as received, `body` the
   * `packet_length` bytes after them in one or more pieces (views of the received chunks), `mac`
   * the `macLength` bytes after the body. Returns `padding_length || payload || padding`, in
   * pieces; throws a MAC_ERROR SshError when the check fails.
   */
  open(length: Buffer, body: readonly Buffer[], mac: Buffer, seq: number): Buffer[];
}

/** A negotiated MAC with its derived key, for ciphers that are not AEAD. */
export interface MacKey {
  readonly spec: MacSpec;
  readonly key: Buffer;
}

/** What the registry knows about a cipher: key sizes and how to build each direction. */
export interface CipherSpec {
  readonly name: string;
  readonly keyLength: number;
  readonly ivLength: number;
  /** AEAD ciphers carry their own integrity check and ignore the negotiated MAC (RFC 5647 §5.1, PROTOCOL.chacha20poly1305). */
  readonly aead: boolean;
  sealer(key: Buffer, iv: Buffer, mac?: MacKey): PacketSealer;
  opener(key: Buffer, iv: Buffer, mac?: MacKey): PacketOpener;
}

export const EMPTY = Buffer.alloc(0);

/** Encrypts `head`/`tail` in place and returns `body` encrypted, with one streaming cipher context. */
export function streamThrough(
  update: (b: Buffer) => Buffer,
  head: Buffer,
  headFrom: number,
  body: Buffer,
  tail: Buffer,
  tailTo: number,
): Buffer {
  update(head.subarray(headFrom)).copy(head, headFrom);
  const out = body.length ? update(body) : EMPTY;
  if (tailTo > 0) update(tail.subarray(0, tailTo)).copy(tail, 0);
  return out;
}
