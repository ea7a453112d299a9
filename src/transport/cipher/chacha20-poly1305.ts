import { createCipheriv, timingSafeEqual } from 'node:crypto';
import { DisconnectReason, protocolError } from '../../errors.js';
import { streamThrough, type CipherSpec, type PacketOpener, type PacketSealer } from './types.js';

/**
 * chacha20-poly1305@openssh.com, as OpenSSH's PROTOCOL.chacha20poly1305 defines it: the 64-byte
 * key splits into K_2 (first half: payload and Poly1305 key) and K_1 (second half: the length).
 * The nonce is the packet sequence number as a big-endian uint64, with the original 64-bit
 * counter ChaCha20. OpenSSL's `chacha20` takes a 16-byte IV of `counter (8 bytes, LE) || nonce`,
 * which is exactly that variant. Node has no raw Poly1305, so it comes from libsodium (WebAssembly).
 */

interface Poly1305 {
  crypto_onetimeauth(message: Uint8Array, key: Uint8Array): Uint8Array;
  crypto_onetimeauth_init(key: Uint8Array): number;
  crypto_onetimeauth_update(state: number, chunk: Uint8Array): void;
  crypto_onetimeauth_final(state: number): Uint8Array;
}

let poly: Poly1305 | undefined;
let loading: Promise<void> | undefined;

/** Loads libsodium's Poly1305 once; connect and daemon await this before a handshake can pick the cipher. */
export function loadPoly1305(): Promise<void> {
  loading ??= import('libsodium-wrappers-sumo').then(async (mod) => {
    const sodium = mod.default;
    await sodium.ready;
    poly = sodium as unknown as Poly1305;
  });
  return loading;
}

export function poly1305Loaded(): boolean {
  return poly !== undefined;
}

function polyImpl(): Poly1305 {
  if (!poly) throw new Error('chacha20-poly1305: Poly1305 is not loaded (loadPoly1305 was not awaited)');
  return poly;
}

const TAG = 16;
const ZERO_BLOCK = Buffer.alloc(64);

/** Block counter 0 and the sequence number as the nonce; the payload continues at block 1. */
function iv(seq: number): Buffer {
  const v = Buffer.alloc(16);
  v.writeUInt32BE(seq >>> 0, 12);
  return v;
}

/** `a` and `b` lie back to back in one allocation, so one view covers both. */
function joined(a: Buffer, b: Buffer): Buffer | undefined {
  if (a.buffer !== b.buffer || a.byteOffset + a.length !== b.byteOffset) return undefined;
  return Buffer.from(a.buffer, a.byteOffset, a.length + b.length);
}

/** Poly1305 over consecutive parts: one call when they are contiguous, the streaming API when not. */
function tagOf(p: Poly1305, key: Buffer, parts: Buffer[]): Uint8Array {
  if (parts.length === 1) return p.crypto_onetimeauth(parts[0]!, key);
  const state = p.crypto_onetimeauth_init(key);
  for (const part of parts) if (part.length) p.crypto_onetimeauth_update(state, part);
  return p.crypto_onetimeauth_final(state);
}

class ChaChaSealer implements PacketSealer {
  readonly blockSize = 8;
  readonly lengthIsAad = true;
  readonly macLength = TAG;
  private readonly poly = polyImpl();
  constructor(
    private readonly mainKey: Buffer,
    private readonly headerKey: Buffer,
  ) {}
  seal(head: Buffer, body: Buffer, tail: Buffer, seq: number): Buffer {
    const nonce = iv(seq);
    createCipheriv('chacha20', this.headerKey, nonce).update(head.subarray(0, 4)).copy(head, 0);
    const main = createCipheriv('chacha20', this.mainKey, nonce);
    const polyKey = main.update(ZERO_BLOCK).subarray(0, 32);
    const padEnd = tail.length - TAG;
    const out = streamThrough((b) => main.update(b), head, 4, body, tail, padEnd);
    const pad = tail.subarray(0, padEnd);
    const contiguous = out.length === 0 ? joined(head, pad) : undefined;
    tail.set(tagOf(this.poly, polyKey, contiguous ? [contiguous] : [head, out, pad]), padEnd);
    return out;
  }
}

class ChaChaOpener implements PacketOpener {
  readonly firstBlockSize = 4;
  readonly macLength = TAG;
  readonly blockSize = 8;
  readonly lengthIsAad = true;
  private readonly poly = polyImpl();
  constructor(
    private readonly mainKey: Buffer,
    private readonly headerKey: Buffer,
  ) {}
  packetLength(first: Buffer, seq: number): number {
    return createCipheriv('chacha20', this.headerKey, iv(seq)).update(first.subarray(0, 4)).readUInt32BE(0);
  }
  open(length: Buffer, body: readonly Buffer[], mac: Buffer, seq: number): Buffer[] {
    const main = createCipheriv('chacha20', this.mainKey, iv(seq));
    const polyKey = main.update(ZERO_BLOCK).subarray(0, 32);
    const contiguous = body.length === 1 ? joined(length, body[0]!) : undefined;
    const tag = tagOf(this.poly, polyKey, contiguous ? [contiguous] : [length, ...body]);
    if (!timingSafeEqual(tag, mac)) {
      throw protocolError(
        'message authentication failed (poly1305 tag mismatch)',
        DisconnectReason.MAC_ERROR,
      );
    }
    return body.map((b) => main.update(b));
  }
}

export const chacha20Poly1305: CipherSpec = {
  name: 'chacha20-poly1305@openssh.com',
  keyLength: 64,
  ivLength: 0,
  aead: true,
  sealer: (key) => new ChaChaSealer(key.subarray(0, 32), key.subarray(32, 64)),
  opener: (key) => new ChaChaOpener(key.subarray(0, 32), key.subarray(32, 64)),
};
