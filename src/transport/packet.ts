import { protocolError } from '../errors.js';
import { NoneOpener, NoneSealer } from './cipher/none.js';
import type { PacketOpener, PacketSealer } from './cipher/types.js';
import { fillPadding } from './random.js';

/** RFC 4253 §6.1 requires 35000; like OpenSSH we accept up to 256 KiB and reject longer before allocating. */
export const MAX_PACKET_LENGTH = 256 * 1024;
/** Largest payload we put in one packet: the limit less length, padding and the largest MAC. */
export const MAX_PAYLOAD_LENGTH = MAX_PACKET_LENGTH - 1 - 255 - 64;

/** An outgoing packet under construction: write the payload at `payloadOffset`, then `PacketFramer.seal` it. */
export interface OpenPacket {
  readonly buf: Buffer;
  readonly payloadOffset: number;
  readonly payloadLength: number;
}

/**
 * Builds outgoing packets (RFC 4253 §6): length, padding to the cipher's block size (at least 4
 * random bytes), and the cipher's protection, in one buffer so one socket write carries the
 * whole packet. Payloads can be written straight into the packet, so channel data is copied once.
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

  open(payloadLength: number): OpenPacket {
    const s = this.sealer;
    const aligned = (s.lengthIsAad ? 1 : 5) + payloadLength;
    let padding = s.blockSize - (aligned % s.blockSize);
    if (padding < 4) padding += s.blockSize;
    const packetLength = 1 + payloadLength + padding;
    const buf = Buffer.allocUnsafe(4 + packetLength + s.macLength);
    buf.writeUInt32BE(packetLength, 0);
    buf[4] = padding;
    fillPadding(buf, 5 + payloadLength, 4 + packetLength);
    return { buf, payloadOffset: 5, payloadLength };
  }

  seal(packet: OpenPacket): Buffer {
    this.sealer.seal(packet.buf, this.seq);
    this.seq = (this.seq + 1) >>> 0;
    this.bytesSinceKeys += packet.buf.length;
    return packet.buf;
  }

  frame(payload: Buffer): Buffer {
    const p = this.open(payload.length);
    payload.copy(p.buf, p.payloadOffset);
    return this.seal(p);
  }
}

/**
 * Reassembles incoming packets from arbitrary socket chunks. A packet that lies inside one chunk
 * is opened in place; one that spans chunks is gathered into a buffer of exactly its size, which
 * is allocated only after its length has passed the bounds check.
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

  setOpener(opener: PacketOpener): void {
    this.opener = opener;
    this.bytesSinceKeys = 0;
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
   * The next packet's `padding_length || payload || padding`, decrypted and verified, or
   * undefined when more bytes are needed. Throws an SshError on a bad length or MAC.
   */
  next(): Buffer | undefined {
    const o = this.opener;
    if (this.pending < 0) {
      if (this.buffered < o.firstBlockSize) return undefined;
      const first = this.peek(o.firstBlockSize);
      const len = o.packetLength(first, this.seq);
      this.checkLength(len, o);
      this.pending = 4 + len + o.macLength;
    }
    if (this.buffered < this.pending) return undefined;
    const whole = this.take(this.pending);
    this.pending = -1;
    const body = o.open(whole, this.seq);
    this.seq = (this.seq + 1) >>> 0;
    this.bytesSinceKeys += whole.length;
    const padding = body[0]!;
    if (padding < 4 || padding + 1 >= body.length) {
      throw protocolError(`bad padding length ${padding} in a packet of ${body.length} bytes`);
    }
    return body;
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
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    let pos = this.head;
    for (const c of this.chunks) {
      const k = Math.min(n - off, c.length - pos);
      c.copy(out, off, pos, pos + k);
      off += k;
      pos = 0;
      if (off === n) break;
    }
    return out;
  }

  private take(n: number): Buffer {
    const c0 = this.chunks[0]!;
    let out: Buffer;
    if (c0.length - this.head >= n) {
      out = c0.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === c0.length) {
        this.chunks.shift();
        this.head = 0;
      }
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      // Whole chunks used up are dropped with one splice at the end: a shift() per chunk is
      // quadratic when a peer dribbles a large packet in tiny segments (minutes of CPU for 256 KiB).
      let used = 0;
      while (off < n) {
        const c = this.chunks[used]!;
        const k = Math.min(n - off, c.length - this.head);
        c.copy(out, off, this.head, this.head + k);
        off += k;
        this.head += k;
        if (this.head === c.length) {
          used++;
          this.head = 0;
        }
      }
      this.chunks.splice(0, used);
    }
    this.buffered -= n;
    return out;
  }
}

/** The payload of a body returned by `PacketDeframer.next` (a view). */
export function payloadOf(body: Buffer): Buffer {
  return body.subarray(1, body.length - body[0]!);
}
