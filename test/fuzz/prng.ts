/**
 * A small deterministic PRNG for fuzzing (Marsaglia's xorshift32): the same seed gives the same
 * inputs on every machine, so a failure can be replayed from the seed it prints.
 *
 * Helper module, not a test file.
 */

/** The seed of a run: FUZZ_SEED from the environment (decimal or 0x hex), else a fixed constant. */
export function baseSeed(fallback = 0x5ea5_4e11): number {
  const env = process.env.FUZZ_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (Number.isInteger(n)) return n >>> 0 || 1;
  }
  return fallback >>> 0;
}

/** FUZZ_SCALE multiplies every case count (default 1; raise it for a long hunt, not in CI). */
export function scaled(n: number): number {
  const k = Number(process.env.FUZZ_SCALE ?? '1');
  return Math.max(1, Math.round(n * (Number.isFinite(k) && k > 0 ? k : 1)));
}

/** Derives an independent non-zero seed for case `i` of a run, so any one case can be replayed alone. */
export function caseSeed(base: number, i: number): number {
  // A multiplicative hash of (base, i); xorshift needs a non-zero state.
  let h = (base ^ Math.imul(i + 1, 0x9e37_79b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h || 1;
}

export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0 || 1;
  }

  /** A uniformly distributed uint32. */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.state = x;
    return x;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 0xff;
    return b;
  }
}

/** Lengths that break parsers: zero, one, around powers of two and the uint32 edges. */
export const INTERESTING_U32 = [
  0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 31, 32, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000, 0x3ffff, 0x40000,
  0x40001, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
];

/**
 * One random structural change to `input`: bit flips, byte overwrites, inserts, deletes,
 * duplicated ranges, truncation, a uint32 set to an interesting value, or a splice with `donor`.
 */
export function mutateOnce(rng: Rng, input: Buffer, donor?: Buffer): Buffer {
  const b = Buffer.from(input);
  const n = b.length;
  switch (rng.int(9)) {
    case 0: {
      if (n === 0) return rng.bytes(rng.range(1, 8));
      const i = rng.int(n);
      b[i] = b[i]! ^ (1 << rng.int(8));
      return b;
    }
    case 1: {
      if (n === 0) return rng.bytes(1);
      b[rng.int(n)] = rng.pick([0, 0xff, 0x7f, 0x80, rng.next() & 0xff]);
      return b;
    }
    case 2: {
      const at = rng.int(n + 1);
      return Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 16)), b.subarray(at)]);
    }
    case 3: {
      if (n === 0) return b;
      const at = rng.int(n);
      const len = rng.range(1, Math.min(32, n - at));
      return Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
    }
    case 4: {
      if (n === 0) return b;
      const at = rng.int(n);
      const len = rng.range(1, Math.min(64, n - at));
      const to = rng.int(n + 1);
      return Buffer.concat([b.subarray(0, to), b.subarray(at, at + len), b.subarray(to)]);
    }
    case 5:
      return b.subarray(0, rng.int(n + 1));
    case 6: {
      if (n < 4) return Buffer.concat([b, rng.bytes(4)]);
      const at = rng.int(n - 3);
      const v = rng.chance(0.5)
        ? rng.pick(INTERESTING_U32)
        : (b.readUInt32BE(at) + rng.pick([-1, 1, -4, 4, 0x1000])) >>> 0;
      b.writeUInt32BE(v >>> 0, at);
      return b;
    }
    case 7: {
      if (!donor || donor.length === 0) return b;
      const at = rng.int(n + 1);
      const from = rng.int(donor.length);
      const len = rng.range(1, Math.min(64, donor.length - from));
      return Buffer.concat([b.subarray(0, at), donor.subarray(from, from + len), b.subarray(at)]);
    }
    default: {
      if (n === 0) return b;
      const i = rng.int(n);
      b[i] = (b[i]! + rng.pick([1, -1, 0x10, -0x10])) & 0xff;
      return b;
    }
  }
}

/** One to `max` stacked mutations. */
export function mutate(rng: Rng, input: Buffer, donor?: Buffer, max = 4): Buffer {
  let b = input;
  const k = rng.range(1, max);
  for (let i = 0; i < k; i++) b = mutateOnce(rng, b, donor);
  return b;
}

/** Splits `data` into randomly sized chunks, as a socket might deliver it. */
export function randomChunks(rng: Rng, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < data.length) {
    const size = rng.chance(0.3) ? rng.range(1, 8) : rng.range(1, 4096);
    out.push(data.subarray(pos, pos + size));
    pos += size;
  }
  return out;
}
