import { getDiffieHellman, randomBytes } from 'node:crypto';
import { modPowDh } from './dh-keys.js';

/**
 * Is p a safe prime (p = 2q + 1 with q prime)? For the group a server proposes in a group
 * exchange (RFC 4419 §3 lets a server choose; a hostile one could send a composite or a prime
 * with a small subgroup). Three modular exponentiations run in OpenSSL, the cost of a few DH
 * agreements of that size (8192 bits: about 1.3 s, 2048 bits: 20 ms), and a group that
 * passed is remembered, so a client pays it once per group and process:
 *  - trial division of p and q by the small primes (cheap rejection of most composites);
 *  - two Miller-Rabin rounds on q with random bases (FIPS 186-5 B.3.1's test; a composite q
 *    passes one round with probability at most 1/4);
 *  - Pocklington's criterion for p given q: q prime, q > sqrt(p), 2^(p-1) = 1 mod p and
 *    gcd(2^2 - 1, p) = 1 make p prime.
 */
export function isSafePrime(p: bigint): boolean {
  if (KNOWN.has(p)) return true;
  if (p < 7n || p % 2n === 0n) return false;
  const q = (p - 1n) / 2n;
  for (const s of SMALL_PRIMES) {
    if (p % s === 0n || q % s === 0n) return false;
  }
  for (let i = 0; i < 2; i++) if (!millerRabinRound(q)) return false;
  if (modPow(2n, p - 1n, p) !== 1n) return false;
  remember(p);
  return true;
}

const KNOWN = new Set<bigint>();
const MAX_REMEMBERED = 64;

function remember(p: bigint): void {
  if (KNOWN.size >= MAX_REMEMBERED + TRUSTED) {
    // Forget the oldest remembered one (the trusted groups were added first and stay).
    const it = KNOWN.values();
    for (let i = 0; i < TRUSTED; i++) it.next();
    KNOWN.delete(it.next().value!);
  }
  KNOWN.add(p);
}

/** RFC 3526's safe-prime MODP groups, as OpenSSL has them: trusted without a test. */
let TRUSTED = 0;
for (const g of ['modp14', 'modp15', 'modp16', 'modp17', 'modp18']) {
  KNOWN.add(toBig(getDiffieHellman(g).getPrime()));
  TRUSTED++;
}

const SMALL_PRIMES: bigint[] = (() => {
  const out: bigint[] = [];
  for (let n = 3; n < 2000; n += 2) {
    let prime = true;
    for (let d = 3; d * d <= n; d += 2) if (n % d === 0) prime = false;
    if (prime) out.push(BigInt(n));
  }
  return out;
})();

function millerRabinRound(n: bigint): boolean {
  let d = n - 1n;
  let s = 0;
  while (d % 2n === 0n) {
    d /= 2n;
    s++;
  }
  const len = Math.ceil(n.toString(16).length / 2);
  const a = 2n + (toBig(randomBytes(len)) % (n - 3n));
  let x = modPow(a, d, n);
  if (x === 1n || x === n - 1n) return true;
  for (let i = 1; i < s; i++) {
    x = (x * x) % n;
    if (x === n - 1n) return true;
    if (x === 1n) return false;
  }
  return false;
}

/** b^e mod m through OpenSSL's modular exponentiation (a DH agreement with private key e). */
export function modPow(b: bigint, e: bigint, m: bigint): bigint {
  if (m < 2n ** 512n) {
    // OpenSSL refuses DH moduli this small; plain bigint arithmetic is quick enough for them.
    let r = 1n;
    let x = b % m;
    for (let k = e; k > 0n; k >>= 1n) {
      if (k & 1n) r = (r * x) % m;
      x = (x * x) % m;
    }
    return r;
  }
  return modPowDh(b % m, e, m);
}

export function toBig(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + b.toString('hex'));
}

export function toBuf(n: bigint): Buffer {
  let h = n.toString(16);
  if (h.length % 2) h = '0' + h;
  return Buffer.from(h, 'hex');
}
