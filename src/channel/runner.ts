import { SshError } from '../errors.js';
import { debug } from '../log.js';
import {
  TIMEOUT,
  type CallResult,
  type CastResult,
  type ChannelMessage,
  type ChannelUp,
  type ClientChannelHandler,
  type From,
  type HandlerResult,
  type InitResult,
} from './behaviour.js';
import type { Channel } from './channel.js';

type Item =
  | { kind: 'ssh'; message: ChannelMessage }
  | { kind: 'msg'; message: unknown }
  | { kind: 'call'; message: unknown; from: From }
  | { kind: 'cast'; message: unknown };

/** What a runner tells its owner. */
export interface RunnerEvents {
  /** A callback threw (or rejected): the channel dies with `error`; the connection lives on. */
  onError?(channelId: number, error: unknown): void;
  /**
   * `init` finished (true) or stopped or threw (false), before the channel is closed for it: a
   * request that started the handler can then be answered before the CLOSE goes out.
   */
  onInit?(ok: boolean): void;
}

/** Answers every call still waiting when the runner stops: the channel is gone. */
function closedError(channelId: number): SshError {
  return new SshError('CLOSED', `channel ${channelId} is closed`);
}

/**
 * Runs one channel's handler, for both of the seed's behaviours (ssh_server_channel and
 * ssh_client_channel share this loop, as in Erlang): `init`, then `handleMsg(channelUp)`, then
 * every message in arrival order, one callback at a time — messages from the peer
 * (`handleSshMsg`), messages posted to the channel (`handleMsg`), and for client handlers `call`
 * and `cast`. It gives the receive window back after a data callback returns, delivers
 * `'timeout'` when a returned timeout passes with no message, answers the peer's CLOSE itself,
 * and runs `terminate` exactly once, after the channel is closed — also when a callback throws
 * or `init` fails.
 */
export class ChannelRunner<S> {
  private state: S | undefined;
  private initialized = false;
  private readonly queue: Item[] = [];
  private running = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly pendingCalls = new Set<From>();
  private resolveDone!: (reason: unknown) => void;
  /** Resolves with the reason `terminate` got, once it has run. */
  readonly done: Promise<unknown>;
  /** Resolves true once `init` succeeded, false if it stopped or threw. */
  readonly ready: Promise<boolean>;

  constructor(
    readonly channel: Channel,
    private readonly handler: ClientChannelHandler<S>,
    args: unknown[],
    private readonly events: RunnerEvents = {},
    /** A state made beforehand (the seed's enter_loop): `init` is not called. */
    entered?: { state: S; timeout?: number },
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
    channel.setConsumer({
      ssh: (m) => this.post({ kind: 'ssh', message: m }),
      other: (m) => this.post({ kind: 'msg', message: m }),
    });
    this.ready = entered
      ? Promise.resolve(this.begin({ ok: entered.state, timeout: entered.timeout }))
      : this.init(args);
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  private async init(args: unknown[]): Promise<boolean> {
    let r: InitResult<S>;
    try {
      r = await this.handler.init(args);
    } catch (e) {
      this.events.onError?.(this.channel.channelId, e);
      this.events.onInit?.(false);
      await this.finish(e);
      return false;
    }
    return this.begin(r);
  }

  private begin(r: InitResult<S>): boolean {
    if ('stop' in r) {
      this.events.onInit?.(false);
      void this.finish(r.stop);
      return false;
    }
    this.state = r.ok;
    this.initialized = true;
    this.events.onInit?.(true);
    const up: ChannelUp<Channel> = {
      type: 'channelUp',
      channelId: this.channel.channelId,
      connection: this.channel.connection,
      channel: this.channel,
    };
    this.queue.unshift({ kind: 'msg', message: up });
    this.arm(r.timeout);
    this.kick();
    return true;
  }

  /** Queues a message for the handler (anything but a call is dropped once stopped). */
  post(item: Item): void {
    if (this.stopped) {
      if (item.kind === 'call') item.from.settle({ error: closedError(this.channel.channelId) });
      return;
    }
    // A message arriving cancels a pending timeout, as in a receive ... after.
    this.arm(undefined);
    this.queue.push(item);
    this.kick();
  }

  /** Stops the channel from outside (e.g. a linked owner went away): closes it and terminates. */
  stop(reason: unknown): void {
    if (this.stopped) return;
    if (this.running) {
      this.queue.length = 0;
      this.queue.push({ kind: 'msg', message: new StopRequest(reason) });
      return;
    }
    void this.finish(reason);
  }

  private kick(): void {
    if (this.running || !this.initialized || this.stopped) return;
    void this.run();
  }

  private arm(timeout: number | undefined): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (timeout === undefined || timeout === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.post({ kind: 'msg', message: TIMEOUT });
    }, timeout);
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const item = this.queue.shift()!;
        if (item.kind === 'msg' && item.message instanceof StopRequest) {
          await this.finish(item.message.reason);
          return;
        }
        if (item.kind === 'ssh' && item.message.type === 'closed') {
          await this.finish('normal'); // the seed: taken care of by the behaviour
          return;
        }
        let next: { state: S; timeout?: number } | { stop: unknown; state: S };
        try {
          next = await this.dispatch(item);
        } catch (e) {
          this.events.onError?.(this.channel.channelId, e);
          await this.finish(e);
          return;
        }
        this.state = next.state;
        if ('stop' in next) {
          await this.finish(next.stop);
          return;
        }
        this.arm(next.timeout);
      }
    } finally {
      this.running = false;
    }
  }

  /** One callback; its result in one shape: the new state, a timeout, or a stop reason. */
  private async dispatch(item: Item): Promise<{ state: S; timeout?: number } | { stop: unknown; state: S }> {
    const h = this.handler;
    const state = this.state as S;
    switch (item.kind) {
      case 'ssh': {
        const m = item.message;
        this.channel.handing(m);
        // Taken first: a handler may free the data's memory once done with it (the SFTP server).
        const n = m.type === 'data' ? m.data.length : 0;
        let r: HandlerResult<S>;
        try {
          r = await h.handleSshMsg(m, state);
        } finally {
          this.channel.handled(m);
        }
        // The seed: when the data callback returns, the behaviour adjusts the window.
        if (m.type === 'data') this.channel.adjustWindow(n);
        return 'stop' in r ? { stop: 'normal', state: r.state } : { state: r.ok, timeout: r.timeout };
      }
      case 'msg': {
        const r = await h.handleMsg(item.message, state);
        return 'stop' in r ? { stop: 'normal', state: r.state } : { state: r.ok, timeout: r.timeout };
      }
      case 'call': {
        if (!h.handleCall) throw new Error('call to a channel handler without handleCall');
        this.pendingCalls.add(item.from);
        let r: CallResult<S>;
        try {
          r = await h.handleCall(item.message, item.from, state);
        } catch (e) {
          this.pendingCalls.delete(item.from);
          item.from.settle({ error: e });
          throw e;
        }
        if ('reply' in r) {
          this.pendingCalls.delete(item.from);
          item.from.settle({ value: r.reply });
        }
        if ('stop' in r) return { stop: r.stop, state: r.state };
        if ('noreply' in r) return { state: r.noreply, timeout: r.timeout };
        return { state: r.state, timeout: r.timeout };
      }
      case 'cast': {
        if (!h.handleCast) throw new Error('cast to a channel handler without handleCast');
        const r: CastResult<S> = await h.handleCast(item.message, state);
        return 'stop' in r ? { stop: r.stop, state: r.state } : { state: r.noreply, timeout: r.timeout };
      }
    }
  }

  /** A call answered later with `reply(from, value)` is no longer pending. */
  replied(from: From): void {
    this.pendingCalls.delete(from);
  }

  /**
   * Closes the channel (if it is not already), then runs `terminate` once — also after a failed
   * `init`, with the state undefined.
   */
  private async finish(reason: unknown): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.arm(undefined);
    // Calls still queued get CLOSED too: dropped unanswered, their callers would wait for ever.
    for (const item of this.queue.splice(0)) {
      if (item.kind === 'call') item.from.settle({ error: closedError(this.channel.channelId) });
    }
    for (const from of this.pendingCalls) from.settle({ error: closedError(this.channel.channelId) });
    this.pendingCalls.clear();
    void this.channel.close();
    try {
      await this.handler.terminate?.(reason, this.state as S);
    } catch (e) {
      // The seed: terminate's return value is ignored; an error in it is only worth a line.
      debug('channel %d: terminate threw: %s', this.channel.channelId, (e as Error)?.message ?? e);
    }
    this.resolveDone(reason);
  }
}

/** Posted by `stop` while a callback runs: processed as soon as the handler is free. */
class StopRequest {
  constructor(readonly reason: unknown) {}
}
