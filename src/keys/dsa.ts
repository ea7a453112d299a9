import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { badKey, bigintToBytes, bitLength, bytesToBigint } from './encoding.js';

/**
 * DSA keys (FIPS 186-2, as ssh-dss uses them: RFC 4253 §6.6) to and from node KeyObjects, which
 * take DSA only as DER: SubjectPublicKeyInfo and PKCS #8 with the Dss-Parms p, q, g (RFC 3279
 * §2.3.2). OpenSSH accepts only 1024-bit p and 160-bit q (sshkey.c's DSA length check), the
 * only sizes whose signature is 40 bytes of r || s.
 */
export const DSA_P_BITS = 1024;
export const DSA_Q_BITS = 160;
const DSA_OID = Buffer.from('06072a8648ce380401', 'hex'); // 1.2.840.10040.4.1 id-dsa

export interface DsaComponents {
  p: bigint;
  q: bigint;
  g: bigint;
  y: bigint;
  /** The private exponent, for private keys. */
  x?: bigint;
}

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  const len = n < 0x80 ? Buffer.of(n) : Buffer.concat([Buffer.of(0x80 | 2), Buffer.of(n >> 8, n & 0xff)]);
  return Buffer.concat([Buffer.of(tag), len, body]);
}

function integer(v: bigint): Buffer {
  const b = bigintToBytes(v);
  return tlv(0x02, b.length === 0 || b[0]! & 0x80 ? Buffer.concat([Buffer.of(0), b]) : b);
}

function algorithm(c: DsaComponents): Buffer {
  return tlv(
    0x30,
    Buffer.concat([DSA_OID, tlv(0x30, Buffer.concat([integer(c.p), integer(c.q), integer(c.g)]))]),
  );
}

/** b^e mod m by square-and-multiply (only for checking a key file once, on 1024-bit numbers). */
function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}

/** The checks OpenSSH makes of a DSA key (sizes), and that the parts belong together. */
function checkDsa(c: DsaComponents): void {
  if (bitLength(c.p) !== DSA_P_BITS || bitLength(c.q) !== DSA_Q_BITS)
    throw badKey(`DSA key must have a ${DSA_P_BITS}-bit p and a ${DSA_Q_BITS}-bit q`);
  if ((c.p - 1n) % c.q !== 0n) throw badKey('DSA key: q does not divide p-1');
  if (c.g <= 1n || c.g >= c.p || c.y <= 1n || c.y >= c.p) throw badKey('DSA key: g or y out of range');
  if (c.x !== undefined) {
    if (c.x <= 0n || c.x >= c.q) throw badKey('DSA private key: x out of range');
    if (modPow(c.g, c.x, c.p) !== c.y) throw badKey('DSA key: y is not g^x mod p');
  }
}

export function dsaPublicKey(c: DsaComponents): KeyObject {
  checkDsa({ ...c, x: undefined });
  const der = tlv(
    0x30,
    Buffer.concat([algorithm(c), tlv(0x03, Buffer.concat([Buffer.of(0), integer(c.y)]))]),
  );
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

export function dsaPrivateKey(c: DsaComponents & { x: bigint }): KeyObject {
  checkDsa(c);
  const der = tlv(0x30, Buffer.concat([integer(0n), algorithm(c), tlv(0x04, integer(c.x))]));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

/** One DER element at `at`: tag and body bounds, checked against the buffer. */
function element(der: Buffer, at: number, tag: number): { start: number; end: number } {
  if (der[at] !== tag) throw badKey('unexpected DSA key encoding');
  let n = der[at + 1] ?? 0;
  let start = at + 2;
  if (n & 0x80) {
    const k = n & 0x7f;
    if (k > 3) throw badKey('unexpected DSA key encoding');
    n = 0;
    for (let i = 0; i < k; i++) n = n * 256 + (der[start + i] ?? 0);
    start += k;
  }
  if (start + n > der.length) throw badKey('truncated DSA key encoding');
  return { start, end: start + n };
}

function readInteger(der: Buffer, at: number): { v: bigint; end: number } {
  const e = element(der, at, 0x02);
  return { v: bytesToBigint(der.subarray(e.start, e.end)), end: e.end };
}

/** p, q, g from an AlgorithmIdentifier at `at`, and where it ends. */
function readParams(der: Buffer, at: number): { p: bigint; q: bigint; g: bigint; end: number } {
  const alg = element(der, at, 0x30);
  const oidEnd = alg.start + DSA_OID.length;
  if (!der.subarray(alg.start, oidEnd).equals(DSA_OID)) throw badKey('not a DSA key');
  const params = element(der, oidEnd, 0x30);
  const p = readInteger(der, params.start);
  const q = readInteger(der, p.end);
  const g = readInteger(der, q.end);
  return { p: p.v, q: q.v, g: g.v, end: alg.end };
}

/** The DSA numbers of a node DSA KeyObject (x too when it is private). */
export function dsaComponents(k: KeyObject): DsaComponents {
  const spki = (k.type === 'private' ? createPublicKey(k) : k).export({ format: 'der', type: 'spki' });
  const outer = element(spki, 0, 0x30);
  const { p, q, g, end } = readParams(spki, outer.start);
  const bits = element(spki, end, 0x03);
  const y = readInteger(spki, bits.start + 1).v; // past the unused-bits byte
  if (k.type !== 'private') return { p, q, g, y };
  const pkcs8 = k.export({ format: 'der', type: 'pkcs8' });
  const seq = element(pkcs8, 0, 0x30);
  const version = readInteger(pkcs8, seq.start);
  const alg = readParams(pkcs8, version.end);
  const octets = element(pkcs8, alg.end, 0x04);
  return { p, q, g, y, x: readInteger(pkcs8, octets.start).v };
}
