/**
 * Seashell as a contestant: its daemon (bench/agents/seashell-daemon.ts, an `sshCli` handler for
 * the bench commands) and its client (bench/agents/seashell-client.ts), each a Node process of its
 * own, using only the public API of src/index.ts.
 */
import type { BenchContext } from '../lib/context.js';
import { AgentClient, AgentServer, supportFromHello } from './agents.js';
import type { Feature, Missing } from './types.js';

function support(hello: Record<string, unknown>, f: Feature, side: 'client' | 'daemon'): Missing | undefined {
  if (f.kind === 'sftp') {
    const built = side === 'client' ? hello.sftp === true : hello.sftpd === true;
    return built
      ? undefined
      : {
          status: 'not built yet',
          why: `Seashell's SFTP ${side === 'client' ? 'client' : 'server'} is not built yet`,
        };
  }
  return supportFromHello(hello, f, 'Seashell', 'not built yet');
}

/** The daemon agent; `nodeArgs` adds Node flags (the profiler's). */
export function seashellServer(ctx: BenchContext, nodeArgs: string[] = []): Promise<AgentServer> {
  return new AgentServer(
    'seashell',
    'Seashell',
    {
      script: 'seashell-daemon',
      args: ['--system-dir', ctx.hostKeyDir, '--user-dir', ctx.serverUserDir],
      nodeArgs: ['--expose-gc', ...nodeArgs],
      node: ctx.seashellNode,
    },
    (hello, f) => support(hello, f, 'daemon'),
    (hello) =>
      `Seashell ${String(hello.version)} daemon (ssh.daemon on 127.0.0.1, bench sshCli handler), own Node ${String(hello.node)} process`,
  ).start();
}

export function seashellClient(ctx: BenchContext, nodeArgs: string[] = []): Promise<AgentClient> {
  return new AgentClient(
    'seashell',
    'Seashell',
    {
      script: 'seashell-client',
      args: ['--user', ctx.user, '--user-dir', ctx.clientDir],
      nodeArgs,
      node: ctx.seashellNode,
    },
    (hello, f) => support(hello, f, 'client'),
    (hello) =>
      `Seashell ${String(hello.version)} client (ssh.connect), own Node ${String(hello.node)} process`,
  ).start();
}
