/**
 * The issue's targets, checked against the tables of the same run: each check is one pair in one
 * group, with the value, the bar it must clear, and by how much it clears or misses it.
 */
import { pairId, REFERENCE_PAIR } from './contestants/index.js';
import { CIPHER_ROWS, DIRECTIONS, groupName } from './measures/throughput.js';
import { DELAYED_SUFFIX } from './measures/sftp.js';
import type { MeasureResult, Row, Table } from './stats.js';

export type CheckStatus = 'met' | 'missed' | 'not built yet' | 'not available' | 'not measured';

export interface TargetCheck {
  target: string;
  subject: string;
  group: string;
  requirement: string;
  value?: number;
  unit: string;
  /** value ÷ bar for "at least" targets, value ÷ limit for "under" targets. */
  ratio?: number;
  status: CheckStatus;
  /** How far off a missed check is, in words. */
  shortfall?: string;
}

const SEASHELL_PAIRS = [
  pairId('seashell', 'seashell'),
  pairId('seashell', 'sshd'),
  pairId('ssh', 'seashell'),
];

function findTable(measures: MeasureResult[], id: string): Table | undefined {
  for (const m of measures) for (const t of m.tables) if (t.id === id) return t;
  return undefined;
}

function rowOf(t: Table | undefined, group: string, pair: string): Row | undefined {
  return t?.rows.find((r) => r.group === group && r.pair === pair);
}

function unmeasured(row: Row | undefined): CheckStatus {
  if (!row) return 'not measured';
  if (row.status === 'not built yet' || row.status === 'not available') return row.status;
  return 'not measured';
}

function percent(x: number): string {
  const p = x * 100;
  return `${p < 10 ? p.toFixed(1) : p.toFixed(0)}%`;
}

/** "value ≥ factor × bar", where bar is the best of the yardstick rows present. */
function atLeast(
  target: string,
  t: Table | undefined,
  group: string,
  subject: string,
  factor: number,
  yardsticks: string[],
  label: string,
): TargetCheck {
  const row = rowOf(t, group, subject);
  const bars = yardsticks
    .map((y) => rowOf(t, group, y))
    .filter((r): r is Row => r?.status === 'ok' && r.value !== undefined);
  const requirement = `≥ ${factor}× ${label}`;
  const base = { target, subject, group, requirement, unit: t?.unit ?? '' };
  if (!row || row.status !== 'ok' || row.value === undefined) return { ...base, status: unmeasured(row) };
  if (row.unreliable) {
    return { ...base, value: row.value, status: 'not measured', shortfall: 'within the noise of this run' };
  }
  // A yardstick within the noise could move the bar either way: no verdict then.
  const noisy = yardsticks.some((y) => rowOf(t, group, y)?.unreliable === true);
  if (bars.length === 0 || noisy) {
    return {
      ...base,
      value: row.value,
      status: 'not measured',
      shortfall: noisy ? 'a yardstick is within the noise of this run' : 'no yardstick row in this run',
    };
  }
  const bar = Math.max(...bars.map((r) => r.value as number)) * factor;
  const ratio = row.value / bar;
  return {
    ...base,
    value: row.value,
    ratio,
    status: ratio >= 1 ? 'met' : 'missed',
    shortfall:
      ratio >= 1
        ? undefined
        : `needs ${percent(1 / ratio - 1)} more: ${bar.toFixed(t?.digits ?? 1)} ${t?.unit ?? ''}`.trim(),
  };
}

/** "value < limit". */
function under(
  target: string,
  t: Table | undefined,
  group: string,
  subject: string,
  limit: number,
): TargetCheck {
  const row = rowOf(t, group, subject);
  const base = {
    target,
    subject,
    group,
    requirement: `< ${limit} ${t?.unit ?? ''}`.trim(),
    unit: t?.unit ?? '',
  };
  if (!row || row.status !== 'ok' || row.value === undefined) return { ...base, status: unmeasured(row) };
  if (row.unreliable) {
    return { ...base, value: row.value, status: 'not measured', shortfall: 'within the noise of this run' };
  }
  const ratio = row.value / limit;
  return {
    ...base,
    value: row.value,
    ratio,
    status: ratio < 1 ? 'met' : 'missed',
    shortfall: ratio < 1 ? undefined : `${ratio.toFixed(2)}× the limit`,
  };
}

/** "value(group) ≤ factor × value(baseGroup)" for one pair of one table. */
function withinOf(
  target: string,
  t: Table | undefined,
  group: string,
  baseGroup: string,
  subject: string,
  factor: number,
): TargetCheck {
  const row = rowOf(t, group, subject);
  const base = rowOf(t, baseGroup, subject);
  const out = {
    target,
    subject,
    group,
    requirement: `≤ ${factor}× ${baseGroup}`,
    unit: t?.unit ?? '',
  };
  if (!row || row.status !== 'ok' || row.value === undefined) return { ...out, status: unmeasured(row) };
  if (!base || base.status !== 'ok' || base.value === undefined) return { ...out, status: unmeasured(base) };
  if (row.unreliable || base.unreliable) {
    return { ...out, value: row.value, status: 'not measured', shortfall: 'within the noise of this run' };
  }
  const ratio = row.value / (factor * base.value);
  return {
    ...out,
    value: row.value,
    ratio,
    status: ratio <= 1 ? 'met' : 'missed',
    shortfall: ratio <= 1 ? undefined : `${(row.value / base.value).toFixed(2)}× ${baseGroup}`,
  };
}

export function checkTargets(measures: MeasureResult[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  const tp = findTable(measures, 'throughput');
  const best = `best of ${REFERENCE_PAIR} and ssh2→ssh2`;
  for (const row of CIPHER_ROWS.filter((r) => r.cipher.includes('-gcm') && !r.compression)) {
    for (const d of DIRECTIONS) {
      for (const s of SEASHELL_PAIRS) {
        out.push(
          atLeast(
            'AES-GCM throughput',
            tp,
            groupName(row, d),
            s,
            1,
            [REFERENCE_PAIR, pairId('ssh2', 'ssh2')],
            best,
          ),
        );
      }
    }
  }
  const chacha = CIPHER_ROWS.find((r) => r.cipher.startsWith('chacha20'));
  if (chacha) {
    for (const d of DIRECTIONS) {
      for (const s of SEASHELL_PAIRS) {
        const g = groupName(chacha, d);
        out.push(atLeast('chacha20-poly1305 vs OpenSSH', tp, g, s, 0.9, [REFERENCE_PAIR], REFERENCE_PAIR));
        out.push(
          atLeast(
            'chacha20-poly1305 vs ssh2-js',
            tp,
            g,
            s,
            3,
            [pairId('ssh2-js', 'ssh2-js')],
            'ssh2-js→ssh2-js',
          ),
        );
      }
    }
  }
  const sftp = findTable(measures, 'sftp');
  const sftpRef = REFERENCE_PAIR.replace(/^ssh→/, 'sftp→');
  // The same targets with 50 ms of added round trip (the SFTP issue: "same targets").
  for (const d of ['put', 'get', `put${DELAYED_SUFFIX}`, `get${DELAYED_SUFFIX}`]) {
    for (const s of SEASHELL_PAIRS.map((p) => p.replace(/^ssh→/, 'sftp→'))) {
      out.push(atLeast('SFTP', sftp, d, s, 1, [sftpRef], sftpRef));
    }
  }
  const seashell = pairId('seashell', 'seashell');
  out.push(under('Handshake time', findTable(measures, 'handshake'), 'curve25519-sha256', seashell, 5));
  out.push(
    under(
      'Handshake daemon CPU',
      findTable(measures, 'handshake-cpu-server'),
      'curve25519-sha256',
      seashell,
      3,
    ),
  );
  for (const s of SEASHELL_PAIRS) {
    out.push(
      withinOf(
        'ML-KEM hybrid handshake',
        findTable(measures, 'handshake'),
        'mlkem768x25519-sha256',
        'curve25519-sha256',
        s,
        1.3,
      ),
    );
  }
  out.push(under('Idle connection memory', findTable(measures, 'memory-idle'), 'idle', seashell, 16));
  return out;
}

interface ProfileLike {
  scenario: string;
  process: string;
  functions: { name: string; pct: number }[];
  files: { name: string; pct: number }[];
}

function profileLine(p: ProfileLike): string {
  const fns = p.functions
    .slice(0, 3)
    .map((f) => `${f.name} ${f.pct.toFixed(0)}%`)
    .join(', ');
  const files = p.files
    .slice(0, 3)
    .map((f) => `${f.name} ${f.pct.toFixed(0)}%`)
    .join(', ');
  return `${p.scenario}, ${p.process}: top self time ${fns}; by file ${files}.`;
}

/**
 * The closing note: which targets are missed and by how much, and what the profiles of the same run
 * show for them (or the memory breakdown, for memory).
 */
export function closingNote(
  checks: TargetCheck[],
  profiles: ProfileLike[],
  breakdown: { pair: string; anon: number; heapTotal: number; heapUsed: number; external: number }[],
): string[] {
  const out: string[] = [];
  const byTarget = new Map<string, TargetCheck[]>();
  for (const c of checks) byTarget.set(c.target, [...(byTarget.get(c.target) ?? []), c]);
  const missedTargets: string[] = [];
  for (const [target, list] of byTarget) {
    const missed = list.filter((c) => c.status === 'missed');
    const met = list.filter((c) => c.status === 'met');
    const other = list.filter((c) => c.status !== 'missed' && c.status !== 'met');
    if (missed.length > 0) {
      missedTargets.push(target);
      // The worst check: the lowest ratio for "at least" targets, the highest for "under" ones.
      const under = list[0]?.requirement.startsWith('<') === true;
      const worst = missed.reduce((a, b) =>
        (under ? (a.ratio ?? 0) >= (b.ratio ?? 0) : (a.ratio ?? 1) <= (b.ratio ?? 1)) ? a : b,
      );
      out.push(
        `**${target}**: missed in ${missed.length} of ${list.length} checks (${met.length} met). Worst: ${worst.subject}, ` +
          `${worst.group}: ${worst.value?.toFixed(1)} ${worst.unit} against ${worst.requirement} (${worst.shortfall ?? ''}).`,
      );
    } else if (met.length > 0) {
      out.push(
        `**${target}**: met in all ${met.length} measured checks${other.length ? ` (${other.length} not measured)` : ''}.`,
      );
    } else if (other.length > 0) {
      out.push(`**${target}**: ${[...new Set(other.map((c) => c.status))].join(', ')}.`);
    }
  }
  const cite = (match: (p: ProfileLike) => boolean) => profiles.filter(match).map(profileLine);
  const throughputMissed = missedTargets.some((t) => /throughput|chacha/i.test(t));
  const handshakeMissed = missedTargets.some((t) => /Handshake/.test(t));
  if (throughputMissed) {
    const lines = cite((p) => /^(upload|download)/.test(p.scenario));
    if (lines.length > 0)
      out.push(
        'What holds throughput back, from the CPU profiles of this run:',
        ...lines.map((l) => `- ${l}`),
      );
  }
  if (handshakeMissed) {
    const lines = cite((p) => /handshakes/.test(p.scenario));
    if (lines.length > 0)
      out.push('What the handshake costs, from the CPU profiles of this run:', ...lines.map((l) => `- ${l}`));
  }
  if (missedTargets.includes('Idle connection memory')) {
    const b = breakdown.find((x) => x.pair === pairId('seashell', 'seashell'));
    if (b) {
      const k = (x: number) => `${(x / 1024).toFixed(1)} KiB`;
      out.push(
        `Memory per idle Seashell connection, measured in the daemon before and after opening them: anonymous ` +
          `memory ${k(b.anon)}, of which the V8 heap reserved ${k(b.heapTotal)} (used: ${k(b.heapUsed)}) and memory ` +
          `outside the heap ${k(b.external)}; the remainder is memory Node does not attribute (native allocations, allocator slack).`,
      );
    }
  }
  return out;
}
