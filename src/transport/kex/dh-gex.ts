import { getDiffieHellman, randomInt } from 'node:crypto';
import { protocolError } from '../../errors.js';
import { SshReader } from '../../wire/reader.js';
import { SshWriter } from '../../wire/writer.js';
import { DhKey, dhAgreement, exponentBitsFor } from './dh-group.js';
import { OneRoundTrip, kexFailed } from './round.js';
import { isSafePrime, toBig } from './safe-prime.js';
import type { GexGroup, KexInput, KexMethodSpec, KexRound, KexStep } from './types.js';

/**
 * Diffie-Hellman group exchange (RFC 4419): the client asks for a group size, the server picks a
 * group, then the exchange runs as a fixed-group one over it (messages 32 and 33), with the
 * request and the group in the exchange hash:
 *   client → GEX_REQUEST(min, n, max)    server → GEX_GROUP(p, g)
 *   client → GEX_INIT(e)                 server → GEX_REPLY(K_S, f, signature)
 */
const GEX_GROUP = 31;
const GEX_INIT = 32;
const GEX_REPLY = 33;
const GEX_REQUEST = 34;

/** The client's request when the dhGex option is not given (OpenSSH's bounds, RFC 8270's 2048-bit floor lowered to 1024 as the issue asks). */
export const DEFAULT_GEX_REQUEST: readonly [number, number, number] = [1024, 6144, 8192];
/** RFC 4419 §3: groups between 1024 and 8192 bits. */
const MIN_GEX_BITS = 1024;
const MAX_GEX_BITS = 8192;

let defaults: GexGroup[] | undefined;

/** The groups a daemon offers by default: RFC 3526's safe-prime MODP groups of 2048 to 8192 bits, generator 2. */
export function defaultGexGroups(): readonly GexGroup[] {
  defaults ??= ['modp14', 'modp15', 'modp16', 'modp17', 'modp18'].map((name) => {
    const p = toBig(getDiffieHellman(name).getPrime());
    return { size: p.toString(2).length, g: 2n, p };
  });
  return defaults;
}

/**
 * RFC 4419 §3 as OpenSSH's choose_dh and the seed's dh_gex_limits: sizes are clamped to the
 * limits, the smallest group at least `n` bits wins (else the largest below it), one of that
 * size at random.
 */
export function chooseGroup(
  groups: readonly GexGroup[],
  [min, n, max]: readonly [number, number, number],
  limits: readonly [number, number] = [MIN_GEX_BITS, MAX_GEX_BITS],
): GexGroup {
  const lo = Math.max(min, limits[0]);
  const hi = Math.min(max, limits[1]);
  const want = Math.min(Math.max(n, lo), hi);
  const fit = groups.filter((g) => g.size >= lo && g.size <= hi);
  if (fit.length === 0)
    throw kexFailed(`no DH group between ${lo} and ${hi} bits (the client asked for ${min}..${max})`);
  const above = fit.filter((g) => g.size >= want);
  const size = above.length ? Math.min(...above.map((g) => g.size)) : Math.max(...fit.map((g) => g.size));
  const same = fit.filter((g) => g.size === size);
  return same[randomInt(same.length)]!;
}

class GexRound implements KexRound {
  private request: readonly [number, number, number] | undefined;
  private inner: OneRoundTrip | undefined;

  constructor(
    private readonly spec: KexMethodSpec,
    private readonly input: KexInput,
  ) {}

  start(): Buffer[] {
    if (this.input.role === 'server') return [];
    const r = this.input.gex?.request ?? DEFAULT_GEX_REQUEST;
    this.request = r;
    return [new SshWriter(16).byte(GEX_REQUEST).uint32(r[0]).uint32(r[1]).uint32(r[2]).finish()];
  }

  receive(payload: Buffer): KexStep {
    if (this.inner) return this.inner.receive(payload);
    const type = payload[0];
    const r = new SshReader(payload, 1);
    if (this.input.role === 'server') {
      if (type !== GEX_REQUEST)
        throw protocolError(`unexpected key exchange message ${type} (wanted GEX_REQUEST)`);
      const min = r.uint32();
      const n = r.uint32();
      const max = r.uint32();
      r.done('KEX_DH_GEX_REQUEST');
      if (min > n || n > max)
        throw kexFailed(`group exchange request ${min} <= ${n} <= ${max} does not hold`);
      const request = [min, n, max] as const;
      const group = chooseGroup(
        this.input.gex?.groups ?? defaultGexGroups(),
        request,
        this.input.gex?.limits,
      );
      this.begin(request, group);
      return {
        send: [new SshWriter(32 + group.size / 4).byte(GEX_GROUP).mpint(group.p).mpint(group.g).finish()],
      };
    }
    if (type !== GEX_GROUP) throw protocolError(`unexpected key exchange message ${type} (wanted GEX_GROUP)`);
    const p = r.mpint();
    const g = r.mpint();
    r.done('KEX_DH_GEX_GROUP');
    const [min, , max] = this.request!;
    const bits = p.toString(2).length;
    if (bits < min || bits > max)
      throw kexFailed(`the server's DH group has ${bits} bits, outside the ${min}..${max} asked for`);
    if (g < 2n || g > p - 2n) throw kexFailed("the server's DH generator is outside [2, p-2]");
    if (!isSafePrime(p)) throw kexFailed(`the server's ${bits}-bit DH group modulus is not a safe prime`);
    this.begin(this.request!, { size: bits, g, p });
    return { send: this.inner!.start() };
  }

  private begin(request: readonly [number, number, number], group: GexGroup): void {
    const key = new DhKey(group.p, group.g, exponentBitsFor(this.input.needBits));
    this.inner = new OneRoundTrip(this.spec, this.input, dhAgreement(key), {
      init: GEX_INIT,
      reply: GEX_REPLY,
      mpint: true,
      what: this.spec.name,
      before: (w) => w.uint32(request[0]).uint32(request[1]).uint32(request[2]).mpint(group.p).mpint(group.g),
    });
  }
}

function gex(name: string, hash: KexMethodSpec['hash']): KexMethodSpec {
  const spec: KexMethodSpec = { name, hash, create: (input) => new GexRound(spec, input) };
  return spec;
}

export const dhGexSha256 = gex('diffie-hellman-group-exchange-sha256', 'sha256');
export const dhGexSha1 = gex('diffie-hellman-group-exchange-sha1', 'sha1');

/**
 * The seed's explicit group file: `{Size, G, P}.` terms, one or more (Erlang integers, decimal
 * or `16#hex`).
 */
export function parseGroupTerms(text: string): GexGroup[] {
  const out: GexGroup[] = [];
  const term = /\{\s*(\d+)\s*,\s*((?:16#)?[0-9a-fA-F]+)\s*,\s*((?:16#)?[0-9a-fA-F]+)\s*\}\s*\./g;
  const int = (s: string) => (s.startsWith('16#') ? BigInt('0x' + s.slice(3)) : BigInt(s));
  for (const m of text.matchAll(term)) out.push(checkGroup(Number(m[1]), int(m[2]!), int(m[3]!)));
  if (out.length === 0) throw new Error('no {Size,G,P}. term found');
  return out;
}

/**
 * An ssh-keygen moduli file (moduli(5)): `time type tests tries size generator modulus`, size
 * being one less than the modulus' bits; only safe primes (type 2) are kept.
 */
export function parseModuli(text: string): GexGroup[] {
  const out: GexGroup[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 7 || f[0]!.startsWith('#') || f[1] !== '2') continue;
    const pr = BigInt('0x' + f[6]);
    const bits = pr.toString(2).length;
    // The size field counts the bits less one (moduli(5)); a line where it does not is corrupt.
    if (Number(f[4]) !== bits - 1)
      throw new Error(`a moduli line gives size ${f[4]} for a ${bits}-bit modulus`);
    out.push(checkGroup(bits, BigInt('0x' + f[5]), pr));
  }
  if (out.length === 0) throw new Error('no safe-prime line found');
  return out;
}

/** A group as given in an option: its size must be p's, and g in [2, p-2]. */
export function checkGroup(size: number, g: bigint, p: bigint): GexGroup {
  const bits = p.toString(2).length;
  if (bits !== size) throw new Error(`a group of ${size} bits has a ${bits}-bit modulus`);
  if (g < 2n || g > p - 2n) throw new Error(`a ${size}-bit group's generator is outside [2, p-2]`);
  return { size, g, p };
}
