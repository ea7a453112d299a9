import type { ChannelMessage, HandlerResult, ServerChannelHandler } from '../channel/behaviour.js';
import type { Channel } from '../channel/channel.js';
import type { ExecFun } from '../options.js';
import { evaluateJavaScript, runExecFun, type ExecOutcome } from './exec.js';

export interface DefaultCliArgs {
  exec?: ExecFun;
  user: string;
  peer: { address: string; port: number };
}

interface CliState {
  args: DefaultCliArgs;
  channel?: Channel;
  env: Map<string, string>;
}

/** Sends an exec's outcome in OpenSSH's order: data, EOF, exit-status, then CLOSE. */
export async function deliverOutcome(channel: Channel, o: ExecOutcome): Promise<void> {
  if (o.stdout.length) await channel.send(o.stdout);
  if (o.stderr.length) await channel.send(o.stderr, { dataType: 1 });
  // Queued together, EOF and exit status leave in one write with the data.
  await Promise.all([channel.sendEof(), channel.exitStatus(o.exitStatus)]);
}

/**
 * The daemon's default CLI channel handler (the seed's ssh_cli): exec runs the `exec` option's
 * function, or else the default JavaScript evaluator; env and pty requests are accepted; a shell
 * is refused until the REPL is built.
 */
export const defaultCli: ServerChannelHandler<CliState> = {
  init(args) {
    return { ok: { args: args[0] as DefaultCliArgs, env: new Map() } };
  },

  handleMsg(message, state): HandlerResult<CliState> {
    const m = message as { type?: string; channel?: Channel };
    if (m?.type === 'channelUp') state.channel = m.channel;
    return { ok: state };
  },

  async handleSshMsg(message: ChannelMessage, state): Promise<HandlerResult<CliState>> {
    const ch = state.channel!;
    switch (message.type) {
      case 'env':
        state.env.set(message.name, message.value);
        ch.replyRequest(message.wantReply, 'success');
        return { ok: state };
      case 'pty':
        ch.replyRequest(message.wantReply, 'success');
        return { ok: state };
      case 'shell':
        ch.replyRequest(message.wantReply, 'failure');
        return { ok: state };
      case 'exec': {
        ch.replyRequest(message.wantReply, 'success');
        const { exec, user, peer } = state.args;
        const outcome = exec
          ? await runExecFun(exec, message.command, user, peer)
          : await evaluateJavaScript(message.command);
        await deliverOutcome(ch, outcome);
        return { stop: message.channelId, state };
      }
      default:
        return { ok: state };
    }
  },
};
