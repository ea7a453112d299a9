import * as nodeCrypto from 'node:crypto';
import { createRequire } from 'node:module';
import type * as NobleMlKemModule from '@noble/post-quantum/ml-kem.js';

/**
 * ML-KEM-768 (FIPS 203) for the hybrid key exchange: from `node:crypto` where the running Node
 * has it (24.7 and later: `crypto.encapsulate`/`decapsulate` over OpenSSL 3.5), otherwise from
 * `@noble/post-quantum` (audited, pure JavaScript). The choice is made once, at run time.
 */
export interface MlKem {
  /** Which implementation this is, for logs and tests. */
  readonly source: 'node:crypto' | '@noble/post-quantum';
  keygen(): MlKemKeyPair;
  /** FIPS 203 ML-KEM.KeyGen_internal from the 64-byte seed d || z (for known-answer tests). */
  keygenFromSeed(seed: Buffer): MlKemKeyPair;
  /** Encapsulates to a raw 1184-byte encapsulation key; throws on a key that fails FIPS 203's check. */
  encapsulate(publicKey: Buffer): { ciphertext: Buffer; sharedSecret: Buffer };
}

export interface MlKemKeyPair {
  /** The raw 1184-byte encapsulation key. */
  readonly publicKey: Buffer;
  /** The 32-byte shared secret from a 1088-byte ciphertext (implicit rejection on a forged one). */
  decapsulate(ciphertext: Buffer): Buffer;
}

export const MLKEM768_PUBLIC_KEY_BYTES = 1184;
export const MLKEM768_CIPHERTEXT_BYTES = 1088;

/** DER SubjectPublicKeyInfo header of an ML-KEM-768 key (OID 2.16.840.1.101.3.4.4.2): the raw key follows. */
const SPKI_PREFIX = Buffer.from('308204b2300b0609608648016503040402038204a100', 'hex');
/** PKCS #8 of an ML-KEM-768 key in the seed-only form (draft-ietf-lamps-kyber-certificates: [0] seed). */
const PKCS8_SEED_PREFIX = Buffer.from('3054020100300b060960864801650304040204428040', 'hex');
export const MLKEM_SEED_BYTES = 64;

type NobleKem = typeof NobleMlKemModule.ml_kem768;
let noble: NobleKem | undefined;

/**
 * Loads `@noble/post-quantum` on first use, synchronously, through require(esm) (Node 20.19+ and
 * 22.12+, hence `engines`). Loading it at import time, where node:crypto has ML-KEM and it is never
 * used, grew a bare daemon's heap past V8's incremental-marking threshold: --trace-gc showed three
 * times the mark-compacts during a bulk transfer. A top-level `await import()` would have made the
 * package impossible to require() from CommonJS (ERR_REQUIRE_ASYNC_MODULE).
 */
function loadNoble(): NobleKem {
  noble ??= (createRequire(import.meta.url)('@noble/post-quantum/ml-kem.js') as typeof NobleMlKemModule)
    .ml_kem768;
  return noble;
}

function nobleKeyPair(pair: { publicKey: Uint8Array; secretKey: Uint8Array }): MlKemKeyPair {
  const { publicKey, secretKey } = pair;
  return {
    publicKey: Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.length),
    decapsulate: (ct) => Buffer.from(loadNoble().decapsulate(ct, secretKey)),
  };
}

export const nobleMlKem: MlKem = {
  source: '@noble/post-quantum',
  keygen: () => nobleKeyPair(loadNoble().keygen()),
  keygenFromSeed(seed) {
    if (seed.length !== MLKEM_SEED_BYTES)
      throw new RangeError(`ML-KEM seed must be ${MLKEM_SEED_BYTES} bytes`);
    return nobleKeyPair(loadNoble().keygen(seed));
  },
  encapsulate(publicKey) {
    const { cipherText, sharedSecret } = loadNoble().encapsulate(publicKey);
    return { ciphertext: Buffer.from(cipherText), sharedSecret: Buffer.from(sharedSecret) };
  },
};

/** The node:crypto functions of Node 24.7+, typed here because @types/node 20 lacks them. */
interface KemFunctions {
  encapsulate(key: nodeCrypto.KeyObject): { sharedKey: Buffer; ciphertext: Buffer };
  decapsulate(key: nodeCrypto.KeyObject, ciphertext: Buffer): Buffer;
}

function nodeKem(): MlKem | undefined {
  const c = nodeCrypto as unknown as Partial<KemFunctions>;
  if (typeof c.encapsulate !== 'function' || typeof c.decapsulate !== 'function') return undefined;
  const { encapsulate, decapsulate } = c as KemFunctions;
  try {
    // Present is not enough: the OpenSSL under it must know ML-KEM (3.5 and later).
    nodeCrypto.generateKeyPairSync('ml-kem-768' as 'x25519');
  } catch {
    return undefined;
  }
  return {
    source: 'node:crypto',
    keygen() {
      const { publicKey, privateKey } = nodeCrypto.generateKeyPairSync('ml-kem-768' as 'x25519', {
        publicKeyEncoding: { type: 'spki', format: 'der' },
      }) as unknown as { publicKey: Buffer; privateKey: nodeCrypto.KeyObject };
      if (!publicKey.subarray(0, SPKI_PREFIX.length).equals(SPKI_PREFIX))
        throw new Error('generateKeyPairSync returned an unexpected ML-KEM-768 SubjectPublicKeyInfo');
      return {
        publicKey: publicKey.subarray(SPKI_PREFIX.length),
        decapsulate: (ct) => decapsulate(privateKey, ct),
      };
    },
    keygenFromSeed(seed) {
      if (seed.length !== MLKEM_SEED_BYTES)
        throw new RangeError(`ML-KEM seed must be ${MLKEM_SEED_BYTES} bytes`);
      const privateKey = nodeCrypto.createPrivateKey({
        key: Buffer.concat([PKCS8_SEED_PREFIX, seed]),
        format: 'der',
        type: 'pkcs8',
      });
      const spki = nodeCrypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
      return {
        publicKey: spki.subarray(SPKI_PREFIX.length),
        decapsulate: (ct) => decapsulate(privateKey, ct),
      };
    },
    encapsulate(publicKey) {
      const key = nodeCrypto.createPublicKey({
        key: Buffer.concat([SPKI_PREFIX, publicKey]),
        format: 'der',
        type: 'spki',
      });
      const { sharedKey, ciphertext } = encapsulate(key);
      return { ciphertext, sharedSecret: sharedKey };
    },
  };
}

/** The implementation this process uses: node:crypto's when it has one, else noble's. */
export const nodeMlKem: MlKem | undefined = nodeKem();
export const mlKem: MlKem = nodeMlKem ?? nobleMlKem;
