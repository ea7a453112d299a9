/**
 * Measures 1 and 6: bulk throughput through an exec channel, per cipher and direction, with the
 * fixed per-connection cost measured apart (the same operation with 0 bytes), and the CPU seconds
 * per GiB on each side.
 *
 * One operation = one connection (curve25519-sha256, ed25519 publickey auth), one session channel,
 * exec, N bytes up into the server's sink or down from its source, exit status, close. Repetitions
 * are interleaved: rep 1 of every pair, then rep 2 of every pair, and so on.
 */
import { pairMissing, REFERENCE_PAIR, SSH2_PAIR, type Pair } from '../contestants/index.js';
import type { Algorithms, Feature } from '../contestants/types.js';
import type { BenchContext } from '../lib/context.js';
import { median, TableBuilder, type MeasureResult } from '../stats.js';
import { DEFAULT_KEX, errorText, formatBytes, GiB, MiB, progress, withServerCpu } from './common.js';

export interface CipherRow {
  /** Short name for groups and charts. */
  label: string;
  cipher: string;
  mac?: string;
  compression?: string;
}

export const CIPHER_ROWS: CipherRow[] = [
  { label: 'aes128-gcm', cipher: 'aes128-gcm@openssh.com' },
  { label: 'aes256-gcm', cipher: 'aes256-gcm@openssh.com' },
  { label: 'chacha20-poly1305', cipher: 'chacha20-poly1305@openssh.com' },
  { label: 'aes128-ctr+hmac-sha2-256-etm', cipher: 'aes128-ctr', mac: 'hmac-sha2-256-etm@openssh.com' },
  // The bench streams zeros: a compressible stream, so this row shows what compression costs and saves.
  { label: 'aes128-gcm+zlib@openssh.com', cipher: 'aes128-gcm@openssh.com', compression: 'zlib@openssh.com' },
];

export const DIRECTIONS = ['up', 'down'] as const;

interface Samples {
  ms: number[];
  clientCpu: number[];
  serverCpu: number[];
  errors: string[];
}

const empty = (): Samples => ({ ms: [], clientCpu: [], serverCpu: [], errors: [] });

/**
 * N ÷ (time − median time of the 0-byte run), per transfer. The row is flagged as within the
 * noise when the transfer's share of the time (median time − fixed cost) is smaller than half the
 * fixed cost or than twice the spread of the 0-byte runs: delayed ACKs make a connection's fixed
 * cost move by tens of ms, which a short transfer cannot rise above. The difference is floored at
 * a tenth of the transfer's time, so that a number stays finite.
 */
export function netThroughput(bytes: number, ms: number[], zeroMs: number[], note?: string) {
  const z0 = median(zeroMs);
  const spread = Math.max(...zeroMs) - Math.min(...zeroMs);
  const noisy = median(ms) - z0 < Math.max(z0 / 2, 2 * spread);
  const samples = ms.map((t) => bytes / MiB / (Math.max(t - z0, t / 10) / 1000));
  const warn = noisy ? 'transfer time within the fixed-cost noise at this size: net figure unreliable' : '';
  return {
    samples,
    note: [warn, note ?? ''].filter((x) => x !== '').join('; ') || undefined,
    unreliable: noisy,
  };
}

export function groupName(row: CipherRow, direction: string): string {
  return `${row.label} ${direction}`;
}

export async function runThroughput(ctx: BenchContext, pairs: Pair[]): Promise<MeasureResult[]> {
  const bytes = ctx.sizes.transferBytes;
  const reps = ctx.sizes.transferReps;
  const common = { reference: REFERENCE_PAIR, ssh2: SSH2_PAIR };
  const net = new TableBuilder({
    ...common,
    id: 'throughput',
    measure: 'throughput',
    title: `Exec channel throughput, net of connection setup (${formatBytes(bytes)} per transfer)`,
    unit: 'MiB/s',
    better: 'higher',
    statistic: `median of ${reps} transfers, each N ÷ (time − median time of the 0-byte run)`,
    digits: 0,
  });
  const fixed = new TableBuilder({
    ...common,
    id: 'fixed-cost',
    measure: 'throughput',
    title: 'Fixed cost per connection: connect, auth, exec, 0 bytes, close',
    unit: 'ms',
    better: 'lower',
    statistic: `median of ${reps} runs`,
    digits: 1,
  });
  const cpuClient = new TableBuilder({
    ...common,
    id: 'cpu-client',
    measure: 'cpu',
    title: 'Client CPU per GiB through an exec channel (net of the 0-byte run)',
    unit: 'CPU s/GiB',
    better: 'lower',
    statistic: `median of ${reps} transfers`,
    digits: 2,
  });
  const cpuServer = new TableBuilder({
    ...common,
    id: 'cpu-server',
    measure: 'cpu',
    title: 'Server CPU per GiB through an exec channel (net of the 0-byte run)',
    unit: 'CPU s/GiB',
    better: 'lower',
    statistic: `median of ${reps} transfers`,
    digits: 2,
  });

  for (const row of CIPHER_ROWS) {
    const algs: Algorithms = {
      kex: DEFAULT_KEX,
      cipher: row.cipher,
      ...(row.mac ? { mac: row.mac } : {}),
      ...(row.compression ? { compression: row.compression } : {}),
    };
    const features: Feature[] = [
      { kind: 'kex', name: algs.kex },
      { kind: 'cipher', name: algs.cipher },
      ...(algs.mac ? [{ kind: 'mac' as const, name: algs.mac }] : []),
      ...(algs.compression ? [{ kind: 'compression' as const, name: algs.compression }] : []),
    ];
    const live = pairs.filter((p) => !pairMissing(p, features));
    // The fixed cost (0 bytes: connect, auth, exec, exit status, close) is measured per direction:
    // `sink` with an immediate EOF and `source 0` exchange their last messages in a different order,
    // which on a peer without TCP_NODELAY can cost a delayed ACK more or less.
    const zero = new Map<string, Samples>();
    const full = new Map<string, Samples>();
    const slot = (m: Map<string, Samples>, k: string) => {
      const s = m.get(k) ?? empty();
      m.set(k, s);
      return s;
    };
    const run = async (pair: Pair, direction: 'up' | 'down', size: number, s: Samples) => {
      try {
        const r = await withServerCpu(pair.server, () =>
          pair.client.transfer(pair.server, direction, size, algs),
        );
        s.ms.push(r.result.ms);
        s.clientCpu.push(r.result.cpuS);
        s.serverCpu.push(r.serverCpuS);
        return r.result.ms;
      } catch (e) {
        s.errors.push(errorText(e));
        progress(
          ctx,
          'throughput',
          `${row.label} ${direction}`,
          pair,
          `FAILED (${size} bytes): ${errorText(e)}`,
        );
        return undefined;
      }
    };
    // One untimed connection per pair before the first cipher, so that no pair's first sample pays
    // for warming up (JIT, caches).
    if (ctx.mode !== 'smoke' && row === CIPHER_ROWS[0])
      for (const pair of live) await run(pair, 'up', 0, empty());
    for (let rep = 0; rep < reps; rep++) {
      for (const pair of live) {
        for (const direction of DIRECTIONS) {
          await run(pair, direction, 0, slot(zero, `${pair.id} ${direction}`));
          const ms = await run(pair, direction, bytes, slot(full, `${pair.id} ${direction}`));
          if (ms !== undefined) {
            progress(
              ctx,
              'throughput',
              groupName(row, direction),
              pair,
              `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s gross`,
            );
          }
        }
      }
    }
    for (const direction of DIRECTIONS) {
      const group = groupName(row, direction);
      for (const pair of pairs) {
        const missing = pairMissing(pair, features);
        if (missing) {
          for (const t of [net, fixed, cpuClient, cpuServer])
            t.add(group, pair.id, { status: missing.status, note: missing.why });
          continue;
        }
        const z = slot(zero, `${pair.id} ${direction}`);
        if (z.ms.length === 0) {
          fixed.add(group, pair.id, { status: 'failed', note: z.errors.join('; ') || 'no run' });
        } else {
          fixed.add(group, pair.id, { samples: z.ms, note: [...new Set(z.errors)].join('; ') || undefined });
        }
        const f = slot(full, `${pair.id} ${direction}`);
        const note = [...new Set([...z.errors, ...f.errors])].join('; ') || undefined;
        if (z.ms.length === 0 || f.ms.length === 0) {
          for (const t of [net, cpuClient, cpuServer])
            t.add(group, pair.id, { status: 'failed', note: note ?? 'no run' });
          continue;
        }
        net.add(group, pair.id, netThroughput(bytes, f.ms, z.ms, note));
        const perGiB = bytes / GiB;
        const zc = median(z.clientCpu);
        const zs = median(z.serverCpu);
        cpuClient.add(group, pair.id, {
          samples: f.clientCpu.map((c) => Math.max(c - zc, 0) / perGiB),
          note,
        });
        cpuServer.add(group, pair.id, {
          samples: f.serverCpu.map((c) => Math.max(c - zs, 0) / perGiB),
          note,
        });
      }
    }
  }

  const ops = (p: string) => `\`${p}\``;
  return [
    {
      id: 'throughput',
      title: 'Bulk throughput through an exec channel',
      how: [
        `Each transfer is one connection (${DEFAULT_KEX}, ed25519 host key, ed25519 publickey auth), one session ` +
          `channel, one exec, ${formatBytes(bytes)} up or down, the exit status, close. The same operation with ` +
          '0 bytes (up: exec `sink`, then EOF at once; down: `source 0`) is timed in the same rounds; its median is ' +
          'the fixed per-connection cost of that direction, and the net throughput of a transfer is N ÷ (its time − ' +
          'that median). Rounds are interleaved: in each, every pair runs its 0-byte and N-byte transfers up, then ' +
          'down, then the next pair takes its turn.',
        `Up: the client sends zeros into ${ops('cat > /dev/null')} on sshd, into the bench handler \`sink N\` on Seashell ` +
          'and ssh2 (which checks the count). Down: the client reads ' +
          `${ops('head -c N /dev/zero')} on sshd, \`source N\` on Seashell and ssh2. ` +
          '`ssh` reads a tmpfs file of zeros as stdin and writes to /dev/null; Seashell and ssh2 clients send ' +
          'slices of a 1 MiB zero buffer and count what they receive, timing themselves (Node start-up excluded; ' +
          "`ssh`'s process start is in its 0-byte run and so cancels out of the net figure).",
        'Client and server are separate OS processes sharing the machine, as OpenSSH is.',
      ],
      tables: [net.build(), fixed.build()],
    },
    {
      id: 'cpu',
      title: 'CPU seconds per GiB transferred',
      how: [
        "From the same transfers: client CPU is the client process's own user+system time (Node agents: " +
          "`process.cpuUsage()` around the operation; `ssh`: the harness's reaped-children counters for the " +
          "process); server CPU is the server's user+system time over the operation (Node servers: " +
          '`process.cpuUsage()`; sshd: /proc/<pid>/stat utime+stime+cutime+cstime summed over the listener and ' +
          "its live descendants, read after the per-connection processes are gone). The 0-byte run's median is " +
          'subtracted, then divided by the GiB moved. /proc counts in 10 ms ticks, so `ssh` and sshd figures are ' +
          'coarse at small sizes (--quick).',
      ],
      tables: [cpuClient.build(), cpuServer.build()],
    },
  ];
}
