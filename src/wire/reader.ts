import { protocolError } from '../errors.js';

/**
 * Reads RFC 4251 §5 data types from a buffer. Every length is checked against what remains
 * before anything is sliced, so a hostile length can neither over-read nor allocate.
 * `string()` returns a view into the input, not a copy.
 */
export class SshReader {
  private offset: number;
  private readonly end: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.offset = start;
    this.end = end;
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.offset) {
      throw protocolError(`truncated message: ${what} needs ${n} bytes, ${this.end - this.offset} left`);
    }
  }

  byte(): number {
    this.need(1, 'byte');
    return this.buf[this.offset++]!;
  }

  boolean(): boolean {
    return this.byte() !== 0;
  }

  uint32(): number {
    this.need(4, 'uint32');
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint64(): bigint {
    this.need(8, 'uint64');
    const v = this.buf.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  /** An SSH `string` as raw bytes (a view, not a copy). */
  string(what = 'string'): Buffer {
    const len = this.uint32();
    this.need(len, what);
    const s = this.buf.subarray(this.offset, this.offset + len);
    this.offset += len;
    return s;
  }

  /** An SSH `string` decoded as UTF-8 (RFC 4252/4254 text fields). */
  utf8(what = 'string'): string {
    return this.string(what).toString('utf8');
  }

  /** An SSH `string` decoded as US-ASCII (algorithm and method names). */
  ascii(what = 'string'): string {
    return this.string(what).toString('latin1');
  }

  /** An RFC 4251 `name-list`; an empty string is the empty list. */
  nameList(what = 'name-list'): string[] {
    const s = this.ascii(what);
    return s.length === 0 ? [] : s.split(',');
  }

  /** An `mpint` as its raw two's-complement bytes (a view). */
  mpintBytes(): Buffer {
    return this.string('mpint');
  }

  /** A non-negative `mpint` as a bigint; a negative value is a protocol error here. */
  mpint(): bigint {
    const b = this.mpintBytes();
    if (b.length === 0) return 0n;
    if (b[0]! & 0x80) throw protocolError('negative mpint where a positive one is required');
    return BigInt('0x' + b.toString('hex'));
  }

  /** `n` raw bytes (a view). */
  raw(n: number, what = 'bytes'): Buffer {
    this.need(n, what);
    const s = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return s;
  }

  /** Everything not read yet (a view). */
  rest(): Buffer {
    const s = this.buf.subarray(this.offset, this.end);
    this.offset = this.end;
    return s;
  }

  /** Throws if bytes are left over: a message of a fixed shape must be consumed exactly. */
  done(what: string): void {
    if (this.offset !== this.end) {
      throw protocolError(`${what}: ${this.end - this.offset} unexpected trailing bytes`);
    }
  }
}
