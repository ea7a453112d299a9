import { Duplex } from 'node:stream';
import type { SshError } from '../errors.js';

/** How a channel stream reaches its channel. */
export interface StreamLink {
  /** Queues `data` of this stream's data type; `done` runs once it is packetized, or with an error. */
  write(data: Buffer, done: (error?: SshError) => void): void;
  /** The writable side ended (`end()`): for the main stream, EOF. */
  end(): void;
  /** `n` bytes were consumed by the reader: give window back. */
  credit(n: number): void;
}

/**
 * One data stream of a channel as a Node Duplex: the readable side is what the peer sends of
 * this data type, the writable side what we send. Window is granted back as the reader takes the
 * data (not when it is buffered here), so a reader that stops stops the peer.
 */
export class ChannelDuplex extends Duplex {
  private pushedBytes = 0;
  private creditedBytes = 0;

  constructor(private readonly link: StreamLink) {
    super({ readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024, allowHalfOpen: true });
  }

  /** Data from the peer. */
  deliver(data: Buffer): void {
    this.pushedBytes += data.length;
    this.push(data);
  }

  /** The peer will send no more (EOF or close). */
  finishReadable(): void {
    if (!this.readableEnded) this.push(null);
  }

  /** Node's Readable hook: resumes the flow of channel data. */
  override _read(): void {
    this.creditConsumed();
  }

  /**
   * Node calls `_read` only while no read is pending, and one that pushes nothing stays pending
   * until the next push, which never comes once the window is used up. So consumption is counted
   * on every read (flowing mode, pipes and async iteration all go through here).
   */
  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    this.creditConsumed();
    return chunk;
  }

  /** Node's Writable hook: sends the chunk as channel data. */
  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.link.write(chunk, (e) => cb(e ?? null));
  }

  /** Node's Writable hook: sends EOF once everything written has gone. */
  override _final(cb: (error?: Error | null) => void): void {
    this.link.end();
    cb();
  }

  private creditConsumed(): void {
    const consumed = this.pushedBytes - this.readableLength - this.creditedBytes;
    if (consumed > 0) {
      this.creditedBytes += consumed;
      this.link.credit(consumed);
    }
  }
}
