import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';

/**
 * Finite-field DH arithmetic through OpenSSL, with keys built as DER (PKCS #3 parameters inside
 * PKCS #8 / SubjectPublicKeyInfo). Not `crypto.createDiffieHellman(p)`: for a prime OpenSSL does
 * not know as a named group it runs DH_check, full primality tests of p and (p-1)/2, which take
 * 0.3 s for 2048 bits and 50 s for 8192 on this machine (measured) — a group-exchange client
 * would pay that for every group a server sends. Importing keys checks nothing of the kind.
 */
const DH_OID = Buffer.from('06092a864886f70d010301', 'hex'); // 1.2.840.113549.1.3.1 dhKeyAgreement

function unsigned(n: bigint): Buffer {
  let h = n.toString(16);
  if (h.length % 2) h = '0' + h;
  return Buffer.from(h, 'hex');
}

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const len =
    n < 0x80
      ? Buffer.from([n])
      : Buffer.concat([Buffer.from([0x80 | unsigned(BigInt(n)).length]), unsigned(BigInt(n))]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

function integer(n: bigint): Buffer {
  const b = unsigned(n);
  return tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function algorithm(p: bigint, g: bigint): Buffer {
  return tlv(0x30, Buffer.concat([DH_OID, tlv(0x30, Buffer.concat([integer(p), integer(g)]))]));
}

export function dhPrivateKey(p: bigint, g: bigint, x: bigint): KeyObject {
  const der = tlv(0x30, Buffer.concat([integer(0n), algorithm(p, g), tlv(0x04, integer(x))]));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

export function dhPublicKey(p: bigint, g: bigint, y: bigint): KeyObject {
  const der = tlv(
    0x30,
    Buffer.concat([algorithm(p, g), tlv(0x03, Buffer.concat([Buffer.from([0]), integer(y)]))]),
  );
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/** Reads one DER element's header at `at`: its tag, and where its body starts and ends. */
function element(der: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = der[at]!;
  let n = der[at + 1]!;
  let start = at + 2;
  if (n & 0x80) {
    const k = n & 0x7f;
    n = 0;
    for (let i = 0; i < k; i++) n = n * 256 + der[start + i]!;
    start += k;
  }
  return { tag, start, end: start + n };
}

/** y = g^x mod p of a private key, from its public half's SubjectPublicKeyInfo. */
export function dhPublicValue(privateKey: KeyObject): Buffer {
  const der = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const spki = element(der, 0);
  const alg = element(der, spki.start);
  const bits = element(der, alg.end);
  const y = element(der, bits.start + 1); // past the unused-bits byte
  if (spki.tag !== 0x30 || bits.tag !== 0x03 || y.tag !== 0x02)
    throw new Error('unexpected DH public key DER');
  return der.subarray(y.start, y.end);
}

/** peer^x mod p; 1 is reported by OpenSSL as an invalid secret (RFC 7919 §5.1's check), returned here as 1. */
export function dhCompute(privateKey: KeyObject, p: bigint, g: bigint, peer: bigint): bigint {
  try {
    const s = diffieHellman({ privateKey, publicKey: dhPublicKey(p, g, peer) });
    return s.length === 0 ? 0n : BigInt('0x' + s.toString('hex'));
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_OSSL_DH_INVALID_SECRET') return 1n;
    throw e;
  }
}

/** b^e mod m through OpenSSL (m odd, at least 512 bits; 1 < b < m - 1). */
export function modPowDh(b: bigint, e: bigint, m: bigint): bigint {
  return dhCompute(dhPrivateKey(m, 2n, e), m, 2n, b);
}
