/**
 * Measure 3: the handshake. Batches of sequential connections, each a full TCP connect, key
 * exchange, ed25519 host key, ed25519 publickey auth, exec `true`, exit status, close; per key
 * exchange method. Reported: wall ms per connection, and CPU ms per connection on each side.
 */
import { defaultAlgorithms } from '../../src/index.js';
import { pairMissing, REFERENCE_PAIR, SSH2_PAIR, type Pair } from '../contestants/index.js';
import type { Algorithms, Feature } from '../contestants/types.js';
import type { BenchContext } from '../lib/context.js';
import { TableBuilder, type MeasureResult } from '../stats.js';
import { DEFAULT_CIPHER, errorText, progress, withServerCpu } from './common.js';

/**
 * A row per key exchange Seashell offers by default, for every pair where both sides have it.
 * curve25519-sha256 goes first: the rows run one after another, and the first pays for the
 * processes' warm-up (JIT), which must not land on mlkem768x25519, measured against it.
 */
export const KEX_ROWS = [
  'curve25519-sha256',
  ...defaultAlgorithms().kex.filter((k) => k !== 'curve25519-sha256'),
];
/** The smoke run (a harness check, no timing) keeps one row per family: the large DH groups take seconds per connection. */
export const SMOKE_KEX_ROWS = [
  'curve25519-sha256',
  'mlkem768x25519-sha256',
  'ecdh-sha2-nistp256',
  'diffie-hellman-group14-sha256',
];

export async function runHandshake(ctx: BenchContext, pairs: Pair[]): Promise<MeasureResult> {
  const count = ctx.sizes.handshakeCount;
  const rounds = ctx.sizes.handshakeRounds;
  const common = { reference: REFERENCE_PAIR, ssh2: SSH2_PAIR, measure: 'handshake' };
  const wall = new TableBuilder({
    ...common,
    id: 'handshake',
    title: 'Handshake: connect, kex, publickey auth, exec `true`, close',
    unit: 'ms/connection',
    better: 'lower',
    statistic: `median over ${rounds} × ${count} sequential connections`,
    digits: 1,
  });
  const clientCpu = new TableBuilder({
    ...common,
    id: 'handshake-cpu-client',
    title: 'Handshake: client CPU per connection',
    unit: 'CPU ms/connection',
    better: 'lower',
    statistic: `median of ${rounds} batches of ${count} (batch CPU ÷ ${count})`,
    digits: 2,
  });
  const serverCpu = new TableBuilder({
    ...common,
    id: 'handshake-cpu-server',
    title: 'Handshake: server CPU per connection',
    unit: 'CPU ms/connection',
    better: 'lower',
    statistic: `median of ${rounds} batches of ${count} (batch CPU ÷ ${count})`,
    digits: 2,
  });

  for (const kex of ctx.mode === 'smoke' ? SMOKE_KEX_ROWS : KEX_ROWS) {
    const algs: Algorithms = { kex, cipher: DEFAULT_CIPHER };
    const features: Feature[] = [
      { kind: 'kex', name: kex },
      { kind: 'cipher', name: DEFAULT_CIPHER },
    ];
    const samples = new Map<string, { ms: number[]; client: number[]; server: number[]; errors: string[] }>();
    const warmedUp = new Map<string, number>();
    for (const pair of pairs) {
      if (pairMissing(pair, features)) continue;
      try {
        warmedUp.set(pair.id, await warmUp(ctx, pair, algs));
      } catch (e) {
        progress(ctx, 'handshake', kex, pair, `warm-up FAILED: ${errorText(e)}`);
      }
    }
    for (let round = 0; round < rounds; round++) {
      for (const pair of pairs) {
        if (pairMissing(pair, features)) continue;
        const s = samples.get(pair.id) ?? { ms: [], client: [], server: [], errors: [] };
        samples.set(pair.id, s);
        try {
          const r = await withServerCpu(pair.server, () => pair.client.handshakes(pair.server, count, algs));
          s.ms.push(...r.result.msEach);
          s.client.push((r.result.cpuS * 1000) / count);
          s.server.push((r.serverCpuS * 1000) / count);
          const sorted = [...r.result.msEach].sort((a, b) => a - b);
          progress(
            ctx,
            'handshake',
            kex,
            pair,
            `${(sorted[Math.floor(sorted.length / 2)] ?? NaN).toFixed(1)} ms/connection`,
          );
        } catch (e) {
          s.errors.push(errorText(e));
          progress(ctx, 'handshake', kex, pair, `FAILED: ${errorText(e)}`);
        }
      }
    }
    for (const pair of pairs) {
      const missing = pairMissing(pair, features);
      const s = samples.get(pair.id);
      if (missing || !s) {
        const o = { status: missing?.status ?? ('failed' as const), note: missing?.why ?? 'no run' };
        for (const t of [wall, clientCpu, serverCpu]) t.add(kex, pair.id, o);
        continue;
      }
      const warm = warmedUp.get(pair.id);
      const note =
        [...new Set(s.errors), ...(warm === undefined ? ['no warm-up'] : [])].join('; ') || undefined;
      wall.add(kex, pair.id, { samples: s.ms, note });
      clientCpu.add(kex, pair.id, { samples: s.client, note });
      serverCpu.add(kex, pair.id, { samples: s.server, note });
    }
  }
  return {
    id: 'handshake',
    title: 'Handshake',
    how: [
      `Per key exchange: ${rounds} round(s), each a batch of ${count} sequential connections per pair, pairs ` +
        'interleaved, after a warm-up: each pair first makes untimed connections in batches of up to ' +
        `${count} until ${ctx.sizes.handshakeWarmupMax} connections or ${ctx.sizes.handshakeWarmupS} s, ` +
        'whichever comes first, so that what is timed is a long-running process in its steady state (the JIT of ' +
        'the Node contestants has compiled the handshake path; sshd forks per connection and has nothing to warm). ' +
        'A connection is TCP connect, the key exchange, the ed25519 host key, ed25519 publickey ' +
        `authentication, one session channel with exec \`true\`, its exit status, and close (cipher ${DEFAULT_CIPHER}).`,
      'Seashell and ssh2 clients run the batch inside one process and time each connection themselves; `ssh` is one ' +
        'process per connection, timed from spawn to exit (its start-up is part of what an `ssh` user waits for). ' +
        "Client CPU: the batch's CPU ÷ connections; server CPU: the server's CPU over the batch ÷ connections " +
        '(sshd: every per-connection process, reaped, included).',
      'mlkem768x25519-sha256 needs OpenSSH 9.9 or later, so its OpenSSH rows say so where this machine has an ' +
        'older one; a pair that lacks a key exchange says which side lacks it.',
    ],
    tables: [wall.build(), clientCpu.build(), serverCpu.build()],
  };
}

/**
 * Untimed batches until the warm-up budget is spent; returns the connections made. The first batch
 * is one connection, to learn what one costs; later batches are sized to fit the time left, so a
 * slow pair (ssh2 without TCP_NODELAY, 100+ ms a connection) does not overrun the budget.
 */
async function warmUp(ctx: BenchContext, pair: Pair, algs: Algorithms): Promise<number> {
  const { handshakeCount: count, handshakeWarmupMax: max, handshakeWarmupS: seconds } = ctx.sizes;
  const started = performance.now();
  const until = started + seconds * 1000;
  let made = 0;
  let n = 1;
  while (made < max && performance.now() < until) {
    await pair.client.handshakes(pair.server, n, algs);
    made += n;
    const perConnection = (performance.now() - started) / made;
    const fits = Math.floor((until - performance.now()) / perConnection);
    n = Math.max(0, Math.min(count, max - made, fits));
    if (n === 0) break;
  }
  return made;
}
