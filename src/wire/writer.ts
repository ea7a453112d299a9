/**
 * Builds RFC 4251 §5 data in a growable buffer. Used for everything but channel data, whose
 * packets the transport builds in place (see transport/packet.ts).
 */
export class SshWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  get length(): number {
    return this.len;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v;
    return this;
  }

  boolean(v: boolean): this {
    return this.byte(v ? 1 : 0);
  }

  uint32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }

  uint64(v: bigint): this {
    this.ensure(8);
    this.buf.writeBigUInt64BE(v, this.len);
    this.len += 8;
    return this;
  }

  /** An SSH `string`: from bytes as they are, or from text as UTF-8. */
  string(v: Uint8Array | string): this {
    if (typeof v === 'string') {
      const n = Buffer.byteLength(v, 'utf8');
      this.uint32(n);
      this.ensure(n);
      this.buf.write(v, this.len, 'utf8');
      this.len += n;
      return this;
    }
    this.uint32(v.length);
    return this.raw(v);
  }

  nameList(names: readonly string[]): this {
    return this.string(names.join(','));
  }

  /** A non-negative `mpint` from unsigned big-endian bytes (RFC 4251 §5: minimal, with a 0 byte if the top bit is set). */
  mpintFromUnsigned(bytes: Uint8Array): this {
    let start = 0;
    while (start < bytes.length && bytes[start] === 0) start++;
    const body = bytes.subarray(start);
    if (body.length === 0) return this.uint32(0);
    const pad = body[0]! & 0x80 ? 1 : 0;
    this.uint32(body.length + pad);
    if (pad) this.byte(0);
    return this.raw(body);
  }

  mpint(v: bigint): this {
    if (v < 0n) throw new RangeError('negative mpint is not supported');
    if (v === 0n) return this.uint32(0);
    let hex = v.toString(16);
    if (hex.length % 2) hex = '0' + hex;
    return this.mpintFromUnsigned(Buffer.from(hex, 'hex'));
  }

  raw(v: Uint8Array): this {
    this.ensure(v.length);
    this.buf.set(v, this.len);
    this.len += v.length;
    return this;
  }

  /** The bytes written so far (a view of the internal buffer; do not write after taking it). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** Shorthand: the SSH encoding of one `string`. */
export function sshString(v: Uint8Array | string): Buffer {
  const w = new SshWriter(typeof v === 'string' ? v.length + 8 : v.length + 4);
  return w.string(v).finish();
}
