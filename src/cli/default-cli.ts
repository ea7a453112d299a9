import type { ChannelMessage, HandlerResult, ServerChannelHandler } from '../channel/behaviour.js';
import type { Channel } from '../channel/channel.js';
import type { ExecFun } from '../options.js';
import { evaluate } from './evaluator.js';
import { runExecFun, type ExecOutcome } from './exec.js';
import { replShell, type ReplPty, type ReplState } from './repl.js';

export interface DefaultCliArgs {
  exec?: ExecFun;
  user: string;
  peer: { address: string; port: number };
  /** The default evaluator's and shell's limits (evalTimeLimit, evalMemoryLimit). */
  evalLimits?: { timeLimit?: number; memoryLimitMb?: number };
}

interface CliState {
  args: DefaultCliArgs;
  channel?: Channel;
  env: Map<string, string>;
  pty?: ReplPty;
  /** The default shell (a Node REPL) once a shell was requested: it gets the channel from then on. */
  shell?: ReplState;
}

/**
 * Runs the default evaluator for an exec on `ch`, streaming its output to the channel, and stops
 * it when the channel closes under it (checked each second: the channel has no close event the
 * handler could wait for while this callback runs).
 */
async function evaluateOn(
  ch: Channel,
  command: string,
  limits: DefaultCliArgs['evalLimits'],
): Promise<ExecOutcome> {
  const closed = new AbortController();
  const watch = setInterval(() => ch.isClosed && closed.abort(), 1000);
  try {
    return await evaluate(command, {
      ...limits,
      onOutput: (data, dataType) => ch.send(data, { dataType }),
      signal: closed.signal,
    });
  } finally {
    clearInterval(watch);
  }
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
 * request starts the default shell, the Node REPL of repl.ts, which then handles the channel.
 */
export const defaultCli: ServerChannelHandler<CliState> = {
  init(args) {
    return { ok: { args: args[0] as DefaultCliArgs, env: new Map() } };
  },

  async handleMsg(message, state): Promise<HandlerResult<CliState>> {
    const m = message as { type?: string; channel?: Channel };
    if (m?.type === 'channelUp') state.channel = m.channel;
    else if (state.shell) {
      const r = await replShell.handleMsg(message, state.shell);
      if ('stop' in r) return { stop: r.stop, state };
    }
    return { ok: state };
  },

  async handleSshMsg(message: ChannelMessage, state): Promise<HandlerResult<CliState>> {
    const ch = state.channel!;
    if (state.shell) {
      const r = await replShell.handleSshMsg(message, state.shell);
      return 'stop' in r ? { stop: r.stop, state } : { ok: state };
    }
    switch (message.type) {
      case 'env':
        state.env.set(message.name, message.value);
        ch.replyRequest(message.wantReply, 'success');
        return { ok: state };
      case 'pty':
        state.pty = {
          terminal: message.terminal,
          cols: message.cols,
          rows: message.rows,
          modes: message.modes,
        };
        ch.replyRequest(message.wantReply, 'success');
        return { ok: state };
      case 'shell': {
        ch.replyRequest(message.wantReply, 'success');
        const { pty, env } = state;
        const memoryLimitMb = state.args.evalLimits?.memoryLimitMb;
        const init = replShell.init([{ pty, env, started: true, memoryLimitMb }]) as { ok: ReplState };
        state.shell = init.ok;
        await replShell.handleMsg(
          { type: 'channelUp', channelId: ch.channelId, connection: ch.connection, channel: ch },
          state.shell,
        );
        return { ok: state };
      }
      case 'exec': {
        ch.replyRequest(message.wantReply, 'success');
        const { exec, user, peer, evalLimits } = state.args;
        const outcome = exec
          ? await runExecFun(exec, message.command, user, peer)
          : await evaluateOn(ch, message.command, evalLimits);
        await deliverOutcome(ch, outcome);
        return { stop: message.channelId, state };
      }
      default:
        return { ok: state };
    }
  },

  async terminate(reason, state) {
    if (state.shell) await replShell.terminate?.(reason, state.shell);
  },
};
