import { createHash } from 'node:crypto';
import { SshWriter } from '../../wire/writer.js';
import { x25519Key, type EcdhKey } from './ecdh.js';
import {
  MLKEM768_CIPHERTEXT_BYTES,
  MLKEM768_PUBLIC_KEY_BYTES,
  mlKem,
  type MlKem,
  type MlKemKeyPair,
} from './mlkem.js';
import { OneRoundTrip, kexFailed, type Agreement } from './round.js';
import type { KexMethodSpec } from './types.js';

/**
 * mlkem768x25519-sha256 (draft-ietf-sshm-mlkem-hybrid-kex; OpenSSH 9.9, the default of 10):
 *   C_INIT  = ML-KEM-768 encapsulation key (1184) || X25519 public key (32)
 *   S_REPLY = ML-KEM-768 ciphertext (1088)        || X25519 public key (32)
 *   K = string(SHA-256(K_PQ || K_CL)), K_CL the raw 32-byte X25519 output (all zeros refused).
 * Messages 30/31 carry C_INIT and S_REPLY as strings, as ECDH does.
 */
export interface ClientHalf {
  kem: MlKemKeyPair;
  x: EcdhKey;
}

function combine(kPq: Buffer, kCl: Buffer): Buffer {
  const h = createHash('sha256').update(kPq).update(kCl).digest();
  return new SshWriter(40).string(h).finish();
}

/** `premade`: a client's half made ahead; `serverX`: a server's X25519 key made ahead. */
export function hybridAgreement(kem: MlKem, premade?: ClientHalf, serverX?: EcdhKey): Agreement {
  let client = premade;
  const half = () => (client ??= { kem: kem.keygen(), x: x25519Key() });
  return {
    clientValue: () => {
      const c = half();
      return Buffer.concat([c.kem.publicKey, c.x.publicValue]);
    },
    clientSecret: (s) => {
      if (s.length !== MLKEM768_CIPHERTEXT_BYTES + 32)
        throw kexFailed(
          `mlkem768x25519: server reply is ${s.length} bytes, not ${MLKEM768_CIPHERTEXT_BYTES + 32}`,
        );
      const c = half();
      const kPq = c.kem.decapsulate(s.subarray(0, MLKEM768_CIPHERTEXT_BYTES));
      return combine(kPq, c.x.agree(s.subarray(MLKEM768_CIPHERTEXT_BYTES)));
    },
    serverReply: (c) => {
      if (c.length !== MLKEM768_PUBLIC_KEY_BYTES + 32)
        throw kexFailed(
          `mlkem768x25519: client value is ${c.length} bytes, not ${MLKEM768_PUBLIC_KEY_BYTES + 32}`,
        );
      let enc;
      try {
        enc = kem.encapsulate(c.subarray(0, MLKEM768_PUBLIC_KEY_BYTES));
      } catch (e) {
        throw kexFailed(`mlkem768x25519: invalid ML-KEM encapsulation key (${(e as Error).message})`);
      }
      const x = serverX ?? x25519Key();
      const kCl = x.agree(c.subarray(MLKEM768_PUBLIC_KEY_BYTES));
      return { value: Buffer.concat([enc.ciphertext, x.publicValue]), k: combine(enc.sharedSecret, kCl) };
    },
  };
}

/** A spec over a given ML-KEM implementation (tests run both). */
export function mlkem768x25519(kem: MlKem = mlKem): KexMethodSpec {
  const spec: KexMethodSpec = {
    name: 'mlkem768x25519-sha256',
    hash: 'sha256',
    // The client's half is made ahead; a server's depends on the client's value.
    ephemeral: () => ({ kem: kem.keygen(), x: x25519Key() }),
    ephemeralClientOnly: true,
    // The server's X25519 half does not depend on the client's value: it is made ahead.
    serverEphemeral: x25519Key,
    create: (input, premade) =>
      new OneRoundTrip(
        spec,
        input,
        input.role === 'client'
          ? hybridAgreement(kem, premade as ClientHalf | undefined)
          : hybridAgreement(kem, undefined, premade as EcdhKey | undefined),
        { init: 30, reply: 31, mpint: false, what: spec.name },
      ),
  };
  return spec;
}

export const mlkem768x25519Sha256 = mlkem768x25519();
