import { SshError, protocolError } from '../errors.js';
import type { OpenPacket } from '../transport/packet.js';
import { MAX_PAYLOAD_LENGTH } from '../transport/packet.js';
import {
  decodeChannelOpen,
  decodeChannelOpenConfirmation,
  decodeChannelOpenFailure,
  decodeChannelRequest,
  decodeGlobalRequest,
  encodeChannelOnly,
  encodeChannelOpen,
  encodeChannelOpenConfirmation,
  encodeChannelOpenFailure,
  encodeChannelRequest,
  encodeGlobalRequest,
  encodeWindowAdjust,
  type ChannelOpen,
  type ChannelRequest,
  type GlobalRequest,
} from '../wire/connection-messages.js';
import { ChannelOpenFailure, Msg } from '../wire/numbers.js';
import { debug } from '../log.js';
import { ReplyQueue, type Reply } from './replies.js';

/** Largest window a peer may grant (RFC 4254 §5.2: the window must not exceed 2^32 - 1). */
const MAX_WINDOW = 0xffffffff;

/**
 * How many of the most recently closed channel numbers are remembered, so that what a peer sent
 * before it saw our CLOSE (or, as paramiko does, after its own) is ignored instead of ending the
 * connection. OpenSSH ignores a WINDOW_ADJUST for a channel it no longer has; numbers that were
 * never opened stay a protocol error. Channel numbers are not reused until they wrap at 2^32.
 */
const RECENTLY_CLOSED = 32;

/** What the mux needs from the transport and the socket edge. */
export interface MuxLink {
  send(payload: Buffer): void;
  /** A packet whose first `headLength` payload bytes we write; `body` follows them untouched. */
  openPacket(headLength: number, body: Buffer): OpenPacket;
  sealPacket(packet: OpenPacket): void;
  /** Key exchange in progress or transport closed: hold bulk data. */
  readonly sendBlocked: boolean;
  /** The socket is backed up: hold bulk data until `MuxCore.resume` is called. */
  outputFull(): boolean;
  /** Stop processing the peer's messages until `resumeInput` (too many requests wait for answers). */
  pauseInput(): void;
  resumeInput(): void;
  /**
   * The short last piece of a channel write was held back so that it can share a packet with the
   * next write (see `MuxCore.releaseHeld`): call `releaseHeld` before taking the output to write.
   * A link without this method gets every piece sent at once.
   */
  onHeld?(): void;
  /**
   * Call `MuxCore.wake` in about `ms` milliseconds. A link without it gets every channel's whole
   * send window (see `MuxCore.withheld`, which needs a way out should the peer not grant).
   */
  wakeIn?(ms: number): void;
}

/** Per-channel callbacks, set by whoever owns the channel (channel/ for users, the daemon for sessions). */
export interface ChannelSink {
  onOpenConfirmed?(): void;
  onOpenFailed?(error: SshError): void;
  onData(data: Buffer, dataType: number): void;
  onEof(): void;
  /**
   * A channel request from the peer; `reply` is there when it wants one and must then be called
   * exactly once, now or later: replies go out in the order the requests came (RFC 4254 §5.4).
   */
  onRequest(request: ChannelRequest, reply: ((ok: boolean) => void) | undefined): void;
  /** The peer closed (after our close, or first); the channel is gone from the table. */
  onClose(error?: SshError): void;
}

export interface ChannelParams {
  /** Our receive window (RFC 4254 §5.2), in bytes. */
  initialWindow: number;
  /**
   * The window may grow up to this while the peer is held back by it and the receiver keeps up
   * (see `MuxCore.growWindow`); at most `initialWindow` (no growth) when absent.
   */
  maxWindow?: number;
  /** Largest data payload we accept in one packet. */
  maxPacket: number;
}

/** Channel data waiting for window, or a control message (EOF, exit-status, CLOSE) that must follow it. */
interface QueuedWrite {
  data: Buffer;
  offset: number;
  dataType: number;
  /** A whole message to send when it reaches the head of the queue; it needs no window. */
  control?: Buffer;
  done?: (error?: SshError) => void;
}

export type ChannelState = 'opening' | 'open' | 'closed';

/** One channel's protocol state: ids, both windows, EOF/CLOSE flags, queued data and pending replies. */
export class MuxChannel {
  remoteId = -1;
  state: ChannelState = 'opening';
  /** Bytes the peer may still send us (our receive window, RFC 4254 §5.2). */
  localWindow: number;
  /** Bytes received and not yet consumed by the channel's owner. */
  unconsumed = 0;
  /** Window we mean to give back (consumed bytes) and have not granted yet. */
  owed = 0;
  /** The window this channel keeps the peer at: `initialWindow`, doubled by each growth. */
  windowTarget: number;
  /** When the current window's worth of data began to arrive (ms; -1 before any), and its bytes. */
  epochStart = -1;
  epochBytes = 0;
  /** When CHANNEL_OPEN went out (ms), for a round-trip sample. */
  openSentAt = 0;
  remoteWindow = 0;
  /** The largest send window the peer has given this channel (see `MuxCore.withheld`). */
  peakWindow = 0;
  /** The smallest WINDOW_ADJUST the peer has sent on this channel (0 before any). */
  smallestGrant = 0;
  /** When sending last stopped at the withheld part of the window (ms), -1 when it has not. */
  withheldSince = -1;
  /** The peer did not grant within GRANT_GRACE_MS of a stop: this channel gets its whole window. */
  withholdOff = false;
  remoteMaxPacket = 0;
  sentEof = false;
  gotEof = false;
  /** CLOSE was asked for (it may still wait behind queued data). */
  closing = false;
  sentClose = false;
  gotClose = false;
  readonly outQueue: QueuedWrite[] = [];
  /** Replies the peer is waiting for from us, in order (made on the first request that wants one). */
  incoming: ReplyQueue | undefined;
  /** Callbacks for the replies we are waiting for from the peer, in order. */
  readonly pendingReplies: ((ok: boolean) => void)[] = [];

  constructor(
    readonly localId: number,
    readonly channelType: string,
    readonly params: ChannelParams,
    public sink: ChannelSink,
  ) {
    this.localWindow = 0; // granted by MuxCore from the connection's budget
    this.windowTarget = params.initialWindow;
  }

  /** Bytes queued and not yet sent. */
  get queuedBytes(): number {
    let n = 0;
    for (const w of this.outQueue) if (!w.control) n += w.data.length - w.offset;
    return n;
  }
}

export interface MuxHandler {
  /** A CHANNEL_OPEN from the peer: call `accept` or `reject`, now or later. */
  onChannelOpen(
    open: ChannelOpen,
    accept: (sink: ChannelSink, params?: Partial<ChannelParams>) => MuxChannel,
    reject: (reason: number, description: string) => void,
  ): void;
  /**
   * A global request; `reply` is there when it wants one and must then be called exactly once,
   * now or later, with an optional payload (e.g. the port of a tcpip-forward to port 0); replies
   * go out in the order the requests came (RFC 4254 §4).
   */
  onGlobalRequest(request: GlobalRequest, reply: Reply | undefined): void;
}

/** Connection-layer limits (see `Limits` in options.ts for their meaning and defaults). */
export interface MuxLimits {
  maxChannels?: number;
  minRemoteMaxPacket?: number;
  /** Requests (channel and global) whose replies may be owed at once before input pauses. */
  pendingRequests?: number;
  /**
   * Bytes the peer may have in flight or parked with us across all channels: the receive windows
   * we advertise plus data received and not yet consumed.
   */
  windowBudget?: number;
}

const EMPTY_BUFFER = Buffer.alloc(0);

/** Default for `MuxLimits.windowBudget`: eight channels' full 4 MiB windows. */
export const DEFAULT_WINDOW_BUDGET = 32 * 1024 * 1024;

/**
 * A receive window whose worth of data arrives within this many round trips is what holds the
 * peer back (`watchWindow`). Three, not two: on a window-bound path a window's worth takes longer
 * than one round trip (grants go out per half window, and the round trip we know was measured
 * behind data). Through the bench's 50 ms proxy, a 32 MiB put from our client into our daemon
 * saw its 4 MiB windows arrive in 2.05-2.11 measured round trips (74-75 ms, sampled behind data),
 * so at two, growth was a toss-up: 1.20-1.67 s per transfer over 6 rounds (36 to 53 MiB/s in the
 * bench), and 1.16-1.30 s at three. Downloads did not change; loopback is hundreds of round trips.
 */
const GROWTH_ROUND_TRIPS = 3;

/** A starved channel is topped up once this much budget is free (or what it is owed, if less). */
const TOP_UP_MIN = 64 * 1024;

/**
 * The longest end of a channel write that waits to share a packet with the next write (see
 * `MuxCore.flush`): copying it into that packet's head must stay cheaper than a packet of its own.
 */
const HOLD_MAX = 4096;

/**
 * The rate (bytes per ms, 256 MiB/s) up to which a short path is kept busy when part of the send
 * window is withheld (see `MuxCore.withheld`): the rest must cover a round trip at this rate.
 * Loopback's round trip, 2 to 4 ms as measured here between two busy processes, qualifies with
 * OpenSSH's 2 MiB window; 50 ms does not.
 */
const SHORT_PATH_RATE = 256 * 1024;

/**
 * How long sending may wait at the withheld part of a window for the peer's next grant (ms)
 * before the channel gets its whole window from then on (see `MuxCore.withheld`).
 */
export const GRANT_GRACE_MS = 50;

/** Default for `MuxLimits.pendingRequests`. */
export const DEFAULT_PENDING_REQUESTS = 64;

/**
 * The RFC 4254 connection protocol without I/O: the channel table, flow control in both
 * directions, channel and global requests with their replies in order.
 */
export class MuxCore {
  private readonly channels = new Map<number, MuxChannel>();
  private nextId = 0;
  private readonly globalReplies: ((ok: boolean, data: Buffer) => void)[] = [];
  /** Replies owed to the peer's global requests, in order; made at the first one (most connections send none). */
  private globalIncoming: ReplyQueue | undefined;
  /** Replies owed to the peer across the connection; over `pendingRequests`, input pauses. */
  private owed = 0;
  private inputPaused = false;
  /** Σ over channels of localWindow + unconsumed: what the peer can make us hold. */
  private outstanding = 0;
  private readonly windowBudget: number;
  /** Channels owed window that the budget could not give yet. */
  private starved: Set<MuxChannel> | undefined;
  private readonly countOwed = (delta: number): void => {
    this.owed += delta;
    const over = this.owed >= (this.limits.pendingRequests ?? DEFAULT_PENDING_REQUESTS);
    if (over === this.inputPaused) return;
    this.inputPaused = over;
    if (over) this.link.pauseInput();
    else this.link.resumeInput();
  };
  /** Channels that stopped sending because the socket was full. */
  private stalled: Set<MuxChannel> | undefined;
  /** Channels stopped at the withheld part of their send window (see `withheld`). */
  private awaitingGrant: Set<MuxChannel> | undefined;
  /** Channels whose queue ends in a held short piece (see `releaseHeld`). */
  private held: Set<MuxChannel> | undefined;
  private closed = false;
  /** The shortest request-to-reply time seen (ms): the round trip, for window growth. */
  private minRtt = Infinity;
  private rttProbed = false;
  /**
   * The round trip of the probe sent when the first channel is accepted (`probeIdleRtt`), on an
   * idle link; it sizes only what is withheld of send windows, never receive-window growth.
   */
  private idleRtt = Infinity;
  private idleProbed = false;
  /** The last RECENTLY_CLOSED channel numbers removed from the table (a ring; -1 is empty). */
  private recentlyClosed: number[] | undefined;
  private recentAt = 0;

  constructor(
    private readonly link: MuxLink,
    private readonly handler: MuxHandler,
    readonly defaults: ChannelParams,
    private readonly limits: MuxLimits = {},
    /** The clock, in ms (the I/O edge gives Date.now; tests drive it). */
    private readonly now: () => number = Date.now,
  ) {
    this.windowBudget = limits.windowBudget ?? DEFAULT_WINDOW_BUDGET;
  }

  private globalReplyQueue(): ReplyQueue {
    return (this.globalIncoming ??= new ReplyQueue(
      (ok, payload) => this.sendGlobalReply(ok, payload),
      this.countOwed,
    ));
  }

  private sendGlobalReply(ok: boolean, payload: Buffer | undefined): void {
    if (this.closed) return;
    if (!ok || !payload?.length) {
      this.link.send(Buffer.from([ok ? Msg.REQUEST_SUCCESS : Msg.REQUEST_FAILURE]));
      return;
    }
    const b = Buffer.allocUnsafe(1 + payload.length);
    b[0] = Msg.REQUEST_SUCCESS;
    payload.copy(b, 1);
    this.link.send(b);
  }

  /** Replies owed to the peer right now (channel and global requests). */
  get owedReplies(): number {
    return this.owed;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  channel(localId: number): MuxChannel | undefined {
    return this.channels.get(localId);
  }

  private allocateId(): number {
    while (this.channels.has(this.nextId)) this.nextId = (this.nextId + 1) >>> 0;
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    return id;
  }

  openChannel(
    channelType: string,
    data: Buffer,
    sink: ChannelSink,
    params?: Partial<ChannelParams>,
  ): MuxChannel {
    if (this.closed) throw new SshError('CLOSED', 'connection is closed');
    const ch = new MuxChannel(this.allocateId(), channelType, { ...this.defaults, ...params }, sink);
    this.channels.set(ch.localId, ch);
    this.grantInitial(ch);
    ch.openSentAt = this.now();
    this.link.send(
      encodeChannelOpen({
        channelType,
        senderChannel: ch.localId,
        initialWindow: ch.localWindow,
        maxPacket: ch.params.maxPacket,
        data,
      }),
    );
    return ch;
  }

  /** Queues data; `done` runs once all of it has been packetized (or with an error if the channel closes first). */
  write(ch: MuxChannel, data: Buffer, dataType = 0, done?: (error?: SshError) => void): void {
    if (ch.state === 'closed' || ch.sentEof || ch.closing) {
      done?.(new SshError('CLOSED', `channel ${ch.localId} is ${ch.sentEof ? 'at EOF' : 'closed'}`));
      return;
    }
    if (data.length === 0) {
      done?.();
      return;
    }
    ch.outQueue.push({ data, offset: 0, dataType, done });
    if (ch.state === 'open') this.flush(ch);
  }

  /**
   * Withdraws what is still queued of a write whose `done` is `done` (its caller gave up, e.g. on
   * a timeout): bytes already sent stay sent, the rest is dropped, and nothing queued behind it
   * (EOF, CLOSE) waits for it any more. Returns the number of bytes withdrawn.
   */
  withdraw(ch: MuxChannel, done: (error?: SshError) => void): number {
    const i = ch.outQueue.findIndex((w) => w.done === done);
    if (i < 0) return 0;
    const [w] = ch.outQueue.splice(i, 1);
    const left = w!.data.length - w!.offset;
    if (ch.state === 'open' && ch.outQueue.length) this.flush(ch);
    return left;
  }

  private flush(ch: MuxChannel, hold = this.link.onHeld !== undefined): void {
    const link = this.link;
    const limit = Math.min(ch.remoteMaxPacket, MAX_PAYLOAD_LENGTH - 13);
    while (ch.outQueue.length > 0) {
      const w = ch.outQueue[0]!;
      if (w.control) {
        ch.outQueue.shift();
        link.send(w.control);
        w.done?.();
        continue;
      }
      const room = ch.remoteWindow - this.withheld(ch);
      if (room <= 0) {
        if (ch.remoteWindow > 0) this.awaitGrant(ch);
        return;
      }
      if (link.sendBlocked) return; // resumed from onKexDone
      if (link.outputFull()) {
        (this.stalled ??= new Set()).add(ch);
        return;
      }
      const left = w.data.length - w.offset;
      const n = Math.min(left, room, limit);
      // The short end of a write that fills no packet (an SFTP DATA reply of 32,781 bytes to a
      // peer taking 32,768 per packet ends in 13; an SFTP WRITE to sshd in a few dozen) would
      // double the packets of a transfer, each sealed, written and opened by the peer on its own.
      // Copied into the head of the packet that starts the next write, it costs nothing; and
      // when there is no next write yet, it waits for one until the output is taken
      // (`releaseHeld`), which is when it would have been written anyway.
      let next: QueuedWrite | undefined;
      if (n === left && n < limit && n <= HOLD_MAX && n < room) {
        next = ch.outQueue[1];
        if (!next && hold) {
          if (!(this.held ??= new Set()).has(ch)) {
            this.held.add(ch);
            link.onHeld!();
          }
          return;
        }
        if (next && (next.control || next.dataType !== w.dataType)) next = undefined;
      }
      const m = next ? Math.min(next.data.length - next.offset, room - n, limit - n) : 0;
      const header = (w.dataType === 0 ? 9 : 13) + (m > 0 ? n : 0);
      // The data itself is the packet's body: the cipher reads it in place, nothing copies it.
      const p =
        m > 0
          ? link.openPacket(header, next!.data.subarray(next!.offset, next!.offset + m))
          : link.openPacket(header, w.data.subarray(w.offset, w.offset + n));
      const b = p.buf;
      let o = p.payloadOffset;
      b[o] = w.dataType === 0 ? Msg.CHANNEL_DATA : Msg.CHANNEL_EXTENDED_DATA;
      b.writeUInt32BE(ch.remoteId, o + 1);
      o += 5;
      if (w.dataType !== 0) {
        b.writeUInt32BE(w.dataType, o);
        o += 4;
      }
      b.writeUInt32BE(n + m, o);
      if (m > 0) w.data.copy(b, o + 4, w.offset, w.offset + n);
      link.sealPacket(p);
      ch.remoteWindow -= n + m;
      w.offset += n;
      if (m > 0) next!.offset += m;
      // Last: `done` may write again, and so flush this channel from inside this loop. A next
      // write taken whole into this packet is done too (left queued, it would go out again as
      // an empty CHANNEL_DATA).
      if (w.offset === w.data.length) {
        ch.outQueue.shift();
        const whole = m > 0 && next!.offset === next!.data.length;
        if (whole) ch.outQueue.shift();
        w.done?.();
        if (whole) next!.done?.();
      }
    }
  }

  /**
   * Send window left unused on a short path. A peer that grants window as it buffers data rather
   * than as it uses it (OpenSSH: `ssh` for its `sftp`, `sshd` for its `sftp-server`) otherwise
   * holds the whole window in a buffer it keeps moving: OpenSSH's `sftp` getting 256 MiB from our
   * daemon went from 158 to 192 MiB/s with half withheld (machine CPU per GiB 8.84 → 7.72 s), and
   * our client's upload into `sshd` from 94 to 103 (interleaved, 3 rounds each).
   *
   * What may be in flight is half the largest window the peer has given, and never less than
   * twice its smallest WINDOW_ADJUST. A peer grants once what it has consumed passes some
   * threshold, and a grant is at least that threshold, so twice the smallest grant reaches it.
   * asyncssh, Dropbear and libssh grant only once half their window is used: they get the whole
   * window; paramiko (a tenth) and OpenSSH (three packets) get half. Nothing is withheld before the
   * peer's first grant, on a long path (what is in flight does not cover a round trip at
   * SHORT_PATH_RATE), before a round trip has been measured, or over a link that cannot wake us.
   * Should a peer not grant within GRANT_GRACE_MS of our stopping for it (it grants in some other
   * way), the channel gets its whole window from then on (`wake`).
   */
  private withheld(ch: MuxChannel): number {
    if (ch.smallestGrant === 0 || ch.withholdOff || !this.link.wakeIn) return 0;
    const inFlight = Math.max(ch.peakWindow / 2, 2 * ch.smallestGrant);
    const rtt = Math.min(this.minRtt, this.idleRtt);
    if (inFlight >= ch.peakWindow || rtt * SHORT_PATH_RATE > inFlight) return 0;
    return Math.floor(ch.peakWindow - inFlight);
  }

  /** Sending on `ch` stopped at its withheld window: make sure it does not wait for ever. */
  private awaitGrant(ch: MuxChannel): void {
    if (ch.withheldSince >= 0) return;
    ch.withheldSince = this.now();
    (this.awaitingGrant ??= new Set()).add(ch);
    this.link.wakeIn!(GRANT_GRACE_MS);
  }

  /** The time asked for by `MuxLink.wakeIn` has come: channels still waiting for a grant stop withholding. */
  wake(): void {
    const waiting = this.awaitingGrant;
    if (this.closed || !waiting?.size) return;
    const t = this.now();
    let next = Infinity;
    for (const ch of [...waiting]) {
      const left = ch.withheldSince + GRANT_GRACE_MS - t;
      if (left > 0) {
        next = Math.min(next, left);
        continue;
      }
      waiting.delete(ch);
      ch.withheldSince = -1;
      ch.withholdOff = true;
      if (ch.state === 'open' && ch.outQueue.length) this.flush(ch);
    }
    if (next < Infinity) this.link.wakeIn!(next);
  }

  /**
   * A daemon has no round trip of its own when its client opens the channels: it asks for one
   * reply when it accepts the first, on an idle link, so that it is the path's and not the time a
   * full window takes to drain. Kept apart from `minRtt`: taken into receive-window growth, the
   * exact 50 ms of the bench's delayed path (in place of a sample taken later, behind data) made
   * growth a toss-up and our client's put into our daemon went from 53 to 37 MiB/s.
   */
  private probeIdleRtt(): void {
    if (this.idleProbed || this.minRtt !== Infinity) return;
    this.idleProbed = true;
    const sentAt = this.now();
    this.globalReplies.push(() => {
      const rtt = this.now() - sentAt;
      if (rtt >= 0) this.idleRtt = rtt;
    });
    this.link.send(encodeGlobalRequest('keepalive@openssh.com', true, EMPTY_BUFFER));
  }

  /**
   * Sends the short pieces held back for a next write that has not come: call before taking the
   * output to write (the link's `onHeld` asked for it), so holding never delays a byte past the
   * write it would have gone out in.
   */
  releaseHeld(): void {
    const held = this.held;
    if (!held?.size) return;
    this.held = undefined;
    if (this.closed) return;
    for (const ch of held) if (ch.state === 'open') this.flush(ch, false);
  }

  /**
   * Sends `payload` now, or after the data already queued on the channel so that it cannot
   * overtake it. `done` runs once it is handed to the transport, or with the error that kept it
   * from being sent (the channel closed first).
   */
  private sendOrdered(ch: MuxChannel, payload: Buffer, done?: (error?: SshError) => void): void {
    if (ch.outQueue.length === 0) {
      this.link.send(payload);
      done?.();
      return;
    }
    ch.outQueue.push({ data: payload, offset: 0, dataType: 0, control: payload, done });
  }

  /** Sends what waited for the socket to drain or a key exchange to end. */
  resume(): void {
    if (this.closed) return;
    this.resumeStalled();
    for (const ch of this.channels.values()) {
      if (ch.state === 'open' && ch.outQueue.length && !this.stalled?.has(ch)) this.flush(ch);
    }
  }

  /** Sends what waited because the output was full (cheap when nothing did). */
  resumeStalled(): void {
    if (this.closed || !this.stalled?.size) return;
    const waiting = [...this.stalled];
    this.stalled.clear();
    for (const ch of waiting) if (ch.state === 'open') this.flush(ch);
  }

  /** The receiver has consumed `n` bytes: grant window back once half of it is used (RFC 4254 §5.2). */
  consumed(ch: MuxChannel, n: number): void {
    if (ch.state === 'closed' || n <= 0) return; // released with the channel
    n = Math.min(n, ch.unconsumed);
    ch.unconsumed -= n;
    this.outstanding -= n;
    if (ch.state === 'open' && !ch.gotEof && !ch.closing) {
      ch.owed += n;
      // Channels already waiting for budget go first: a busy channel cannot starve the others.
      if (this.starved?.size && !this.starved.has(ch)) this.starved.add(ch);
      else if (ch.owed >= ch.windowTarget / 2) this.grant(ch);
    }
    this.topUp();
  }

  /**
   * Receive-window tuning. A window carries at most one window of data per round trip (4 MiB over
   * 50 ms is 80 MiB/s), and our view of it cannot show the peer waiting for an adjust still on the
   * wire. So the time a window's worth of data takes to arrive is compared with the round trip
   * (the shortest request-to-reply time seen on this connection): within GROWTH_ROUND_TRIPS, with
   * at most a quarter of the window unread, the window is what holds the peer back, and it doubles
   * (`growWindow`). On loopback a window takes milliseconds against a round trip of a fraction of
   * one, so it stays as it is. Without a round-trip sample nothing grows; the first window's worth
   * sends one keepalive request to get one.
   */
  private watchWindow(ch: MuxChannel, len: number): void {
    const t = this.now();
    if (ch.epochStart < 0) ch.epochStart = t;
    ch.epochBytes += len;
    if (ch.epochBytes < ch.windowTarget) return;
    if (this.minRtt === Infinity && !this.rttProbed) {
      // Nothing has measured the round trip (a daemon whose client asks for no reply): ask once,
      // as OpenSSH's ClientAliveInterval does; every peer answers, FAILURE being enough (RFC 4254 §4).
      this.rttProbed = true;
      this.globalRequest('keepalive@openssh.com', EMPTY_BUFFER, () => {});
    }
    // Infinity without a sample; NaN (no growth) for 0 / 0 under a millisecond clock.
    const roundTrips = this.minRtt < Infinity ? (t - ch.epochStart) / this.minRtt : Infinity;
    if (roundTrips <= GROWTH_ROUND_TRIPS && ch.unconsumed <= ch.windowTarget / 4) this.growWindow(ch);
    ch.epochStart = t;
    ch.epochBytes = 0;
  }

  /** A request-to-reply time (ms): the round trip is the shortest seen. */
  private rttSample(sentAt: number): void {
    const rtt = this.now() - sentAt;
    if (rtt >= 0 && rtt < this.minRtt) this.minRtt = rtt;
  }

  /** Doubles `ch`'s window up to its `maxWindow`, from budget no other channel is waiting for. */
  private growWindow(ch: MuxChannel): void {
    const add = Math.min(ch.windowTarget, (ch.params.maxWindow ?? 0) - ch.windowTarget);
    if (!(add > 0) || this.starved?.size || this.windowBudget - this.outstanding < add) return;
    ch.windowTarget += add;
    ch.owed += add;
    this.grant(ch);
  }

  /** A new channel's window, from what the connection's budget has left (the rest is owed). */
  private grantInitial(ch: MuxChannel): void {
    const want = ch.params.initialWindow;
    const g = Math.min(want, Math.max(0, this.windowBudget - this.outstanding));
    ch.localWindow = g;
    this.outstanding += g;
    if (g < want) {
      ch.owed = want - g;
      (this.starved ??= new Set()).add(ch);
    }
  }

  /** Grants what `ch` is owed, as far as the budget allows (RFC 4254 §5.2 WINDOW_ADJUST). */
  private grant(ch: MuxChannel): void {
    const g = Math.min(ch.owed, this.windowBudget - this.outstanding);
    if (g > 0) {
      ch.owed -= g;
      ch.localWindow += g;
      this.outstanding += g;
      this.link.send(encodeWindowAdjust(ch.remoteId, g));
    }
    if (ch.owed > 0) (this.starved ??= new Set()).add(ch);
    else this.starved?.delete(ch);
  }

  /** Budget came free: give it to channels that are owed window, in the order they starved. */
  private topUp(): void {
    const starved = this.starved;
    if (!starved?.size) return;
    for (const ch of starved) {
      const free = this.windowBudget - this.outstanding;
      if (free < Math.min(ch.owed, TOP_UP_MIN)) return;
      if (ch.state === 'closed' || ch.gotEof || ch.closing) {
        starved.delete(ch);
        continue;
      }
      if (ch.state === 'open') this.grant(ch); // an opening channel is topped up once confirmed
    }
  }

  /** What the peer can make this connection hold right now (advertised windows plus unconsumed data). */
  get receiveOutstanding(): number {
    return this.outstanding;
  }

  /** Sends EOF after any queued data; `done` as for `sendOrdered` (an EOF already sent counts as done). */
  sendEof(ch: MuxChannel, done?: (error?: SshError) => void): void {
    if (ch.state === 'closed' || ch.closing) {
      done?.(new SshError('CLOSED', `channel ${ch.localId} is closed`));
      return;
    }
    if (ch.state !== 'open' || ch.sentEof) {
      if (ch.sentEof) done?.();
      else done?.(new SshError('CLOSED', `channel ${ch.localId} is not open`));
      return;
    }
    ch.sentEof = true;
    this.sendOrdered(ch, encodeChannelOnly(Msg.CHANNEL_EOF, ch.remoteId), done);
  }

  /** Sends CLOSE (RFC 4254 §5.3) after any queued data; nothing can be written after it. */
  close(ch: MuxChannel): void {
    if (ch.state === 'closed' || ch.closing) return;
    ch.closing = true;
    ch.incoming?.clear();
    if (ch.state === 'opening') return; // sent once the peer confirms the open
    this.sendOrdered(ch, encodeChannelOnly(Msg.CHANNEL_CLOSE, ch.remoteId), (e) => {
      if (e) return; // the channel died first
      ch.sentClose = true;
      if (ch.gotClose) this.remove(ch);
    });
  }

  /**
   * Sends a channel request; with `onReply`, want-reply is set and the reply comes back in order
   * (RFC 4254 §5.4). `sent` runs once the request is handed to the transport, or with the error
   * that kept it from being sent.
   */
  request(
    ch: MuxChannel,
    request: ChannelRequest,
    onReply?: (ok: boolean) => void,
    sent?: (error?: SshError) => void,
  ): void {
    if (ch.state !== 'open' || ch.closing) {
      onReply?.(false);
      sent?.(new SshError('CLOSED', `channel ${ch.localId} is not open`));
      return;
    }
    if (onReply) {
      const sentAt = this.now();
      ch.pendingReplies.push((ok) => {
        this.rttSample(sentAt);
        onReply(ok);
      });
    }
    const payload = encodeChannelRequest(ch.remoteId, { ...request, wantReply: onReply !== undefined });
    // An exit status reports on the data before it, so it must not overtake that data.
    if (request.type === 'exit-status' || request.type === 'exit-signal') this.sendOrdered(ch, payload, sent);
    else {
      this.link.send(payload);
      sent?.();
    }
  }

  private incomingReplies(ch: MuxChannel): ReplyQueue {
    return (ch.incoming ??= new ReplyQueue((ok) => {
      // Nothing may follow our CLOSE (RFC 4254 §5.3): a reply still owed then is dropped.
      if (ch.state === 'open' && !ch.sentClose)
        this.link.send(encodeChannelOnly(ok ? Msg.CHANNEL_SUCCESS : Msg.CHANNEL_FAILURE, ch.remoteId));
    }, this.countOwed));
  }

  globalRequest(name: string, data: Buffer, onReply?: (ok: boolean, data: Buffer) => void): void {
    if (onReply) {
      const sentAt = this.now();
      this.globalReplies.push((ok, payload) => {
        this.rttSample(sentAt);
        onReply(ok, payload);
      });
    }
    this.link.send(encodeGlobalRequest(name, onReply !== undefined, data));
  }

  /** The connection is gone: every channel learns it, every pending write and reply fails. */
  closeAll(reason: () => SshError): void {
    if (this.closed) return;
    this.closed = true;
    this.globalIncoming?.clear();
    if (this.channels.size === 0 && this.globalReplies.length === 0) return;
    const error = reason();
    for (const ch of [...this.channels.values()]) {
      ch.incoming?.clear();
      this.failQueued(ch, error);
      for (const r of ch.pendingReplies.splice(0)) r(false);
      const wasOpening = ch.state === 'opening';
      ch.state = 'closed';
      this.channels.delete(ch.localId);
      if (wasOpening && ch.sink.onOpenFailed) ch.sink.onOpenFailed(error);
      else ch.sink.onClose(error);
    }
    for (const r of this.globalReplies.splice(0)) r(false, Buffer.alloc(0));
  }

  /** `error` is a value or, where the queue is usually empty, a factory (a stack trace costs ~30 µs). */
  private failQueued(ch: MuxChannel, error: SshError | (() => SshError)): void {
    this.stalled?.delete(ch);
    if (ch.outQueue.length === 0) return;
    const e = typeof error === 'function' ? error() : error;
    for (const w of ch.outQueue.splice(0)) w.done?.(e);
  }

  private remove(ch: MuxChannel): void {
    ch.state = 'closed';
    this.channels.delete(ch.localId);
    this.remember(ch.localId);
    this.release(ch);
    ch.incoming?.clear();
    this.stalled?.delete(ch);
    this.awaitingGrant?.delete(ch);
    for (const r of ch.pendingReplies.splice(0)) r(false);
    ch.sink.onClose();
  }

  /** A channel is gone: what it held of the budget is free for the others. */
  private release(ch: MuxChannel): void {
    this.outstanding -= ch.localWindow + ch.unconsumed;
    ch.localWindow = 0;
    ch.unconsumed = 0;
    this.starved?.delete(ch);
    this.topUp();
  }

  private remember(id: number): void {
    const ring = (this.recentlyClosed ??= new Array<number>(RECENTLY_CLOSED).fill(-1));
    ring[this.recentAt] = id;
    this.recentAt = (this.recentAt + 1) % RECENTLY_CLOSED;
  }

  /** Whether `id` is one of the channels closed most recently (see RECENTLY_CLOSED). */
  private wasRecentlyClosed(id: number): boolean {
    return this.recentlyClosed !== undefined && this.recentlyClosed.includes(id);
  }

  /**
   * The open channel a message names; undefined when it names a channel closed a moment ago
   * (the message is then ignored, with a debug line); a protocol error for any other number.
   */
  private lookup(payload: Buffer, what: string): MuxChannel | undefined {
    if (payload.length < 5) throw protocolError(`${what}: message too short`);
    const id = payload.readUInt32BE(1);
    const ch = this.channels.get(id);
    if (!ch || ch.state === 'closed') {
      if (this.wasRecentlyClosed(id)) {
        debug('ignoring %s for channel %d, which was just closed', what, id);
        return undefined;
      }
      throw protocolError(`${what} for unknown channel ${id}`);
    }
    // The peer's confirmation comes before anything else it sends on a channel we opened.
    if (ch.state === 'opening')
      throw protocolError(`${what} for channel ${id} before its open was confirmed`);
    return ch;
  }

  /** Handles a connection-layer message (numbers 80-127); false for a number RFC 4254 does not define. */
  handle(payload: Buffer): boolean {
    const type = payload[0]!;
    switch (type) {
      case Msg.CHANNEL_DATA:
      case Msg.CHANNEL_EXTENDED_DATA:
        this.onData(payload, type === Msg.CHANNEL_EXTENDED_DATA);
        break;
      case Msg.CHANNEL_WINDOW_ADJUST: {
        const ch = this.lookup(payload, 'WINDOW_ADJUST');
        if (!ch) break;
        if (payload.length !== 9) throw protocolError('WINDOW_ADJUST has the wrong length');
        const add = payload.readUInt32BE(5);
        // RFC 4254 §5.2: a window that would pass 2^32 - 1 is a protocol error; like OpenSSH, clamp it.
        ch.remoteWindow = Math.min(MAX_WINDOW, ch.remoteWindow + add);
        if (ch.remoteWindow > ch.peakWindow) ch.peakWindow = ch.remoteWindow;
        if (add > 0 && (ch.smallestGrant === 0 || add < ch.smallestGrant)) ch.smallestGrant = add;
        if (ch.withheldSince >= 0) {
          ch.withheldSince = -1;
          this.awaitingGrant!.delete(ch);
        }
        if (ch.outQueue.length) this.flush(ch);
        break;
      }
      case Msg.CHANNEL_EOF: {
        const ch = this.lookup(payload, 'CHANNEL_EOF');
        if (!ch) break;
        if (ch.gotEof) return true;
        ch.gotEof = true;
        ch.sink.onEof();
        break;
      }
      case Msg.CHANNEL_CLOSE: {
        const ch = this.lookup(payload, 'CHANNEL_CLOSE');
        if (!ch) break;
        if (ch.gotClose) throw protocolError(`second CHANNEL_CLOSE for channel ${ch.localId}`);
        ch.gotClose = true;
        if (!ch.sentClose) {
          // RFC 4254 §5.3: answer a close with a close; data still queued can no longer go out.
          this.failQueued(ch, () => new SshError('CLOSED', `channel ${ch.localId} was closed by the peer`));
          ch.closing = true;
          ch.sentClose = true;
          this.link.send(encodeChannelOnly(Msg.CHANNEL_CLOSE, ch.remoteId));
        }
        this.remove(ch);
        break;
      }
      case Msg.CHANNEL_REQUEST: {
        const { request } = decodeChannelRequest(payload);
        const ch = this.lookup(payload, 'CHANNEL_REQUEST');
        if (!ch) break;
        if (ch.closing) return true;
        ch.sink.onRequest(request, request.wantReply ? this.incomingReplies(ch).add() : undefined);
        break;
      }
      case Msg.CHANNEL_SUCCESS:
      case Msg.CHANNEL_FAILURE: {
        const ch = this.lookup(payload, 'channel reply');
        if (!ch) break;
        const r = ch.pendingReplies.shift();
        if (!r) throw protocolError(`channel reply for channel ${ch.localId} without a request`);
        r(type === Msg.CHANNEL_SUCCESS);
        break;
      }
      case Msg.CHANNEL_OPEN:
        this.onOpen(decodeChannelOpen(payload));
        break;
      case Msg.CHANNEL_OPEN_CONFIRMATION:
        this.onConfirm(payload);
        break;
      case Msg.CHANNEL_OPEN_FAILURE: {
        const f = decodeChannelOpenFailure(payload);
        const ch = this.channels.get(f.recipientChannel);
        if (!ch || ch.state !== 'opening')
          throw protocolError(`CHANNEL_OPEN_FAILURE for channel ${f.recipientChannel} that is not opening`);
        this.channels.delete(ch.localId);
        ch.state = 'closed';
        this.release(ch);
        const err = new SshError(
          'CHANNEL_OPEN_FAILED',
          `the peer refused to open a ${ch.channelType} channel: ${f.description.slice(0, 200) || 'no reason given'} (code ${f.reason})`,
        );
        this.failQueued(ch, err);
        ch.sink.onOpenFailed?.(err);
        break;
      }
      case Msg.GLOBAL_REQUEST: {
        const req = decodeGlobalRequest(payload);
        this.handler.onGlobalRequest(req, req.wantReply ? this.globalReplyQueue().add() : undefined);
        break;
      }
      case Msg.REQUEST_SUCCESS:
      case Msg.REQUEST_FAILURE: {
        const r = this.globalReplies.shift();
        if (!r) throw protocolError('global request reply without a request');
        r(type === Msg.REQUEST_SUCCESS, payload.subarray(1));
        break;
      }
      default:
        return false;
    }
    return true;
  }

  private onData(payload: Buffer, extended: boolean): void {
    this.handleData([payload], extended);
  }

  /**
   * CHANNEL_DATA / CHANNEL_EXTENDED_DATA (RFC 4254 §5.2) whose payload may come in pieces (as it
   * spanned socket chunks); the data reaches the sink as those pieces, uncopied.
   */
  handleData(pieces: Buffer[], extended = pieces[0]![0] === Msg.CHANNEL_EXTENDED_DATA): void {
    const header = extended ? 13 : 9;
    if (pieces[0]!.length < header && pieces.length > 1) {
      // The header itself is split (rare): join just enough pieces to read it.
      let k = 1;
      let have = pieces[0]!.length;
      while (have < header && k < pieces.length) have += pieces[k++]!.length;
      pieces = [Buffer.concat(pieces.slice(0, k)), ...pieces.slice(k)];
    }
    const first = pieces[0]!;
    if (first.length < header)
      throw protocolError(`${extended ? 'CHANNEL_EXTENDED_DATA' : 'CHANNEL_DATA'} too short`);
    const id = first.readUInt32BE(1);
    const ch = this.channels.get(id);
    if (!ch || ch.state !== 'open') {
      // Data the peer sent before our CLOSE reached it: dropped, as after our CLOSE (RFC 4254 §5.3).
      if (!ch && this.wasRecentlyClosed(id)) return;
      throw protocolError(`data for channel ${id} that is not open`);
    }
    const dataType = extended ? first.readUInt32BE(5) : 0;
    const len = first.readUInt32BE(header - 4);
    let total = -header;
    for (const p of pieces) total += p.length;
    if (len !== total) throw protocolError('channel data length does not match the packet');
    if (len > ch.localWindow) {
      throw protocolError(
        `channel ${ch.localId}: peer sent ${len} bytes with ${ch.localWindow} bytes of window left`,
      );
    }
    ch.localWindow -= len;
    // Data after EOF or after our CLOSE is dropped (RFC 4254 §5.3); its window is not given back,
    // but it holds nothing, so its budget is free again.
    if (ch.gotEof || ch.closing) {
      this.outstanding -= len;
      this.topUp();
      return;
    }
    if (ch.windowTarget < (ch.params.maxWindow ?? 0)) this.watchWindow(ch, len);
    ch.unconsumed += len;
    if (first.length > header) ch.sink.onData(first.subarray(header), dataType);
    for (let i = 1; i < pieces.length; i++) {
      if (ch.state !== 'open') return; // the sink closed the channel
      ch.sink.onData(pieces[i]!, dataType);
    }
  }

  private onOpen(open: ChannelOpen): void {
    let answered = false;
    const reject = (reason: number, description: string) => {
      if (answered) return;
      answered = true;
      this.link.send(encodeChannelOpenFailure({ recipientChannel: open.senderChannel, reason, description }));
    };
    if (open.maxPacket < (this.limits.minRemoteMaxPacket ?? 0) || open.maxPacket === 0) {
      reject(
        ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED,
        `maximum packet size ${open.maxPacket} is too small`,
      );
      return;
    }
    if (this.limits.maxChannels !== undefined && this.channels.size >= this.limits.maxChannels) {
      reject(ChannelOpenFailure.RESOURCE_SHORTAGE, 'too many channels');
      return;
    }
    const accept = (sink: ChannelSink, params?: Partial<ChannelParams>): MuxChannel => {
      if (answered) throw new Error('channel open already answered');
      answered = true;
      const ch = new MuxChannel(this.allocateId(), open.channelType, { ...this.defaults, ...params }, sink);
      ch.remoteId = open.senderChannel;
      ch.remoteWindow = ch.peakWindow = open.initialWindow;
      ch.remoteMaxPacket = open.maxPacket;
      ch.state = 'open';
      this.channels.set(ch.localId, ch);
      this.grantInitial(ch);
      this.link.send(
        encodeChannelOpenConfirmation({
          recipientChannel: open.senderChannel,
          senderChannel: ch.localId,
          initialWindow: ch.localWindow,
          maxPacket: ch.params.maxPacket,
        }),
      );
      // The round trip decides whether part of the send window is withheld (`withheld`).
      this.probeIdleRtt();
      return ch;
    };
    this.handler.onChannelOpen(open, accept, reject);
  }

  private onConfirm(payload: Buffer): void {
    const c = decodeChannelOpenConfirmation(payload);
    const ch = this.channels.get(c.recipientChannel);
    if (!ch || ch.state !== 'opening')
      throw protocolError(`confirmation for channel ${c.recipientChannel} that is not opening`);
    if (c.maxPacket === 0) throw protocolError('channel confirmation with a maximum packet size of 0');
    ch.remoteId = c.senderChannel;
    ch.remoteWindow = ch.peakWindow = c.initialWindow;
    ch.remoteMaxPacket = c.maxPacket;
    ch.state = 'open';
    this.rttSample(ch.openSentAt);
    if (ch.closing) {
      ch.closing = false;
      this.close(ch);
      return;
    }
    ch.sink.onOpenConfirmed?.();
    if (ch.owed > 0) this.grant(ch); // the budget had less than its window when it opened
    if (ch.outQueue.length) this.flush(ch);
  }
}
