/**
 * The benchmark harness's own smoke test: runs `node dist/bench/run.js --smoke` (1 MiB transfers,
 * a couple of handshakes, 20 idle connections, a few round trips) and checks that every row of
 * every table has a number, or says plainly that the feature is not built yet or not available.
 * No timing is asserted: the numbers of a smoke run mean nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RunReport } from '../../bench/report.js';

const RUN = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

function runBench(out: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, '--smoke', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGTERM'), 170_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('bench --smoke: every row has a number or an explicit status', { timeout: 180_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'seashell-bench-smoke-'));
  try {
    const r = await runBench(out);
    assert.equal(r.code, 0, `the bench failed:\n${r.stderr.slice(-4000)}`);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as RunReport;
    const markdown = await readFile(join(out, 'README.md'), 'utf8');

    const ids = report.measures.map((m) => m.id);
    assert.deepEqual(ids, ['throughput', 'cpu', 'sftp', 'handshake', 'memory', 'latency']);
    const bad: string[] = [];
    let rows = 0;
    for (const m of report.measures) {
      for (const t of m.tables) {
        assert.ok(t.rows.length > 0, `table ${t.id} has no rows`);
        assert.ok(markdown.includes(`(${t.id}.svg)`), `the Markdown page does not show ${t.id}.svg`);
        const svg = await readFile(join(out, `${t.id}.svg`), 'utf8');
        assert.match(svg, /^<svg [^>]*>[\s\S]*<\/svg>\n$/);
        for (const row of t.rows) {
          rows++;
          const numeric = row.status === 'ok' && typeof row.value === 'number' && Number.isFinite(row.value);
          const explained =
            (row.status === 'not built yet' || row.status === 'not available') && (row.note ?? '').length > 0;
          if (!numeric && !explained)
            bad.push(`${t.id} / ${row.group} / ${row.pair}: ${row.status} ${row.note ?? ''}`);
        }
      }
    }
    assert.deepEqual(bad, [], `rows without a number or a reason:\n${bad.join('\n')}`);
    assert.ok(rows > 100, `only ${rows} rows`);

    // Seashell against itself must produce numbers wherever Seashell has the feature.
    const throughput = report.measures
      .find((m) => m.id === 'throughput')!
      .tables.find((t) => t.id === 'throughput')!;
    for (const row of throughput.rows.filter((x) => x.pair === 'Seashell→Seashell')) {
      assert.equal(row.status, 'ok', `Seashell→Seashell ${row.group}: ${row.status} ${row.note ?? ''}`);
    }
    // On CI OpenSSH is installed: the reference rows must be there.
    if (process.env.CI === 'true') {
      for (const row of throughput.rows.filter((x) => x.pair === 'ssh→sshd')) {
        assert.equal(row.status, 'ok', `ssh→sshd ${row.group}: ${row.status} ${row.note ?? ''}`);
      }
    }
    assert.ok(report.targets.length > 0, 'no targets were checked');
    assert.match(r.stdout, /== Targets/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
