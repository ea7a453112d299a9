import { protocolError } from '../errors.js';
import type { SshWriter } from '../wire/writer.js';

/**
 * Splits an SFTP byte stream into packets (draft-02 §3: uint32 length, then that many bytes).
 * The length is checked against `maxPacket` before anything is kept, so a length of 2^31 costs
 * nothing; bodies that arrived whole are views of the input, not copies.
 */
export class PacketFramer {
  private readonly chunks: Buffer[] = [];
  /** Per chunk: its memory may be given to `spent` once copied (see `push`). */
  private readonly spendable: boolean[] = [];
  private buffered = 0;

  constructor(
    private readonly maxPacket: number,
    /** Where a packet that spans chunks is gathered (the client lends reusable buffers). */
    private readonly alloc: (n: number) => Buffer = (n) => Buffer.allocUnsafe(n),
    /** Given the spendable chunks once all their bytes have been copied out (none viewed). */
    private readonly spent?: (chunk: Buffer) => void,
  ) {}

  /** Bytes held waiting for the rest of a packet (at most 4 + maxPacket). */
  get pending(): number {
    return this.buffered;
  }

  /**
   * Feeds bytes; returns the packet bodies (type byte first) now complete, in order.
   * `spendable`: nothing but this framer will read the chunk's memory (all of its ArrayBuffer),
   * so once every byte of it has been copied into gathered packets, with no packet a view of it,
   * it goes to `spent`.
   */
  push(chunk: Buffer, spendable = false): Buffer[] {
    const out: Buffer[] = [];
    if (this.buffered === 0) {
      // Fast path: whole packets straight out of the chunk.
      let at = 0;
      while (chunk.length - at >= 4) {
        const len = this.checkLength(chunk.readUInt32BE(at));
        if (chunk.length - at - 4 < len) break;
        out.push(chunk.subarray(at + 4, at + 4 + len));
        at += 4 + len;
      }
      if (at === chunk.length) return out;
      if (at > 0) spendable = false; // packets returned above are views of it
      chunk = chunk.subarray(at);
    }
    this.chunks.push(chunk);
    this.spendable.push(spendable);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < 4) return out;
      const len = this.checkLength(this.peekLength());
      if (this.buffered < 4 + len) return out;
      const whole = this.take(4 + len);
      out.push(whole.subarray(4));
    }
  }

  private checkLength(len: number): number {
    if (len === 0) throw protocolError('SFTP packet of length 0');
    if (len > this.maxPacket) throw protocolError(`SFTP packet of ${len} bytes (at most ${this.maxPacket})`);
    return len;
  }

  private peekLength(): number {
    const c0 = this.chunks[0]!;
    if (c0.length >= 4) return c0.readUInt32BE(0);
    const head = Buffer.allocUnsafe(4);
    let n = 0;
    for (const c of this.chunks) {
      const k = Math.min(4 - n, c.length);
      c.copy(head, n, 0, k);
      n += k;
      if (n === 4) break;
    }
    return head.readUInt32BE(0);
  }

  /** Removes and returns the first `n` buffered bytes (a view when they lie in one chunk). */
  private take(n: number): Buffer {
    this.buffered -= n;
    const c0 = this.chunks[0]!;
    if (c0.length >= n) {
      if (c0.length === n) {
        this.chunks.shift();
        this.spendable.shift();
      } else {
        this.chunks[0] = c0.subarray(n);
        this.spendable[0] = false; // the packet returned is a view of it
      }
      return c0.subarray(0, n);
    }
    const out = this.alloc(n);
    let o = 0;
    let i = 0;
    while (o < n) {
      const c = this.chunks[i]!;
      const k = Math.min(n - o, c.length);
      c.copy(out, o, 0, k);
      o += k;
      if (k === c.length) i++;
      else this.chunks[i] = c.subarray(k);
    }
    const gone = this.chunks.splice(0, i);
    const spendable = this.spendable.splice(0, i);
    if (this.spent) for (let j = 0; j < i; j++) if (spendable[j]) this.spent(gone[j]!);
    return out;
  }
}

/** The packet a writer holds, its first four bytes (written as 0) set to the length of the rest. */
export function sealed(w: SshWriter): Buffer {
  const b = w.finish();
  b.writeUInt32BE(b.length - 4, 0);
  return b;
}
