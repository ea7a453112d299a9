import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { ConnectionCore, type ConnectionCoreConfig } from '../connection/connection-core.js';
import type { ChannelParams, ChannelSink, MuxChannel } from '../connection/mux.js';
import type { KbdIntData, PasswordVerdict } from '../auth/server.js';
import { defaultKbdIntData } from '../auth/keyboard-interactive.js';
import { DisconnectReason, SshError } from '../errors.js';
import type { PublicKey } from '../keys/types.js';
import type { Reply } from '../connection/replies.js';
import type { ChannelOpen, GlobalRequest } from '../wire/connection-messages.js';
import { ChannelOpenFailure } from '../wire/numbers.js';
import type { Debug } from '../wire/transport-messages.js';
import { Channel, withTimeout } from '../channel/channel.js';
import type { ChannelOptions, ConnectionInfo, ConnectionRef, RekeyEvent } from '../channel/link.js';
import { SessionChannel } from '../channel/session-channel.js';
import { hintHeapForBulkData } from './heap-hint.js';
import { releaseBuffers, writesToKernel } from './release.js';
import { FREE_MIN } from '../wire/detach.js';

/** Batches up to this size go out as one joined buffer; larger ones as a writev of their pieces. */
const SMALL_BATCH = 16 * 1024;
/** In a larger batch, pieces below this size are joined with their neighbours (see `writeJoined`). */
const JOIN_BELOW = 2048;
/** A run of joined small pieces is written once it reaches this size. */
const RUN_LIMIT = 64 * 1024;

const EMPTY_WRITE = Buffer.alloc(0);

/** The pieces' total length if it is at most SMALL_BATCH, else -1 (without summing a bulk batch). */
function smallTotal(bufs: readonly Buffer[]): number {
  let total = 0;
  for (const b of bufs) {
    total += b.length;
    if (total > SMALL_BATCH) return -1;
  }
  return total;
}

/**
 * Stop queueing bulk data once this much of our output waits in user space: what the transport
 * has queued for the next write plus what the socket has not yet handed to the kernel. Channel
 * data stops here (it waits in its channel, held by its window), so only what the peer provokes
 * (replies, WINDOW_ADJUST, UNIMPLEMENTED) can take the output further.
 */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/**
 * Stop reading the peer while this much of our output waits. Above the high-water mark plus a
 * full data packet or two, so that two sides both sending bulk data never both stop reading
 * (each side's data alone stays under it); a peer that provokes output and does not read it
 * stops being read here, and our memory for it stays about this size.
 */
const OUTPUT_READ_LIMIT = 2 * 1024 * 1024;

/**
 * A peer that takes none of our output for this long while it is over the high-water mark is
 * disconnected. A slow reader is not: any progress restarts the clock.
 */
export const DEFAULT_OUTPUT_STALL_MS = 60_000;

/** Channel window and packet size Seashell advertises by default (OpenSSH: 2 MiB and 32 KiB). */
export const DEFAULT_WINDOW = 4 * 1024 * 1024;
/**
 * How far a default window may grow while the round trip, not the receiver, holds the peer back
 * (MuxCore.growWindow): 16 MiB carries 320 MiB/s over 50 ms. The connection's windowBudget
 * still bounds the sum over its channels.
 */
export const DEFAULT_MAX_WINDOW = 16 * 1024 * 1024;

/** `maxWindowSize` must be a window RFC 4254 §5.2 allows: an integer in [0, 2^32 - 1]. */
function checkMaxWindow(v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 0xffffffff))
    throw new SshError('BAD_OPTION', `maxWindowSize must be an integer from 0 to 2^32 - 1, not ${String(v)}`);
}
/**
 * 255 KiB: with its header and padding a full data packet still fits the 256 KiB packet limit.
 * Measured Seashell to Seashell: about a fifth less CPU per GiB received than 64 KiB packets
 * (Node creates an AES-GCM context per packet). Peers send what suits them up to it; OpenSSH's
 * own reads keep its packets smaller.
 */
export const DEFAULT_MAX_PACKET = 255 * 1024;

/** @deprecated the name of `ChannelOptions` before channels of other types could be opened. */
export type SessionChannelOptions = ChannelOptions;

/**
 * Decides on a channel the peer wants to open (RFC 4254 §5.1): call `accept` (with the channel's
 * window and packet size if not the defaults) or `reject` with an RFC 4254 §5.1 reason code,
 * now or later. Register with `Connection.setChannelOpenHandler(type, handler)`.
 */
export type ChannelOpenHandler = (
  open: ChannelOpen,
  accept: (
    options?: Pick<ChannelOptions, 'initialWindowSize' | 'maxWindowSize' | 'maxPacketSize'>,
  ) => Channel,
  reject: (reason: number, description: string) => void,
) => void;

/**
 * Answers a global request from the peer (RFC 4254 §4): call `reply(ok, payload?)` exactly once
 * when it wants a reply (now or later; replies go out in the order the requests came).
 */
export type GlobalRequestHandler = (request: GlobalRequest, reply: Reply | undefined) => void;

/** Why a client refused the server's host key: unknown, changed or revoked, each its own code. */
export interface HostKeyRefusal {
  code: 'HOST_KEY_NOT_VERIFIED' | 'HOST_KEY_MISMATCH' | 'HOST_KEY_REVOKED';
  message: string;
}

/** Hooks the daemon or the client facade plugs into a connection. @internal */
export interface ConnectionHooks {
  verifyHostKey?(
    connection: Connection,
    key: PublicKey,
    algorithm: string,
  ): Promise<boolean | string | HostKeyRefusal>;
  isAuthorizedKey?(connection: Connection, user: string, key: PublicKey): Promise<boolean>;
  checkPassword?(connection: Connection, user: string, password: string): Promise<PasswordVerdict>;
  kbdIntData?(connection: Connection, user: string, service: string): KbdIntData | Promise<KbdIntData>;
  onAuthenticated?(connection: Connection, user: string, method: string): void;
  onAuthFailure?(connection: Connection, user: string, method: string, why: string): void;
  onChannelOpen?(
    connection: Connection,
    open: ChannelOpen,
    accept: (params?: Partial<ChannelParams>) => Channel,
    reject: (reason: number, description: string) => void,
  ): void;
  onGlobalRequest?(connection: Connection, request: GlobalRequest, reply: Reply | undefined): void;
  onDebug?(connection: Connection, message: Debug): void;
  onBanner?(connection: Connection, message: string): void;
  onClose?(connection: Connection, error: SshError, byPeer: boolean): void;
  onUnexpected?(connection: Connection, payload: Buffer): void;
}

/** The sink a channel has until its Channel object takes over (it replaces it at once). */
const NO_SINK: ChannelSink = { onData() {}, onEof() {}, onRequest() {}, onClose() {} };

function parseVersion(line: string): { protocolVersion: [number, number]; versionString: string } {
  const m = /^SSH-(\d+)\.(\d+)-/.exec(line);
  return { protocolVersion: m ? [Number(m[1]), Number(m[2])] : [2, 0], versionString: line };
}

/**
 * One SSH connection over one socket, on either side: the I/O edge around a ConnectionCore.
 * Writes are batched per tick (one writev), but a batch that reaches 64 KiB while it is being
 * sealed goes out at once (`onOutputGrown`); TCP_NODELAY is on, and bulk data waits while the
 * socket is backed up.
 */
export class Connection
  extends EventEmitter<{
    /** Emitted after every finished re-key, whoever started it. */
    rekey: [RekeyEvent];
  }>
  implements ConnectionRef
{
  /** Which side of the connection this is. */
  readonly role: 'client' | 'server';
  /** @internal The sans-I/O protocol core this edge feeds and drains. */
  readonly core: ConnectionCore;
  /** Open channels by number, made with the first (an empty Map costs ~240 bytes per idle connection). */
  private channels: Map<number, Channel> | undefined;
  private flushScheduled = false;
  /** Bytes written by `onOutputGrown` since the last flush: they count towards a turn's share. */
  private earlyBytes = 0;
  /** Our queued output is over the high-water mark: bulk data waits until the socket drains. */
  private blocked = false;
  /** Our queued output is over OUTPUT_READ_LIMIT: the peer is not read until the socket drains. */
  private overReadLimit = false;
  /** The protocol core is not processing input (a decision is outstanding). */
  private inputPaused = false;
  /** Whether the socket is being read (see `updateReading`). */
  private reading = true;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Armed for the core's `wakeIn`. */
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = 0;
  /** Bytes the kernel had taken when the stall timer was armed. */
  private stallMark = 0;
  private readonly outputStallMs: number;
  private readonly idleTimeMs: number | undefined;
  /** Armed while authenticated with no channel open (the seed's idle_time). */
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Where authentication stands; the promise for `authenticated` is made only when asked for. */
  private authState: 'pending' | 'done' | SshError = 'pending';
  private ready: { promise: Promise<void>; resolve: () => void; reject: (e: SshError) => void } | undefined;
  /** The negotiation deadline, cleared once authenticated. */
  private deadline: NodeJS.Timeout | undefined;
  private dataMap: Map<string, unknown> | undefined;
  /** Waiting for everything queued so far to reach the socket (see `whenWritten`). */
  private writeWaiters: { resolve: () => void; reject: (e: SshError) => void }[] | undefined;
  /** Waiting for the key exchange under way to finish (see `rekey`). */
  private rekeyWaiters: { resolve: () => void; reject: (e: SshError) => void }[] | undefined;
  private rekeyCount = 0;
  /** Dropped for sending more than it read (the daemon's per-source penalties count it). */
  droppedForFlooding = false;
  /** Ended by `negotiationDeadline` (the daemon's per-source penalties count it). */
  loginTimedOut = false;
  private closeError: SshError | undefined;
  private openHandlers: Map<string, ChannelOpenHandler> | undefined;
  private requestHandlers: Map<string, GlobalRequestHandler> | undefined;

  constructor(
    /**
     * The TCP socket the connection runs over. The connection frees the memory of the chunks it
     * reads from it and of the packets it writes to it once it is done with them (release.ts),
     * so a listener of one's own must not keep them.
     */
    readonly socket: Socket,
    config: ConnectionCoreConfig,
    private readonly hooks: ConnectionHooks,
  ) {
    super();
    hintHeapForBulkData();
    this.role = config.transport.role;
    // Reads from the kernel come in buffers of their own, freed once opened (release.ts).
    if (writesToKernel(socket))
      config = { ...config, transport: { ...config.transport, releaseInput: releaseBuffers } };
    this.core = new ConnectionCore(config, this);
    this.outputStallMs = config.outputStallMs ?? DEFAULT_OUTPUT_STALL_MS;
    this.idleTimeMs = config.idleTimeMs;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.core.receive(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (e) => this.lost('CONNECTION_LOST', `socket error: ${e.message}`, e));
    socket.on('close', () => this.lost('CONNECTION_LOST', 'the TCP connection closed'));
    socket.on('end', () => this.lost('CONNECTION_LOST', 'the peer closed the TCP connection'));
  }

  /** Arbitrary per-connection data for option callbacks (e.g. pwdfun's state). */
  get data(): Map<string, unknown> {
    return (this.dataMap ??= new Map());
  }

  /** Starts the protocol (identification line and KEXINIT). */
  start(): void {
    this.core.start();
  }

  /** Resolves once authentication succeeded; rejects with the reason the connection failed before that. */
  get authenticated(): Promise<void> {
    if (this.authState === 'done') return Promise.resolve();
    if (this.authState !== 'pending') return Promise.reject(this.authState);
    if (!this.ready) {
      let resolve!: () => void;
      let reject!: (e: SshError) => void;
      const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      this.ready = { promise, resolve, reject };
    }
    return this.ready.promise;
  }

  private settled(outcome: 'done' | SshError): void {
    if (this.authState !== 'pending') return;
    this.authState = outcome;
    // Dropped once settled (those awaiting it hold the promise): ~250 bytes per connection.
    const ready = this.ready;
    this.ready = undefined;
    if (outcome === 'done') ready?.resolve();
    else ready?.reject(outcome);
  }

  /** Whether the connection has ended. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends the connection after `ms` unless it has authenticated by then. */
  negotiationDeadline(ms: number | undefined, what: string): void {
    if (ms === undefined || ms === Infinity) return;
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      if (!this.core.isAuthenticated && !this.closed) {
        this.loginTimedOut = true;
        this.settled(new SshError('TIMEOUT', `${what} did not complete within ${ms} ms`));
        this.core.disconnect(DisconnectReason.BY_APPLICATION, `${what} timed out`);
      }
    }, ms);
    this.deadline.unref();
  }

  // ---- ConnectionEvents: called by the core (internal; prototype methods, no closures) -----

  /** @internal */
  onOutput(): void {
    this.scheduleFlush();
  }

  /**
   * @internal Sealed output reached the transport's EARLY_WRITE mark in the middle of a call
   * into the core: it goes to the socket now, and the rest of the batch at the scheduled flush.
   * Not while the socket is backed up (then it waits for the drain like the rest).
   */
  onOutputGrown(): void {
    if (this.blocked || this.socket.destroyed) return;
    this.earlyBytes += this.core.transport.outputBytes;
    const bufs = this.core.takeSealed();
    if (bufs.length === 0) return;
    this.writeOut(bufs);
    // Everything sealed so far is with the socket: what waits on that may go on now, before the
    // peer's answer to it can be read. A server that sends EOF and then its exit status (each
    // awaited) would otherwise lose the exit status when the written EOF made the peer close
    // within the same turn (OpenSSH's multiplexed sessions did, 1 run in 6).
    if (this.writeWaiters) this.settleWriteWaiters(true);
  }

  /** @internal */
  wakeIn(ms: number): void {
    const at = Date.now() + ms;
    if (this.closed || (this.wakeTimer && this.wakeAt <= at)) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.core.wake();
    }, ms);
    this.wakeTimer.unref();
  }

  /**
   * @internal Also true once this turn's early writes and what waits reach the mark: written
   * early or not, a turn of the event loop seals at most about OUTPUT_HIGH_WATER of channel data,
   * so one connection whose socket takes everything cannot keep the loop from the others.
   */
  outputFull(): boolean {
    return (
      this.blocked ||
      this.queuedOutput() >= OUTPUT_HIGH_WATER ||
      this.earlyBytes + this.core.transport.outputBytes >= OUTPUT_HIGH_WATER
    );
  }

  /** Our output not yet with the kernel: the transport's next write and the socket's buffer. */
  private queuedOutput(): number {
    return this.socket.writableLength + this.core.transport.outputBytes;
  }

  /** @internal */
  onInputPaused(paused: boolean): void {
    this.inputPaused = paused;
    this.updateReading();
  }

  /**
   * Reads the socket only while its data can be processed and our output is being taken: the
   * one backpressure mechanism, both ways (a peer that does not read stops being read).
   */
  private updateReading(): void {
    // Once closed, reading only lets the peer's FIN arrive (the core ignores what comes).
    const read = this.closed || (!this.inputPaused && !this.overReadLimit);
    if (read === this.reading) return;
    this.reading = read;
    if (read) this.socket.resume();
    else this.socket.pause();
  }

  /** Bytes of our output the kernel has taken so far. */
  private delivered(): number {
    return this.socket.bytesWritten - this.socket.writableLength;
  }

  private armStallTimer(): void {
    if (this.stallTimer || this.outputStallMs === Infinity) return;
    this.stallMark = this.delivered();
    this.stallTimer = setTimeout(() => this.onStallTimer(), this.outputStallMs);
    this.stallTimer.unref();
  }

  private onStallTimer(): void {
    this.stallTimer = undefined;
    if (!this.blocked || this.closed) return;
    if (this.delivered() > this.stallMark) {
      this.armStallTimer(); // slow, but reading
      return;
    }
    // Nothing of ours was read for the whole grace time: the DISCONNECT cannot reach the peer
    // either, so after queueing it the socket is destroyed rather than ended.
    this.droppedForFlooding = true;
    this.core.disconnect(
      DisconnectReason.BY_APPLICATION,
      `the peer read none of our output for ${this.outputStallMs} ms`,
    );
    this.socket.destroy();
  }

  /** @internal */
  verifyHostKey(key: PublicKey, algorithm: string): void {
    const verdict = this.hooks.verifyHostKey?.(this, key, algorithm) ?? Promise.resolve('no host key check');
    verdict.then(
      (v) =>
        typeof v === 'object'
          ? this.core.transport.hostKeyVerdict(false, v.message, v.code)
          : this.core.transport.hostKeyVerdict(v === true, typeof v === 'string' ? v : 'host key rejected'),
      (e: unknown) =>
        this.core.transport.hostKeyVerdict(false, `host key check failed: ${(e as Error).message}`),
    );
  }

  /** @internal */
  onKexDone(first: boolean): void {
    if (first) return;
    this.rekeyCount++;
    for (const w of this.rekeyWaiters?.splice(0) ?? []) w.resolve();
    if (this.listenerCount('rekey') > 0) {
      this.emit('rekey', { algorithms: { ...this.core.transport.negotiated! }, rekeys: this.rekeyCount });
    }
  }

  /** @internal */
  onDebug(d: Debug): void {
    this.hooks.onDebug?.(this, d);
  }

  /** @internal */
  onBanner(message: string): void {
    this.hooks.onBanner?.(this, message);
  }

  /** @internal */
  onAuthenticated(user: string, method: string): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    this.hooks.onAuthenticated?.(this, user, method);
    this.settled('done');
    this.armIdle();
  }

  /** Starts the idle clock if the connection is authenticated and has no channel. */
  private armIdle(): void {
    const ms = this.idleTimeMs;
    if (ms === undefined || ms === Infinity || this.closed || this.channelCount > 0) return;
    if (!this.core.isAuthenticated || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.closed || this.channelCount > 0) return;
      this.core.disconnect(DisconnectReason.BY_APPLICATION, `idle for ${ms} ms with no channel open`);
    }, ms);
    this.idleTimer.unref();
  }

  private disarmIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** @internal */
  onUnexpected(payload: Buffer): void {
    this.hooks.onUnexpected?.(this, payload);
  }

  /** @internal */
  onAuthFailure(user: string, method: string, why: string): void {
    this.hooks.onAuthFailure?.(this, user, method, why);
  }

  /** @internal */
  onClose(error: SshError, byPeer: boolean): void {
    this.onCoreClose(error, byPeer);
  }

  /** @internal */
  onChannelOpen(
    open: ChannelOpen,
    accept: (sink: ChannelSink, params?: Partial<ChannelParams>) => MuxChannel,
    reject: (reason: number, description: string) => void,
  ): void {
    const adopt = (params?: Partial<ChannelParams>) => this.adopt(accept(NO_SINK, params));
    const handler = this.openHandlers?.get(open.channelType);
    if (handler) {
      handler(
        open,
        (o) => {
          checkMaxWindow(o?.maxWindowSize);
          return adopt({
            // A window the application chose stays as it is unless it says how far it may grow.
            ...(o?.initialWindowSize !== undefined
              ? { initialWindow: o.initialWindowSize, maxWindow: o.initialWindowSize }
              : {}),
            ...(o?.maxWindowSize !== undefined ? { maxWindow: o.maxWindowSize } : {}),
            ...(o?.maxPacketSize !== undefined ? { maxPacket: o.maxPacketSize } : {}),
          });
        },
        reject,
      );
      return;
    }
    if (!this.hooks.onChannelOpen) {
      reject(
        ChannelOpenFailure.UNKNOWN_CHANNEL_TYPE,
        `channel type ${open.channelType.slice(0, 64)} is not supported`,
      );
      return;
    }
    this.hooks.onChannelOpen(this, open, adopt, reject);
  }

  /** @internal */
  onGlobalRequest(request: GlobalRequest, reply: Reply | undefined): void {
    const handler = this.requestHandlers?.get(request.name);
    if (handler) handler(request, reply);
    else if (this.hooks.onGlobalRequest) this.hooks.onGlobalRequest(this, request, reply);
    else reply?.(false); // e.g. keepalive@openssh.com: answered, as OpenSSH does
  }

  /**
   * Serves the channels of `type` the peer opens (forwarding, agent forwarding, …): `handler`
   * accepts or rejects each. Channel types without a handler are refused with
   * UNKNOWN_CHANNEL_TYPE (a daemon serves `session` itself). `undefined` removes it.
   */
  setChannelOpenHandler(type: string, handler: ChannelOpenHandler | undefined): void {
    if (handler) (this.openHandlers ??= new Map()).set(type, handler);
    else this.openHandlers?.delete(type);
  }

  /** Answers the peer's global requests named `name`; unhandled ones are answered FAILURE. */
  setGlobalRequestHandler(name: string, handler: GlobalRequestHandler | undefined): void {
    if (handler) (this.requestHandlers ??= new Map()).set(name, handler);
    else this.requestHandlers?.delete(name);
  }

  /** @internal */
  isAuthorizedKey(user: string, key: PublicKey): Promise<boolean> {
    return this.hooks.isAuthorizedKey?.(this, user, key) ?? Promise.resolve(false);
  }

  /** @internal */
  checkPassword(user: string, password: string): Promise<PasswordVerdict> {
    return this.hooks.checkPassword?.(this, user, password) ?? Promise.resolve(false);
  }

  /** @internal */
  kbdIntData(user: string, service: string): KbdIntData | Promise<KbdIntData> {
    return this.hooks.kbdIntData?.(this, user, service) ?? defaultKbdIntData(user);
  }

  private adopt(mc: MuxChannel): Channel {
    const ch =
      mc.channelType === 'session'
        ? new SessionChannel(this, this.core.mux, mc)
        : new Channel(this, this.core.mux, mc);
    (this.channels ??= new Map()).set(ch.channelId, ch);
    this.disarmIdle();
    return ch;
  }

  /** @internal Called by a Channel once it is closed. */
  forgetChannel(id: number): void {
    this.channels?.delete(id);
    if (this.channelCount === 0) this.armIdle();
  }

  /** The open channel with this local id. */
  channel(id: number): Channel | undefined {
    return this.channels?.get(id);
  }

  /** Channels open now. */
  get channelCount(): number {
    return this.channels?.size ?? 0;
  }

  /** Opens a session channel (RFC 4254 §6.1), the seed's ssh_connection:session_channel. */
  sessionChannel(options: ChannelOptions = {}): Promise<SessionChannel> {
    return this.openChannel('session', Buffer.alloc(0), options) as Promise<SessionChannel>;
  }

  /**
   * Opens a channel of type `type` with its type-specific data (RFC 4254 §5.1), e.g.
   * `direct-tcpip`; resolves once the peer confirms it, rejects with `CHANNEL_OPEN_FAILED` (the
   * peer's reason in the message) or `TIMEOUT`.
   */
  openChannel(
    type: string,
    extraData: Buffer = Buffer.alloc(0),
    options: ChannelOptions = {},
  ): Promise<Channel> {
    // Why it closed travels along (the message, `reason` and `cause`: e.g. FLOODED, MAC_ERROR).
    if (this.closed) return Promise.reject(this.closedError());
    try {
      checkMaxWindow(options.maxWindowSize);
    } catch (e) {
      return Promise.reject(e as SshError);
    }
    if (!this.core.isAuthenticated)
      return Promise.reject(new SshError('CLOSED', 'connection is not authenticated'));
    let ch: Channel;
    const confirmed = new Promise<Channel>((resolve, reject) => {
      const mc = this.core.mux.openChannel(
        type,
        extraData,
        {
          onOpenConfirmed: () => resolve(ch),
          onOpenFailed: (e) => {
            this.forgetChannel(mc.localId);
            reject(e);
          },
          onData() {},
          onEof() {},
          onRequest() {},
          onClose() {},
        },
        {
          initialWindow: options.initialWindowSize ?? this.core.mux.defaults.initialWindow,
          // A window the application chose stays as it is unless it says how far it may grow.
          maxWindow: options.maxWindowSize ?? options.initialWindowSize ?? this.core.mux.defaults.maxWindow,
          maxPacket: options.maxPacketSize ?? this.core.mux.defaults.maxPacket,
        },
      );
      ch = this.adopt(mc);
    });
    return withTimeout(confirmed, options.timeout, `opening a ${type} channel`, () => void ch.close());
  }

  /** Sends a global request (RFC 4254 §4); with `wantReply` resolves with the peer's answer. */
  globalRequest(
    name: string,
    data = Buffer.alloc(0),
    wantReply = true,
  ): Promise<{
    /** Whether the peer answered SUCCESS (always true without `wantReply`). */
    ok: boolean;
    /** The request-specific data of a SUCCESS answer (empty otherwise). */
    data: Buffer;
  }> {
    if (!wantReply) {
      this.core.mux.globalRequest(name, data);
      return Promise.resolve({ ok: true, data: Buffer.alloc(0) });
    }
    return new Promise((resolve) =>
      this.core.mux.globalRequest(name, data, (ok, d) => resolve({ ok, data: d })),
    );
  }

  /**
   * Starts a key exchange now (RFC 4253 §9) and resolves when it has finished; if one is already
   * under way, resolves when that one finishes. Rejects with `CLOSED` if the connection ends first.
   * The `'rekey'` event and `connectionInfo(conn).rekeys` report every re-key, whoever started it.
   */
  rekey(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    if (!this.core.transport.sessionId) {
      return Promise.reject(new SshError('CLOSED', 'the first key exchange has not finished yet'));
    }
    return new Promise<void>((resolve, reject) => {
      (this.rekeyWaiters ??= []).push({ resolve, reject });
      this.core.transport.rekey();
    });
  }

  /**
   * Resolves once everything queued for the peer so far has been handed to the socket (messages
   * held back by a key exchange included); rejects with `CLOSED` if the connection ended before
   * they could be written.
   */
  whenWritten(): Promise<void> {
    const t = this.core.transport;
    if (!this.flushScheduled && t.heldMessages === 0) {
      return this.closed && t.droppedAtClose > 0 ? Promise.reject(this.closedError()) : Promise.resolve();
    }
    if (this.socket.destroyed) return Promise.reject(this.closedError());
    return new Promise<void>((resolve, reject) => (this.writeWaiters ??= []).push({ resolve, reject }));
  }

  private closedError(): SshError {
    const e = this.closeError;
    return new SshError('CLOSED', e ? `connection closed: ${e.message}` : 'connection is closed', {
      reason: e?.reason,
      cause: e,
    });
  }

  /** After a write: settle the waiters whose messages are all with the socket now. */
  private settleWriteWaiters(written: boolean): void {
    const waiters = this.writeWaiters;
    if (!waiters?.length) return;
    if (written && this.core.transport.heldMessages > 0) return; // the rest goes out after the kex
    this.writeWaiters = undefined;
    const lost = !written || (this.closed && this.core.transport.droppedAtClose > 0);
    const error = lost ? this.closedError() : undefined;
    for (const w of waiters) {
      if (error) w.reject(error);
      else w.resolve();
    }
  }

  /** What `ssh.connectionInfo` reports: versions, user, addresses, algorithms, channels. */
  info(): ConnectionInfo {
    const t = this.core.transport;
    const ours = parseVersion(t.identification);
    const theirs = parseVersion(t.peerIdentification ?? '');
    const client = this.role === 'client';
    return {
      clientVersion: client ? ours : theirs,
      serverVersion: client ? theirs : ours,
      user: this.core.user ?? '',
      peer: { address: this.socket.remoteAddress ?? '', port: this.socket.remotePort ?? 0 },
      sockname: { address: this.socket.localAddress ?? '', port: this.socket.localPort ?? 0 },
      algorithms: t.negotiated ? { ...t.negotiated } : undefined,
      channels: this.channelCount,
      rekeys: this.rekeyCount,
    };
  }

  /**
   * Disconnects (RFC 4253 §11.1, BY_APPLICATION) and resolves once the DISCONNECT and everything
   * queued before it are with the operating system and our side of the socket is shut down, as
   * Erlang's close/1 returns without waiting for the peer. The socket is released when the peer
   * closes its side, or destroyed 2 s after the shutdown if it never does.
   */
  close(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      if (this.socket.destroyed || this.socket.writableFinished) {
        resolve();
        return;
      }
      this.socket.once('finish', () => resolve());
      this.socket.once('close', () => resolve());
    });
    this.core.disconnect(DisconnectReason.BY_APPLICATION, 'closed by the application');
    if (!this.closed) this.lost('CLOSED', 'connection closed');
    return done;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current turn of the event loop: everything a turn produces (a reply, its
    // data, EOF, exit status and CLOSE) leaves in one writev.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const bufs = this.core.takeOutput();
    if (!this.socket.destroyed && (bufs.length > 0 || this.earlyBytes > 0)) {
      if (bufs.length > 0) this.writeOut(bufs);
      this.earlyBytes = 0;
      // The kernel took it: channel data held back while it was queued may go now (it is
      // encrypted up to the high-water mark per turn of the event loop). Also when early writes
      // took everything: a channel may have stopped on this turn's share.
      if (!this.blocked) this.core.resumeStalled();
      this.core.prepareAhead();
    }
    if (this.writeWaiters) this.settleWriteWaiters(!this.socket.destroyed || bufs.length === 0);
    // Also with nothing to write: after the peer's DISCONNECT there is no reply, but the socket must still end.
    if (this.closed) this.finishSocket();
  }

  /** Hands `bufs` to the socket and notes whether its queue is now over the marks. */
  private writeOut(bufs: Buffer[]): void {
    const total = bufs.length === 1 ? 0 : smallTotal(bufs);
    if (bufs.length === 1) this.socket.write(bufs[0]!);
    else if (total >= 0) {
      // A handshake's or a reply's few small packets: joining them is cheaper than writev's bookkeeping.
      this.socket.write(Buffer.concat(bufs, total));
    } else {
      this.writeJoined(bufs);
    }
    const queued = this.socket.writableLength;
    if (queued >= OUTPUT_HIGH_WATER && !this.blocked) {
      this.blocked = true;
      this.armStallTimer();
    }
    if (queued >= OUTPUT_READ_LIMIT && !this.overReadLimit) {
      this.overReadLimit = true;
      this.updateReading();
    }
  }

  /**
   * Writes a large batch as one writev in which runs of small buffers (packet headers and
   * tails, replies) are joined and large ones (channel data bodies) go as they are: thousands of
   * tiny pieces would each hold a slot and an object in the socket's queue (a reply flood from a
   * peer that does not read made ~6 MiB of heap out of 1 MiB of output, measured).
   */
  private writeJoined(bufs: Buffer[]): void {
    const s = this.socket;
    // The transport's output is its own (takeOutput): once written, the large pieces are freed.
    const done: Buffer[] | undefined = writesToKernel(s) ? [] : undefined;
    s.cork();
    let from = 0;
    let runBytes = 0;
    for (let i = 0; i < bufs.length; i++) {
      const b = bufs[i]!;
      if (b.length < JOIN_BELOW) {
        runBytes += b.length;
        if (runBytes < RUN_LIMIT) continue;
        s.write(i === from ? b : Buffer.concat(bufs.slice(from, i + 1), runBytes));
      } else {
        if (i > from) s.write(i - from === 1 ? bufs[from]! : Buffer.concat(bufs.slice(from, i), runBytes));
        s.write(b);
        if (done && b.length >= FREE_MIN) done.push(b);
      }
      from = i + 1;
      runBytes = 0;
    }
    if (bufs.length > from) {
      s.write(bufs.length - from === 1 ? bufs[from]! : Buffer.concat(bufs.slice(from), runBytes));
    }
    // Writes complete in order, so an empty write's callback says the batch has left (or
    // failed, or was dropped with the socket: either way nothing reads it any more).
    if (done?.length) s.write(EMPTY_WRITE, () => releaseBuffers(done));
    s.uncork();
  }

  private onDrain(): void {
    if (!this.blocked) return;
    this.blocked = false;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (this.overReadLimit) {
      this.overReadLimit = false;
      this.updateReading();
    }
    this.core.resume();
  }

  private clearTimers(): void {
    this.disarmIdle();
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = undefined;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  private onCoreClose(error: SshError, byPeer: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    this.clearTimers();
    this.settled(error);
    this.endWaiters();
    this.hooks.onClose?.(this, error, byPeer);
    // Let the DISCONNECT (already queued) go out, then end the socket.
    this.scheduleFlush();
    this.finishSocket();
  }

  /** The connection is over: a re-key waited for will not finish; unwritable output is lost. */
  private endWaiters(): void {
    const rekeys = this.rekeyWaiters;
    this.rekeyWaiters = undefined;
    for (const w of rekeys ?? []) w.reject(this.closedError());
    if (this.socket.destroyed) this.settleWriteWaiters(false);
  }

  private finishSocket(): void {
    if (this.socket.destroyed) return;
    if (this.flushScheduled) return; // flush() calls back here
    this.socket.end();
    const t = setTimeout(() => this.socket.destroy(), 2000);
    t.unref();
    this.socket.once('close', () => clearTimeout(t));
  }

  /** The socket ended or failed without a DISCONNECT (the error is built only if it is news). */
  private lost(code: 'CONNECTION_LOST' | 'CLOSED', message: string, cause?: Error): void {
    if (!this.closed) {
      const error = new SshError(code, message, cause ? { cause } : undefined);
      this.closed = true;
      this.closeError = error;
      this.clearTimers();
      this.core.transport.disconnect(DisconnectReason.CONNECTION_LOST, message);
      this.settled(error);
      this.endWaiters();
      this.hooks.onClose?.(this, error, true);
    }
    if (this.socket.destroyed) this.settleWriteWaiters(false);
    else {
      this.scheduleFlush();
      this.finishSocket();
    }
  }
}
