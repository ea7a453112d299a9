/**
 * The bench's output: tables on the terminal, and a report directory with `report.json` (every
 * number and sample), `README.md` (the page to read) and one SVG bar chart per table.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from './measures/common.js';
import type { HeapBreakdown } from './measures/memory.js';
import type { ProfileSummary } from './profile.js';
import type { MeasureResult, Row, Table } from './stats.js';
import { barChart, formatNumber } from './svg.js';
import type { TargetCheck } from './targets.js';

export interface RunMeta {
  date: string;
  mode: string;
  command: string;
  durationS: number;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; platform: string; kernel: string };
  /** The Node that ran the bench itself (and the ssh2 agents). */
  node: string;
  /** The Node that ran Seashell's client and daemon (`--node PATH`); absent in older reports: `node`. */
  seashellNode?: string;
  seashell: string;
  /** The commit measured (`git describe --always --dirty`), when the run was in a git checkout. */
  commit?: string;
  openssh?: string;
  ssh2Variants: string[];
  contestants: string[];
  sizes: Record<string, number>;
  notes: string[];
}

export interface RunReport {
  meta: RunMeta;
  measures: MeasureResult[];
  targets: TargetCheck[];
  profiles: { summaries: ProfileSummary[]; errors: string[] };
  memoryBreakdown: HeapBreakdown[];
  closingNote: string[];
}

// ---- terminal ---------------------------------------------------------------------------------

function ratioText(r: number | undefined): string {
  return r === undefined ? '' : `${r.toFixed(2)}×`;
}

function cells(t: Table, r: Row): string[] {
  if (r.status !== 'ok') return [r.group, r.pair, r.status, '', '', '', (r.note ?? '').slice(0, 70)];
  const range =
    r.min !== undefined && r.max !== undefined
      ? `${formatNumber(r.min, t.digits)}–${formatNumber(r.max, t.digits)}`
      : '';
  return [
    r.group,
    r.pair,
    formatNumber(r.value as number, t.digits),
    range,
    ratioText(r.ratioToReference),
    ratioText(r.ratioToSsh2),
    (r.note ?? '').slice(0, 70),
  ];
}

function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i >= 2 && i <= 5 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function terminalReport(report: RunReport): string {
  const out: string[] = [];
  for (const m of report.measures) {
    for (const t of m.tables) {
      out.push('', `== ${t.title} [${t.unit}, ${t.better} is better; ${t.statistic}]`);
      out.push(
        textTable(
          ['group', 'pair', 'value', 'min–max', `×${t.reference}`, `×${t.ssh2}`, 'note'],
          t.rows.map((r) => cells(t, r)),
        ),
      );
    }
  }
  out.push('', '== Targets');
  out.push(
    textTable(
      ['target', 'pair', 'group', 'value', 'ratio', 'status', 'requirement / shortfall'],
      report.targets.map((c) => [
        c.target,
        c.subject,
        c.group,
        c.value === undefined ? '' : formatNumber(c.value, 1),
        c.ratio === undefined ? '' : `${c.ratio.toFixed(2)}`,
        c.status,
        c.shortfall ? `${c.requirement}: ${c.shortfall}` : c.requirement,
      ]),
    ),
  );
  return out.join('\n') + '\n';
}

// ---- Markdown ---------------------------------------------------------------------------------

function md(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A Markdown table; `right` lists the columns to align right (numbers). */
function markdownTable(head: string[], rows: string[][], right: number[] = []): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => (right.includes(i) ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(md).join(' | ')} |`),
  ].join('\n');
}

function profileSection(p: RunReport['profiles']): string[] {
  if (p.summaries.length === 0 && p.errors.length === 0) return [];
  const out = [
    '## Where Seashell’s CPU goes (profiles)',
    '',
    'Measured after the tables: one more Seashell→Seashell upload, download and handshake batch, each on a fresh ' +
      'client and daemon under `node --cpu-prof`, after an untimed warm-up; only the samples taken during the ' +
      'operation count. Self time per function (TypeScript source lines via the source maps) and per file, idle ' +
      'excluded. These are what the closing note cites.',
  ];
  for (const s of p.summaries) {
    out.push('', `### ${s.scenario}: ${s.process} (${s.busyMs.toFixed(0)} ms busy)`, '');
    out.push(
      markdownTable(
        ['function', 'where', 'self ms', '%'],
        s.functions.slice(0, 10).map((f) => {
          const m = /^(.*) \((.*)\)$/.exec(f.name);
          return [
            m ? (m[1] as string) : f.name,
            m ? `\`${m[2] as string}\`` : '',
            f.selfMs.toFixed(0),
            f.pct.toFixed(1),
          ];
        }),
        [2, 3],
      ),
    );
    out.push(
      '',
      `By file: ${s.files
        .slice(0, 6)
        .map((f) => `${f.name} ${f.pct.toFixed(1)}%`)
        .join(', ')}.`,
    );
  }
  for (const e of p.errors) out.push('', `Profile not taken: ${e}`);
  return out;
}

function memorySection(report: RunReport): string[] {
  const out: string[] = [];
  if (report.memoryBreakdown.length > 0) {
    out.push(
      '### Where an idle connection’s memory is (Node servers, per connection: /proc and process.memoryUsage() deltas)',
      '',
    );
    out.push(
      markdownTable(
        ['pair', 'anonymous memory', 'V8 heap reserved', 'V8 heap used', 'external', 'of which ArrayBuffers'],
        report.memoryBreakdown.map((b) => [
          b.pair,
          ...[b.anon, b.heapTotal, b.heapUsed, b.external, b.arrayBuffers].map(
            (x) => `${(x / 1024).toFixed(1)} KiB`,
          ),
        ]),
        [1, 2, 3, 4, 5],
      ),
      '',
    );
  }
  return out;
}

export function markdownReport(report: RunReport, chartFile: (t: Table) => string): string {
  const m = report.meta;
  const out: string[] = [
    `# Seashell benchmark, ${m.date} (${m.mode})`,
    '',
    `Produced by \`${m.command}\` in ${Math.round(m.durationS)} s on ${m.machine.cpus} CPU(s) (${m.machine.cpuModel}), ` +
      `${m.machine.memoryGiB} GiB, ${m.machine.platform} ${m.machine.kernel}; Seashell ran on Node ${m.seashellNode ?? m.node} (the bench and ssh2 on Node ${m.node}); Seashell ${m.seashell}${m.commit ? ` (${m.commit})` : ''}; ` +
      `${m.openssh ?? 'OpenSSH not installed'}. Client and server of a pair are separate processes sharing these CPUs. ` +
      'Ratios are to OpenSSH against itself (`ssh→sshd`, the reference) and to `ssh2→ssh2`, group by group; ' +
      'quote those, not the absolute numbers, which depend on the machine.',
    '',
    `ssh2 variants that ran: ${m.ssh2Variants.length ? m.ssh2Variants.join('; ') : 'none'}.`,
    '',
    ...(m.mode === 'full'
      ? []
      : [
          `This is a \`--${m.mode}\` run: small sizes and few repetitions, for a first look. Rows marked “within the ` +
            'noise” (faint in the charts) are not judged against any target; `npm run bench` measures at full size.',
          '',
        ]),
    '<details><summary>Contestants and sizes</summary>',
    '',
    ...m.contestants.map((c) => `- ${c}`),
    '',
    `Sizes: ${Object.entries(m.sizes)
      .map(([k, v]) => `${k} ${/Bytes$/.test(k) ? formatBytes(v) : v}`)
      .join(', ')}.`,
    '',
    '</details>',
    '',
  ];
  if (report.targets.length > 0) {
    out.push('## Targets', '');
    out.push(
      markdownTable(
        ['target', 'pair', 'group', 'value', 'ratio', 'status', 'requirement', 'shortfall'],
        report.targets.map((c) => [
          c.target,
          c.subject,
          c.group,
          c.value === undefined ? '' : `${formatNumber(c.value, 1)} ${c.unit}`,
          c.ratio === undefined ? '' : c.ratio.toFixed(2),
          c.status === 'met' ? '**met**' : c.status,
          c.requirement,
          c.shortfall ?? '',
        ]),
        [3, 4],
      ),
      '',
      'Ratio: value ÷ the bar for “at least” targets (≥ 1 meets it), value ÷ the limit for “under” targets (< 1 meets it).',
      '',
    );
  }
  for (const measure of report.measures) {
    out.push(`## ${measure.title}`, '', ...measure.how.flatMap((p) => [p, '']));
    for (const t of measure.tables) {
      out.push(`### ${t.title}`, '', `![${t.title}](${chartFile(t)})`, '');
      out.push(
        `${t.unit}, ${t.better} is better; value: ${t.statistic}. Ratios: value ÷ the \`${t.reference}\` and \`${t.ssh2}\` rows of the same group.`,
        '',
      );
      out.push(
        markdownTable(
          ['group', 'pair', t.unit, 'min–max', `× ${t.reference}`, `× ${t.ssh2}`, 'n', 'note'],
          t.rows.map((r) => {
            const c = cells(t, r);
            return [
              c[0],
              c[1],
              c[2],
              c[3],
              c[4],
              c[5],
              r.status === 'ok' ? String(r.samples.length) : '',
              r.note ?? '',
            ] as string[];
          }),
          [2, 3, 4, 5, 6],
        ),
        '',
      );
    }
    if (measure.id === 'memory') out.push(...memorySection(report));
  }
  out.push(...profileSection(report.profiles));
  if (report.closingNote.length > 0)
    out.push('', '## Closing note', '', ...report.closingNote.flatMap((p) => [p, '']));
  if (m.notes.length > 0) out.push('', '## Notes', '', ...m.notes.map((n) => `- ${n}`), '');
  return out.join('\n').replace(/\n{3,}/g, '\n\n') + '\n';
}

/** Writes report.json, README.md and the charts into `dir`. */
export async function writeReport(dir: string, report: RunReport): Promise<void> {
  await mkdir(dir, { recursive: true });
  const chartFile = (t: Table) => `${t.id}.svg`;
  for (const m of report.measures)
    for (const t of m.tables) await writeFile(join(dir, chartFile(t)), barChart(t));
  await writeFile(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFile(join(dir, 'README.md'), markdownReport(report, chartFile));
}
