import { protocolError } from '../errors.js';
import { NoneOpener, NoneSealer } from './cipher/none.js';
import { EMPTY, type PacketOpener, type PacketSealer } from './cipher/types.js';
import { fillPadding } from './random.js';
import { copyOut } from '../wire/chunks.js';
import { wholeAndLarge } from '../wire/detach.js';

/** RFC 4253 §6.1 requires 35000; like OpenSSH we accept up to 256 KiB and reject longer before allocating. */
export const MAX_PACKET_LENGTH = 256 * 1024;
/** Largest payload we put in one packet: the limit less length, padding and the largest MAC. */
export const MAX_PAYLOAD_LENGTH = MAX_PACKET_LENGTH - 1 - 255 - 64;

/**
 * An outgoing packet under construction: the first `headLength` payload bytes are written into
 * `buf` at `payloadOffset`; `body` (the rest of the payload, e.g. channel data) stays where the
 * caller has it and is encrypted from there.
 */
export interface OpenPacket {
  readonly buf: Buffer;
  readonly payloadOffset: number;
  readonly headLength: number;
  readonly body: Buffer;
}

/**
 * Builds outgoing packets (RFC 4253 §6): length, padding to the cipher's block size (at least 4
 * random bytes), and the cipher's protection. A packet goes out as `[head, body, tail]` (one
 * buffer when there is no body) in one batched write: channel data is never copied into it.
 */
export class PacketFramer {
  private sealer: PacketSealer = new NoneSealer();
  /** The next outgoing sequence number (uint32, wraps; RFC 4253 §6.4). */
  seq = 0;
  /** Bytes sent under the current keys, for re-key limits. */
  bytesSinceKeys = 0;

  setSealer(sealer: PacketSealer): void {
    this.sealer = sealer;
    this.bytesSinceKeys = 0;
  }

  open(headLength: number, body: Buffer = EMPTY): OpenPacket {
    const s = this.sealer;
    const payloadLength = headLength + body.length;
    const aligned = (s.lengthIsAad ? 1 : 5) + payloadLength;
    let padding = s.blockSize - (aligned % s.blockSize);
    if (padding < 4) padding += s.blockSize;
    const buf = Buffer.allocUnsafe(5 + headLength + padding + s.macLength);
    buf.writeUInt32BE(1 + payloadLength + padding, 0);
    buf[4] = padding;
    fillPadding(buf, 5 + headLength, 5 + headLength + padding);
    return { buf, payloadOffset: 5, headLength, body };
  }

  /** Seals a packet from `open`; returns the buffers to write, in order. */
  seal(p: OpenPacket): Buffer[] {
    const split = 5 + p.headLength;
    const head = p.buf.subarray(0, split);
    const tail = p.buf.subarray(split);
    const body = this.sealer.seal(head, p.body, tail, this.seq);
    this.seq = (this.seq + 1) >>> 0;
    this.bytesSinceKeys += p.buf.length + body.length;
    return body.length ? [head, body, tail] : [p.buf];
  }

  /** A whole small message as one sealed buffer (it has no separate body). */
  frame(payload: Buffer): Buffer {
    const p = this.open(payload.length);
    payload.copy(p.buf, p.payloadOffset);
    return this.seal(p)[0]!;
  }
}

/**
 * ArrayBuffers that hold the plaintext of one received packet and nothing else, from an opener
 * that copies (PacketOpener.copies); only those worth freeing (wholeAndLarge) are noted.
 * Whoever is the only and last reader of a channel's data may free them once it has copied what
 * it keeps (the SFTP client's session does, see sftp/framer.ts).
 */
export const packetPlaintext = new WeakSet<ArrayBufferLike>();

/**
 * Reassembles incoming packets from arbitrary socket chunks without gathering them: a packet is
 * opened where it lies, as views of the chunks it spans (only a split length field or MAC, a
 * few bytes, is copied). Its length is checked against the bound before anything else happens.
 */
export class PacketDeframer {
  private opener: PacketOpener = new NoneOpener();
  /** The next incoming sequence number. */
  seq = 0;
  bytesSinceKeys = 0;
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private buffered = 0;
  /** Size of the packet being waited for (length + body + MAC), or -1 while its length is unknown. */
  private pending = -1;
  private pendingLength = 0;
  /**
   * Given the received chunks once every byte of them has been opened into buffers of the
   * opener's own (never under the `none` cipher, whose payloads are views of them), so the I/O
   * edge can free their memory at once. Unset, they are simply dropped.
   */
  release: ((chunks: Buffer[]) => void) | undefined;
  /** Chunks consumed while the packet that finished them is still to be opened. */
  private finished: Buffer[] = [];
  /** How many of the first buffered chunks arrived before the opener was set (not released). */
  private kept = 0;

  setOpener(opener: PacketOpener): void {
    this.opener = opener;
    this.bytesSinceKeys = 0;
    // What arrived before may hold payloads the last opener handed on as views (a host key, a
    // KEXINIT kept for the exchange hash): those chunks are never released.
    this.kept = this.chunks.length;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next packet's payload, decrypted and verified, as one or more pieces; undefined when
   * more bytes are needed. Throws an SshError on a bad length, padding or MAC.
   */
  next(): Buffer[] | undefined {
    const o = this.opener;
    if (this.pending < 0) {
      if (this.buffered < o.firstBlockSize) return undefined;
      const len = o.packetLength(this.peek(o.firstBlockSize), this.seq);
      this.checkLength(len, o);
      this.pendingLength = len;
      this.pending = 4 + len + o.macLength;
    }
    if (this.buffered < this.pending) return undefined;
    const len = this.pendingLength;
    const whole = this.pending;
    this.pending = -1;
    let body: Buffer[];
    let lengthField: Buffer;
    let mac: Buffer;
    const c0 = this.chunks[0]!;
    if (c0.length - this.head >= whole) {
      const at = this.head;
      lengthField = c0.subarray(at, at + 4);
      body = [c0.subarray(at + 4, at + 4 + len)];
      mac = c0.subarray(at + 4 + len, at + whole);
      this.consume(whole);
    } else {
      lengthField = join(this.take(4));
      body = this.take(len);
      mac = join(this.take(o.macLength));
    }
    const plain = o.open(lengthField, body, mac, this.seq);
    if (o.copies) {
      for (const p of plain) if (wholeAndLarge(p)) packetPlaintext.add(p.buffer);
    }
    if (this.finished.length) {
      const done = this.finished;
      this.finished = [];
      if (o.copies) this.release!(done);
    }
    this.seq = (this.seq + 1) >>> 0;
    this.bytesSinceKeys += whole;
    return payloadOf(plain, len);
  }

  private checkLength(len: number, o: PacketOpener): void {
    if (len > MAX_PACKET_LENGTH) {
      throw protocolError(`packet length ${len} exceeds the limit of ${MAX_PACKET_LENGTH}`);
    }
    const aligned = o.lengthIsAad ? len : len + 4;
    if (len < 5 || aligned % o.blockSize !== 0) {
      throw protocolError(`bad packet length ${len} (not a multiple of the block size ${o.blockSize})`);
    }
  }

  /** The first `n` buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    const c0 = this.chunks[0]!;
    if (c0.length - this.head >= n) return c0.subarray(this.head, this.head + n);
    return copyOut(this.chunks, this.head, n);
  }

  /** Drops `n` bytes from the front; whole chunks leave with one splice (not a shift each). */
  private consume(n: number): void {
    this.buffered -= n;
    let drop = 0;
    let pos = this.head + n;
    while (drop < this.chunks.length && pos >= this.chunks[drop]!.length) {
      pos -= this.chunks[drop]!.length;
      drop++;
    }
    if (drop) {
      const from = Math.min(this.kept, drop);
      this.kept -= from;
      if (this.release) for (let i = from; i < drop; i++) this.finished.push(this.chunks[i]!);
      this.chunks.splice(0, drop);
    }
    this.head = pos;
  }

  /** Takes `n` bytes from the front as views of the chunks they lie in. */
  private take(n: number): Buffer[] {
    const views: Buffer[] = [];
    let left = n;
    let i = 0;
    let pos = this.head;
    while (left > 0) {
      const c = this.chunks[i]!;
      const k = Math.min(left, c.length - pos);
      views.push(c.subarray(pos, pos + k));
      left -= k;
      pos += k;
      if (pos === c.length) {
        i++;
        pos = 0;
      }
    }
    this.consume(n);
    return views;
  }
}

function join(views: Buffer[]): Buffer {
  return views.length === 1 ? views[0]! : Buffer.concat(views);
}

/**
 * Trims `padding_length || payload || padding` (in pieces, `len` bytes in all) to the payload's
 * pieces, after checking the padding length (RFC 4253 §6: at least 4, leaving a payload).
 */
export function payloadOf(body: readonly Buffer[], len: number): Buffer[] {
  const first = body.find((b) => b.length > 0);
  const padding = first ? first[0]! : 0;
  if (padding < 4 || padding + 1 >= len) {
    throw protocolError(`bad padding length ${padding} in a packet of ${len} bytes`);
  }
  const end = len - padding;
  const out: Buffer[] = [];
  let at = 0;
  for (const b of body) {
    const from = Math.max(1, at);
    const to = Math.min(end, at + b.length);
    if (to > from) out.push(b.subarray(from - at, to - at));
    at += b.length;
    if (at >= end) break;
  }
  return out;
}
