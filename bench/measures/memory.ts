/**
 * Measure 4: the server's memory per idle authenticated connection (many held open, no channel),
 * and per connection carrying one active bulk upload. Memory is anonymous memory (Pss_Anon from
 * /proc/<pid>/smaps_rollup, summed over the server's processes: sshd has one or two per
 * connection). Node servers are garbage-collected (global.gc, twice) before each idle reading.
 */
import { pairId, pairMissing, SSH2_PAIR, type Pair } from '../contestants/index.js';
import type { Algorithms, Feature } from '../contestants/types.js';
import type { BenchContext } from '../lib/context.js';
import { openFileLimit, sleep } from '../lib/proc.js';
import { median, TableBuilder, type MeasureResult } from '../stats.js';
import { DEFAULT_CIPHER, DEFAULT_KEX, errorText, progress } from './common.js';

/** The pairs of this measure: a library client (cheap to hold many connections with) per server. */
export const MEMORY_PAIRS = [
  pairId('seashell', 'seashell'),
  pairId('seashell', 'sshd'),
  pairId('ssh2', 'ssh2'),
  pairId('ssh2-js', 'ssh2-js'),
];
/** The memory reference: sshd (held by the Seashell client, which is always present). */
export const MEMORY_REFERENCE = pairId('seashell', 'sshd');

export interface HeapBreakdown {
  pair: string;
  /**
   * Bytes per idle connection: anonymous memory (the row's number), the V8 heap reserved
   * (heapTotal) and used, memory outside the heap (external) and, of that, ArrayBuffers.
   */
  anon: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export async function runMemory(
  ctx: BenchContext,
  pairs: Pair[],
): Promise<MeasureResult & { breakdown: HeapBreakdown[] }> {
  let count = ctx.sizes.idleConnections;
  // Each held connection is a descriptor in the client and in the server process (plus a few spare).
  const limit = openFileLimit();
  if (count + 200 > limit) {
    const lowered = Math.max(10, limit - 200);
    ctx.note(
      `ulimit -n is ${limit}: the idle-connection memory measure holds ${lowered} connections, not ${count}.`,
    );
    count = lowered;
  }
  const bulk = ctx.sizes.bulkChannels;
  const common = { reference: MEMORY_REFERENCE, ssh2: SSH2_PAIR, measure: 'memory' };
  const idle = new TableBuilder({
    ...common,
    id: 'memory-idle',
    title: `Server memory per idle authenticated connection (${count} held open)`,
    unit: 'KiB/connection',
    better: 'lower',
    statistic: '(anonymous memory with all connections − with half) ÷ the second half',
    digits: 1,
  });
  const active = new TableBuilder({
    ...common,
    id: 'memory-bulk',
    title: `Server memory per connection with an active bulk upload (${bulk} at once)`,
    unit: 'KiB/connection',
    better: 'lower',
    statistic: '(median of 5 readings during the uploads − idle server) ÷ uploads',
    digits: 0,
  });
  const algs: Algorithms = { kex: DEFAULT_KEX, cipher: DEFAULT_CIPHER };
  const features: Feature[] = [
    { kind: 'hold' },
    { kind: 'kex', name: DEFAULT_KEX },
    { kind: 'cipher', name: DEFAULT_CIPHER },
  ];
  const breakdown: HeapBreakdown[] = [];

  for (const id of MEMORY_PAIRS) {
    const pair = pairs.find((p) => p.id === id);
    if (!pair) continue;
    const missing = pairMissing(pair, features);
    if (missing) {
      idle.add('idle', id, { status: missing.status, note: missing.why });
      active.add('bulk upload', id, { status: missing.status, note: missing.why });
      continue;
    }
    try {
      await pair.server.settle();
      const before = await pair.server.memory(true);
      const t0 = performance.now();
      // In two halves: the first also pays what is paid once (the allocator keeping the peak of a
      // burst of handshakes, V8 growing its young generation); the second half's slope is what
      // each further idle connection holds. Both figures are reported.
      const half = Math.max(1, Math.floor(count / 2));
      const first = await pair.client.hold(pair.server, half, algs);
      await sleep(Math.min(200, ctx.sizes.settleMs));
      const mid = await pair.server.memory(true);
      // The client agent counts every connection it holds: this `held` is the total.
      const holder = await pair.client.hold(pair.server, count - half, algs);
      const opened = performance.now() - t0;
      await sleep(Math.min(200, ctx.sizes.settleMs));
      const withConns = await pair.server.memory(true);
      const secondHalf = holder.held - first.held;
      // Node servers: less the growth of V8's young generation (see youngGeneration in agents/protocol.ts).
      const young = (a: typeof mid, b: typeof mid) =>
        a.young !== undefined && b.young !== undefined ? b.young - a.young : 0;
      const per = (withConns.anon - mid.anon - young(mid, withConns)) / secondHalf;
      const overall = (withConns.anon - before.anon) / holder.held;
      // A garbage-collected heap moves by more than a few KiB × connections between two readings;
      // at small counts that can swamp (or even invert) the difference.
      const noisy = per <= 0;
      idle.add('idle', id, {
        samples: [per / 1024],
        note:
          `${holder.held} connections opened in ${(opened / 1000).toFixed(1)} s; server processes: ${withConns.processes}; ` +
          `(all − none) ÷ all, one-time growth included: ${(overall / 1024).toFixed(1)} KiB/connection` +
          (noisy ? "; not above the heap's noise at this count (run the full size)" : ''),
        unreliable: noisy,
      });
      if (mid.heap && withConns.heap) {
        breakdown.push({
          pair: id,
          anon: per,
          heapTotal: (withConns.heap.heapTotal - mid.heap.heapTotal) / secondHalf,
          heapUsed: (withConns.heap.heapUsed - mid.heap.heapUsed) / secondHalf,
          external: (withConns.heap.external - mid.heap.external) / secondHalf,
          arrayBuffers: (withConns.heap.arrayBuffers - mid.heap.arrayBuffers) / secondHalf,
        });
      }
      progress(ctx, 'memory', 'idle', pair, `${(per / 1024).toFixed(1)} KiB/connection`);
      await holder.release();
    } catch (e) {
      idle.add('idle', id, { status: 'failed', note: errorText(e) });
      progress(ctx, 'memory', 'idle', pair, `FAILED: ${errorText(e)}`);
    }
    try {
      await pair.server.settle();
      const base = await pair.server.memory(true);
      const load = await pair.client.startLoad(pair.server, bulk, algs);
      const readings: number[] = [];
      try {
        await sleep(ctx.sizes.settleMs);
        for (let i = 0; i < 5; i++) {
          readings.push((await pair.server.memory(true)).anon);
          await sleep(ctx.sizes.settleMs / 5);
        }
      } finally {
        await load.stop();
      }
      const per = (median(readings) - base.anon) / bulk;
      const noisy = per <= 0;
      active.add('bulk upload', id, {
        samples: [per / 1024],
        ...(noisy ? { note: "not above the heap's noise at this count", unreliable: true } : {}),
      });
      progress(ctx, 'memory', 'bulk', pair, `${(per / 1024).toFixed(0)} KiB/connection`);
    } catch (e) {
      active.add('bulk upload', id, { status: 'failed', note: errorText(e) });
      progress(ctx, 'memory', 'bulk', pair, `FAILED: ${errorText(e)}`);
    }
  }
  return {
    id: 'memory',
    title: 'Daemon memory',
    how: [
      `Idle: the server's anonymous memory (Pss_Anon of /proc/<pid>/smaps_rollup, summed over the server process and ` +
        `its descendants) is read, a library client opens ${count} authenticated connections in two halves (16 at a ` +
        `time, ${DEFAULT_KEX}, ed25519 publickey, no channel) and keeps them, and memory is read after each half. The ` +
        "row is the second half's slope, (all − half) ÷ the second half: what each further idle connection holds. " +
        'The first half also pays what is paid once: the allocator keeps the peak of a burst of handshakes, and V8 ' +
        'sizes its young generation to it (gc() does not shrink it back; its growth between the readings is taken ' +
        'out for Node servers). The note gives (all − none) ÷ all as well. Node servers run `global.gc()` twice ' +
        'before each reading (retained memory, not garbage); sshd has no collector.',
      `Bulk: ${bulk} connection(s), each uploading into the sink without end; five readings ${ctx.sizes.settleMs / 5} ms ` +
        `apart after ${ctx.sizes.settleMs} ms ` +
        '(Node servers collect garbage before each, as for the idle reading: what the busy connections hold, not ' +
        'the garbage they make); (median − idle server) ÷ uploads.',
      'Rows are pairs because a client must hold the connections; the number belongs to the server. `ssh` would need ' +
        'a process per connection, so sshd is held by the Seashell client.',
    ],
    tables: [idle.build(), active.build()],
    breakdown,
  };
}
