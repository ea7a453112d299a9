import { EMPTY, type PacketOpener, type PacketSealer } from './types.js';

/** The `none` cipher of the first key exchange: framing only, 8-byte alignment, no MAC (RFC 4253 §6). */
export class NoneSealer implements PacketSealer {
  readonly blockSize = 8;
  readonly lengthIsAad = false;
  readonly macLength = 0;
  seal(_head: Buffer, body: Buffer): Buffer {
    // A copy: the socket may still hold it after the caller's buffer is reused.
    return body.length ? Buffer.from(body) : EMPTY;
  }
}

export class NoneOpener implements PacketOpener {
  /** The payload is handed on as views of the received chunks. */
  readonly copies = false;
  readonly firstBlockSize = 4;
  readonly macLength = 0;
  readonly blockSize = 8;
  readonly lengthIsAad = false;
  packetLength(first: Buffer): number {
    return first.readUInt32BE(0);
  }
  open(_length: Buffer, body: readonly Buffer[]): Buffer[] {
    return [...body];
  }
}
