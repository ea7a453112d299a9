import { getDiffieHellman, randomBytes, type DiffieHellmanGroup, type KeyObject } from 'node:crypto';
import { dhCompute, dhPrivateKey, dhPublicValue } from './dh-keys.js';
import { toBig, toBuf } from './safe-prime.js';
import { SshWriter } from '../../wire/writer.js';
import { OneRoundTrip, kexFailed, type Agreement } from './round.js';
import type { KexMethodSpec } from './types.js';

/**
 * Finite-field Diffie-Hellman over a fixed group (RFC 4253 §8, RFC 8268): e and f are mpints,
 * K is the mpint g^xy mod p. The groups are RFC 2409's Oakley group 2 (group1) and RFC 3526's
 * 2048/4096/8192-bit MODP groups, taken from OpenSSL through `crypto.getDiffieHellman`.
 */

/** Our half of a DH agreement over any prime `p` with generator `g` (group exchange: the server's group). */
export class DhKey {
  readonly publicValue: Buffer;
  /** Bits of the private exponent. */
  readonly bits: number;
  private readonly privateKey: KeyObject;

  constructor(
    private readonly p: bigint,
    private readonly g: bigint,
    exponentBits: number,
  ) {
    // A private exponent of twice the security wanted, as OpenSSH does (dh.c dh_gen_key), not
    // of the group's full size: an 8192-bit exponent would cost 16 times as much for nothing.
    const bits = Math.min(exponentBits, p.toString(2).length - 1);
    this.bits = bits;
    const x =
      (toBig(randomBytes(Math.ceil(bits / 8))) & ((1n << BigInt(bits)) - 1n)) | (1n << BigInt(bits - 1));
    this.privateKey = dhPrivateKey(p, g, x);
    this.publicValue = stripZeros(dhPublicValue(this.privateKey));
  }

  /** K from the peer's value, which must lie in [2, p-2] (RFC 4253 §8; OpenSSH dh_pub_is_valid). */
  agree(peer: Buffer): Buffer {
    const v = toBig(stripZeros(peer));
    if (v < 2n || v > this.p - 2n) throw kexFailed('diffie-hellman: peer value is outside [2, p-2]');
    const k = dhCompute(this.privateKey, this.p, this.g, v);
    if (k <= 1n) throw kexFailed('diffie-hellman: the shared secret is 1');
    return toBuf(k);
  }
}

function stripZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return b.subarray(i);
}

export function dhAgreement(key: { readonly publicValue: Buffer; agree(peer: Buffer): Buffer }): Agreement {
  const k = (peer: Buffer) => new SshWriter(16 + peer.length).mpintFromUnsigned(key.agree(peer)).finish();
  return {
    clientValue: () => key.publicValue,
    clientSecret: k,
    serverReply: (c) => ({ value: key.publicValue, k: k(c) }),
  };
}

/**
 * Private exponent size as OpenSSH's dh_gen_key sizes it: twice the key bits the negotiated
 * ciphers and MACs need, at least 2 × 256 (Pollard rho and baby-step giant-step are O(sqrt)).
 * With aes128-gcm, aes256-gcm or chacha20-poly1305's 256-bit security, 512 bits; with a 512-bit
 * MAC key (hmac-sha2-512), 1024. The group's size caps it (the constructor).
 */
export function exponentBitsFor(needBits: number | undefined): number {
  return 2 * Math.max(256, needBits ?? 256);
}

/**
 * Our half of a DH agreement over one of OpenSSL's named MODP groups (RFC 3526, RFC 2409's group
 * 2), through `crypto.getDiffieHellman`: OpenSSL picks the private exponent at twice the group's
 * security strength (SP 800-56A; 224, 328 and 400 bits for the 2048-, 4096- and 8192-bit
 * groups, inside RFC 3526's table), so the exponent never weakens the group. Not the KeyObject
 * path of `DhKey`: there Node 20's OpenSSL checks the peer's value with a full-size modular
 * exponentiation (y^q mod p) on every agreement, 105 ms for the 8192-bit group on this machine
 * against 6 ms here; the range check below is what RFC 4253 §8 asks (the groups are safe primes,
 * so no small subgroup is left to check for).
 */
const PRIMES = new Map<string, bigint>();

export class NamedGroupDhKey {
  readonly publicValue: Buffer;
  private readonly dh: DiffieHellmanGroup;
  private readonly p: bigint;

  constructor(modp: string) {
    this.dh = getDiffieHellman(modp);
    // The prime as a number, once per group and process (8192 bits to parse on every handshake otherwise).
    this.p = PRIMES.get(modp) ?? PRIMES.set(modp, toBig(this.dh.getPrime())).get(modp)!;
    this.publicValue = stripZeros(this.dh.generateKeys());
  }

  /** K from the peer's value, which must lie in [2, p-2] (RFC 4253 §8; OpenSSH dh_pub_is_valid). */
  agree(peer: Buffer): Buffer {
    const v = toBig(stripZeros(peer));
    if (v < 2n || v > this.p - 2n) throw kexFailed('diffie-hellman: peer value is outside [2, p-2]');
    const k = toBig(stripZeros(this.dh.computeSecret(stripZeros(peer))));
    if (k <= 1n) throw kexFailed('diffie-hellman: the shared secret is 1');
    return toBuf(k);
  }
}

function group(name: string, modp: string, hash: KexMethodSpec['hash']): KexMethodSpec {
  const ephemeral = () => new NamedGroupDhKey(modp);
  const spec: KexMethodSpec = {
    name,
    hash,
    ephemeral,
    create: (input, premade) =>
      new OneRoundTrip(spec, input, dhAgreement((premade as NamedGroupDhKey | undefined) ?? ephemeral()), {
        init: 30,
        reply: 31,
        mpint: true,
        what: name,
      }),
  };
  return spec;
}

export const dhGroup14Sha256 = group('diffie-hellman-group14-sha256', 'modp14', 'sha256');
export const dhGroup16Sha512 = group('diffie-hellman-group16-sha512', 'modp16', 'sha512');
export const dhGroup18Sha512 = group('diffie-hellman-group18-sha512', 'modp18', 'sha512');
export const dhGroup14Sha1 = group('diffie-hellman-group14-sha1', 'modp14', 'sha1');
export const dhGroup1Sha1 = group('diffie-hellman-group1-sha1', 'modp2', 'sha1');
