import type { Readable, Writable } from 'node:stream';
import type { ChannelSink, MuxChannel, MuxCore } from '../connection/mux.js';
import { SshError } from '../errors.js';
import { MAX_PAYLOAD_LENGTH } from '../transport/packet.js';
import { encodeChannelRequest, type ChannelRequest } from '../wire/connection-messages.js';
import { EXTENDED_DATA_STDERR } from '../wire/numbers.js';
import type { ConnectionRef } from './link.js';
import { requestToMessage, type ChannelMessage } from './messages.js';
import { ChannelDuplex } from './streams.js';
import { debug } from '../log.js';

/** The answer to a channel request (RFC 4254 §5.4). */
export type RequestStatus = 'success' | 'failure';

/** Who handles a channel's messages instead of its iterator (a channel runner). @internal */
export interface ChannelConsumer {
  /** A message from the peer (data, EOF, a request, closed). */
  ssh(message: ChannelMessage): void;
  /** A message posted to the channel by its owner (the seed's "other messages"). */
  other(message: unknown): void;
}

/**
 * Decides on a channel's requests before anyone else sees them (the daemon's session routing).
 * `message` is undefined for a request this layer does not know or refuses on sight; `reply` is
 * the request's own answer (when it wants one), for requests decided on the spot. A request the
 * router passes on with `forward` is answered by whoever handles it.
 * @internal
 */
export type RequestRouter = (
  message: ChannelMessage | undefined,
  request: ChannelRequest,
  reply: ((ok: boolean) => void) | undefined,
) => void;

type Answer = (ok: boolean) => void;

export function withTimeout<T>(
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

/**
 * A channel of a connection (RFC 4254 §5), the same on either side. Its messages (the seed's
 * `{ssh_cm, ...}`) arrive through the async iterator, or, once a channel handler runs it, in the
 * handler's callbacks. Its data is also available as Node streams: `stream` (data type 0, both
 * ways; `end()` sends EOF) and `stderr` (extended data type 1, both ways); from the first use of
 * a stream on, data of its type goes there instead of the iterator. Receive window is given back
 * as data is consumed, so a reader that stops stops the peer.
 */
export class Channel implements AsyncIterable<ChannelMessage> {
  /** Our id for the channel (the seed's ChannelId). */
  readonly channelId: number;
  /** The channel type it was opened with (`session`, `direct-tcpip`, …). */
  readonly channelType: string;
  private readonly queue: ChannelMessage[] = [];
  private wake: (() => void) | undefined;
  private finished = false;
  private closeError: SshError | undefined;
  /** The peer sent exit-status or exit-signal: whatever it was asked to run, ran. */
  private peerExited = false;
  private readonly closeWaiters: (() => void)[] = [];
  private closedController: AbortController | undefined;
  private out: { stream: ChannelDuplex; stderr: ChannelDuplex } | undefined;
  private consumer: ChannelConsumer | undefined;
  private router: RequestRouter | undefined;
  /** The answers of request messages not yet handed to their handler or reader. */
  private readonly answers = new WeakMap<ChannelMessage, Answer>();
  /** Answers owed for requests handed to the handler or reader, oldest first (see `replyRequest`). */
  private readonly handed: { message: ChannelMessage; answer: Answer }[] = [];
  /** @internal The protocol sink the mux calls. */
  readonly sink: ChannelSink;

  constructor(
    /** The connection the channel belongs to. */
    readonly connection: ConnectionRef,
    /** @internal */ protected readonly mux: MuxCore,
    /** @internal */ protected readonly mc: MuxChannel,
  ) {
    this.channelId = mc.localId;
    this.channelType = mc.channelType;
    this.sink = {
      onData: (data, dataType) => this.onData(data, dataType),
      onEof: () => this.onEof(),
      onRequest: (r, reply) => this.onRequest(r, reply),
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

  /** The largest window the peer has given (its first, or more once it has granted more). */
  get sendWindowPeak(): number {
    return this.mc.peakWindow;
  }

  /** The peer's smallest WINDOW_ADJUST so far (0 before any): how finely it grants. */
  get smallestGrant(): number {
    return this.mc.smallestGrant;
  }

  /** The peer's largest data packet. */
  get sendMaxPacket(): number {
    return this.mc.remoteMaxPacket;
  }

  /** Whether the channel is closed (CLOSE sent and received, or the connection ended). */
  get isClosed(): boolean {
    return this.mc.state === 'closed';
  }

  /** Aborted when the channel closes: for work a handler runs beside the channel's loop. */
  get abortSignal(): AbortSignal {
    this.closedController ??= new AbortController();
    if (this.isClosed && !this.closedController.signal.aborted) this.closedController.abort();
    return this.closedController.signal;
  }

  /** The peer sent EOF. */
  get eofReceived(): boolean {
    return this.mc.gotEof;
  }

  // ---- incoming ----------------------------------------------------------------------------

  private deliver(m: ChannelMessage): void {
    if (this.consumer) {
      this.consumer.ssh(m);
      return;
    }
    this.queue.push(m);
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private onData(data: Buffer, dataType: number): void {
    if (this.out && (dataType === 0 || dataType === EXTENDED_DATA_STDERR)) {
      (dataType === 0 ? this.out.stream : this.out.stderr).deliver(data);
      return;
    }
    this.deliver({ type: 'data', channelId: this.channelId, dataType, data });
  }

  private onEof(): void {
    this.out?.stream.finishReadable();
    this.out?.stderr.finishReadable();
    this.deliver({ type: 'eof', channelId: this.channelId });
  }

  private onRequest(r: ChannelRequest, reply: Answer | undefined): void {
    if (r.type === 'exit-status' || r.type === 'exit-signal') this.peerExited = true;
    const m = requestToMessage(this.channelId, r);
    if (m && reply) this.answers.set(m, reply);
    if (this.router) {
      this.router(m, r, reply);
      return;
    }
    if (m) this.deliver(m);
    else reply?.(false); // e.g. keepalive@openssh.com, or a pty no terminal has
  }

  /**
   * @internal `m` is being handed to its handler or reader now: from here on `replyRequest`
   * answers it (requests are answered in the order they are handed over).
   */
  handing(m: ChannelMessage): void {
    const answer = this.answers.get(m);
    if (!answer) return;
    this.answers.delete(m);
    this.handed.push({ message: m, answer });
  }

  /**
   * @internal Its handler is done with `m` (its callback returned, or the reader moved on): a
   * request it neither answered nor deferred is answered FAILURE, so that every request that
   * wants a reply gets exactly one and later replies are not held behind it.
   */
  handled(m: ChannelMessage): void {
    const i = this.handed.findIndex((h) => h.message === m);
    if (i < 0) return;
    const [h] = this.handed.splice(i, 1);
    debug('channel %d: %s request left unanswered by its handler: answered FAILURE', this.channelId, m.type);
    h!.answer(false);
  }

  private onClose(e?: SshError): void {
    this.closeError = e;
    // The readable sides end once their data is read; writes after the close are dropped (see
    // `streams`), so a writer that did not hear of the close yet gets no error event to crash on.
    this.out?.stream.finishReadable();
    this.out?.stderr.finishReadable();
    this.deliver({ type: 'closed', channelId: this.channelId });
    for (const w of this.closeWaiters.splice(0)) w();
    this.closedController?.abort();
    this.connection.forgetChannel(this.channelId);
  }

  /** Gives `n` consumed bytes of receive window back to the peer (automatic for iterators, streams and handlers). */
  adjustWindow(n: number): void {
    this.mux.consumed(this.mc, n);
  }

  /**
   * Delivers `message` to the channel's handler (`handleMsg`), the seed's "other messages" to a
   * channel process. Without a handler it is dropped.
   */
  post(message: unknown): void {
    this.consumer?.other(message);
  }

  /** @internal Routes messages to a channel runner instead of the iterator. */
  setConsumer(consumer: ChannelConsumer): void {
    this.consumer = consumer;
    for (const m of this.queue.splice(0)) consumer.ssh(m);
  }

  /** @internal Sees every request first (the daemon's session routing). */
  setRequestRouter(router: RequestRouter): void {
    this.router = router;
  }

  /** @internal Passes a message the router accepted on to the handler or the iterator. */
  forward(m: ChannelMessage): void {
    this.deliver(m);
  }

  /** The messages from the peer, in order (`for await (const m of channel)`); ends when the channel closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<ChannelMessage> {
    while (true) {
      const m = this.queue.shift();
      if (!m) {
        if (this.finished) return;
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      if (m.type === 'data') this.mux.consumed(this.mc, m.data.length);
      this.handing(m);
      try {
        yield m;
      } finally {
        this.handled(m);
      }
      if (m.type === 'closed') {
        this.finished = true;
        return;
      }
    }
  }

  /**
   * Data of type 0 both ways as a Duplex: read what the peer sends, write what we send; `end()`
   * sends EOF. From its first use on, such data goes here instead of the iterator.
   */
  get stream(): ChannelDuplex {
    return this.streams().stream;
  }

  /**
   * Extended data of type 1 (stderr) both ways as a Duplex. A client reads the command's errors
   * here (read it, or its window is never given back); a server writes them here.
   */
  get stderr(): ChannelDuplex {
    return this.streams().stderr;
  }

  /** Client reading: the remote command's standard output (the readable side of `stream`). */
  get stdout(): Readable {
    return this.streams().stream;
  }

  /** Client writing: the remote command's standard input (the writable side of `stream`). */
  get stdin(): Writable {
    return this.streams().stream;
  }

  private streams(): { stream: ChannelDuplex; stderr: ChannelDuplex } {
    if (this.out) return this.out;
    const credit = (n: number) => this.mux.consumed(this.mc, n);
    const make = (dataType: number) =>
      new ChannelDuplex({
        write: (data, done) =>
          this.mux.write(this.mc, data, dataType, (e) => done(e && !this.isClosed ? e : undefined)),
        end: () => (dataType === 0 ? this.mux.sendEof(this.mc) : undefined),
        credit,
      });
    const out = { stream: make(0), stderr: make(EXTENDED_DATA_STDERR) };
    this.out = out;
    // Data that arrived before the streams existed.
    const rest: ChannelMessage[] = [];
    for (const m of this.queue.splice(0)) {
      if (m.type === 'data' && (m.dataType === 0 || m.dataType === EXTENDED_DATA_STDERR)) {
        (m.dataType === 0 ? out.stream : out.stderr).deliver(m.data);
      } else {
        if (m.type === 'eof' || m.type === 'closed') {
          out.stream.finishReadable();
          out.stderr.finishReadable();
        }
        rest.push(m);
      }
    }
    this.queue.push(...rest);
    if (this.isClosed) {
      out.stream.finishReadable();
      out.stderr.finishReadable();
    }
    return out;
  }

  // ---- outgoing ----------------------------------------------------------------------------

  /**
   * Sends data (dataType 1 is stderr); resolves once all of it is handed to the transport (the
   * window allowed it). On a timeout the unsent rest is withdrawn and the promise rejects.
   */
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
    // A later sendEof()/close() must not wait behind data the caller gave up on.
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
  protected sent(start: (done: (error?: SshError) => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      start((e) => (e ? reject(e) : this.connection.whenWritten().then(resolve, reject))),
    );
  }

  /** Closes the channel; resolves when the peer's CLOSE arrives (or the connection is gone). */
  close(): Promise<void> {
    if (this.mc.state === 'closed') return Promise.resolve();
    const p = new Promise<void>((resolve) => this.closeWaiters.push(resolve));
    this.mux.close(this.mc);
    return p;
  }

  /**
   * Sends a channel request (RFC 4254 §5.4). With `wantReply` it resolves with the peer's answer
   * ('success' or 'failure'; rejected with `CLOSED` if the channel closes first, `TIMEOUT` after
   * `timeout` ms); without, it resolves once the request is with the socket.
   */
  sendRequest(request: ChannelRequest, timeout?: number): Promise<RequestStatus> {
    if (this.mc.state !== 'open' || this.mc.closing) {
      return Promise.reject(new SshError('CLOSED', `channel ${this.channelId} is not open`));
    }
    if (encodeChannelRequest(0, request).length > MAX_PAYLOAD_LENGTH) {
      return Promise.reject(
        new SshError('BAD_OPTION', `the ${requestName(request)} request is larger than a packet may be`),
      );
    }
    if (!request.wantReply) {
      return this.sent((done) => this.mux.request(this.mc, request, undefined, done)).then(
        () => 'success' as const,
      );
    }
    const p = new Promise<RequestStatus>((resolve, reject) =>
      this.mux.request(this.mc, request, (ok) => {
        if (!ok && this.mc.state === 'closed') {
          // A server that runs the command before it replies can close the channel before the
          // reply goes out (paramiko's threaded servers do): an exit status says it ran.
          const ran = this.peerExited && ['exec', 'shell', 'subsystem'].includes(request.type);
          if (ran) resolve('success');
          else reject(this.closeError ?? new SshError('CLOSED', `channel ${this.channelId} closed`));
        } else resolve(ok ? 'success' : 'failure');
      }),
    );
    return withTimeout(p, timeout, `${requestName(request)} request`);
  }

  /**
   * Answers the oldest of the peer's requests on this channel not answered yet (the seed's
   * reply_request/4); does nothing when `wantReply` is false. Replies always go out in the order
   * the requests came.
   */
  replyRequest(wantReply: boolean, status: RequestStatus): void {
    if (wantReply) this.handed.shift()?.answer(status === 'success');
  }

  /**
   * Takes the answer to the oldest unanswered request, to give it later (after asynchronous
   * work); later requests can be answered meanwhile, and all replies still go out in order.
   * Returns a no-op when no request is waiting.
   */
  deferReply(): (status: RequestStatus) => void {
    const answer = this.handed.shift()?.answer;
    return (status) => answer?.(status === 'success');
  }
}

function requestName(r: ChannelRequest): string {
  return r.type === 'other' ? r.name : r.type;
}
