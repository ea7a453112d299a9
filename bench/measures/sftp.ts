/**
 * Measure 2: SFTP upload and download of one file, tmpfs to tmpfs, with each client's default
 * settings (OpenSSH `sftp -b` put/get; ssh2 fastPut/fastGet with its defaults of 64 requests of
 * 32 KiB). The 0-byte file is timed in the same rounds and subtracted, as for exec throughput.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pairId, pairMissing, SSH2_PAIR, type Pair } from '../contestants/index.js';
import type { OpenSshTools } from '../contestants/openssh.js';
import type { BenchContext } from '../lib/context.js';
import { median, TableBuilder, type MeasureResult } from '../stats.js';
import { errorText, formatBytes, GiB, MiB, progress, withServerCpu } from './common.js';
import { netThroughput } from './throughput.js';
import { startDelayProxy } from '../lib/delay-proxy.js';

const DIRECTIONS = ['put', 'get'] as const;
/**
 * The long-path runs: 25 ms each way through a delaying proxy on 127.0.0.1 (a 50 ms round trip),
 * where the requests a client keeps in flight decide the speed. Their files are at most 32 MiB: a
 * 2 MiB channel window over 50 ms allows about 40 MiB/s.
 */
export const DELAYED_SUFFIX = ' +50 ms RTT';
const DELAY_ONE_WAY_MS = 25;
const DELAYED_MAX_BYTES = 32 * MiB;

interface Samples {
  ms: number[];
  clientCpu: number[];
  serverCpu: number[];
  errors: string[];
}

/** The label of a pair in SFTP tables: OpenSSH's client here is `sftp`. */
export function sftpPairId(pair: Pair): string {
  return pair.id.replace(/^ssh→/, 'sftp→');
}

function defaultCipher(pair: Pair, tools: OpenSshTools): string | undefined {
  if (pair.client.id === 'ssh') return tools.defaultCiphers[0];
  const hello = (pair.client as { hello?: Record<string, unknown> }).hello;
  const list = hello?.defaultCipher;
  return Array.isArray(list) ? String(list[0]) : undefined;
}

export async function runSftp(ctx: BenchContext, pairs: Pair[], tools: OpenSshTools): Promise<MeasureResult> {
  const bytes = ctx.sizes.sftpBytes;
  const reps = ctx.sizes.sftpReps;
  const reference = pairId('ssh', 'sshd').replace(/^ssh→/, 'sftp→');
  const common = { reference, ssh2: SSH2_PAIR };
  const net = new TableBuilder({
    ...common,
    id: 'sftp',
    measure: 'sftp',
    title: `SFTP ${formatBytes(bytes)} file, tmpfs to tmpfs, net of connection setup`,
    unit: 'MiB/s',
    better: 'higher',
    statistic: `median of ${reps} transfers, each N ÷ (time − median time of the 0-byte file)`,
    digits: 0,
  });
  const cpuClient = new TableBuilder({
    ...common,
    id: 'sftp-cpu-client',
    measure: 'sftp',
    title: 'SFTP client CPU per GiB (net of the 0-byte file)',
    unit: 'CPU s/GiB',
    better: 'lower',
    statistic: `median of ${reps} transfers`,
    digits: 2,
  });
  const cpuServer = new TableBuilder({
    ...common,
    id: 'sftp-cpu-server',
    measure: 'sftp',
    title: 'SFTP server CPU per GiB (net of the 0-byte file)',
    unit: 'CPU s/GiB',
    better: 'lower',
    statistic: `median of ${reps} transfers`,
    digits: 2,
  });

  const src = { 0: await ctx.payload(0), [bytes]: await ctx.payload(bytes) } as Record<number, string>;
  const live = pairs.filter((p) => !pairMissing(p, [{ kind: 'sftp' }]));
  const zero = new Map<string, Samples>();
  const full = new Map<string, Samples>();
  const get = (m: Map<string, Samples>, k: string) => {
    const s = m.get(k) ?? { ms: [], clientCpu: [], serverCpu: [], errors: [] };
    m.set(k, s);
    return s;
  };
  const delayedBytes = Math.min(bytes, DELAYED_MAX_BYTES);
  src[delayedBytes] ??= await ctx.payload(delayedBytes);
  const variants = [
    { suffix: '', sizes: [0, bytes], delayMs: 0 },
    { suffix: DELAYED_SUFFIX, sizes: [0, delayedBytes], delayMs: DELAY_ONE_WAY_MS },
  ];
  for (const variant of variants) {
    for (let rep = 0; rep < reps; rep++) {
      for (const [i, pair] of live.entries()) {
        // The delayed runs reach the same server through the proxy (the bench host key is the
        // same; the proxy's port is made known).
        const proxy =
          variant.delayMs > 0 ? await startDelayProxy(pair.server.port, variant.delayMs) : undefined;
        if (proxy) await ctx.addKnownHost(proxy.port);
        const server = proxy
          ? (Object.assign(Object.create(pair.server) as object, { port: proxy.port }) as typeof pair.server)
          : pair.server;
        try {
          for (const direction of DIRECTIONS) {
            const group = `${direction}${variant.suffix}`;
            for (const size of variant.sizes) {
              const s = get(size === 0 ? zero : full, `${pair.id} ${group}`);
              const target = join(ctx.work, 'sftp', `${direction}-${i}-${size}`);
              const from = src[size] as string;
              try {
                const r = await withServerCpu(pair.server, () =>
                  direction === 'put'
                    ? pair.client.sftp(server, 'put', from, target)
                    : pair.client.sftp(server, 'get', target, from),
                );
                s.ms.push(r.result.ms);
                s.clientCpu.push(r.result.cpuS);
                s.serverCpu.push(r.serverCpuS);
              } catch (e) {
                s.errors.push(errorText(e));
                progress(ctx, 'sftp', group, pair, `FAILED (${size} bytes): ${errorText(e)}`);
              } finally {
                await rm(target, { force: true });
              }
            }
            const f = full.get(`${pair.id} ${group}`);
            const last = f?.ms[f.ms.length - 1];
            const n = variant.sizes[1]!;
            if (last !== undefined && f?.ms.length === rep + 1) {
              progress(ctx, 'sftp', group, pair, `${(n / MiB / (last / 1000)).toFixed(0)} MiB/s gross`);
            }
          }
        } finally {
          await proxy?.stop();
        }
      }
    }
  }
  for (const direction of [...DIRECTIONS, ...DIRECTIONS.map((d) => `${d}${DELAYED_SUFFIX}`)]) {
    const n = direction.endsWith(DELAYED_SUFFIX) ? delayedBytes : bytes;
    for (const pair of pairs) {
      const id = sftpPairId(pair);
      const missing = pairMissing(pair, [{ kind: 'sftp' }]);
      if (missing) {
        for (const t of [net, cpuClient, cpuServer])
          t.add(direction, id, { status: missing.status, note: missing.why });
        continue;
      }
      const z = get(zero, `${pair.id} ${direction}`);
      const f = get(full, `${pair.id} ${direction}`);
      const errors = [...new Set([...z.errors, ...f.errors])].join('; ');
      if (z.ms.length === 0 || f.ms.length === 0) {
        for (const t of [net, cpuClient, cpuServer])
          t.add(direction, id, { status: 'failed', note: errors || 'no run' });
        continue;
      }
      const cipher = defaultCipher(pair, tools);
      const note = [cipher ? `cipher ${cipher} (client default)` : '', errors]
        .filter((x) => x !== '')
        .join('; ');
      net.add(direction, id, netThroughput(n, f.ms, z.ms, note || undefined));
      const zc = median(z.clientCpu);
      const zs = median(z.serverCpu);
      cpuClient.add(direction, id, {
        samples: f.clientCpu.map((c) => Math.max(c - zc, 0) / (n / GiB)),
        note,
      });
      cpuServer.add(direction, id, {
        samples: f.serverCpu.map((c) => Math.max(c - zs, 0) / (n / GiB)),
        note,
      });
    }
  }
  return {
    id: 'sftp',
    title: 'SFTP upload (put) and download (get)',
    how: [
      `One connection, one SFTP session, one ${formatBytes(bytes)} file from tmpfs to tmpfs, close; and the same with ` +
        'an empty file, whose median time is subtracted; the groups marked' +
        DELAYED_SUFFIX +
        ' run the same through a ' +
        `proxy on 127.0.0.1 that holds every byte ${DELAY_ONE_WAY_MS} ms each way (files of ${formatBytes(delayedBytes)}). ` +
        'Each client keeps its defaults, cipher included (OpenSSH ' +
        "picks chacha20-poly1305 first, ssh2 aes128-gcm; each row's note names it): OpenSSH `sftp -q -b <batch>` " +
        'with `put`/`get` (32 KiB requests, 64 outstanding); ssh2 `sftp.fastPut`/`fastGet` (32 KiB, 64 outstanding).',
      "Servers: sshd runs its `sftp-server` subsystem; the ssh2 server runs the bench's SFTP handlers " +
        '(synchronous file calls on tmpfs; ssh2 has no file server of its own); the Seashell daemon serves its default sftpd subsystem (node:fs); its client uses fastPut/fastGet with their defaults.',
    ],
    tables: [net.build(), cpuClient.build(), cpuServer.build()],
  };
}
