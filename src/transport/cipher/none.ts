import type { PacketOpener, PacketSealer } from './types.js';

/** The `none` cipher of the first key exchange: framing only, 8-byte alignment, no MAC (RFC 4253 §6). */
export class NoneSealer implements PacketSealer {
  readonly blockSize = 8;
  readonly lengthIsAad = false;
  readonly macLength = 0;
  seal(): void {}
}

export class NoneOpener implements PacketOpener {
  readonly firstBlockSize = 4;
  readonly macLength = 0;
  readonly blockSize = 8;
  readonly lengthIsAad = false;
  packetLength(first: Buffer): number {
    return first.readUInt32BE(0);
  }
  open(whole: Buffer): Buffer {
    return whole.subarray(4);
  }
}
