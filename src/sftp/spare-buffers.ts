/**
 * Buffers of one size kept for reuse by a transfer, at most `maxBytes` of them: a pipelined
 * transfer then reuses the few it has in flight instead of allocating its whole size again (the
 * collections that churn set off cost more CPU than the file I/O). Asking for another size drops
 * the ones kept. Sizes over 4 KiB have an ArrayBuffer of their own (not Node's shared pool).
 */
export class SpareBuffers {
  private spare: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  /** A buffer of `size` bytes: a spare one when there is one. */
  take(size: number): Buffer {
    if (size !== this.size) {
      this.spare = [];
      this.size = size;
    }
    return this.spare.pop() ?? Buffer.allocUnsafe(size);
  }

  /** Keeps `buf` for reuse (nothing may read it any more) if it has the size and there is room. */
  give(buf: Buffer): void {
    if (buf.length === this.size && (this.spare.length + 1) * buf.length <= this.maxBytes)
      this.spare.push(buf);
  }

  /** Drops the buffers kept (the transfer ended, or the session is idle). */
  clear(): void {
    this.spare = [];
  }
}
