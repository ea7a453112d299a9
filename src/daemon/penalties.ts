import { BlockList, isIPv4 } from 'node:net';
import { mappedV4, sourceBlock } from './source-address.js';

/** Why a connection earns its source a penalty (in the spirit of OpenSSH 9.8's PerSourcePenalties). */
export type PenaltyKind = 'authfail' | 'noauth' | 'graceExceeded' | 'flood';

/** The `perSourcePenalties` daemon option; durations in milliseconds. */
export interface PenaltyOptions {
  /** A connection that tried to authenticate and never succeeded (default 5 s, as OpenSSH). */
  authfail?: number;
  /** A connection that ended without trying to authenticate (default 1 s). */
  noauth?: number;
  /** A connection that did not log in within `negotiationTimeout` (default 10 s). */
  graceExceeded?: number;
  /** A connection dropped for flooding: over its output cap, too many re-keys or requests (default 10 s). */
  flood?: number;
  /** Penalties add up; a source is refused once its total reaches this (default 15 s). */
  min?: number;
  /** The most a source's penalty adds up to (default 10 minutes). */
  max?: number;
  /** Sources never penalised: addresses or CIDR blocks, e.g. `['10.0.0.0/8', '::1']` (default none). */
  exempt?: string[];
  /** How many addresses count as one source: `[ipv4Bits, ipv6Bits]` (default `[32, 128]`). */
  netBlockSize?: [number, number];
  /** How many sources are tracked at most; past it new sources go unpenalised (default 65536). */
  maxSources?: number;
}

export const PENALTY_DEFAULTS = {
  authfail: 5_000,
  noauth: 1_000,
  graceExceeded: 10_000,
  flood: 10_000,
  min: 15_000,
  max: 600_000,
  netBlockSize: [32, 128] as [number, number],
  maxSources: 65_536,
};

/** Checks a `perSourcePenalties` value; returns the problem, or undefined when it is good. */
export function penaltyOptionProblem(v: unknown): string | undefined {
  if (v === false || v === true) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'false, true or an object';
  const o = v as Record<string, unknown>;
  const durations = ['authfail', 'noauth', 'graceExceeded', 'flood', 'min', 'max'];
  for (const [k, x] of Object.entries(o)) {
    if (x === undefined) continue;
    if (durations.includes(k) || k === 'maxSources') {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) return `${k}: a non-negative integer`;
    } else if (k === 'exempt') {
      if (!Array.isArray(x) || x.some((a) => typeof a !== 'string' || !parseCidr(a)))
        return 'exempt: an array of IP addresses or CIDR blocks';
    } else if (k === 'netBlockSize') {
      const ok =
        Array.isArray(x) &&
        x.length === 2 &&
        Number.isInteger(x[0]) &&
        Number.isInteger(x[1]) &&
        x[0] >= 0 &&
        x[0] <= 32 &&
        x[1] >= 0 &&
        x[1] <= 128;
      if (!ok) return 'netBlockSize: [ipv4Bits 0-32, ipv6Bits 0-128]';
    } else return `no such field '${k}'`;
  }
  return undefined;
}

function parseCidr(s: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | undefined {
  const [address, bits] = s.split('/');
  const type = isIPv4(address!) ? 'ipv4' : sourceBlock(address!, 32, 128) ? 'ipv6' : undefined;
  if (!type) return undefined;
  const max = type === 'ipv4' ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  return { address: address!, prefix, type };
}

interface Entry {
  /** When the penalty runs out (ms). */
  expiry: number;
  /** Enforced: the accumulated penalty reached `min` before it ran out. */
  active: boolean;
}

/**
 * Per-source penalties without I/O (the clock comes in as `now`): connections that end badly add
 * time to their source's account; once a source has `min` of it, new connections from it are
 * refused until it runs out. A source keeps what it earned for as long as it lasts, capped at
 * `max`; the table holds at most `maxSources` sources and forgets expired ones first.
 */
export class PenaltyBox {
  private readonly o: typeof PENALTY_DEFAULTS;
  private readonly exempt = new BlockList();
  private readonly table = new Map<string, Entry>();

  constructor(options: PenaltyOptions = {}) {
    this.o = { ...PENALTY_DEFAULTS };
    for (const [k, v] of Object.entries(options)) {
      if (v !== undefined && k !== 'exempt') (this.o as Record<string, unknown>)[k] = v;
    }
    for (const s of options.exempt ?? []) {
      const c = parseCidr(s)!;
      this.exempt.addSubnet(c.address, c.prefix, c.type);
    }
  }

  private key(address: string): string | undefined {
    const v4 = isIPv4(address) ? address : mappedV4(address);
    if (v4 !== undefined ? this.exempt.check(v4, 'ipv4') : this.isExemptV6(address)) return undefined;
    return sourceBlock(v4 ?? address, this.o.netBlockSize[0], this.o.netBlockSize[1]);
  }

  private isExemptV6(address: string): boolean {
    try {
      return this.exempt.check(address.replace(/%.*$/, ''), 'ipv6');
    } catch {
      return false;
    }
  }

  /** Milliseconds until `address` may connect again; 0 when it may now. */
  refusedFor(address: string, now: number): number {
    const k = this.key(address);
    const e = k === undefined ? undefined : this.table.get(k);
    if (!e) return 0;
    if (e.expiry <= now) {
      this.table.delete(k!);
      return 0;
    }
    return e.active ? e.expiry - now : 0;
  }

  /** A connection from `address` ended in a way that earns a penalty of `kind`. */
  record(address: string, kind: PenaltyKind, now: number): void {
    const duration = this.o[kind];
    if (duration <= 0) return;
    const k = this.key(address);
    if (k === undefined) return;
    let e = this.table.get(k);
    if (e && e.expiry <= now) {
      this.table.delete(k);
      e = undefined;
    }
    if (!e) {
      if (this.table.size >= this.o.maxSources && !this.prune(now)) return; // full: permissive
      e = { expiry: now, active: false };
      this.table.set(k, e);
    }
    e.expiry = Math.min(e.expiry + duration, now + this.o.max);
    if (e.expiry - now >= this.o.min) e.active = true;
  }

  /** Drops expired entries; true when there is room afterwards. */
  private prune(now: number): boolean {
    for (const [k, e] of this.table) if (e.expiry <= now) this.table.delete(k);
    return this.table.size < this.o.maxSources;
  }

  /** Sources currently tracked (for tests and daemon info). */
  get size(): number {
    return this.table.size;
  }
}
