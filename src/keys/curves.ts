import type { KeyType } from './types.js';

/** The NIST curves of ecdsa-sha2-* keys (RFC 5656). */
export type EcdsaCurveName = 'nistp256' | 'nistp384' | 'nistp521';

/** One NIST curve as RFC 5656 §6.1/§10.1 names it, with the names node and JWK use for it. */
export interface EcdsaCurve {
  readonly name: EcdsaCurveName;
  readonly keyType: KeyType;
  /** RFC 7518 §6.2.1.1 curve name. */
  readonly jwkCurve: 'P-256' | 'P-384' | 'P-521';
  /** OpenSSL's name, as in KeyObject.asymmetricKeyDetails.namedCurve and createECDH. */
  readonly nodeCurve: 'prime256v1' | 'secp384r1' | 'secp521r1';
  /** RFC 5656 §6.2.1: the hash goes with the curve size. */
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  /** Bytes of a field element and of r/s in IEEE P1363 form. */
  readonly size: 32 | 48 | 66;
}

export const ECDSA_CURVES: readonly EcdsaCurve[] = [
  {
    name: 'nistp256',
    keyType: 'ecdsa-sha2-nistp256',
    jwkCurve: 'P-256',
    nodeCurve: 'prime256v1',
    hash: 'sha256',
    size: 32,
  },
  {
    name: 'nistp384',
    keyType: 'ecdsa-sha2-nistp384',
    jwkCurve: 'P-384',
    nodeCurve: 'secp384r1',
    hash: 'sha384',
    size: 48,
  },
  {
    name: 'nistp521',
    keyType: 'ecdsa-sha2-nistp521',
    jwkCurve: 'P-521',
    nodeCurve: 'secp521r1',
    hash: 'sha512',
    size: 66,
  },
];

export function curveForKeyType(type: string): EcdsaCurve | undefined {
  return ECDSA_CURVES.find((c) => c.keyType === type);
}

export function curveForName(name: string): EcdsaCurve | undefined {
  return ECDSA_CURVES.find((c) => c.name === name);
}

export function curveForNodeCurve(nodeCurve: string | undefined): EcdsaCurve | undefined {
  return ECDSA_CURVES.find((c) => c.nodeCurve === nodeCurve);
}
