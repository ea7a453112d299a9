import { getDiffieHellman, randomBytes, type KeyObject } from 'node:crypto';
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

/** Our half of a DH agreement over prime `p` with generator `g`. */
export class DhKey {
  readonly publicValue: Buffer;
  private readonly privateKey: KeyObject;

  constructor(
    private readonly p: bigint,
    private readonly g: bigint,
    exponentBits: number,
  ) {
    // A private exponent of twice the security wanted, as OpenSSH does (dh.c dh_gen_key), not
    // of the group's full size: an 8192-bit exponent would cost 16 times as much for nothing.
    const bits = Math.min(exponentBits, p.toString(2).length - 1);
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

export function dhAgreement(key: DhKey): Agreement {
  const k = (peer: Buffer) => new SshWriter(16 + peer.length).mpintFromUnsigned(key.agree(peer)).finish();
  return {
    clientValue: () => key.publicValue,
    clientSecret: k,
    serverReply: (c) => ({ value: key.publicValue, k: k(c) }),
  };
}

/** Private exponent size for a hash: twice its output, as OpenSSH's kex->we_need * 8 * 2. */
export function exponentBitsFor(hash: KexMethodSpec['hash']): number {
  return { sha1: 160, sha256: 256, sha384: 384, sha512: 512 }[hash] * 2;
}

function group(name: string, modp: string, hash: KexMethodSpec['hash']): KexMethodSpec {
  let prime: bigint | undefined;
  const ephemeral = () => {
    prime ??= toBig(getDiffieHellman(modp).getPrime());
    return new DhKey(prime, 2n, exponentBitsFor(hash));
  };
  const spec: KexMethodSpec = {
    name,
    hash,
    ephemeral,
    create: (input, premade) =>
      new OneRoundTrip(spec, input, dhAgreement((premade as DhKey | undefined) ?? ephemeral()), {
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
