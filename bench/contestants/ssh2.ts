/**
 * The `ssh2` npm package as a contestant, client and server, in two variants: "ssh2" with its
 * optional native crypto addon (when it was built), and "ssh2-js" with the addon refused at load
 * time (what users get when the addon fails to build). TCP_NODELAY stays off, as ssh2 leaves it,
 * unless the harness runs with --ssh2-nodelay.
 */
import type { BenchContext } from '../lib/context.js';
import { AgentClient, AgentServer, supportFromHello } from './agents.js';
import type { Feature, Missing } from './types.js';

export type Ssh2Variant = 'ssh2' | 'ssh2-js';

function support(hello: Record<string, unknown>, f: Feature, label: string): Missing | undefined {
  if (f.kind === 'sftp' || f.kind === 'hold') return undefined;
  return supportFromHello(hello, f, label, 'not available');
}

function describe(hello: Record<string, unknown>, role: string): string {
  const addon = hello.addon ? 'native addon loaded' : 'pure JavaScript (native addon not loaded)';
  return `ssh2 ${String(hello.version)} ${role}, ${addon}, TCP_NODELAY ${hello.nodelay ? 'on' : 'off (default)'}`;
}

function flags(variant: Ssh2Variant, nodelay: boolean): string[] {
  return [...(variant === 'ssh2-js' ? ['--no-addon'] : []), ...(nodelay ? ['--nodelay'] : [])];
}

export function ssh2Server(ctx: BenchContext, variant: Ssh2Variant, nodelay: boolean): Promise<AgentServer> {
  return new AgentServer(
    variant,
    variant,
    {
      script: 'ssh2-server',
      args: ['--host-key', ctx.keys.hostKey, '--authorized', ctx.keys.userKeyPub, ...flags(variant, nodelay)],
      nodeArgs: ['--expose-gc'],
    },
    (hello, f) => support(hello, f, variant),
    (hello) => describe(hello, 'server (bench exec handlers + bench SFTP file handlers)'),
  ).start();
}

export function ssh2Client(ctx: BenchContext, variant: Ssh2Variant, nodelay: boolean): Promise<AgentClient> {
  return new AgentClient(
    variant,
    variant,
    {
      script: 'ssh2-client',
      args: [
        '--user',
        ctx.user,
        '--key',
        ctx.keys.userKey,
        '--host-key-pub',
        ctx.keys.hostKeyPub,
        ...flags(variant, nodelay),
      ],
    },
    (hello, f) => support(hello, f, variant),
    (hello) => describe(hello, 'client (Client.exec, sftp fastPut/fastGet defaults)'),
  ).start();
}
