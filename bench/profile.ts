/**
 * Where Seashell's time goes, measured: after the tables, the harness repeats three Seashell↔
 * Seashell operations (an upload, a download, a batch of handshakes), each with a fresh client and
 * daemon started under `node --cpu-prof`. After one untimed warm-up of the same kind, the
 * operation's window is marked on the monotonic clock that V8's profiles also use, and only the
 * samples inside it are summarized: self time per function and per file, mapped back to the
 * TypeScript sources through the compiler's source maps. The closing note cites these for the
 * targets missed. (Starting the profiler inside a long-running agent through node:inspector
 * sometimes deadlocked Node 20's main thread, hence fresh processes.)
 *
 * A .cpuprofile is JSON: `nodes` (id, callFrame {functionName, url, lineNumber, columnNumber}),
 * `startTime` (µs, monotonic), `samples` (node ids, in order) and `timeDeltas` (µs between
 * consecutive samples, the first from startTime).
 */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentClient, AgentServer } from './contestants/agents.js';
import { seashellClient, seashellServer } from './contestants/seashell.js';
import type { BenchContext } from './lib/context.js';
import { DEFAULT_CIPHER, DEFAULT_KEX, errorText } from './measures/common.js';

export interface ProfileEntry {
  name: string;
  selfMs: number;
  pct: number;
}

export interface ProfileSummary {
  scenario: string;
  process: 'client' | 'daemon';
  /** CPU time sampled, idle excluded, ms. */
  busyMs: number;
  functions: ProfileEntry[];
  files: ProfileEntry[];
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Now on the monotonic clock, µs: the clock of a profile's startTime and timeDeltas. */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const maps = new Map<string, SourceMap | null>();

function sourceMapFor(file: string): SourceMap | null {
  let m = maps.get(file);
  if (m === undefined) {
    try {
      m = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')) as SourceMapPayload);
    } catch {
      m = null;
    }
    maps.set(file, m);
  }
  return m;
}

/** "src/transport/cipher/aes-gcm.ts:42" for compiled code, the path or URL as it is otherwise. */
function location(frame: CallFrame): { file: string; where: string } {
  if (frame.url === '') return { file: '', where: '' };
  if (!frame.url.startsWith('file://'))
    return { file: frame.url, where: `${frame.url}:${frame.lineNumber + 1}` };
  const path = fileURLToPath(frame.url);
  const map = path.endsWith('.js') ? sourceMapFor(path) : null;
  const entry = map?.findEntry(frame.lineNumber, frame.columnNumber) as
    { originalSource?: string; originalLine?: number } | undefined;
  if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
    const src = entry.originalSource.startsWith('file://')
      ? fileURLToPath(entry.originalSource)
      : resolve(dirname(path), entry.originalSource);
    const file = relative(ROOT, src);
    return { file, where: `${file}:${entry.originalLine + 1}` };
  }
  const file = path.startsWith(ROOT) ? relative(ROOT, path) : path;
  return { file, where: `${file}:${frame.lineNumber + 1}` };
}

/**
 * Self time per function and per file of one profile, idle excluded, largest first; only the
 * samples taken within `window` (monotonic µs) when one is given.
 */
export function summarizeProfile(
  p: CpuProfile,
  window?: { from: number; to: number },
  top = 12,
): { busyMs: number; functions: ProfileEntry[]; files: ProfileEntry[] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let busy = 0;
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (window && (at < window.from || at > window.to)) continue;
    const node = byId.get(p.samples[i] as number);
    // The time until the next sample is this sample's; the last one gets the previous delta.
    const us = p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0;
    if (!node || node.callFrame.functionName === '(idle)') continue;
    busy += us;
    const name = node.callFrame.functionName || '(anonymous)';
    const loc = location(node.callFrame);
    const key = loc.where ? `${name} (${loc.where})` : name;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const f = loc.file || (name.startsWith('(') ? name : '(native or VM)');
    file.set(f, (file.get(f) ?? 0) + us);
  }
  const list = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, pct: busy > 0 ? (100 * us) / busy : 0 }));
  return { busyMs: busy / 1000, functions: list(fn), files: list(file) };
}

interface Scenario {
  name: string;
  run: (client: AgentClient, server: AgentServer) => Promise<unknown>;
}

async function readProfile(dir: string): Promise<CpuProfile> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.cpuprofile'));
  if (names.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  return JSON.parse(await readFile(join(dir, names[0] as string), 'utf8')) as CpuProfile;
}

export async function profileSeashell(
  ctx: BenchContext,
): Promise<{ summaries: ProfileSummary[]; errors: string[] }> {
  const algs = { kex: DEFAULT_KEX, cipher: DEFAULT_CIPHER };
  const bytes = ctx.sizes.transferBytes;
  const count = ctx.sizes.handshakeCount * ctx.sizes.handshakeRounds;
  const scenarios: (Scenario & { warm: Scenario['run'] })[] = [
    {
      name: `upload ${DEFAULT_CIPHER}`,
      warm: (c, s) => c.transfer(s, 'up', 1 << 20, algs),
      run: (c, s) => c.transfer(s, 'up', bytes, algs),
    },
    {
      name: `download ${DEFAULT_CIPHER}`,
      warm: (c, s) => c.transfer(s, 'down', 1 << 20, algs),
      run: (c, s) => c.transfer(s, 'down', bytes, algs),
    },
    {
      name: `${count} handshakes ${DEFAULT_KEX}`,
      warm: (c, s) => c.handshakes(s, 2, algs),
      run: (c, s) => c.handshakes(s, count, algs),
    },
  ];
  const summaries: ProfileSummary[] = [];
  const errors: string[] = [];
  for (const [i, sc] of scenarios.entries()) {
    const dirs = { client: join(ctx.work, `prof-${i}-client`), daemon: join(ctx.work, `prof-${i}-daemon`) };
    const flags = (dir: string) => ['--cpu-prof', `--cpu-prof-dir=${dir}`];
    let server: AgentServer | undefined;
    let client: AgentClient | undefined;
    ctx.log(`[profile] ${sc.name}`);
    try {
      await mkdir(dirs.client, { recursive: true });
      await mkdir(dirs.daemon, { recursive: true });
      server = await seashellServer(ctx, flags(dirs.daemon));
      await ctx.addKnownHost(server.port);
      client = await seashellClient(ctx, flags(dirs.client));
      await sc.warm(client, server);
      await server.settle();
      const from = monotonicUs();
      await sc.run(client, server);
      await server.settle();
      const window = { from, to: monotonicUs() };
      // The profiles are written when the processes exit.
      await client.stop();
      await server.stop();
      for (const proc of ['client', 'daemon'] as const) {
        const p = await readProfile(dirs[proc]);
        summaries.push({ scenario: sc.name, process: proc, ...summarizeProfile(p, window) });
      }
    } catch (e) {
      errors.push(`${sc.name}: ${errorText(e)}`);
    } finally {
      await client?.stop();
      await server?.stop();
      await rm(dirs.client, { recursive: true, force: true });
      await rm(dirs.daemon, { recursive: true, force: true });
    }
  }
  return { summaries, errors };
}
