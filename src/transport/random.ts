import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for packet padding (RFC 4253 §6: "arbitrary-length padding ... SHOULD be random").
 * Taking slices of a pooled buffer refilled as it runs out avoids one RNG call per packet on the
 * hot path; the padding is never reused across packets within one fill.
 */
const POOL_SIZE = 16 * 1024;
let pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE));
let used = 0;

export function fillPadding(target: Buffer, start: number, end: number): void {
  const n = end - start;
  if (used + n > POOL_SIZE) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE));
    used = 0;
  }
  pool.copy(target, start, used, used + n);
  used += n;
}
