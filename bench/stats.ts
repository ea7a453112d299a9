/**
 * Statistics for the bench: medians, extremes, percentiles and ratios, and the tables the measures
 * fill (one row per pair and group, with its samples, summary and ratios to the yardsticks).
 */

export function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/**
 * The p-th percentile (0–100) by linear interpolation between the two nearest ranks, so that
 * p = 50 is the median and p = 0 / 100 are the extremes.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

export function min(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : Math.min(...xs);
}

export function max(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : Math.max(...xs);
}

/** a / b, or undefined when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return undefined;
  return a / b;
}

export type Status = 'ok' | 'not built yet' | 'not available' | 'failed';

export interface Row {
  group: string;
  pair: string;
  status: Status;
  /** The number this row stands for (a median, unless the table says otherwise). */
  value?: number;
  min?: number;
  max?: number;
  samples: number[];
  ratioToReference?: number;
  ratioToSsh2?: number;
  /** Why there is no number, or what to know about this one. */
  note?: string;
  /** The number is within this run's noise (too small a size or count): shown, but no target is judged on it. */
  unreliable?: boolean;
}

export interface Table {
  id: string;
  measure: string;
  title: string;
  unit: string;
  better: 'higher' | 'lower';
  /** What the value of a row is, e.g. "median of 3 runs". */
  statistic: string;
  groups: string[];
  rows: Row[];
  /** Pair ids of the yardsticks the ratios are taken to. */
  reference: string;
  ssh2: string;
  digits: number;
}

export interface MeasureResult {
  id: string;
  title: string;
  /** How it is measured, paragraph by paragraph (Markdown). */
  how: string[];
  tables: Table[];
}

/** What a measure feeds a table: samples, or the reason it has none. */
export type Outcome =
  | { samples: number[]; note?: string; value?: number; min?: number; max?: number; unreliable?: boolean }
  | { status: 'not built yet' | 'not available' | 'failed'; note: string };

export class TableBuilder {
  private readonly rows: Row[] = [];
  private readonly groups: string[] = [];

  constructor(private readonly t: Omit<Table, 'rows' | 'groups'>) {}

  add(group: string, pair: string, o: Outcome): void {
    if (!this.groups.includes(group)) this.groups.push(group);
    if ('status' in o) {
      this.rows.push({ group, pair, status: o.status, samples: [], note: o.note });
      return;
    }
    const samples = o.samples.filter((x) => Number.isFinite(x));
    if (samples.length === 0) {
      this.rows.push({ group, pair, status: 'failed', samples: [], note: o.note ?? 'no sample was taken' });
      return;
    }
    // A value other than the median (e.g. a p99) comes with its own range, or none.
    const explicit = o.value !== undefined;
    this.rows.push({
      group,
      pair,
      status: 'ok',
      samples,
      value: o.value ?? median(samples),
      min: explicit ? o.min : min(samples),
      max: explicit ? o.max : max(samples),
      note: o.note,
      ...(o.unreliable ? { unreliable: true } : {}),
    });
  }

  build(): Table {
    for (const r of this.rows) {
      if (r.status !== 'ok') continue;
      const ref = this.rows.find(
        (x) => x.group === r.group && x.pair === this.t.reference && x.status === 'ok',
      );
      const s2 = this.rows.find((x) => x.group === r.group && x.pair === this.t.ssh2 && x.status === 'ok');
      r.ratioToReference = ratio(r.value, ref?.value);
      r.ratioToSsh2 = ratio(r.value, s2?.value);
    }
    return { ...this.t, groups: this.groups, rows: this.rows };
  }
}

/** Runs `fn`, turning a failure into a note instead of ending the run. */
export async function attempt<T>(fn: () => Promise<T>): Promise<{ ok: T } | { error: string }> {
  try {
    return { ok: await fn() };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
