import { createHash } from 'node:crypto';

/**
 * RFC 4253 §7.2: key material for letter X is HASH(K || H || X || session_id), extended by
 * HASH(K || H || K1 || ... ) until `length` bytes. `sharedSecret` is K already encoded
 * (mpint or string) as the exchange hash used it.
 */
export function deriveKey(
  hash: string,
  sharedSecret: Buffer,
  exchangeHash: Buffer,
  letter: string,
  sessionId: Buffer,
  length: number,
): Buffer {
  if (length === 0) return Buffer.alloc(0);
  const first = createHash(hash)
    .update(sharedSecret)
    .update(exchangeHash)
    .update(letter, 'latin1')
    .update(sessionId)
    .digest();
  const parts = [first];
  let have = first.length;
  while (have < length) {
    const h = createHash(hash).update(sharedSecret).update(exchangeHash);
    for (const p of parts) h.update(p);
    const next = h.digest();
    parts.push(next);
    have += next.length;
  }
  // Keys live as long as the connection: a slice of Node's shared 8 KiB pool would pin a whole slab.
  const out = Buffer.allocUnsafeSlow(length);
  let at = 0;
  for (const p of parts) at += p.copy(out, at, 0, Math.min(p.length, length - at));
  return out;
}
