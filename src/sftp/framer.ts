import { protocolError } from '../errors.js';
import { copyOut } from '../wire/chunks.js';
import type { SshWriter } from '../wire/writer.js';

/** A packet body: one buffer, or (scattered, see `pushScattering`) the pieces of it, in order. */
export type Body = Buffer | Buffer[];

/** Bytes of a spanning body `scatter` is shown (type, id and a length: DATA's whole head). */
export const SCATTER_PEEK = 9;

/**
 * Picks the packets to scatter: shown the first SCATTER_PEEK bytes of a body that spans chunks,
 * returns how many bytes of its head the first piece must hold whole (at least SCATTER_PEEK), or
 * 0 to have it gathered into one buffer.
 */
export type ScatterPick = (head: Buffer) => number;

/**
 * Most chunks a scattered packet may span: past it the packet is gathered. A 255 KiB packet in
 * 64 KiB chunks spans five; one sent a byte per channel message would make a view (and an iovec)
 * per byte.
 */
export const MAX_PIECES = 64;

/**
 * Splits an SFTP byte stream into packets (draft-02 §3: uint32 length, then that many bytes).
 * The length is checked against `maxPacket` before anything is kept, so a length of 2^31 costs
 * nothing; bodies that arrived whole are views of the input, not copies.
 */
export class PacketFramer {
  private readonly chunks: Buffer[] = [];
  /** Per chunk: its memory may be given to `spent` once nothing reads it (see `push`). */
  private readonly spendable: boolean[] = [];
  private buffered = 0;
  /**
   * Readers of each spendable chunk's memory: this framer while it keeps any of the chunk, and
   * each scattered piece not yet released. The memory goes to `spent` when none is left.
   */
  private readonly readers = new WeakMap<ArrayBufferLike, number>();
  /** Spendable memory a packet returned whole views: never spent. */
  private readonly pinned = new WeakSet<ArrayBufferLike>();

  constructor(
    private readonly maxPacket: number,
    /** Where a packet that spans chunks is gathered (the client lends reusable buffers). */
    private readonly alloc: (n: number) => Buffer = (n) => Buffer.allocUnsafe(n),
    /** Given the memory of spendable chunks once nothing reads it any more. */
    private readonly spent?: (memory: ArrayBufferLike) => void,
  ) {}

  /** Bytes held waiting for the rest of a packet (at most 4 + maxPacket). */
  get pending(): number {
    return this.buffered;
  }

  /**
   * Feeds bytes; returns the packet bodies (type byte first) now complete, in order.
   * `spendable`: nothing but this framer will read the chunk's memory (all of its ArrayBuffer),
   * so once every byte of it has been copied into gathered packets (or released, see
   * `pushScattering`), with no packet a view of it, it goes to `spent`.
   */
  push(chunk: Buffer, spendable = false): Buffer[] {
    return this.feed(chunk, spendable) as Buffer[];
  }

  /**
   * As `push`, but a packet that spans chunks and that `scatter` picks comes as the views of the
   * chunks it lies in, not gathered into a copy (a 255 KiB DATA reply or WRITE request comes in
   * four or five channel chunks); its first piece holds the head `scatter` asked for. Once nothing
   * reads the pieces any more, give them to `release`.
   */
  pushScattering(chunk: Buffer, spendable: boolean, scatter: ScatterPick): Body[] {
    return this.feed(chunk, spendable, scatter);
  }

  /** Ends the reading of pieces from `pushScattering` (each exactly once). */
  release(pieces: readonly Buffer[]): void {
    for (const p of pieces) if (this.readers.has(p.buffer)) this.letGo(p.buffer);
  }

  private feed(chunk: Buffer, spendable: boolean, scatter?: ScatterPick): Body[] {
    const out: Body[] = [];
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
    if (spendable) this.hold(chunk.buffer);
    this.chunks.push(chunk);
    this.spendable.push(spendable);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < 4) return out;
      const len = this.checkLength(this.peek(0, 4).readUInt32BE(0));
      if (this.buffered < 4 + len) return out;
      const head =
        scatter && len > SCATTER_PEEK && this.chunks[0]!.length < 4 + len && this.chunks.length <= MAX_PIECES
          ? scatter(this.peek(4, SCATTER_PEEK))
          : 0;
      if (head >= SCATTER_PEEK && head < len) out.push(this.scattered(len, head));
      else out.push(this.take(4 + len).subarray(4));
    }
  }

  private checkLength(len: number): number {
    if (len === 0) throw protocolError('SFTP packet of length 0');
    if (len > this.maxPacket) throw protocolError(`SFTP packet of ${len} bytes (at most ${this.maxPacket})`);
    return len;
  }

  /** `n` buffered bytes from `at`, without consuming them (a view when they lie in one chunk). */
  private peek(at: number, n: number): Buffer {
    const c0 = this.chunks[0]!;
    if (c0.length >= at + n) return c0.subarray(at, at + n);
    return copyOut(this.chunks, at, n);
  }

  /** Removes and returns the first `n` buffered bytes (a view when they lie in one chunk). */
  private take(n: number, alloc = this.alloc): Buffer {
    this.buffered -= n;
    const c0 = this.chunks[0]!;
    if (c0.length >= n) {
      if (c0.length === n) {
        this.chunks.shift();
        this.spendable.shift();
      } else {
        this.chunks[0] = c0.subarray(n);
      }
      // The packet returned is a view of it.
      if (this.readers.has(c0.buffer)) this.pinned.add(c0.buffer);
      return c0.subarray(0, n);
    }
    const out = alloc(n);
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
    for (let j = 0; j < i; j++) if (spendable[j]) this.letGo(gone[j]!.buffer);
    return out;
  }

  /** The body of the packet of `len` bytes at the front as pieces (see `pushScattering`). */
  private scattered(len: number, head: number): Buffer[] {
    const pieces: Buffer[] = [];
    let left: number;
    if (this.chunks[0]!.length >= 4 + head) {
      this.buffered -= 4;
      this.chunks[0] = this.chunks[0]!.subarray(4);
      left = len;
    } else {
      // The head is split (a few bytes in the first chunk): gathered on its own.
      pieces.push(this.take(4 + head, (n) => Buffer.allocUnsafe(n)).subarray(4));
      left = len - head;
    }
    this.buffered -= left;
    let i = 0;
    while (left > 0) {
      const c = this.chunks[i]!;
      const k = Math.min(left, c.length);
      if (this.spendable[i]) this.hold(c.buffer); // the piece reads it
      pieces.push(c.subarray(0, k));
      left -= k;
      if (k < c.length) this.chunks[i] = c.subarray(k);
      else i++;
    }
    // The chunks used up leave together (a shift each would be quadratic in their number).
    const gone = this.chunks.splice(0, i);
    const spendable = this.spendable.splice(0, i);
    for (let j = 0; j < i; j++) if (spendable[j]) this.letGo(gone[j]!.buffer);
    return pieces;
  }

  private hold(memory: ArrayBufferLike): void {
    this.readers.set(memory, (this.readers.get(memory) ?? 0) + 1);
  }

  private letGo(memory: ArrayBufferLike): void {
    const n = (this.readers.get(memory) ?? 1) - 1;
    if (n > 0) this.readers.set(memory, n);
    else {
      this.readers.delete(memory);
      if (!this.pinned.has(memory)) this.spent?.(memory);
    }
  }
}

/** The packet a writer holds, its first four bytes (written as 0) set to the length of the rest. */
export function sealed(w: SshWriter): Buffer {
  const b = w.finish();
  b.writeUInt32BE(b.length - 4, 0);
  return b;
}
