import { sign, verify } from 'node:crypto';
import { SshReader } from '../wire/reader.js';
import { SshWriter } from '../wire/writer.js';
import { curveForKeyType } from './curves.js';
import type { EcdsaCurve } from './curves.js';
import { badKey, leftPad, readUnsignedMpint } from './encoding.js';
import { keyTypeForSignatureAlgorithm } from './public-key.js';
import type { KeyType, PrivateKey, PublicKey, SignatureAlgorithm } from './types.js';
import { ED448_SIGNATURE_BYTES } from './ed448.js';

const ED25519_SIGNATURE_BYTES = 64;
/** RFC 4253 §6.6 ssh-dss: r and s as two 160-bit unsigned integers, 40 bytes in all. */
const DSS_SIGNATURE_BYTES = 40;

/** RFC 8332 §3 (rsa-sha2-*), RFC 4253 §6.6 (ssh-rsa: SHA-1). */
function rsaHash(alg: SignatureAlgorithm): 'sha256' | 'sha512' | 'sha1' | undefined {
  return alg === 'rsa-sha2-256'
    ? 'sha256'
    : alg === 'rsa-sha2-512'
      ? 'sha512'
      : alg === 'ssh-rsa'
        ? 'sha1'
        : undefined;
}

/** Whether `alg` signs with a key of `type` (an ECDSA curve must match exactly). */
export function signatureAlgorithmFits(type: KeyType, alg: string): boolean {
  return keyTypeForSignatureAlgorithm(alg) === type;
}

/**
 * Signs `data` and returns the SSH signature blob: string algorithm name, string signature
 * (RFC 4253 §6.6). The inner signature is RFC 8709 §6 (64 bytes of Ed25519, 114 of Ed448), RFC 4253
 * §6.6 ssh-dss (40 bytes of r || s over SHA-1), RFC 5656 §3.1.2
 * (mpint r, mpint s) or RFC 8332 §3 (PKCS#1 v1.5, as long as the modulus).
 */
export function signData(key: PrivateKey, alg: SignatureAlgorithm, data: Buffer): Buffer {
  if (!signatureAlgorithmFits(key.type, alg)) throw badKey(`a ${key.type} key cannot make ${alg} signatures`);
  let sig: Buffer;
  const curve = curveForKeyType(key.type);
  if (key.type === 'ssh-ed25519' || key.type === 'ssh-ed448') {
    sig = sign(null, data, key.keyObject);
  } else if (key.type === 'ssh-dss') {
    // RFC 4253 §6.6: SHA-1, r || s; IEEE P1363 is exactly that for a 160-bit q.
    sig = sign('sha1', data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' });
  } else if (curve !== undefined) {
    const rs = sign(curve.hash, data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' });
    sig = new SshWriter(2 * curve.size + 16)
      .mpintFromUnsigned(rs.subarray(0, curve.size))
      .mpintFromUnsigned(rs.subarray(curve.size))
      .finish();
  } else {
    sig = sign(rsaHash(alg)!, data, key.keyObject);
  }
  return new SshWriter(sig.length + alg.length + 8).string(alg).string(sig).finish();
}

/**
 * Verifies an SSH signature blob over `data`. False, never an exception, for anything wrong:
 * a malformed blob, an algorithm name other than `alg`, an `alg` that does not fit the key,
 * trailing bytes, or a signature that does not verify.
 */
export function verifySignature(
  key: PublicKey,
  alg: SignatureAlgorithm,
  signatureBlob: Buffer,
  data: Buffer,
): boolean {
  try {
    if (!signatureAlgorithmFits(key.type, alg)) return false;
    const r = new SshReader(signatureBlob);
    if (r.ascii('signature algorithm') !== alg) return false;
    const sig = r.string('signature');
    if (r.remaining !== 0) return false;
    const curve = curveForKeyType(key.type);
    if (key.type === 'ssh-ed25519') {
      return sig.length === ED25519_SIGNATURE_BYTES && verify(null, data, key.keyObject, sig);
    }
    if (key.type === 'ssh-ed448') {
      return sig.length === ED448_SIGNATURE_BYTES && verify(null, data, key.keyObject, sig);
    }
    if (key.type === 'ssh-dss') {
      return (
        sig.length === DSS_SIGNATURE_BYTES &&
        verify('sha1', data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' }, sig)
      );
    }
    if (curve !== undefined) {
      const rs = ecdsaSignatureToP1363(sig, curve);
      return (
        rs !== undefined && verify(curve.hash, data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' }, rs)
      );
    }
    return verifyRsa(key, rsaHash(alg)!, sig, data);
  } catch {
    return false;
  }
}

/** RFC 5656 §3.1.2 `mpint r, mpint s` to the fixed-width r || s that OpenSSL's P1363 form wants. */
function ecdsaSignatureToP1363(sig: Buffer, curve: EcdsaCurve): Buffer | undefined {
  const r = new SshReader(sig);
  const rBytes = readUnsignedMpint(r, 'ECDSA r', false);
  const sBytes = readUnsignedMpint(r, 'ECDSA s', false);
  if (r.remaining !== 0) return undefined;
  if (rBytes.length === 0 || sBytes.length === 0) return undefined;
  if (rBytes.length > curve.size || sBytes.length > curve.size) return undefined;
  return Buffer.concat([leftPad(rBytes, curve.size), leftPad(sBytes, curve.size)]);
}

/**
 * RFC 8332 §3: the signature is as long as the modulus; like OpenSSH, accept a shorter one
 * (leading zeros dropped by some signers) by restoring the zeros, and refuse a longer one.
 */
function verifyRsa(key: PublicKey, hash: string, sig: Buffer, data: Buffer): boolean {
  const bits = key.keyObject.asymmetricKeyDetails?.modulusLength;
  if (bits === undefined) return false;
  const modBytes = Math.ceil(bits / 8);
  if (sig.length === 0 || sig.length > modBytes) return false;
  const full = sig.length === modBytes ? sig : leftPad(sig, modBytes);
  return verify(hash, data, key.keyObject, full);
}
