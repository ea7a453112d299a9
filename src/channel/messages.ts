import type { ChannelRequest } from '../wire/connection-messages.js';
import { decodeTerminalModes, type TerminalMode } from '../wire/terminal-modes.js';

/**
 * What arrives on a channel: the seed's `{ssh_cm, ConnectionRef, Msg}` messages as a
 * discriminated union on `type`, on either side. Requests that may want a reply carry
 * `wantReply`; answer them with `channel.replyRequest(wantReply, status)` (in the order they came)
 * or take the answer for later with `channel.deferReply()`.
 */
export type ChannelMessage =
  | {
      /** Erlang: `{data, ChannelId, DataType, Data}`; bytes the peer sent on the channel. */
      type: 'data';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** 0 for ordinary data, 1 (`SSH_EXTENDED_DATA_STDERR`) for the peer's stderr. */
      dataType: number;
      /** The bytes, as they came. */
      data: Buffer;
    }
  | {
      /** Erlang: `{eof, ChannelId}`; the peer will send no more data on the channel. */
      type: 'eof';
      /** The local id of the channel the message arrived on. */
      channelId: number;
    }
  | {
      /** Erlang: `{exit_status, ChannelId, ExitStatus}`; the remote command ended with a status. */
      type: 'exitStatus';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** The command's exit status (0 usually means success). */
      status: number;
    }
  | {
      /** Erlang: `{exit_signal, ChannelId, ExitSignal, ErrorMsg, LanguageString}`; the remote command was killed by a signal. */
      type: 'exitSignal';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** The signal's name without `SIG` (`'TERM'`, `'KILL'`). */
      signal: string;
      /** The peer's text about the exit, possibly empty. */
      errorMessage: string;
      /** The RFC 3066 language tag of `errorMessage`, often empty. */
      language: string;
      /** Whether the process dumped core. */
      coreDumped: boolean;
    }
  | {
      /** Erlang: `{signal, ChannelId, SignalName}`; the client asks that a signal be delivered to the remote process. */
      type: 'signal';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** Whether the peer asked for an answer (give it with `replyRequest`). */
      wantReply: boolean;
      /** The signal's name without `SIG` (`'INT'`, `'TERM'`). */
      signal: string;
    }
  | {
      /** Erlang: `{env, ChannelId, WantReply, Var, Value}`; the client asks that an environment variable be set. */
      type: 'env';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** Whether the peer asked for an answer (give it with `replyRequest`). */
      wantReply: boolean;
      /** The variable's name. */
      name: string;
      /** The variable's value. */
      value: string;
    }
  | {
      /** Erlang: `{exec, ChannelId, WantReply, Command}`; the client asks that a command be run. */
      type: 'exec';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** Whether the peer asked for an answer (give it with `replyRequest`). */
      wantReply: boolean;
      /** The command line, as the client sent it. */
      command: string;
    }
  | {
      /** Erlang: `{pty, ChannelId, WantReply, {Terminal, CharWidth, RowHeight, PixelWidth, PixelHeight, TerminalModes}}`; the client asks for a pseudo-terminal. */
      type: 'pty';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** Whether the peer asked for an answer (give it with `replyRequest`). */
      wantReply: boolean;
      /** The terminal type, as `TERM` (`'xterm-256color'`). */
      terminal: string;
      /** The terminal's width in characters. */
      cols: number;
      /** The terminal's height in rows. */
      rows: number;
      /** The terminal's width in pixels (0 when unknown). */
      width: number;
      /** The terminal's height in pixels (0 when unknown). */
      height: number;
      /** RFC 4254 §8 modes by mnemonic (`['echo', 1]`), unknown ones by opcode. */
      modes: TerminalMode[];
    }
  | {
      /** Erlang: `{shell, WantReply}`; the client asks for its login shell. */
      type: 'shell';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** Whether the peer asked for an answer (give it with `replyRequest`). */
      wantReply: boolean;
    }
  | {
      /** A `subsystem` request (RFC 4254 §6.5): the client asks for a named subsystem such as `sftp`. */
      type: 'subsystem';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** Whether the peer asked for an answer (give it with `replyRequest`). */
      wantReply: boolean;
      /** The subsystem's name. */
      name: string;
    }
  | {
      /** Erlang: `{window_change, ChannelId, CharWidth, RowHeight, PixWidth, PixHeight}`; the client's terminal changed size. */
      type: 'windowChange';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** Whether the peer asked for an answer (RFC 4254 §6.7 says it does not). */
      wantReply: boolean;
      /** The new width in characters. */
      cols: number;
      /** The new height in rows. */
      rows: number;
      /** The new width in pixels (0 when unknown). */
      width: number;
      /** The new height in pixels (0 when unknown). */
      height: number;
    }
  /** RFC 4254 §6.8: whether the client may do flow control with ^S/^Q. */
  | {
      /** An `xon-xoff` request (RFC 4254 §6.8). */
      type: 'xonXoff';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** Whether the peer asked for an answer (give it with `replyRequest`). */
      wantReply: boolean;
      /** True when the client may do flow control itself with ^S/^Q. */
      clientCanDo: boolean;
    }
  /** RFC 4335: a BREAK of `breakLength` milliseconds. */
  | {
      /** A `break` request (RFC 4335). */
      type: 'break';
      /** The local id of the channel the message arrived on. */
      channelId: number;
      /** Whether the peer asked for an answer (give it with `replyRequest`). */
      wantReply: boolean;
      /** How long the BREAK should last, in milliseconds. */
      breakLength: number;
    }
  | {
      /** Erlang: `{closed, ChannelId}`; the channel is closed and delivers nothing more. */
      type: 'closed';
      /** The local id of the channel that closed. */
      channelId: number;
    };

/** The message types that are requests a peer may want answered. */
export type RequestMessage = Extract<
  ChannelMessage,
  {
    /** Whether the peer asked for an answer (give it with `replyRequest`). */
    wantReply: boolean;
  }
>;

/** Sizes no terminal has: a pty request beyond them is refused (columns/rows, pixels). */
const MAX_CELLS = 16_384;
const MAX_PIXELS = 1 << 20;

/**
 * The message for a decoded channel request; undefined for requests this layer does not know
 * (answered FAILURE by the channel when they want a reply) and for a pty request whose size or
 * modes no terminal has.
 */
export function requestToMessage(channelId: number, r: ChannelRequest): ChannelMessage | undefined {
  const wantReply = r.wantReply;
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
      return { type: 'signal', channelId, wantReply, signal: r.signal };
    case 'env':
      return { type: 'env', channelId, wantReply, name: r.name, value: r.value };
    case 'exec':
      return { type: 'exec', channelId, wantReply, command: r.command };
    case 'shell':
      return { type: 'shell', channelId, wantReply };
    case 'subsystem':
      return { type: 'subsystem', channelId, wantReply, name: r.name };
    case 'pty-req': {
      const modes = decodeTerminalModes(r.modes);
      if (!modes || r.cols > MAX_CELLS || r.rows > MAX_CELLS || r.width > MAX_PIXELS || r.height > MAX_PIXELS)
        return undefined;
      return {
        type: 'pty',
        channelId,
        wantReply,
        terminal: r.terminal,
        cols: r.cols,
        rows: r.rows,
        width: r.width,
        height: r.height,
        modes,
      };
    }
    case 'window-change':
      if (r.cols > MAX_CELLS || r.rows > MAX_CELLS || r.width > MAX_PIXELS || r.height > MAX_PIXELS)
        return undefined;
      return {
        type: 'windowChange',
        channelId,
        wantReply,
        cols: r.cols,
        rows: r.rows,
        width: r.width,
        height: r.height,
      };
    case 'xon-xoff':
      return { type: 'xonXoff', channelId, wantReply, clientCanDo: r.clientCanDo };
    case 'break':
      return { type: 'break', channelId, wantReply, breakLength: r.breakLength };
    default:
      return undefined;
  }
}
