import { protocolError } from '../errors.js';
import { Msg } from './numbers.js';
import { SshReader } from './reader.js';
import { SshWriter } from './writer.js';

/** RFC 4254 messages other than channel data, whose hot path lives in connection/mux.ts. */

export interface GlobalRequest {
  /** The request name (e.g. tcpip-forward, keepalive@openssh.com). */
  name: string;
  /** Whether the sender wants REQUEST_SUCCESS or REQUEST_FAILURE back. */
  wantReply: boolean;
  /** The request-specific data. */
  data: Buffer;
}

export function decodeGlobalRequest(payload: Buffer): GlobalRequest {
  const r = new SshReader(payload, 1);
  return { name: r.ascii('request name'), wantReply: r.boolean(), data: r.rest() };
}

export function encodeGlobalRequest(
  name: string,
  wantReply: boolean,
  data: Buffer = Buffer.alloc(0),
): Buffer {
  return new SshWriter(64 + data.length)
    .byte(Msg.GLOBAL_REQUEST)
    .string(name)
    .boolean(wantReply)
    .raw(data)
    .finish();
}

/** An SSH_MSG_CHANNEL_OPEN (RFC 4254 §5.1). */
export interface ChannelOpen {
  /** The channel type (session, direct-tcpip, …). */
  channelType: string;
  /** The sender's id for the channel. */
  senderChannel: number;
  /** Bytes the sender will take before a WINDOW_ADJUST. */
  initialWindow: number;
  /** The largest data packet the sender accepts. */
  maxPacket: number;
  /** Type-specific data (empty for `session`). */
  data: Buffer;
}

export function decodeChannelOpen(payload: Buffer): ChannelOpen {
  const r = new SshReader(payload, 1);
  return {
    channelType: r.ascii('channel type'),
    senderChannel: r.uint32(),
    initialWindow: r.uint32(),
    maxPacket: r.uint32(),
    data: r.rest(),
  };
}

export function encodeChannelOpen(m: ChannelOpen): Buffer {
  return new SshWriter(64 + m.data.length)
    .byte(Msg.CHANNEL_OPEN)
    .string(m.channelType)
    .uint32(m.senderChannel)
    .uint32(m.initialWindow)
    .uint32(m.maxPacket)
    .raw(m.data)
    .finish();
}

export interface ChannelOpenConfirmation {
  recipientChannel: number;
  senderChannel: number;
  initialWindow: number;
  maxPacket: number;
}

export function decodeChannelOpenConfirmation(payload: Buffer): ChannelOpenConfirmation {
  const r = new SshReader(payload, 1);
  return {
    recipientChannel: r.uint32(),
    senderChannel: r.uint32(),
    initialWindow: r.uint32(),
    maxPacket: r.uint32(),
  };
}

export function encodeChannelOpenConfirmation(m: ChannelOpenConfirmation): Buffer {
  return new SshWriter(17)
    .byte(Msg.CHANNEL_OPEN_CONFIRMATION)
    .uint32(m.recipientChannel)
    .uint32(m.senderChannel)
    .uint32(m.initialWindow)
    .uint32(m.maxPacket)
    .finish();
}

export interface ChannelOpenFailure {
  recipientChannel: number;
  reason: number;
  description: string;
}

export function decodeChannelOpenFailure(payload: Buffer): ChannelOpenFailure {
  const r = new SshReader(payload, 1);
  return { recipientChannel: r.uint32(), reason: r.uint32(), description: r.utf8('description') };
}

export function encodeChannelOpenFailure(m: ChannelOpenFailure): Buffer {
  return new SshWriter(32 + m.description.length)
    .byte(Msg.CHANNEL_OPEN_FAILURE)
    .uint32(m.recipientChannel)
    .uint32(m.reason)
    .string(m.description)
    .string('')
    .finish();
}

/** Messages whose body is just the recipient channel: EOF, CLOSE, SUCCESS, FAILURE. */
export function encodeChannelOnly(type: number, recipient: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = type;
  b.writeUInt32BE(recipient, 1);
  return b;
}

export function encodeWindowAdjust(recipient: number, bytes: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b[0] = Msg.CHANNEL_WINDOW_ADJUST;
  b.writeUInt32BE(recipient, 1);
  b.writeUInt32BE(bytes, 5);
  return b;
}

/** RFC 4254 §6: the channel requests a session knows, each with its `want reply` flag. */
export type ChannelRequest =
  | {
      /** `pty-req` (RFC 4254 §6.2): a pseudo-terminal for the session. */
      type: 'pty-req';
      /** Whether the sender wants a success or failure answer. */
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
      /** The encoded terminal modes (RFC 4254 §8), as on the wire. */
      modes: Buffer;
    }
  | {
      /** `env` (RFC 4254 §6.4): set an environment variable for the command or shell to come. */
      type: 'env';
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
      /** The variable's name. */
      name: string;
      /** The variable's value. */
      value: string;
    }
  | {
      /** `shell` (RFC 4254 §6.5): start the user's login shell. */
      type: 'shell';
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
    }
  | {
      /** `exec` (RFC 4254 §6.5): run a command. */
      type: 'exec';
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
      /** The command line. */
      command: string;
    }
  | {
      /** `subsystem` (RFC 4254 §6.5): start a named subsystem such as `sftp`. */
      type: 'subsystem';
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
      /** The subsystem's name. */
      name: string;
    }
  | {
      /** `window-change` (RFC 4254 §6.7): the client's terminal changed size. */
      type: 'window-change';
      /** Whether the sender wants a success or failure answer (RFC 4254 says it does not). */
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
  | {
      /** `xon-xoff` (RFC 4254 §6.8): whether the client may do flow control with ^S/^Q. */
      type: 'xon-xoff';
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
      /** True when the client may do flow control itself. */
      clientCanDo: boolean;
    }
  /** RFC 4335: send a BREAK of `breakLength` milliseconds on the session's terminal line. */
  | {
      /** `break` (RFC 4335): send a BREAK on the session's terminal line. */
      type: 'break';
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
      /** How long the BREAK should last, in milliseconds. */
      breakLength: number;
    }
  | {
      /** `signal` (RFC 4254 §6.9): deliver a signal to the remote process. */
      type: 'signal';
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
      /** The signal's name without `SIG` (`'INT'`, `'TERM'`). */
      signal: string;
    }
  | {
      /** `exit-status` (RFC 4254 §6.10): the command ended with a status. */
      type: 'exit-status';
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
      /** The command's exit status. */
      status: number;
    }
  | {
      /** `exit-signal` (RFC 4254 §6.10): the command was killed by a signal. */
      type: 'exit-signal';
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
      /** The signal's name without `SIG`. */
      signal: string;
      /** Whether the process dumped core. */
      coreDumped: boolean;
      /** The sender's text about the exit, possibly empty. */
      errorMessage: string;
      /** The RFC 3066 language tag of `errorMessage`, often empty. */
      language: string;
    }
  | {
      /** Any other request type, kept undecoded. */
      type: 'other';
      /** The request type's name as sent. */
      name: string;
      /** Whether the sender wants a success or failure answer. */
      wantReply: boolean;
      /** The request's type-specific bytes, undecoded. */
      data: Buffer;
    };

export function decodeChannelRequest(payload: Buffer): { recipient: number; request: ChannelRequest } {
  const r = new SshReader(payload, 1);
  const recipient = r.uint32();
  const name = r.ascii('request type');
  const wantReply = r.boolean();
  const request = decodeRequestBody(name, wantReply, r);
  return { recipient, request };
}

function decodeRequestBody(name: string, wantReply: boolean, r: SshReader): ChannelRequest {
  switch (name) {
    case 'pty-req':
      return {
        type: name,
        wantReply,
        terminal: r.ascii('TERM'),
        cols: r.uint32(),
        rows: r.uint32(),
        width: r.uint32(),
        height: r.uint32(),
        modes: r.string('terminal modes'),
      };
    case 'env':
      return { type: name, wantReply, name: r.utf8('variable name'), value: r.utf8('variable value') };
    case 'shell':
      return { type: name, wantReply };
    case 'exec':
      return { type: name, wantReply, command: r.utf8('command') };
    case 'subsystem':
      return { type: name, wantReply, name: r.ascii('subsystem name') };
    case 'window-change':
      return {
        type: name,
        wantReply,
        cols: r.uint32(),
        rows: r.uint32(),
        width: r.uint32(),
        height: r.uint32(),
      };
    case 'xon-xoff':
      return { type: name, wantReply, clientCanDo: r.boolean() };
    case 'break':
      return { type: name, wantReply, breakLength: r.uint32() };
    case 'signal':
      return { type: name, wantReply, signal: r.ascii('signal name') };
    case 'exit-status':
      return { type: name, wantReply, status: r.uint32() };
    case 'exit-signal':
      return {
        type: name,
        wantReply,
        signal: r.ascii('signal name'),
        coreDumped: r.boolean(),
        errorMessage: r.utf8('error message'),
        language: r.remaining > 0 ? r.ascii('language') : '',
      };
    default:
      if (name.length > 256) throw protocolError('channel request type name too long');
      return { type: 'other', name, wantReply, data: r.rest() };
  }
}

export function encodeChannelRequest(recipient: number, request: ChannelRequest): Buffer {
  const w = new SshWriter(128).byte(Msg.CHANNEL_REQUEST).uint32(recipient);
  w.string(request.type === 'other' ? request.name : request.type).boolean(request.wantReply);
  switch (request.type) {
    case 'pty-req':
      w.string(request.terminal)
        .uint32(request.cols)
        .uint32(request.rows)
        .uint32(request.width)
        .uint32(request.height)
        .string(request.modes);
      break;
    case 'env':
      w.string(request.name).string(request.value);
      break;
    case 'shell':
      break;
    case 'exec':
      w.string(request.command);
      break;
    case 'subsystem':
      w.string(request.name);
      break;
    case 'window-change':
      w.uint32(request.cols).uint32(request.rows).uint32(request.width).uint32(request.height);
      break;
    case 'xon-xoff':
      w.boolean(request.clientCanDo);
      break;
    case 'break':
      w.uint32(request.breakLength);
      break;
    case 'signal':
      w.string(request.signal);
      break;
    case 'exit-status':
      w.uint32(request.status);
      break;
    case 'exit-signal':
      w.string(request.signal)
        .boolean(request.coreDumped)
        .string(request.errorMessage)
        .string(request.language);
      break;
    case 'other':
      w.raw(request.data);
      break;
  }
  return w.finish();
}
