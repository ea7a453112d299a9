import type { Channel } from './channel.js';
import type { ConnectionRef } from './link.js';
import type { ChannelMessage } from './messages.js';
import type { SessionChannel } from './session-channel.js';

export type { ChannelMessage, RequestMessage } from './messages.js';

/**
 * The first message a channel handler gets in `handleMsg` (the seed's `{ssh_channel_up,
 * ChannelId, ConnectionRef}`), sent once `init` has returned `{ ok }`.
 */
export interface ChannelUp<C extends Channel = SessionChannel> {
  /** Always 'channelUp': the first message `handleMsg` gets. */
  type: 'channelUp';
  /** The channel's id on this side. */
  channelId: number;
  /** The connection the channel belongs to (the `Connection` object). */
  connection: ConnectionRef;
  /** The channel itself: a SessionChannel for the daemon's sessions and subsystems. */
  channel: C;
}

/** Sent to `handleMsg` when a `timeout` returned by a callback expires with no message in between. */
export const TIMEOUT = 'timeout' as const;

/** A value, or a promise of it: what a behaviour callback may return. */
export type MaybePromise<T> = T | Promise<T>;

/** Returns of `init`: the seed's `{ok, State}`, `{ok, State, Timeout}` and `{stop, Reason}`. */
export type InitResult<S> =
  | {
      /** The channel's first state. */
      ok: S;
      /** Milliseconds without a message after which `handleMsg` gets `TIMEOUT` (none when absent). */
      timeout?: number;
    }
  | {
      /** Why the channel will not start: the channel closes and `terminate` gets this reason. */
      stop: unknown;
    };

/**
 * Returns of `handleSshMsg` and `handleMsg`: `{ok, State[, Timeout]}`, or `{stop, ChannelId,
 * State}` to close the channel and terminate with reason `'normal'`.
 */
export type HandlerResult<S> =
  | {
      /** The handler's new state. */
      ok: S;
      /** Milliseconds without a message after which `handleMsg` gets `TIMEOUT` (none when absent). */
      timeout?: number;
    }
  | {
      /** The channel's id: the channel closes and `terminate` gets reason `'normal'`. */
      stop: number;
      /** The state `terminate` gets. */
      state: S;
    };

/**
 * Returns of `handleCall` (the seed's, each with an optional timeout): `{ reply, state }`,
 * `{ noreply: state }` (answer later with `reply(from, value)`), `{ stop: reason, reply, state }`
 * and `{ stop: reason, state }`.
 */
export type CallResult<S> =
  | {
      /** The value the caller's `call` resolves with. */
      reply: unknown;
      /** The handler's new state. */
      state: S;
      /** Milliseconds without a message after which `handleMsg` gets `TIMEOUT` (none when absent). */
      timeout?: number;
    }
  | {
      /** The handler's new state; the call stays open until `reply(from, value)`. */
      noreply: S;
      /** Milliseconds without a message after which `handleMsg` gets `TIMEOUT` (none when absent). */
      timeout?: number;
    }
  | {
      /** The reason the channel closes with, given to `terminate`. */
      stop: unknown;
      /** The value the caller's `call` resolves with before the channel closes. */
      reply: unknown;
      /** The state `terminate` gets. */
      state: S;
    }
  | {
      /** The reason the channel closes with, given to `terminate`. */
      stop: unknown;
      /** The state `terminate` gets. */
      state: S;
    };

/** Returns of `handleCast`: `{ noreply: state[, timeout] }` or `{ stop: reason, state }`. */
export type CastResult<S> =
  | {
      /** The handler's new state. */
      noreply: S;
      /** Milliseconds without a message after which `handleMsg` gets `TIMEOUT` (none when absent). */
      timeout?: number;
    }
  | {
      /** The reason the channel closes with, given to `terminate`. */
      stop: unknown;
      /** The state `terminate` gets. */
      state: S;
    };

/** Who made a `call`; pass it to `reply(from, value)` to answer a `{ noreply }` later. */
export interface From {
  /** @internal */
  readonly settle: (outcome: { value: unknown } | { error: unknown }) => void;
}

/**
 * The seed's ssh_server_channel behaviour: a daemon-side channel handler (a subsystem, a CLI, a
 * shell). One handler object may serve many channels: per-channel data lives in the state the
 * callbacks return. Callbacks may be async; a channel's messages reach its handler one at a
 * time, in order; the receive window is given back when `handleSshMsg` for data returns.
 * `terminate` runs exactly once, after the channel is closed (also when a callback throws or
 * `init` fails). `codeChange` has no meaning without hot code loading and is never called.
 */
export interface ServerChannelHandler<S> {
  /** Called once with the handler's init arguments before any message (the seed's init/1): `{ ok: state }`, optionally with a timeout, or `{ stop: reason }`. */
  init(args: unknown[]): MaybePromise<InitResult<S>>;
  /** Called with each message from the peer on this channel, one at a time (the seed's handle_ssh_msg/2); the window is given back once it returns. */
  handleSshMsg(message: ChannelMessage, state: S): MaybePromise<HandlerResult<S>>;
  /** Called with `channelUp` first, then with TIMEOUT and any other message sent to the channel (the seed's handle_msg/2). */
  handleMsg(message: ChannelUp | typeof TIMEOUT | unknown, state: S): MaybePromise<HandlerResult<S>>;
  /** Called exactly once when the channel ends, with the reason and the last state (the seed's terminate/2). */
  terminate?(reason: unknown, state: S): MaybePromise<void>;
}

/**
 * The seed's ssh_client_channel behaviour: the server behaviour plus `handleCall` and
 * `handleCast`, for the channel's owner to talk to it with `call` and `cast`.
 */
export interface ClientChannelHandler<S> extends ServerChannelHandler<S> {
  /** Answers `clientChannel.call`: reply now, or `{ noreply }` and `clientChannel.reply(from, value)` later (the seed's handle_call/3). */
  handleCall?(message: unknown, from: From, state: S): MaybePromise<CallResult<S>>;
  /** Takes `clientChannel.cast` messages, which get no answer (the seed's handle_cast/2). */
  handleCast?(message: unknown, state: S): MaybePromise<CastResult<S>>;
}
