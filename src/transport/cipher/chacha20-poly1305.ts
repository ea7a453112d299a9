import { createCipheriv } from 'node:crypto';
import { DisconnectReason, protocolError } from '../../errors.js';
import type { CipherSpec, PacketOpener, PacketSealer } from './types.js';

/**
 * chacha20-poly1305@openssh.com, as OpenSSH's PROTOCOL.chacha20poly1305 defines it: the 64-byte
 * key splits into K_2 (first half: payload and Poly1305 key) and K_1 (second half: the length).
 * The nonce is the packet sequence number as a big-endian uint64, with the original 64-bit
 * counter ChaCha20. OpenSSL's `chacha20` takes a 16-byte IV of `counter (8 bytes, LE) || nonce`,
 * which is exactly that variant. Node has no raw Poly1305, so it comes from libsodium (WebAssembly).
 */

interface Poly1305 {
  crypto_onetimeauth(message: Uint8Array, key: Uint8Array): Uint8Array;
  crypto_onetimeauth_verify(tag: Uint8Array, message: Uint8Array, key: Uint8Array): boolean;
}

let poly: Poly1305 | undefined;
let loading: Promise<void> | undefined;

/** Loads libsodium's Poly1305 once; connect and daemon await this before a handshake can pick the cipher. */
export function loadPoly1305(): Promise<void> {
  loading ??= import('libsodium-wrappers-sumo').then(async (mod) => {
    const sodium = mod.default;
    await sodium.ready;
    poly = sodium;
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

class ChaChaSealer implements PacketSealer {
  readonly blockSize = 8;
  readonly lengthIsAad = true;
  readonly macLength = TAG;
  private readonly poly = polyImpl();
  constructor(
    private readonly mainKey: Buffer,
    private readonly headerKey: Buffer,
  ) {}
  seal(packet: Buffer, seq: number): void {
    const bodyEnd = packet.length - TAG;
    const nonce = iv(seq);
    createCipheriv('chacha20', this.headerKey, nonce).update(packet.subarray(0, 4)).copy(packet, 0);
    const main = createCipheriv('chacha20', this.mainKey, nonce);
    const polyKey = main.update(ZERO_BLOCK).subarray(0, 32);
    main.update(packet.subarray(4, bodyEnd)).copy(packet, 4);
    packet.set(this.poly.crypto_onetimeauth(packet.subarray(0, bodyEnd), polyKey), bodyEnd);
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
  open(whole: Buffer, seq: number): Buffer {
    const bodyEnd = whole.length - TAG;
    const main = createCipheriv('chacha20', this.mainKey, iv(seq));
    const polyKey = main.update(ZERO_BLOCK).subarray(0, 32);
    if (!this.poly.crypto_onetimeauth_verify(whole.subarray(bodyEnd), whole.subarray(0, bodyEnd), polyKey)) {
      throw protocolError(
        'message authentication failed (poly1305 tag mismatch)',
        DisconnectReason.MAC_ERROR,
      );
    }
    return main.update(whole.subarray(4, bodyEnd));
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
