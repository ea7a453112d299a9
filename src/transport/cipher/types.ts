/**
 * One direction of packet protection (RFC 4253 §6). Each direction keeps its own sealer or
 * opener, with its own keys and state; the sequence number is passed in by the framer.
 */
export interface PacketSealer {
  /** Padding alignment: `padding_length || payload || padding` (plus the length field unless `lengthIsAad`) must be a multiple of this. */
  readonly blockSize: number;
  /** True for AEAD and encrypt-then-MAC modes: the 4-byte length is excluded from the alignment (OpenSSH packet.c). */
  readonly lengthIsAad: boolean;
  /** Bytes the sealer appends after the packet (tag or MAC). */
  readonly macLength: number;
  /**
   * Protects `packet` in place. `packet` holds `uint32 length || padding_length || payload || padding`
   * followed by `macLength` spare bytes; on return it holds the bytes to put on the wire.
   */
  seal(packet: Buffer, seq: number): void;
}

export interface PacketOpener {
  /** How many leading bytes `packetLength` needs (4 when the length is in the clear or separately encrypted). */
  readonly firstBlockSize: number;
  readonly macLength: number;
  /** The `padding_length || payload || padding` length must be a multiple of this (plus 4 unless `lengthIsAad`). */
  readonly blockSize: number;
  readonly lengthIsAad: boolean;
  /** Reads `packet_length` from the first `firstBlockSize` bytes of a packet. */
  packetLength(first: Buffer, seq: number): number;
  /**
   * Verifies and decrypts a whole packet (`4 + packet_length + macLength` bytes).
   * Returns `padding_length || payload || padding`; throws a MAC_ERROR SshError when the check fails.
   */
  open(whole: Buffer, seq: number): Buffer;
}

import type { MacSpec } from '../mac.js';

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
