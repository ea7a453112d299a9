import { Readable, Writable } from 'node:stream';
import type { ChannelSink, MuxChannel, MuxCore } from '../connection/mux.js';
import { SshError } from '../errors.js';
import type { ChannelRequest } from '../wire/connection-messages.js';
import { EXTENDED_DATA_STDERR } from '../wire/numbers.js';
import { decodeTerminalModes, encodeTerminalModes, type TerminalMode } from '../wire/terminal-modes.js';
import type { ChannelMessage } from './behaviour.js';
import type { Connection } from './connection.js';

export type RequestStatus = 'success' | 'failure';

/** Options of `ptyAlloc` (the seed's ptty_alloc options). */
export interface PtyOptions {
  term?: string;
  width?: number;
  height?: number;
  pixelWidth?: number;
  pixelHeight?: number;
  modes?: TerminalMode[];
}

/** Maps a decoded channel request to the message a handler or iterator sees; undefined for unknown ones. */
export function requestToMessage(channelId: number, r: ChannelRequest): ChannelMessage | undefined {
  switch (r.type) {
    case 'exit-status':
      return { type: 'exitStatus', channelId, status: r.status };
    case 'exit-signal':
      return {
        type: 'exitSignal',
        channelId,
        signal: r.signal,
        errorMessage: r.errorMessage,
        language: r.language,
        coreDumped: r.coreDumped,
      };
    case 'signal':
      return { type: 'signal', channelId, signal: r.signal };
    case 'env':
      return { type: 'env', channelId, wantReply: r.wantReply, name: r.name, value: r.value };
    case 'exec':
      return { type: 'exec', channelId, wantReply: r.wantReply, command: r.command };
    case 'shell':
      return { type: 'shell', channelId, wantReply: r.wantReply };
    case 'pty-req':
      return {
        type: 'pty',
        channelId,
        wantReply: r.wantReply,
        terminal: r.terminal,
        cols: r.cols,
        rows: r.rows,
        width: r.width,
        height: r.height,
        modes: decodeTerminalModes(r.modes),
      };
    case 'window-change':
      return {
        type: 'windowChange',
        channelId,
        cols: r.cols,
        rows: r.rows,
        width: r.width,
        height: r.height,
      };
    default:
      return undefined;
  }
}

function withTimeout<T>(
  p: Promise<T>,
  ms: number | undefined,
  what: string,
  onTimeout?: () => void,
): Promise<T> {
  if (ms === undefined || ms === Infinity) return p;
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      onTimeout?.();
      reject(new SshError('TIMEOUT', `${what} timed out after ${ms} ms`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Reads channel data into a Readable, granting window as the reader takes it. */
class ChannelReadable extends Readable {
  private pushedBytes = 0;
  private creditedBytes = 0;
  constructor(private readonly credit: (n: number) => void) {
    super({ highWaterMark: 256 * 1024 });
  }
  deliver(data: Buffer): void {
    this.pushedBytes += data.length;
    this.push(data);
  }
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
  private creditConsumed(): void {
    const consumed = this.pushedBytes - this.readableLength - this.creditedBytes;
    if (consumed > 0) {
      this.creditedBytes += consumed;
      this.credit(consumed);
    }
  }
}

/**
 * A channel of a connection (RFC 4254 §5), on either side. Iterate it for the seed's channel
 * messages, or use `stdout`/`stderr`/`stdin` as Node streams (data then goes to the streams,
 * everything else to the iterator). Receive window is granted back as data is consumed.
 */
export class Channel implements AsyncIterable<ChannelMessage> {
  readonly channelId: number;
  private readonly queue: ChannelMessage[] = [];
  private wake: (() => void) | undefined;
  private finished = false;
  private closeError: SshError | undefined;
  private readonly closeWaiters: ((e?: SshError) => void)[] = [];
  private out: { stdout: ChannelReadable; stderr: ChannelReadable; stdin: Writable } | undefined;
  /** Server side: where messages go instead of the iterator (the channel handler runner). */
  private listener: ((m: ChannelMessage) => void) | undefined;
  /** Server side: who decides on session requests (set by the daemon). */
  requestHook: ((r: ChannelRequest) => void) | undefined;
  /** Server side: the channel handler's mailbox, fed by `post`. */
  mailbox: ((m: unknown) => void) | undefined;
  readonly sink: ChannelSink;

  constructor(
    readonly connection: Connection,
    private readonly mux: MuxCore,
    private readonly mc: MuxChannel,
  ) {
    this.channelId = mc.localId;
    this.sink = {
      onData: (data, dataType) => this.onData(data, dataType),
      onEof: () => this.onEof(),
      onRequest: (r) => this.onRequest(r),
      onClose: (e) => this.onClose(e),
    };
    mc.sink = { ...mc.sink, ...this.sink };
  }

  /** Bytes the peer may still send before it must wait for window. */
  get receiveWindow(): number {
    return this.mc.localWindow;
  }

  /** Bytes we may still send before the peer grants more window. */
  get sendWindow(): number {
    return this.mc.remoteWindow;
  }

  get isClosed(): boolean {
    return this.mc.state === 'closed';
  }

  // ---- incoming ----------------------------------------------------------------------------

  private deliver(m: ChannelMessage): void {
    if (this.listener) {
      this.listener(m);
      return;
    }
    this.queue.push(m);
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private onData(data: Buffer, dataType: number): void {
    if (this.out && (dataType === 0 || dataType === EXTENDED_DATA_STDERR)) {
      (dataType === 0 ? this.out.stdout : this.out.stderr).deliver(data);
      return;
    }
    this.deliver({ type: 'data', channelId: this.channelId, dataType, data });
  }

  private onEof(): void {
    if (this.out) {
      this.out.stdout.push(null);
      this.out.stderr.push(null);
    }
    this.deliver({ type: 'eof', channelId: this.channelId });
  }

  private onRequest(r: ChannelRequest): void {
    if (this.requestHook) {
      this.requestHook(r);
      return;
    }
    const m =
      r.type === 'exit-status' || r.type === 'exit-signal' ? requestToMessage(this.channelId, r) : undefined;
    if (m) this.deliver(m);
    else if (r.wantReply) this.mux.reply(this.mc, false); // e.g. keepalive@openssh.com
  }

  private onClose(e?: SshError): void {
    this.closeError = e;
    if (this.out) {
      if (!this.out.stdout.readableEnded) this.out.stdout.push(null);
      if (!this.out.stderr.readableEnded) this.out.stderr.push(null);
      if (!this.out.stdin.destroyed) this.out.stdin.destroy();
    }
    this.deliver({ type: 'closed', channelId: this.channelId });
    for (const w of this.closeWaiters.splice(0)) w();
    this.connection.forgetChannel(this.channelId);
  }

  /** Gives `n` consumed bytes of receive window back to the peer (automatic for iterators and streams). */
  adjustWindow(n: number): void {
    this.mux.consumed(this.mc, n);
  }

  /** Server side: delivers `message` to the channel handler's `handleMsg` (the seed's "other messages"). */
  post(message: unknown): void {
    this.mailbox?.(message);
  }

  /** Server side: route every message to `listener` (a channel handler) instead of the iterator. */
  setListener(listener: (m: ChannelMessage) => void): void {
    this.listener = listener;
    for (const m of this.queue.splice(0)) listener(m);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ChannelMessage> {
    while (true) {
      const m = this.queue.shift();
      if (!m) {
        if (this.finished) return;
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      if (m.type === 'data') this.mux.consumed(this.mc, m.data.length);
      yield m;
      if (m.type === 'closed') {
        this.finished = true;
        return;
      }
    }
  }

  /** Standard output as a Readable; from first use on, data of type 0 goes here instead of the iterator. */
  get stdout(): Readable {
    return this.streams().stdout;
  }

  /** Extended data of type 1 (stderr) as a Readable. Read it too, or its window is never given back. */
  get stderr(): Readable {
    return this.streams().stderr;
  }

  /** A Writable that sends channel data and EOF when ended. */
  get stdin(): Writable {
    return this.streams().stdin;
  }

  private streams() {
    if (!this.out) {
      const credit = (n: number) => this.mux.consumed(this.mc, n);
      const stdin = new Writable({
        highWaterMark: 256 * 1024,
        write: (chunk: Buffer, _enc, cb) => this.mux.write(this.mc, chunk, 0, (e) => cb(e ?? null)),
        final: (cb) => {
          this.mux.sendEof(this.mc);
          cb();
        },
      });
      this.out = { stdout: new ChannelReadable(credit), stderr: new ChannelReadable(credit), stdin };
      // Data that arrived before the streams existed.
      const rest: ChannelMessage[] = [];
      for (const m of this.queue.splice(0)) {
        if (m.type === 'data' && (m.dataType === 0 || m.dataType === EXTENDED_DATA_STDERR)) {
          (m.dataType === 0 ? this.out.stdout : this.out.stderr).deliver(m.data);
        } else {
          if (m.type === 'eof') {
            this.out.stdout.push(null);
            this.out.stderr.push(null);
          }
          rest.push(m);
        }
      }
      this.queue.push(...rest);
    }
    return this.out;
  }

  // ---- outgoing ----------------------------------------------------------------------------

  /** Sends data (dataType 1 is stderr); resolves once it is all handed to the transport (the window allowed it). */
  send(
    data: Buffer | Uint8Array | string,
    options: { dataType?: number; timeout?: number } = {},
  ): Promise<void> {
    const buf =
      typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.isBuffer(data) ? data : Buffer.from(data);
    let done: ((e?: SshError) => void) | undefined;
    const p = new Promise<void>((resolve, reject) => {
      done = (e) => (e ? reject(e) : resolve());
      this.mux.write(this.mc, buf, options.dataType ?? 0, done);
    });
    // On a timeout the unsent rest is withdrawn: the caller was told it failed, and a later
    // sendEof()/close() must not wait behind it for window that may never come.
    return withTimeout(p, options.timeout, 'send', () => this.mux.withdraw(this.mc, done!));
  }

  /**
   * Sends EOF after any queued data (RFC 4254 §5.3); resolves once the EOF has been handed to the
   * socket, and rejects with `CLOSED` if the channel or connection ends before it could be.
   */
  sendEof(): Promise<void> {
    return this.sent((done) => this.mux.sendEof(this.mc, done));
  }

  /** Runs `start` with a completion callback, then waits for what it queued to reach the socket. */
  private sent(start: (done: (error?: SshError) => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      start((e) => (e ? reject(e) : this.connection.whenWritten().then(resolve, reject))),
    );
  }

  /** Closes the channel; resolves when the peer's CLOSE arrives (or the connection is gone). */
  close(): Promise<void> {
    if (this.mc.state === 'closed') return Promise.resolve();
    const p = new Promise<void>((resolve) => this.closeWaiters.push(() => resolve()));
    this.mux.close(this.mc);
    return p;
  }

  private request(request: ChannelRequest, wantReply: boolean, timeout?: number): Promise<RequestStatus> {
    if (this.mc.state !== 'open') {
      return Promise.reject(new SshError('CLOSED', `channel ${this.channelId} is not open`));
    }
    if (!wantReply) {
      this.mux.request(this.mc, request);
      return Promise.resolve('success');
    }
    const p = new Promise<RequestStatus>((resolve, reject) =>
      this.mux.request(this.mc, request, (ok) => {
        if (!ok && this.mc.state === 'closed')
          reject(this.closeError ?? new SshError('CLOSED', `channel ${this.channelId} closed`));
        else resolve(ok ? 'success' : 'failure');
      }),
    );
    return withTimeout(p, timeout, `${request.type === 'other' ? request.name : request.type} request`);
  }

  /** Runs a command (RFC 4254 §6.5); its output, exit status and close arrive as messages. */
  exec(command: string, timeout?: number): Promise<RequestStatus> {
    return this.request({ type: 'exec', wantReply: true, command }, true, timeout);
  }

  shell(timeout?: number): Promise<RequestStatus> {
    return this.request({ type: 'shell', wantReply: true }, true, timeout);
  }

  subsystem(name: string, timeout?: number): Promise<RequestStatus> {
    return this.request({ type: 'subsystem', wantReply: true, name }, true, timeout);
  }

  setenv(name: string, value: string, timeout?: number): Promise<RequestStatus> {
    return this.request({ type: 'env', wantReply: true, name, value }, true, timeout);
  }

  ptyAlloc(options: PtyOptions = {}, timeout?: number): Promise<RequestStatus> {
    return this.request(
      {
        type: 'pty-req',
        wantReply: true,
        terminal: options.term ?? process.env.TERM ?? 'vt100',
        cols: options.width ?? 80,
        rows: options.height ?? 24,
        width: options.pixelWidth ?? 0,
        height: options.pixelHeight ?? 0,
        modes: encodeTerminalModes(options.modes ?? []),
      },
      true,
      timeout,
    );
  }

  /** Tells the server the terminal's new size (RFC 4254 §6.7); resolves once written to the socket. */
  windowChange(cols: number, rows: number, width = 0, height = 0): Promise<void> {
    const r: ChannelRequest = { type: 'window-change', wantReply: false, cols, rows, width, height };
    return this.sent((done) => this.mux.request(this.mc, r, undefined, done));
  }

  /** Delivers a signal (RFC 4254 §6.9): a name without "SIG", e.g. "INT". */
  signal(signal: string): Promise<void> {
    return this.sent((done) =>
      this.mux.request(this.mc, { type: 'signal', wantReply: false, signal }, undefined, done),
    );
  }

  /**
   * Server side: the exit status of the command (RFC 4254 §6.10), after the data queued before
   * it; -1 goes out as 0xFFFFFFFF. Resolves once it has been handed to the socket.
   */
  exitStatus(status: number): Promise<void> {
    return this.sent((done) =>
      this.mux.request(
        this.mc,
        { type: 'exit-status', wantReply: false, status: status >>> 0 },
        undefined,
        done,
      ),
    );
  }

  /** Server side: the signal that ended the command (RFC 4254 §6.10); resolves as `exitStatus`. */
  exitSignal(signal: string, errorMessage = '', coreDumped = false): Promise<void> {
    return this.sent((done) =>
      this.mux.request(
        this.mc,
        { type: 'exit-signal', wantReply: false, signal, coreDumped, errorMessage, language: '' },
        undefined,
        done,
      ),
    );
  }

  /** Server side: answers a request that had want-reply set; does nothing when `wantReply` is false. */
  replyRequest(wantReply: boolean, status: RequestStatus): void {
    if (wantReply) this.mux.reply(this.mc, status === 'success');
  }
}
