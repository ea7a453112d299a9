/**
 * Measure 5: the daemon's responsiveness under load. One connection pushes a bulk upload without
 * end while a second connection times `exec` round trips (open a session channel, exec `echo x`,
 * read the output, exit status, close). The same round trips are first timed with no load.
 */
import { pairMissing, REFERENCE_PAIR, SSH2_PAIR, type Pair } from '../contestants/index.js';
import type { Algorithms, Feature } from '../contestants/types.js';
import type { BenchContext } from '../lib/context.js';
import { sleep } from '../lib/proc.js';
import { max, min, percentile, TableBuilder, type MeasureResult } from '../stats.js';
import { DEFAULT_CIPHER, DEFAULT_KEX, errorText, progress } from './common.js';

export async function runLatency(ctx: BenchContext, pairs: Pair[]): Promise<MeasureResult> {
  const probes = ctx.sizes.latencyProbes;
  const idleProbes = ctx.sizes.latencyIdleProbes;
  const common = {
    reference: REFERENCE_PAIR,
    ssh2: SSH2_PAIR,
    measure: 'latency',
    better: 'lower' as const,
    unit: 'ms',
  };
  const p50 = new TableBuilder({
    ...common,
    id: 'latency-p50',
    title: 'Exec round trip on a second connection during a bulk upload: p50',
    statistic: `median of ${probes} round trips (min–max shown)`,
    digits: 2,
  });
  const p99 = new TableBuilder({
    ...common,
    id: 'latency-p99',
    title: 'Exec round trip on a second connection during a bulk upload: p99',
    statistic: `99th percentile of ${probes} round trips`,
    digits: 2,
  });
  const quiet = new TableBuilder({
    ...common,
    id: 'latency-idle',
    title: 'Exec round trip with no load (for comparison): p50',
    statistic: `median of ${idleProbes} round trips`,
    digits: 2,
  });
  const algs: Algorithms = { kex: DEFAULT_KEX, cipher: DEFAULT_CIPHER };
  const features: Feature[] = [
    { kind: 'kex', name: DEFAULT_KEX },
    { kind: 'cipher', name: DEFAULT_CIPHER },
  ];
  const group = 'exec echo';
  for (const pair of pairs) {
    const missing = pairMissing(pair, features);
    if (missing) {
      for (const t of [p50, p99, quiet]) t.add(group, pair.id, { status: missing.status, note: missing.why });
      continue;
    }
    try {
      await pair.server.settle();
      const prober = await pair.client.openProber(pair.server, algs);
      let idle: number[] = [];
      let loaded: number[] = [];
      try {
        idle = await prober.probe(idleProbes);
        const load = await pair.client.startLoad(pair.server, 1, algs);
        try {
          await sleep(ctx.sizes.settleMs);
          loaded = await prober.probe(probes);
        } finally {
          await load.stop();
        }
      } finally {
        await prober.close();
      }
      quiet.add(group, pair.id, { samples: idle });
      p50.add(group, pair.id, { samples: loaded });
      p99.add(group, pair.id, {
        samples: loaded,
        value: percentile(loaded, 99),
        min: min(loaded),
        max: max(loaded),
      });
      progress(
        ctx,
        'latency',
        group,
        pair,
        `p50 ${percentile(loaded, 50).toFixed(1)} ms, p99 ${percentile(loaded, 99).toFixed(1)} ms under load; ` +
          `p50 ${percentile(idle, 50).toFixed(1)} ms idle`,
      );
    } catch (e) {
      for (const t of [p50, p99, quiet]) t.add(group, pair.id, { status: 'failed', note: errorText(e) });
      progress(ctx, 'latency', group, pair, `FAILED: ${errorText(e)}`);
    }
  }
  return {
    id: 'latency',
    title: "The daemon's responsiveness under load",
    how: [
      `A first connection holds a session channel pushing zeros into the sink without end (\`cat > /dev/null\` on ` +
        `sshd); a second connection, opened before the load starts, times ${probes} sequential round trips: open a ` +
        'session channel, exec `echo x`, read the output and exit status, close. Before the load starts, ' +
        `${idleProbes} round trips are timed the same way. Load and probes run in separate client processes.`,
      'Seashell and ssh2 clients time the round trip in-process. For `ssh`, the second connection is a ControlMaster ' +
        '(`ssh -M -N`) and each round trip is `ssh -S <socket> … echo x` timed from spawn to exit: what an OpenSSH user ' +
        'waits for, which includes starting the `ssh` process (visible in the no-load row).',
    ],
    tables: [p50.build(), p99.build(), quiet.build()],
  };
}
