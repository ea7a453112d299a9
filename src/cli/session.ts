import type { ServerChannelHandler } from '../channel/behaviour.js';
import { requestToMessage, type Channel } from '../channel/channel.js';
import { ServerChannelRunner } from '../channel/server-runner.js';
import type { ExecFun, HandlerSpec } from '../options.js';
import { defaultCli } from './default-cli.js';

export interface SessionConfig {
  sshCli?: HandlerSpec | 'noCli';
  subsystems: ReadonlyMap<string, HandlerSpec>;
  exec?: ExecFun;
  evalLimits?: { timeLimit?: number; memoryLimitMb?: number };
  user: string;
  peer: { address: string; port: number };
}

function unpack(spec: HandlerSpec): [ServerChannelHandler<unknown>, unknown[]] {
  return Array.isArray(spec) ? [spec[0], spec[1]] : [spec, []];
}

/**
 * Decides who serves a daemon's session channel, as the seed's daemon does: a `subsystem` request
 * starts that subsystem's handler; any other session request starts the CLI (the `sshCli` option,
 * or the default CLI; none with 'noCli'), which then gets that request and everything after it.
 */
export function attachSession(channel: Channel, config: SessionConfig): void {
  let runner: ServerChannelRunner<unknown> | undefined;
  let isSubsystem = false;
  channel.requestHook = (r) => {
    if (r.type === 'subsystem') {
      const spec = runner ? undefined : config.subsystems.get(r.name);
      if (!spec) {
        channel.replyRequest(r.wantReply, 'failure');
        return;
      }
      const [handler, args] = unpack(spec);
      isSubsystem = true;
      runner = new ServerChannelRunner(channel, handler, args);
      void runner.ready.then((ok) => channel.replyRequest(r.wantReply, ok ? 'success' : 'failure'));
      return;
    }
    const message = requestToMessage(channel.channelId, r);
    const session = message && message.type !== 'exitStatus' && message.type !== 'exitSignal';
    // Subsystem handlers see only data, eof, signal and exit messages (seed: handle_ssh_msg).
    if (!message || (isSubsystem && message.type !== 'signal') || (!session && !isSubsystem)) {
      channel.replyRequest(r.wantReply, 'failure');
      return;
    }
    if (!runner) {
      if (config.sshCli === 'noCli') {
        channel.replyRequest(r.wantReply, 'failure');
        return;
      }
      const [handler, args] = config.sshCli
        ? unpack(config.sshCli)
        : [
            defaultCli as ServerChannelHandler<unknown>,
            [{ exec: config.exec, user: config.user, peer: config.peer, evalLimits: config.evalLimits }],
          ];
      runner = new ServerChannelRunner(channel, handler, args);
    }
    runner.postSsh(message);
  };
}
