/**
 * A client channel handler for the behaviour tests (not a test file): it runs on a channel whose
 * peer echoes data (`cat`), records every callback in `log`, and answers calls and casts:
 * - call `get` → the data seen so far; `later` → `{ noreply }`, answered by cast `answer`;
 * - call `bye` → `{ stop: 'normal', reply: 'bye' }`; `quit` → `{ stop: 'quit' }` without a reply;
 * - call `boom` → throws; call `wait N` → replies and asks for a timeout of N ms;
 * - cast `send TEXT` → sends TEXT on the channel; cast `eof` → sends EOF.
 */
import type {
  CallResult,
  CastResult,
  ChannelMessage,
  ChannelUp,
  ClientChannelHandler,
  From,
  HandlerResult,
} from '../../src/channel/behaviour.js';
import type { SessionChannel } from '../../src/channel/session-channel.js';
import * as clientChannel from '../../src/channel/client.js';

export interface EchoState {
  args: unknown[];
  channel?: SessionChannel;
  data: string;
  pending?: From;
}

export function echoClient(log: string[], initStop = false): ClientChannelHandler<EchoState> {
  return {
    init(args) {
      log.push(`init ${JSON.stringify(args)}`);
      return initStop ? { stop: 'not today' } : { ok: { args, data: '' } };
    },
    handleMsg(m, s): HandlerResult<EchoState> {
      const up = m as ChannelUp | string;
      if (typeof up === 'object' && up.type === 'channelUp') {
        s.channel = up.channel;
        log.push('channelUp');
      } else log.push(`msg ${String(m)}`);
      return { ok: s };
    },
    handleSshMsg(m: ChannelMessage, s): HandlerResult<EchoState> {
      if (m.type === 'data') s.data += m.data.toString();
      log.push(`ssh ${m.type}`);
      return { ok: s };
    },
    async handleCall(m, from, s): Promise<CallResult<EchoState>> {
      const [cmd, arg] = String(m).split(' ');
      log.push(`call ${String(m)}`);
      switch (cmd) {
        case 'get':
          return { reply: s.data, state: s };
        case 'later':
          s.pending = from;
          return { noreply: s };
        case 'bye':
          return { stop: 'normal', reply: 'bye', state: s };
        case 'quit':
          return { stop: 'quit', state: s };
        case 'wait':
          return { reply: 'waiting', state: s, timeout: Number(arg) };
        case 'boom':
          throw new Error('call crashed');
        default:
          return { reply: `unknown ${String(m)}`, state: s };
      }
    },
    async handleCast(m, s): Promise<CastResult<EchoState>> {
      const text = String(m);
      log.push(`cast ${text}`);
      if (text.startsWith('send ')) await s.channel!.send(text.slice(5));
      else if (text === 'eof') await s.channel!.sendEof();
      else if (text.startsWith('answer ') && s.pending) {
        clientChannel.reply(s.pending, text.slice(7));
        s.pending = undefined;
      }
      return { noreply: s };
    },
    terminate(reason, s) {
      log.push(
        `terminate ${reason instanceof Error ? reason.message : String(reason)} ${s ? 'with' : 'without'} state`,
      );
    },
  };
}
