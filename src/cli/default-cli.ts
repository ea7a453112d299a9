import type {
  ChannelMessage,
  ChannelUp,
  HandlerResult,
  ServerChannelHandler,
  TIMEOUT,
} from '../channel/behaviour.js';
import { unpackSpec, type HandlerSpec } from '../channel/session.js';
import type { SessionChannel } from '../channel/session-channel.js';
import type { ExecFun, ShellOption } from '../options.js';
import { evaluate } from './evaluator.js';
import { runExecFun, type ExecOutcome } from './exec.js';
import { replShell, type ReplPty } from './repl.js';

/**
 * The `shell` option's value that names the default shell (the Node REPL), as `{shell, start, []}`
 * names the Erlang shell: with it and no `exec`, exec requests go to the default evaluator (the
 * seed's rule 2).
 */
export const defaultShell: ShellOption = () => replShell;

export interface DefaultCliArgs {
  exec?: ExecFun;
  shell?: ShellOption;
  user: string;
  peer: { address: string; port: number };
  /** The default evaluator's and shell's limits (evalTimeLimit, evalMemoryLimit). */
  evalLimits?: { timeLimit?: number; memoryLimitMb?: number };
}

/** The handler a shell request handed the channel to, with its own state. */
interface Delegate {
  handler: ServerChannelHandler<unknown>;
  state: unknown;
}

interface CliState {
  args: DefaultCliArgs;
  channel?: SessionChannel;
  pty?: ReplPty;
  env: Map<string, string>;
  /** The shell, once a shell request started one: it gets every message from then on. */
  shell?: Delegate;
  /** Stops a running evaluation (a signal, or the channel closing). */
  evaluation?: AbortController;
}

/** Calls the `shell` option (shell_fun/1,2 or [module, functionName, args]) for its handler. */
async function shellHandler(
  option: ShellOption,
  user: string,
  peer: DefaultCliArgs['peer'],
): Promise<HandlerSpec> {
  if (Array.isArray(option)) {
    const [module, name, args] = option;
    const f = module[name] as (...a: unknown[]) => HandlerSpec | Promise<HandlerSpec>;
    return f.apply(module, args);
  }
  const f = option as (...a: unknown[]) => HandlerSpec | Promise<HandlerSpec>;
  return f.length >= 2 ? f(user, peer) : f(user);
}

/** Sends an exec's outcome in OpenSSH's order: data, EOF, exit-status, then CLOSE. */
export async function deliverOutcome(channel: SessionChannel, o: ExecOutcome): Promise<void> {
  if (o.stdout.length) await channel.send(o.stdout);
  if (o.stderr.length) await channel.send(o.stderr, { dataType: 1 });
  // Queued together, EOF and exit status leave in one write with the data.
  await Promise.all([channel.sendEof(), channel.exitStatus(o.exitStatus)]);
}

/** The seed's rule 3: a custom shell and no `exec` option: the command is not evaluated. */
const NOT_EVALUATED: ExecOutcome = {
  stdout: Buffer.alloc(0),
  stderr: Buffer.from('exec is not enabled: this daemon has a custom shell and no exec option\n'),
  exitStatus: -1,
};

/**
 * The daemon's default CLI (the seed's ssh_cli): it keeps env and pty, starts the shell on a
 * `shell` request (the `shell` option's handler, or the Node REPL) and hands it the channel, and
 * runs `exec` by the seed's rules: 1. the `exec` option when present; 2. and 4. the default
 * evaluator when `shell` is absent or the default shell; 3. an error when `shell` is a custom one.
 */
export const defaultCli: ServerChannelHandler<CliState> = {
  init(args) {
    return { ok: { args: args[0] as DefaultCliArgs, env: new Map() } };
  },

  async handleMsg(message, state): Promise<HandlerResult<CliState>> {
    const up = message as ChannelUp | typeof TIMEOUT | { type?: string };
    if (typeof up === 'object' && up?.type === 'channelUp') state.channel = (up as ChannelUp).channel;
    else if (typeof up === 'object' && up?.type === 'seashell.exec.done') {
      state.evaluation = undefined;
      const ch = state.channel!;
      if (!ch.isClosed) await deliverOutcome(ch, (up as ExecDone).outcome);
      return { stop: ch.channelId, state };
    } else if (state.shell) {
      const r = await state.shell.handler.handleMsg(message, state.shell.state);
      return delegated(r, state);
    }
    return { ok: state };
  },

  async handleSshMsg(message: ChannelMessage, state): Promise<HandlerResult<CliState>> {
    const ch = state.channel!;
    if (state.shell) {
      const r = await state.shell.handler.handleSshMsg(message, state.shell.state);
      return delegated(r, state);
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
      case 'windowChange':
        if (state.pty) state.pty = { ...state.pty, cols: message.cols, rows: message.rows };
        ch.replyRequest(message.wantReply, 'success');
        return { ok: state };
      case 'shell':
        return startShell(message, state);
      case 'exec':
        return runExec(message, state);
      case 'signal':
        // Delivered to the evaluation running (the seed's evaluator runs as its own process).
        if (state.evaluation) state.evaluation.abort(new Error(`signal ${message.signal}`));
        ch.replyRequest(message.wantReply, state.evaluation ? 'success' : 'failure');
        return { ok: state };
      default:
        if ('wantReply' in message) ch.replyRequest(message.wantReply, 'failure');
        return { ok: state };
    }
  },

  async terminate(reason, state) {
    state?.evaluation?.abort(new Error('the channel closed'));
    if (state?.shell) await state.shell.handler.terminate?.(reason, state.shell.state);
  },
};

function delegated(r: HandlerResult<unknown>, state: CliState): HandlerResult<CliState> {
  if ('stop' in r) {
    state.shell!.state = r.state;
    return { stop: r.stop, state };
  }
  state.shell!.state = r.ok;
  return { ok: state };
}

/** Starts the shell and hands it the channel: channelUp, then the kept pty and env, then data. */
async function startShell(message: Extract<ChannelMessage, { type: 'shell' }>, state: CliState) {
  const ch = state.channel!;
  const { shell, user, peer, evalLimits } = state.args;
  let handler: ServerChannelHandler<unknown>;
  let args: unknown[];
  if (shell === undefined || shell === defaultShell) {
    handler = replShell as ServerChannelHandler<unknown>;
    args = [{ pty: state.pty, env: state.env, started: true, memoryLimitMb: evalLimits?.memoryLimitMb }];
  } else {
    [handler, args] = unpackSpec(await shellHandler(shell, user, peer));
  }
  const init = await handler.init(args);
  if ('stop' in init) {
    ch.replyRequest(message.wantReply, 'failure');
    return { stop: ch.channelId, state };
  }
  ch.replyRequest(message.wantReply, 'success');
  state.shell = { handler, state: init.ok };
  const up: ChannelUp = {
    type: 'channelUp',
    channelId: ch.channelId,
    connection: ch.connection,
    channel: ch,
  };
  let r = await handler.handleMsg(up, state.shell.state);
  if (handler !== replShell) {
    // A custom shell learns the terminal and environment the client asked for, already answered.
    const replay: ChannelMessage[] = [];
    const id = ch.channelId;
    if (state.pty) {
      const p = state.pty;
      replay.push({
        type: 'pty',
        channelId: id,
        wantReply: false,
        terminal: p.terminal,
        cols: p.cols,
        rows: p.rows,
        width: 0,
        height: 0,
        modes: p.modes,
      });
    }
    for (const [name, value] of state.env)
      replay.push({ type: 'env', channelId: id, wantReply: false, name, value });
    for (const m of replay) {
      if ('stop' in r) break;
      state.shell.state = r.ok;
      r = await handler.handleSshMsg(m, state.shell.state);
    }
  }
  return delegated(r, state);
}

/** Posted to the CLI when an exec's evaluation has finished (it runs beside the channel loop). */
interface ExecDone {
  type: 'seashell.exec.done';
  outcome: ExecOutcome;
}

/**
 * Starts an exec by the seed's rules; it runs beside the channel's loop (as the seed's evaluator
 * runs in a process of its own), so a signal or a close can still reach it; its outcome comes
 * back to `handleMsg` as an ExecDone message.
 */
function runExec(
  message: Extract<ChannelMessage, { type: 'exec' }>,
  state: CliState,
): HandlerResult<CliState> {
  const ch = state.channel!;
  const { exec, shell, user, peer, evalLimits } = state.args;
  ch.replyRequest(message.wantReply, 'success');
  let outcome: Promise<ExecOutcome>;
  if (exec) outcome = runExecFun(exec, message.command, user, peer);
  else if (shell !== undefined && shell !== defaultShell) outcome = Promise.resolve(NOT_EVALUATED);
  else {
    const evaluation = new AbortController();
    state.evaluation = evaluation;
    const closed = () => evaluation.abort(new Error('the channel closed'));
    ch.abortSignal.addEventListener('abort', closed, { once: true });
    outcome = evaluate(message.command, {
      ...evalLimits,
      onOutput: (data, dataType) => ch.send(data, { dataType }),
      signal: evaluation.signal,
    }).finally(() => ch.abortSignal.removeEventListener('abort', closed));
  }
  void outcome.then((o) => ch.post({ type: 'seashell.exec.done', outcome: o } satisfies ExecDone));
  return { ok: state };
}
