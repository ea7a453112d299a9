/**
 * The seed's ssh_client_channel functions: run a ClientChannelHandler on a channel the client
 * opened, and talk to it with `call` and `cast`.
 *
 * In Node terms: the channel "process" is a ChannelRunner driving the handler object; a
 * `ChannelRef` is what start/startLink return. "Linked" (startLink) ties the channel's fate to
 * its owner: an AbortSignal given to startLink stops the channel when it aborts, and the
 * channel's end is reported through `ref.terminated`, which rejects when the handler ended
 * abnormally (an error, or a stop reason other than 'normal') — left unhandled, that rejection
 * ends the process, as an exit signal kills a linked Erlang process. With `start`,
 * `ref.terminated` always resolves with the reason. Either way the channel dies with its
 * connection.
 */
import { SshError } from '../errors.js';
import { debug } from '../log.js';
import type { ClientChannelHandler, From } from './behaviour.js';
import { withTimeout } from './channel.js';
import type { ConnectionRef } from './link.js';
import { ChannelRunner } from './runner.js';

/** A running channel handler (the seed's ChannelRef pid). */
export class ChannelRef {
  /** @internal */
  constructor(
    /** @internal */ readonly runner: ChannelRunner<unknown>,
    /** Settles when `terminate` has run: see the module comment for linked and unlinked refs. */
    readonly terminated: Promise<unknown>,
  ) {}

  /** The id of the channel the handler runs on. */
  get channelId(): number {
    return this.runner.channel.channelId;
  }

  /** Whether the handler has stopped. */
  get isStopped(): boolean {
    return this.runner.isStopped;
  }
}

function channelOf(connection: ConnectionRef, channelId: number) {
  const ch = connection.channel(channelId);
  if (!ch) throw new SshError('CLOSED', `no open channel ${channelId} on this connection`);
  return ch;
}

async function started(runner: ChannelRunner<unknown>, linked: boolean): Promise<ChannelRef> {
  const terminated = linked
    ? runner.done.then((reason) => {
        if (reason !== 'normal' && reason !== 'shutdown') throw reason;
        return reason;
      })
    : runner.done;
  if (!(await runner.ready)) {
    const reason = await runner.done;
    if (linked) terminated.catch(() => {}); // reported by the rejection below instead
    throw new SshError('CLOSED', `the channel handler's init stopped: ${String(reason)}`, { cause: reason });
  }
  return new ChannelRef(runner, terminated);
}

/**
 * Starts `handler` on the open channel `channelId` of `connection` (the seed's start/4): `init`
 * gets `args`; resolves once `init` returned `{ ok }`, rejects with `CLOSED` if it stopped.
 */
export function start<S>(
  connection: ConnectionRef,
  channelId: number,
  handler: ClientChannelHandler<S>,
  args: unknown[] = [],
): Promise<ChannelRef> {
  const runner = new ChannelRunner(channelOf(connection, channelId), handler, args, {
    onError: (id, e) => debug('channel %d: handler failed: %s', id, (e as Error)?.message ?? e),
  }) as ChannelRunner<unknown>;
  return started(runner, false);
}

/** Starts a handler like `start`, linked to its owner (see the module comment); `signal` aborting stops the channel (the seed's start_link/4). */
export function startLink<S>(
  connection: ConnectionRef,
  channelId: number,
  handler: ClientChannelHandler<S>,
  args: unknown[] = [],
  options: { signal?: AbortSignal } = {},
): Promise<ChannelRef> {
  const runner = new ChannelRunner(channelOf(connection, channelId), handler, args, {
    onError: (id, e) => debug('channel %d: handler failed: %s', id, (e as Error)?.message ?? e),
  }) as ChannelRunner<unknown>;
  const signal = options.signal;
  if (signal) {
    const stop = () => runner.stop('shutdown');
    if (signal.aborted) stop();
    else {
      signal.addEventListener('abort', stop, { once: true });
      void runner.done.then(() => signal.removeEventListener('abort', stop));
    }
  }
  return started(runner, true);
}

/**
 * A synchronous call to the channel's handler (`handleCall`): resolves with its reply; rejects
 * with `CLOSED` when the channel is gone (or goes before replying) and `TIMEOUT` after `timeout`
 * (the seed's ssh_client_channel:call/2,3).
 */
export function call(ref: ChannelRef, message: unknown, timeout: number = Infinity): Promise<unknown> {
  if (ref.runner.isStopped) {
    return Promise.reject(new SshError('CLOSED', `channel ${ref.channelId} is closed`));
  }
  let settled = false;
  const p = new Promise<unknown>((resolve, reject) => {
    const from: From = {
      settle: (outcome) => {
        if (settled) return;
        settled = true;
        ref.runner.replied(from);
        if ('value' in outcome) resolve(outcome.value);
        else reject(outcome.error);
      },
    };
    ref.runner.post({ kind: 'call', message, from });
  });
  return withTimeout(p, timeout, `call to channel ${ref.channelId}`, () => (settled = true));
}

/** An asynchronous message to the channel's handler (`handleCast`); ignored if the channel is gone (the seed's ssh_client_channel:cast/2). */
export function cast(ref: ChannelRef, message: unknown): void {
  ref.runner.post({ kind: 'cast', message });
}

/** Answers a `call` whose `handleCall` returned `{ noreply }` (the seed's reply/2). */
export function reply(from: From, value: unknown): void {
  from.settle({ value });
}

/** What `init` returns for `enterLoop`: the seed's channel state before the loop. */
export interface LoopState<S = unknown> {
  /** The connection of the channel. */
  connection: ConnectionRef;
  /** The channel's id. */
  channelId: number;
  /** The handler that runs the channel. */
  handler: ClientChannelHandler<S>;
  /** The state `init` returned. */
  state: S;
  /** The timeout `init` returned, in ms. */
  timeout?: number;
}

/**
 * The seed's ssh_client_channel:init/1, for a channel set up by hand: calls the handler's
 * `init(initArgs)` and returns the state to give `enterLoop`, or `{ stop }`.
 */
export async function init<S>(options: {
  /** The handler whose `init` is called (the seed's `channel_cb`). */
  channelCb: ClientChannelHandler<S>;
  /** The arguments `init` gets (the seed's `init_args`). */
  initArgs: unknown[];
  /** The connection the channel is on (the seed's `cm`). */
  cm: ConnectionRef;
  /** The open channel's id (the seed's `channel_id`). */
  channelId: number;
}): Promise<
  | {
      /** The state to give `enterLoop`. */
      ok: LoopState<S>;
    }
  | {
      /** The reason the handler's `init` stopped with. */
      stop: unknown;
    }
> {
  channelOf(options.cm, options.channelId);
  const r = await options.channelCb.init(options.initArgs);
  if ('stop' in r) return { stop: r.stop };
  return {
    ok: {
      connection: options.cm,
      channelId: options.channelId,
      handler: options.channelCb,
      state: r.ok,
      timeout: r.timeout,
    },
  };
}

/**
 * The seed's enter_loop/1: starts the channel loop with a state made by `init` (the handler's
 * `init` is not called again). Returns the channel's ref.
 */
export function enterLoop<S>(loop: LoopState<S>): ChannelRef {
  const runner = new ChannelRunner(
    channelOf(loop.connection, loop.channelId),
    loop.handler,
    [],
    { onError: (id, e) => debug('channel %d: handler failed: %s', id, (e as Error)?.message ?? e) },
    { state: loop.state, timeout: loop.timeout },
  ) as ChannelRunner<unknown>;
  return new ChannelRef(runner, runner.done);
}
