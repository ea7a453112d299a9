/**
 * The benchmark harness: Seashell against OpenSSH and ssh2, side by side, in one run.
 *
 *   npm run bench                 full sizes (512 MiB transfers, 1000 idle connections, …)
 *   npm run bench -- --quick      small sizes, a minute or two
 *   node dist/bench/run.js [--quick | --smoke] [--only throughput,sftp,handshake,memory,latency]
 *                          [--out DIR] [--no-profile] [--ssh2-nodelay]
 *   node dist/bench/run.js --render DIR   rewrites DIR's README.md and charts from its report.json
 *
 * Prints the tables and writes bench/results/<date>/ (report.json, README.md, one SVG chart per
 * table). Everything runs on 127.0.0.1; every process started is stopped at the end or on Ctrl-C.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { cpus, totalmem, release, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startContestants, type Contestants } from './contestants/index.js';
import { BenchContext, SIZES, type Mode } from './lib/context.js';
import { killAllNow, stopAll } from './lib/proc.js';
import { runHandshake } from './measures/handshake.js';
import { runLatency } from './measures/latency.js';
import { runMemory, type HeapBreakdown } from './measures/memory.js';
import { runSftp } from './measures/sftp.js';
import { runThroughput } from './measures/throughput.js';
import { profileSeashell } from './profile.js';
import { terminalReport, writeReport, type RunReport } from './report.js';
import type { MeasureResult } from './stats.js';
import { checkTargets, closingNote } from './targets.js';
import { VERSION } from '../src/index.js';

export const MEASURES = ['throughput', 'sftp', 'handshake', 'memory', 'latency'] as const;
type MeasureId = (typeof MEASURES)[number];

interface Args {
  mode: Mode;
  /** Re-render an existing report directory from its report.json instead of measuring. */
  render?: string;
  only: MeasureId[];
  out?: string;
  /** `--node PATH`: the Node binary that runs Seashell's client and daemon. */
  node?: string;
  profile: boolean;
  ssh2NoDelay: boolean;
}

const USAGE =
  `usage: node dist/bench/run.js [--quick | --smoke] [--only ${MEASURES.join(',')}] [--out DIR] [--no-profile] ` +
  '[--ssh2-nodelay] [--node PATH]\n       node dist/bench/run.js --render DIR   (rewrite a report from its report.json)';

function parseArgs(argv: string[]): Args {
  const a: Args = { mode: 'full', only: [...MEASURES], profile: true, ssh2NoDelay: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i] as string;
    if (x === '--quick') a.mode = 'quick';
    else if (x === '--smoke') a.mode = 'smoke';
    else if (x === '--no-profile') a.profile = false;
    else if (x === '--ssh2-nodelay') a.ssh2NoDelay = true;
    else if (x === '--out') a.out = argv[++i];
    else if (x === '--node') a.node = argv[++i];
    else if (x === '--render') a.render = argv[++i];
    else if (x === '--only') {
      const names = (argv[++i] ?? '').split(',').map((s) => (s === 'cpu' ? 'throughput' : s));
      const bad = names.filter((n) => !(MEASURES as readonly string[]).includes(n));
      if (bad.length > 0 || names.length === 0)
        throw new Error(`--only takes ${MEASURES.join(', ')} (got ${bad.join(', ')})\n${USAGE}`);
      a.only = names as MeasureId[];
    } else if (x === '--help' || x === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${x}\n${USAGE}`);
  }
  // The smoke run checks that every row gets a number; profiles are no row.
  if (a.mode === 'smoke') a.profile = false;
  return a;
}

/** The version a Node binary reports, or an error naming the path. */
function nodeVersion(path: string): string {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8' });
  const v = r.stdout?.trim() ?? '';
  if (r.status !== 0 || !/^v\d+\./.test(v))
    throw new Error(`--node ${path}: not a Node binary (${r.error?.message ?? r.stderr})`);
  return v;
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

function defaultOut(mode: Mode): string {
  if (mode === 'smoke') return join(tmpdir(), `seashell-bench-smoke-${process.pid}`);
  return fileURLToPath(new URL(`../../bench/results/${today()}/`, import.meta.url));
}

/** Rewrites README.md and the charts of a report directory from its report.json (no measuring). */
async function render(dir: string): Promise<void> {
  const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as RunReport;
  report.targets = checkTargets(report.measures);
  report.closingNote = closingNote(report.targets, report.profiles.summaries, report.memoryBreakdown);
  await writeReport(dir, report);
  process.stdout.write(terminalReport(report) + `\nreport: ${join(dir, 'README.md')}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.render) return render(args.render);
  const started = Date.now();
  const seashellNode = args.node === undefined ? process.version : nodeVersion(args.node);
  const ctx = await BenchContext.create(args.mode, SIZES[args.mode]);
  if (args.node !== undefined) ctx.seashellNode = args.node;
  let contestants: Contestants | undefined;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${sig}: stopping every process the bench started\n`);
    void stopAll(1000).finally(() => {
      ctx.cleanupNow();
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    killAllNow();
    ctx.cleanupNow();
  });

  try {
    ctx.log(`seashell bench (${args.mode}); work dir ${ctx.work}; Seashell runs on Node ${seashellNode}`);
    contestants = await startContestants(ctx, { ssh2NoDelay: args.ssh2NoDelay });
    for (const d of contestants.descriptions) ctx.log(`  ${d}`);
    const pairs = contestants.pairs;
    const measures: MeasureResult[] = [];
    let breakdown: HeapBreakdown[] = [];
    for (const id of MEASURES) {
      if (!args.only.includes(id)) continue;
      ctx.log(`--- ${id}`);
      if (id === 'throughput') measures.push(...(await runThroughput(ctx, pairs)));
      else if (id === 'sftp') measures.push(await runSftp(ctx, pairs, contestants.tools));
      else if (id === 'handshake') measures.push(await runHandshake(ctx, pairs));
      else if (id === 'memory') {
        const m = await runMemory(ctx, pairs);
        breakdown = m.breakdown;
        measures.push({ id: m.id, title: m.title, how: m.how, tables: m.tables });
      } else if (id === 'latency') measures.push(await runLatency(ctx, pairs));
    }
    await contestants.stop();
    let profiles: RunReport['profiles'] = { summaries: [], errors: [] };
    if (args.profile) {
      ctx.log('--- profile');
      profiles = await profileSeashell(ctx);
    }
    const targets = checkTargets(measures);
    if (!args.ssh2NoDelay) {
      ctx.note(
        'ssh2 runs as users get it by default: TCP_NODELAY off (run with --ssh2-nodelay to turn it on). ' +
          'OpenSSH sets it only for interactive sessions; Seashell always sets it.',
      );
    }
    const cpu = cpus();
    const report: RunReport = {
      meta: {
        date: today(),
        mode: args.mode,
        command: args.mode === 'full' ? 'npm run bench' : `npm run bench -- --${args.mode}`,
        durationS: (Date.now() - started) / 1000,
        machine: {
          cpus: cpu.length,
          cpuModel: cpu[0]?.model.trim() ?? 'unknown',
          memoryGiB: Math.round(totalmem() / (1 << 30)),
          platform: platform(),
          kernel: release(),
        },
        node: process.version,
        seashellNode,
        seashell: VERSION,
        commit: gitCommit(),
        openssh: contestants.tools.version,
        ssh2Variants: contestants.ssh2Variants,
        contestants: contestants.descriptions,
        sizes: { ...ctx.sizes },
        notes: ctx.notes,
      },
      measures,
      targets,
      profiles,
      memoryBreakdown: breakdown,
      closingNote: closingNote(targets, profiles.summaries, breakdown),
    };
    process.stdout.write(terminalReport(report));
    const out = args.out ?? defaultOut(args.mode);
    await writeReport(out, report);
    process.stdout.write(`\nreport: ${join(out, 'README.md')}\n`);
  } finally {
    await contestants?.stop().catch(() => {});
    await stopAll(2000);
    await ctx.cleanup();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);

/** The commit the bench ran from, so that a report can be tied to the code it measured. */
function gitCommit(): string | undefined {
  const r = spawnSync('git', ['describe', '--always', '--dirty'], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}
