/**
 * Poly1305 (RFC 8439 §2.5) in BigInt arithmetic, for the few hundred bytes of an encrypted key
 * file's private section: synchronous, so key files decode without loading libsodium (the
 * transport's fast Poly1305 is asynchronous to load). Not constant-time; a key file is local data.
 */
const P = (1n << 130n) - 5n;
const CLAMP = 0x0ffffffc0ffffffc0ffffffc0fffffffn;

function le(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

/** The 16-byte tag of `msg` under the one-time 32-byte key `r || s`. */
export function poly1305(key: Uint8Array, msg: Uint8Array): Buffer {
  if (key.length !== 32) throw new RangeError('Poly1305 key must be 32 bytes');
  const r = le(key.subarray(0, 16)) & CLAMP;
  const s = le(key.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, Math.min(i + 16, msg.length));
    // Each block with a 1 byte appended (§2.5.1).
    const n = le(block) | (1n << BigInt(8 * block.length));
    acc = ((acc + n) * r) % P;
  }
  acc = (acc + s) & ((1n << 128n) - 1n);
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    out[i] = Number(acc & 0xffn);
    acc >>= 8n;
  }
  return out;
}
