import { mappedV4 } from './source-address.js';

/** The `maxStartups` daemon option: OpenSSH's MaxStartups `start:rate:full`. */
export type MaxStartups = number | [start: number, rate: number, full: number];

/** OpenSSH's default, 10:30:100. */
export const DEFAULT_MAX_STARTUPS: [number, number, number] = [10, 30, 100];
/** Unauthenticated connections one source address may hold at once (OpenSSH's PerSourceMaxStartups). */
export const DEFAULT_PER_SOURCE_MAX_STARTUPS = 10;

export function maxStartupsProblem(v: unknown): string | undefined {
  const n = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 1;
  if (n(v)) return undefined;
  if (Array.isArray(v) && v.length === 3 && n(v[0]) && n(v[2]) && v[0] <= v[2]) {
    if (typeof v[1] === 'number' && Number.isInteger(v[1]) && v[1] >= 0 && v[1] <= 100) return undefined;
  }
  return 'a positive integer, or [start, rate 0-100, full] with start <= full';
}

/**
 * Admission of new connections while others are still unauthenticated, without I/O: OpenSSH's
 * MaxStartups (below `start` every connection is accepted; from `start` on a new one is refused
 * with probability `rate`%, rising linearly to 100% at `full`, except a source's first, which
 * only `full` refuses) and a cap per source address, so one address stalling connections cannot
 * take the places of everyone else.
 */
export class Startups {
  private readonly start: number;
  private readonly rate: number;
  private readonly full: number;
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(
    limit: MaxStartups = DEFAULT_MAX_STARTUPS,
    private readonly perSource: number = DEFAULT_PER_SOURCE_MAX_STARTUPS,
  ) {
    [this.start, this.rate, this.full] = typeof limit === 'number' ? [limit, 100, limit] : limit;
  }

  /** Unauthenticated connections being counted. */
  get count(): number {
    return this.total;
  }

  /**
   * Whether a new connection from `address` may start; `random` is a number in [0, 1). When it
   * may, it is counted until `done(address)`. Returns the reason when it may not.
   */
  admit(address: string, random: number): true | string {
    const source = mappedV4(address) ?? address;
    const mine = this.bySource.get(source) ?? 0;
    if (mine >= this.perSource) return `too many unauthenticated connections from ${source}`;
    if (this.total >= this.full) return 'too many unauthenticated connections';
    // Random early drop spares a source's first connection: one address at its per-source cap
    // (which may equal `start`) then cannot make everybody else's logins a lottery. Many
    // sources together still meet `full`.
    if (this.total >= this.start && mine > 0) {
      const p = this.rate + ((100 - this.rate) * (this.total - this.start)) / (this.full - this.start || 1);
      if (random * 100 < p) return 'too many unauthenticated connections (random early drop)';
    }
    this.total++;
    this.bySource.set(source, mine + 1);
    return true;
  }

  /** A counted connection authenticated or ended. */
  done(address: string): void {
    const source = mappedV4(address) ?? address;
    const mine = this.bySource.get(source);
    if (mine === undefined) return;
    this.total--;
    if (mine <= 1) this.bySource.delete(source);
    else this.bySource.set(source, mine - 1);
  }
}
