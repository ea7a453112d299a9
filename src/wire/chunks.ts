/**
 * `n` bytes from offset `at` of the bytes `chunks` hold one after another, copied into a buffer
 * of their own (for a few bytes split across chunks: a length field, a packet's head).
 */
export function copyOut(chunks: readonly Buffer[], at: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let got = 0;
  for (const c of chunks) {
    if (at >= c.length) {
      at -= c.length;
      continue;
    }
    const k = Math.min(n - got, c.length - at);
    c.copy(out, got, at, at + k);
    got += k;
    at = 0;
    if (got === n) break;
  }
  return out;
}
