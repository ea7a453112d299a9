/**
 * The contestants of a run and the pairs they form. Every measure walks the same pairs in the same
 * order; the reference is OpenSSH against itself, and ssh2 against itself is the other yardstick.
 */
import type { BenchContext } from '../lib/context.js';
import { findOpenSsh, sshClient, sshdServer, type OpenSshTools } from './openssh.js';
import { seashellClient, seashellServer } from './seashell.js';
import { ssh2Client, ssh2Server, type Ssh2Variant } from './ssh2.js';
import type { ClientHandle, ClientId, Feature, Missing, ServerHandle, ServerId } from './types.js';

export interface Pair {
  /** e.g. "Seashell→sshd" */
  id: string;
  client: ClientHandle;
  server: ServerHandle;
}

export const PAIR_ORDER: [ClientId, ServerId][] = [
  ['seashell', 'seashell'],
  ['seashell', 'sshd'],
  ['ssh', 'seashell'],
  ['ssh2', 'ssh2'],
  ['ssh2', 'sshd'],
  ['ssh', 'ssh2'],
  ['ssh2-js', 'ssh2-js'],
  ['ssh', 'sshd'],
];

const NAMES: Record<ClientId | ServerId, string> = {
  seashell: 'Seashell',
  ssh: 'ssh',
  sshd: 'sshd',
  ssh2: 'ssh2',
  'ssh2-js': 'ssh2-js',
};

export function pairId(client: ClientId, server: ServerId): string {
  return `${NAMES[client]}→${NAMES[server]}`;
}

/** OpenSSH against itself: the reference of every ratio. */
export const REFERENCE_PAIR = pairId('ssh', 'sshd');
/** ssh2 (with its addon, when built) against itself: the second yardstick. */
export const SSH2_PAIR = pairId('ssh2', 'ssh2');

/** Why a pair cannot do something: Seashell's gaps first ("not built yet"), then everyone else's. */
export function pairMissing(pair: Pair, features: Feature[]): Missing | undefined {
  const found: Missing[] = [];
  for (const side of [pair.client, pair.server]) {
    const m = side.missing ?? features.map((f) => side.supports(f)).find((x) => x !== undefined);
    if (m) found.push(m);
  }
  return found.find((m) => m.status === 'not built yet') ?? found[0];
}

/** A stand-in for a contestant that could not run: every row that needs it says why. */
function absent<T extends ClientHandle | ServerHandle>(id: string, missing: Missing): T {
  const fail = () => Promise.reject(new Error(missing.why));
  return {
    id,
    label: id,
    missing,
    port: 0,
    supports: () => missing,
    describe: () => `${id}: ${missing.status} (${missing.why})`,
    stop: () => Promise.resolve(),
    cpuSeconds: fail,
    memory: fail,
    settle: fail,
    transfer: fail,
    handshakes: fail,
    sftp: fail,
    hold: fail,
    startLoad: fail,
    openProber: fail,
    commands: { sink: () => '', source: () => '', true: '', echo: '' },
  } as unknown as T;
}

export interface Contestants {
  tools: OpenSshTools;
  servers: ServerHandle[];
  clients: ClientHandle[];
  pairs: Pair[];
  /** What ran, for the report: one line per contestant. */
  descriptions: string[];
  ssh2Variants: string[];
  stop(): Promise<void>;
}

export interface ContestantOptions {
  ssh2NoDelay: boolean;
}

async function ssh2Side<T extends ClientHandle | ServerHandle>(
  ctx: BenchContext,
  variant: Ssh2Variant,
  start: () => Promise<T & { hello: Record<string, unknown> }>,
): Promise<T> {
  try {
    const h = await start();
    if (variant === 'ssh2' && h.hello.addon !== true) {
      await h.stop();
      ctx.note(
        "ssh2's optional native addon (lib/protocol/crypto/build/Release/sshcrypto.node) did not load, so the " +
          '"ssh2" (native) rows are not available; "ssh2-js" rows still run. With npm ≥ 11 approve its install ' +
          'script (npm install-scripts approve ssh2) and reinstall to build it.',
      );
      return absent<T>(variant, { status: 'not available', why: "ssh2's native addon is not built here" });
    }
    return h;
  } catch (e) {
    ctx.note(`${variant} could not start: ${(e as Error).message}`);
    return absent<T>(variant, {
      status: 'not available',
      why: `${variant} did not start: ${(e as Error).message}`,
    });
  }
}

export async function startContestants(ctx: BenchContext, o: ContestantOptions): Promise<Contestants> {
  const tools = findOpenSsh();
  if (!tools.ssh || !tools.sshd) {
    ctx.note('OpenSSH (ssh, sshd) is not installed: every row with ssh or sshd says "not available".');
  }
  // Started side by side; if one that must run (Seashell's) fails, the others are stopped again.
  const started = await Promise.allSettled<ServerHandle | ClientHandle>([
    seashellServer(ctx),
    sshdServer(ctx, tools),
    ssh2Side(ctx, 'ssh2', () => ssh2Server(ctx, 'ssh2', o.ssh2NoDelay)),
    ssh2Side(ctx, 'ssh2-js', () => ssh2Server(ctx, 'ssh2-js', o.ssh2NoDelay)),
    seashellClient(ctx),
    Promise.resolve(sshClient(ctx, tools)),
    ssh2Side(ctx, 'ssh2', () => ssh2Client(ctx, 'ssh2', o.ssh2NoDelay)),
    ssh2Side(ctx, 'ssh2-js', () => ssh2Client(ctx, 'ssh2-js', o.ssh2NoDelay)),
  ]);
  const up = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const all = async () => {
    await Promise.all(up.map((h) => h.stop().catch(() => {})));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await all();
    throw failed.reason;
  }
  const servers = up.slice(0, 4) as ServerHandle[];
  const clients = up.slice(4) as ClientHandle[];
  for (const s of servers) if (!s.missing) await ctx.addKnownHost(s.port);
  const byId = <T extends { id: string }>(list: T[], id: string) => list.find((x) => x.id === id) as T;
  const pairs = PAIR_ORDER.map(([c, s]) => ({
    id: pairId(c, s),
    client: byId(clients, c),
    server: byId(servers, s),
  }));
  const ran = (['ssh2', 'ssh2-js'] as const).filter(
    (v) => !byId(servers, v).missing || !byId(clients, v).missing,
  );
  return {
    tools,
    servers,
    clients,
    pairs,
    descriptions: [
      ...servers.map((s) => `server ${s.label}: ${s.describe()}`),
      ...clients.map((c) => `client ${c.label}: ${c.describe()}`),
    ],
    ssh2Variants: ran.map((v) =>
      v === 'ssh2'
        ? 'ssh2 with its native addon (sshcrypto.node loaded)'
        : 'ssh2-js: ssh2 with its native addon refused at load time',
    ),
    stop: all,
  };
}
