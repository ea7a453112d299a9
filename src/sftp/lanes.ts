/**
 * Uploads spread over more than one SFTP channel ("lanes") when one channel's window is what
 * limits them. A sender may have no more unacknowledged data on a channel than the receiver's
 * window (RFC 4254 §5.2), and OpenSSH's sshd gives the channel of its sftp-server 2 MiB and never
 * more (channels.h, CHAN_SES_WINDOW_DEFAULT): over a 50 ms round trip one channel carries at most
 * 40 MiB/s however many WRITEs the client keeps in flight. Each extra session on the same
 * connection opens the file again (WRITE, without CREAT or TRUNC) and takes its share of the
 * blocks, each at its own offsets, so the transfer has a window per lane.
 *
 * Our 32 MiB put into sshd through the bench's 50 ms proxy went from 25 to 41 MiB/s (OpenSSH's
 * `sftp`: 26). Each lane costs the server a session (sshd starts an sftp-server), and a lane opens
 * in three or four round trips; hence LANE_RATE and WINDOWS_PER_LANE. On loopback a window covers
 * the round trip many times over and the rule keeps one channel.
 */
import { SshError } from '../errors.js';
import type { SftpClient } from './client.js';
import { EXT } from './constants.js';
import type { SftpResponse } from './responses.js';
import { pflagsOf, type Handle, type SftpSession } from './session.js';

/** Default for `TransferOptions.channels` (with a POSIX server). OpenSSH's sshd allows 10 sessions per connection (MaxSessions). */
export const DEFAULT_LANES = 4;

/**
 * The rate (bytes per ms, 128 MiB/s) a transfer's windows should cover for a round trip: a lane
 * is added for each further window it takes.
 */
const LANE_RATE = 128 * 1024;

/** An extra lane must have at least this many of its windows of the file to carry. */
const WINDOWS_PER_LANE = 4;

/** One session and its handle on the file being written, with the WRITEs it has in flight. */
export interface Lane {
  session: SftpSession;
  handle: Handle;
  inflight: number;
}

/**
 * Lanes for an upload of `size` bytes, at most `max`, where the server's window on the first
 * channel is `window` bytes and a request takes `rttMs`: as many windows as cover a round trip at
 * LANE_RATE, no more than the file gives each WINDOWS_PER_LANE windows to carry, at least one.
 */
export function lanesFor(window: number, rttMs: number, size: number, max: number): number {
  if (max <= 1 || window <= 0 || !(rttMs > 0)) return 1;
  const cover = Math.ceil((rttMs * LANE_RATE) / window);
  const worth = Math.floor(size / (WINDOWS_PER_LANE * window));
  return Math.max(1, Math.min(max, cover, worth));
}

/**
 * WRITEs of `chunk` bytes that a server's largest window (`peak`) holds, if it grants window in
 * steps of a quarter of that or less (`smallestGrant`, 0 before any grant); else Infinity.
 */
export function windowFit(peak: number, smallestGrant: number, chunk: number): number {
  if (smallestGrant === 0 || smallestGrant * 4 > peak) return Infinity;
  return Math.max(1, Math.floor(peak / chunk));
}

const noop = () => {};

/**
 * The lanes of one upload: the client's own session with the file opened (CREAT, TRUNC), and the
 * extra sessions opened beside it, each joining the transfer when its handle is open.
 */
export class Lanes {
  /** The client's own lane first, then the extra ones as they join. */
  private readonly lanes: Lane[] = [];
  private finished = false;
  private window = 0;
  private wanted = 1;
  private mainClosed = false;
  /** The client's OPEN (CREAT, TRUNC) has succeeded. */
  private created = false;
  private readonly max: number;
  constructor(
    private readonly client: SftpClient,
    private readonly remote: string,
    private readonly size: number,
    channels: number | undefined,
  ) {
    if (channels !== undefined && (!Number.isInteger(channels) || channels < 1))
      throw new SshError('BAD_OPTION', `channels must be a whole number of at least 1, not ${channels}`);
    // Only a server that keeps its files on a POSIX file system (it has OpenSSH's fsync and
    // posix-rename) is sure to make the handles of one file write into the same file. Behind a
    // gateway to an object store, each handle's data might become the whole object at its CLOSE,
    // and a file written through several would silently lose all but one handle's share.
    const s = client.session;
    this.max = s.has(EXT.fsync) && s.has(EXT.posixRename) ? (channels ?? DEFAULT_LANES) : 1;
  }

  /**
   * Opens the file on the client's session and starts the extra lanes: with the OPEN when INIT
   * measured the round trip, else after it, timed by it. Resolves with the file's handle.
   */
  async start(): Promise<Handle> {
    const session = this.client.session;
    this.window = this.client.channel.sendWindow;
    const sent = performance.now();
    const opened = this.client.open(this.remote, 'w');
    if (session.roundTrip !== undefined) this.spread(session.roundTrip, opened);
    let handle: Handle;
    try {
      handle = await opened;
      this.created = true;
    } catch (e) {
      this.finished = true; // lanes being set up close themselves
      throw e;
    }
    if (session.roundTrip === undefined) this.spread(performance.now() - sent, opened);
    this.lanes.push({ session, handle, inflight: 0 });
    return handle;
  }

  private spread(rtt: number, opened: Promise<Handle>): void {
    this.wanted = this.client.sibling ? lanesFor(this.window, rtt, this.size, this.max) : 1;
    // Not awaited: a transfer does not wait for lanes still being set up (see `open`).
    for (let i = 1; i < this.wanted; i++) void this.open(opened);
  }

  /** Chunks per block of local reads: at most half a lane's window when there are to be lanes. */
  blockChunks(chunk: number): number {
    return this.wanted > 1 ? Math.max(1, Math.floor(this.window / 2 / chunk)) : Infinity;
  }

  /**
   * WRITEs of `chunk` bytes the server should have unanswered at most: its largest window, where
   * it grants window in steps of a quarter of that or less (it grants as it passes data on, as
   * OpenSSH's sshd does: 16 to 64 KiB of 2 MiB); otherwise, before any grant, or over lanes, no
   * limit. Queued beyond such a window, WRITEs go out at each small grant and keep the server's
   * buffers full: on a fresh connection `sshd` then took 600 ms over the first 2 MiB (its 64 KiB
   * grants came 60 to 120 ms apart, traced). Our put of 256 MiB into `sshd` on loopback went from
   * 145 to 213 MiB/s (interleaved, 3 rounds, connection setup included) and the machine's CPU per
   * GiB from 11.0 to 8.7 s. A server that grants half its window at once (ours, asyncssh) is not
   * held to it; over lanes (a long path) each grant is to be filled at once from WRITEs queued
   * behind it.
   */
  fitChunks(chunk: number): number {
    if (this.wanted > 1) return Infinity;
    const ch = this.client.channel;
    return windowFit(ch.sendWindowPeak, ch.smallestGrant, chunk);
  }

  /** The lane to take the next block: the one with the fewest WRITEs in flight (the first of those tied). */
  next(): Lane {
    let best = this.lanes[0]!;
    for (const l of this.lanes) if (l.inflight < best.inflight) best = l;
    return best;
  }

  /**
   * Opens a lane and adds it to the transfer. Without one (MaxSessions, a refused subsystem or
   * OPEN) the transfer goes on with the lanes it has; a lane that is ready only after the transfer
   * ended closes itself.
   */
  private async open(opened: Promise<Handle>): Promise<void> {
    let session: SftpSession | undefined;
    const request = { type: 'open', path: this.remote, pflags: pflagsOf(['write']), attrs: {} } as const;
    let reply: Promise<SftpResponse> | undefined;
    try {
      session = await this.client.sibling!((s) => {
        // Right behind INIT, a round trip sooner, if the file exists (CREAT) and is empty (TRUNC),
        // which it is once the client's OPEN has succeeded. The server is the client's: it
        // answers INIT (version 3) before it reads the OPEN.
        if (this.created) reply = s.call(request);
        reply?.catch(noop);
      });
      await opened;
      if (this.finished) throw new SshError('CLOSED', 'the transfer ended');
      const handle = session.expect(await (reply ?? session.call(request)), 'handle', this.remote).handle;
      if (this.finished) {
        await session.ok({ type: 'close', handle }).catch(noop);
        throw new SshError('CLOSED', 'the transfer ended');
      }
      this.lanes.push({ session, handle, inflight: 0 });
    } catch {
      await session?.channel.close().catch(noop);
    }
  }

  /**
   * All WRITEs are answered: closes `handle` and the extra handles, then the extra channels. A
   * failed CLOSE throws.
   */
  async finish(handle: Handle): Promise<void> {
    this.finished = true;
    const extra = this.lanes.splice(1);
    // (An EOF right behind each CLOSE would end the sessions a round trip sooner, but OpenSSH's
    // sftp-server can exit at the EOF with the CLOSE unanswered.)
    this.mainClosed = true;
    const results = await Promise.allSettled([
      this.client.close(handle),
      ...extra.map((l) => l.session.ok({ type: 'close', handle: l.handle })),
    ]);
    await Promise.all(extra.map((l) => l.session.channel.close().catch(noop)));
    const bad = results.find((r) => r.status === 'rejected');
    if (bad) throw bad.reason;
  }

  /** The transfer failed: closes `handle` (unless done already) and the extra lanes, ignoring their errors. */
  async abandon(handle: Handle): Promise<void> {
    this.finished = true;
    await Promise.all([
      this.mainClosed ? undefined : this.client.close(handle).catch(noop),
      ...this.lanes.splice(1).map(async (l) => {
        await l.session.ok({ type: 'close', handle: l.handle }).catch(noop);
        await l.session.channel.close().catch(noop);
      }),
    ]);
  }
}
