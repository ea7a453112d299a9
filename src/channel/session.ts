import { debug } from '../log.js';
import type { ServerChannelHandler } from './behaviour.js';
import type { ChannelMessage } from './messages.js';
import { ChannelRunner, type RunnerEvents } from './runner.js';
import type { SessionChannel } from './session-channel.js';

/** A channel handler and the arguments its `init` gets (the seed's mod_args()). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type HandlerSpec = ServerChannelHandler<any> | [ServerChannelHandler<any>, unknown[]];

export function unpackSpec(spec: HandlerSpec): [ServerChannelHandler<unknown>, unknown[]] {
  return Array.isArray(spec) ? [spec[0], spec[1]] : [spec, []];
}

/** Counts the subsystem channels open on one connection (the seed's max_channels). */
export interface SubsystemCount {
  open: number;
}

/** Which environment variables a session accepts, and how many and how large (OpenSSH's AcceptEnv). */
export interface EnvPolicy {
  accept(name: string): boolean;
  /** Variables one channel may set. */
  maxCount: number;
  /** Bytes of name and value together, per variable. */
  maxBytes: number;
}

export interface SessionRouting extends RunnerEvents {
  /** The handler that serves shells and commands: the `sshCli` option, the default CLI, or 'noCli'. */
  cli: HandlerSpec | 'noCli';
  subsystems: ReadonlyMap<string, HandlerSpec>;
  /** The seed's max_channels: subsystem channels one connection may have open at once. */
  maxSubsystemChannels?: number;
  /** The connection's count of open subsystem channels. */
  subsystemCount: SubsystemCount;
  env: EnvPolicy;
  /** What the login key's authorized_keys options allow (sshd's command=, no-pty, restrict). */
  restrictions?: SessionRestrictions;
  /** Whether the key's `environment=` options reach the session (PermitUserEnvironment). */
  userEnvironment?: boolean;
}

/** The parts of an authorized_keys line's options that decide what a session may do. */
export interface SessionRestrictions {
  /** Runs instead of whatever the client asks (shell, exec or subsystem). */
  command?: string;
  /** false: pty requests are refused. */
  pty: boolean;
  /** `environment="NAME=value"` options, given to the session only with `userEnvironment`. */
  environment?: readonly string[];
}

type Msg<T extends ChannelMessage['type']> = Extract<ChannelMessage, { type: T }>;

/**
 * Serves a daemon's session channel as the seed's daemon does. Until the session starts, this
 * answers `pty-req` and `env` itself (env by the accept list and limits) and keeps them; a
 * `subsystem` request then starts that subsystem's handler, and a `shell` or `exec` starts the
 * CLI (the `sshCli` option, or the default CLI that follows the `shell` and `exec` options; none
 * with 'noCli'), which gets the kept pty and env (already answered: `wantReply` false), then the
 * request, then everything after it. One shell, exec or subsystem per channel (RFC 4254 §6.5): a
 * second is refused; so is anything a subsystem does not take. Every request that wants a reply
 * gets exactly one.
 */
export function attachSession(channel: SessionChannel, routing: SessionRouting): void {
  let runner: ChannelRunner<unknown> | undefined;
  let subsystem = false;
  /** pty, env and window-change requests answered before the session started, in arrival order. */
  const kept: ChannelMessage[] = [];
  let envCount = 0;

  channel.setRequestRouter((m, _r, reply) => {
    if (!m) {
      reply?.(false);
      return;
    }
    if (runner) {
      if (m.type === 'shell' || m.type === 'exec' || m.type === 'subsystem') reply?.(false);
      else if (!subsystem) channel.forward(m);
      // The seed: a subsystem's handle_ssh_msg sees data, eof, signals and exit reports only.
      else if (m.type === 'signal' || m.type === 'exitStatus' || m.type === 'exitSignal') channel.forward(m);
      else reply?.(false);
      return;
    }
    const forced = routing.restrictions?.command;
    switch (m.type) {
      case 'subsystem':
        if (forced !== undefined) startForced(m, m.name, reply);
        else startSubsystem(m.name, reply);
        return;
      case 'shell':
      case 'exec':
        if (forced !== undefined) startForced(m, m.type === 'exec' ? m.command : undefined, reply);
        else startCli(m, reply);
        return;
      case 'pty':
        if (routing.restrictions?.pty === false) {
          reply?.(false);
          return;
        }
        keep(m, (k) => k.type === m.type);
        reply?.(routing.cli !== 'noCli');
        return;
      case 'windowChange':
        keep(m, (k) => k.type === m.type);
        reply?.(routing.cli !== 'noCli');
        return;
      case 'env':
        reply?.(keepEnv(m));
        return;
      default:
        // Nothing runs yet that a signal, break or exit report could be for.
        reply?.(false);
    }
  });

  function keepEnv(m: Msg<'env'>): boolean {
    const policy = routing.env;
    if (!policy.accept(m.name) || Buffer.byteLength(m.name) + Buffer.byteLength(m.value) > policy.maxBytes) {
      debug('channel %d: env %s refused', channel.channelId, m.name.slice(0, 64));
      return false;
    }
    const same = (k: ChannelMessage) => k.type === 'env' && k.name === m.name;
    if (!kept.some(same)) {
      if (envCount >= policy.maxCount) return false;
      envCount++;
    }
    keep(m, same);
    return true;
  }

  /** Keeps `m` (as answered: `wantReply` false) in place of an earlier one that `same` matches. */
  function keep(m: ChannelMessage, same: (k: ChannelMessage) => boolean): void {
    const i = kept.findIndex(same);
    if (i >= 0) kept.splice(i, 1);
    kept.push({ ...m, wantReply: false } as ChannelMessage);
  }

  function startCli(m: Msg<'shell'> | Msg<'exec'>, reply: ((ok: boolean) => void) | undefined): void {
    if (routing.cli === 'noCli') {
      reply?.(false);
      return;
    }
    const [handler, args] = unpackSpec(routing.cli);
    runner = new ChannelRunner(channel, handler, args, routing);
    keyEnvironment();
    for (const k of kept.splice(0)) channel.forward(k);
    channel.forward(m);
  }

  /**
   * The key's `environment="NAME=value"` options, when the daemon permits them, as env messages
   * after the client's (a name set both ways takes the key's value, as sshd does).
   */
  function keyEnvironment(): void {
    if (!routing.userEnvironment) return;
    for (const line of routing.restrictions?.environment ?? []) {
      const eq = line.indexOf('=');
      if (eq <= 0) continue; // sshd skips a line without NAME=
      const name = line.slice(0, eq);
      keep(
        { type: 'env', channelId: channel.channelId, wantReply: false, name, value: line.slice(eq + 1) },
        (k) => k.type === 'env' && k.name === name,
      );
    }
  }

  /**
   * sshd's forced command: whatever the client asked for runs the key's `command=` instead, and
   * the client's own command (or subsystem name) comes first as SSH_ORIGINAL_COMMAND.
   */
  function startForced(
    m: Msg<'shell'> | Msg<'exec'> | Msg<'subsystem'>,
    original: string | undefined,
    reply: ((ok: boolean) => void) | undefined,
  ): void {
    if (original !== undefined) {
      const env: Msg<'env'> = {
        type: 'env',
        channelId: channel.channelId,
        wantReply: false,
        name: 'SSH_ORIGINAL_COMMAND',
        value: original,
      };
      keep(env, (k) => k.type === 'env' && k.name === env.name);
    }
    // The same message object becomes the exec: its answer (kept by the channel for that object)
    // then answers the client's request.
    const exec = m as unknown as Msg<'exec'>;
    Object.assign(exec, { type: 'exec', command: routing.restrictions!.command! });
    delete (exec as { name?: string }).name;
    startCli(exec, reply);
  }

  function startSubsystem(name: string, reply: ((ok: boolean) => void) | undefined): void {
    const spec = routing.subsystems.get(name);
    const count = routing.subsystemCount;
    if (!spec || (routing.maxSubsystemChannels !== undefined && count.open >= routing.maxSubsystemChannels)) {
      reply?.(false);
      return;
    }
    subsystem = true;
    kept.length = 0;
    count.open++;
    const [handler, args] = unpackSpec(spec);
    // The reply goes out when init is done, and before the CLOSE of a subsystem that refused.
    const r = new ChannelRunner(channel, handler, args, { ...routing, onInit: (ok) => reply?.(ok) });
    runner = r;
    void r.done.then(() => count.open--);
  }
}
