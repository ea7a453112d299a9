import { SshError } from '../errors.js';
import type { SshReader } from '../wire/reader.js';

/** An SshError with code 'BAD_KEY': a key or key file that cannot be used. */
export function badKey(message: string, cause?: unknown): SshError {
  return new SshError('BAD_KEY', message, cause === undefined ? undefined : { cause });
}

/**
 * Runs a decoder and reports any failure as BAD_KEY prefixed with `what`: SshReader reports
 * truncation as PROTOCOL_ERROR and node:crypto throws its own errors, but a key is a key problem.
 */
export function decodeAs<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SshError && e.code === 'BAD_KEY') throw e;
    const detail = e instanceof Error ? e.message : String(e);
    throw badKey(`${what}: ${detail}`, e);
  }
}

/**
 * Reads a non-negative mpint (RFC 4251 §5) and returns its magnitude as unsigned big-endian bytes.
 * `strict` also rejects a non-minimal encoding, so that a key has exactly one blob.
 */
export function readUnsignedMpint(r: SshReader, what: string, strict: boolean): Buffer {
  const b = r.mpintBytes();
  if (b.length === 0) return b;
  if (b[0]! & 0x80) throw badKey(`${what} is negative`);
  if (b[0] === 0) {
    if (strict && (b.length === 1 || !(b[1]! & 0x80))) throw badKey(`${what} is not minimally encoded`);
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    return b.subarray(i);
  }
  return b;
}

/** Unsigned big-endian bytes as a bigint. */
export function bytesToBigint(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex'));
}

/** A non-negative bigint as unsigned big-endian bytes: minimal, or left-padded to `width`. */
export function bigintToBytes(v: bigint, width?: number): Buffer {
  if (v < 0n) throw new RangeError('negative value');
  let hex = v === 0n ? '' : v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const raw = Buffer.from(hex, 'hex');
  return width === undefined ? raw : leftPad(raw, width);
}

/** Left-pads unsigned big-endian bytes with zeros to `width`; throws if they do not fit. */
export function leftPad(b: Uint8Array, width: number): Buffer {
  let start = 0;
  while (start < b.length && b[start] === 0) start++;
  const body = b.subarray(start);
  if (body.length > width) throw new RangeError(`value needs ${body.length} bytes, at most ${width} allowed`);
  const out = Buffer.alloc(width);
  out.set(body, width - body.length);
  return out;
}

/** The number of significant bits of a non-negative bigint. */
export function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

export function toBase64Url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url');
}

/** A required JWK member (base64url) as bytes. */
export function jwkBytes(value: string | undefined, member: string): Buffer {
  if (typeof value !== 'string') throw badKey(`key export lacks JWK member "${member}"`);
  return Buffer.from(value, 'base64url');
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard base64 (with padding), so that junk is reported rather than silently skipped. */
export function decodeBase64(s: string, what: string): Buffer {
  if (s.length === 0 || !BASE64.test(s)) throw badKey(`${what} is not valid base64`);
  return Buffer.from(s, 'base64');
}

/** Base64 split into lines of `width` columns, as ssh-keygen writes its armoured files (70). */
export function wrapBase64(data: Uint8Array, width = 70): string[] {
  const b64 = Buffer.from(data.buffer, data.byteOffset, data.length).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return lines;
}
