import type { TerminalMode } from '../wire/terminal-modes.js';
import type { Channel } from './channel.js';
import type { Connection } from './connection.js';

/**
 * What arrives on a channel: the seed's `{ssh_cm, ConnectionRef, Msg}` messages as a
 * discriminated union on `type`. A client sees data, eof, exitStatus, exitSignal and closed;
 * a daemon's channel handler also sees the session requests (env, exec, pty, shell, …).
 */
export type ChannelMessage =
  | { type: 'data'; channelId: number; dataType: number; data: Buffer }
  | { type: 'eof'; channelId: number }
  | { type: 'exitStatus'; channelId: number; status: number }
  | {
      type: 'exitSignal';
      channelId: number;
      signal: string;
      errorMessage: string;
      language: string;
      coreDumped: boolean;
    }
  | { type: 'signal'; channelId: number; signal: string }
  | { type: 'env'; channelId: number; wantReply: boolean; name: string; value: string }
  | { type: 'exec'; channelId: number; wantReply: boolean; command: string }
  | {
      type: 'pty';
      channelId: number;
      wantReply: boolean;
      terminal: string;
      cols: number;
      rows: number;
      width: number;
      height: number;
      modes: TerminalMode[];
    }
  | { type: 'shell'; channelId: number; wantReply: boolean }
  | { type: 'windowChange'; channelId: number; cols: number; rows: number; width: number; height: number }
  | { type: 'closed'; channelId: number };

/** The first message a server channel handler gets in `handleMsg` (the seed's ssh_channel_up). */
export interface ChannelUp {
  type: 'channelUp';
  channelId: number;
  connection: Connection;
  channel: Channel;
}

/** Sent to `handleMsg` when a `timeout` returned by a callback expires. */
export const TIMEOUT = 'timeout' as const;

/** Returns of `init`: the seed's `{ok, State}`, `{ok, State, Timeout}` and `{stop, Reason}`. */
export type InitResult<S> = { ok: S; timeout?: number } | { stop: unknown };

/** Returns of the message callbacks: `{ok, State[, Timeout]}` or `{stop, ChannelId, State}`. */
export type HandlerResult<S> = { ok: S; timeout?: number } | { stop: number; state: S };

type MaybePromise<T> = T | Promise<T>;

/**
 * A daemon-side channel handler (the seed's ssh_server_channel behaviour). One handler object
 * serves every channel it is used for: per-channel data lives in the state it returns. Each
 * callback may be async; messages reach a channel's handler one at a time, in order, and the
 * receive window is given back when the data callback returns.
 */
export interface ServerChannelHandler<S> {
  init(args: unknown[]): MaybePromise<InitResult<S>>;
  handleSshMsg(message: ChannelMessage, state: S): MaybePromise<HandlerResult<S>>;
  handleMsg(message: ChannelUp | typeof TIMEOUT | unknown, state: S): MaybePromise<HandlerResult<S>>;
  terminate?(reason: unknown, state: S): MaybePromise<void>;
}
