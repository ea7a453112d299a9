import type { ChannelRequest } from '../wire/connection-messages.js';
import { decodeTerminalModes, type TerminalMode } from '../wire/terminal-modes.js';

/**
 * What arrives on a channel: the seed's `{ssh_cm, ConnectionRef, Msg}` messages as a
 * discriminated union on `type`, on either side. Requests that may want a reply carry
 * `wantReply`; answer them with `channel.replyRequest(wantReply, status)` (in the order they came)
 * or take the answer for later with `channel.deferReply()`.
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
  | { type: 'signal'; channelId: number; wantReply: boolean; signal: string }
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
      /** RFC 4254 §8 modes by mnemonic (`['echo', 1]`), unknown ones by opcode. */
      modes: TerminalMode[];
    }
  | { type: 'shell'; channelId: number; wantReply: boolean }
  | { type: 'subsystem'; channelId: number; wantReply: boolean; name: string }
  | {
      type: 'windowChange';
      channelId: number;
      wantReply: boolean;
      cols: number;
      rows: number;
      width: number;
      height: number;
    }
  /** RFC 4254 §6.8: whether the client may do flow control with ^S/^Q. */
  | { type: 'xonXoff'; channelId: number; wantReply: boolean; clientCanDo: boolean }
  /** RFC 4335: a BREAK of `breakLength` milliseconds. */
  | { type: 'break'; channelId: number; wantReply: boolean; breakLength: number }
  | { type: 'closed'; channelId: number };

/** The message types that are requests a peer may want answered. */
export type RequestMessage = Extract<ChannelMessage, { wantReply: boolean }>;

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
