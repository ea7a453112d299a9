import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { DisconnectReason, protocolError } from '../../errors.js';
import { streamThrough, type CipherSpec, type PacketOpener, type PacketSealer } from './types.js';

/**
 * aes128-gcm@openssh.com / aes256-gcm@openssh.com (RFC 5647 as OpenSSH's PROTOCOL §1.6 amends it):
 * the packet length is in the clear and authenticated as AAD; the 12-byte nonce is a 4-byte fixed
 * field and a 64-bit invocation counter that increments after every packet.
 * Node cannot re-key a GCM context with a new nonce, so each packet gets a new context.
 */
const TAG = 16;

class GcmNonce {
  private readonly iv: Buffer;
  constructor(initial: Buffer) {
    // Not from the shared pool: a long-lived 12-byte slice would pin an 8 KiB slab per connection.
    this.iv = Buffer.allocUnsafeSlow(12);
    initial.copy(this.iv, 0, 0, 12);
  }
  current(): Buffer {
    return this.iv;
  }
  /** RFC 5647 §7.1: increment the invocation counter (the low 8 bytes) modulo 2^64. */
  advance(): void {
    for (let i = 11; i >= 4; i--) {
      const v = (this.iv[i]! + 1) & 0xff;
      this.iv[i] = v;
      if (v !== 0) break;
    }
  }
}

class GcmSealer implements PacketSealer {
  readonly blockSize = 16;
  readonly lengthIsAad = true;
  readonly macLength = TAG;
  private readonly nonce: GcmNonce;
  constructor(
    private readonly algorithm: CipherGCMTypes,
    private readonly key: Buffer,
    iv: Buffer,
  ) {
    this.nonce = new GcmNonce(iv);
  }
  seal(head: Buffer, body: Buffer, tail: Buffer): Buffer {
    const c = createCipheriv(this.algorithm, this.key, this.nonce.current());
    c.setAAD(head.subarray(0, 4));
    const padEnd = tail.length - TAG;
    const out = streamThrough((b) => c.update(b), head, 4, body, tail, padEnd);
    c.final();
    c.getAuthTag().copy(tail, padEnd);
    this.nonce.advance();
    return out;
  }
}

class GcmOpener implements PacketOpener {
  readonly copies = true;
  readonly firstBlockSize = 4;
  readonly macLength = TAG;
  readonly blockSize = 16;
  readonly lengthIsAad = true;
  private readonly nonce: GcmNonce;
  constructor(
    private readonly algorithm: CipherGCMTypes,
    private readonly key: Buffer,
    iv: Buffer,
  ) {
    this.nonce = new GcmNonce(iv);
  }
  packetLength(first: Buffer): number {
    return first.readUInt32BE(0);
  }
  open(length: Buffer, body: readonly Buffer[], mac: Buffer): Buffer[] {
    const d = createDecipheriv(this.algorithm, this.key, this.nonce.current());
    d.setAAD(length);
    d.setAuthTag(mac);
    const plain = body.map((b) => d.update(b));
    try {
      d.final();
    } catch {
      throw protocolError('message authentication failed (aes-gcm tag mismatch)', DisconnectReason.MAC_ERROR);
    }
    this.nonce.advance();
    return plain;
  }
}

function gcm(name: string, algorithm: CipherGCMTypes, keyLength: number): CipherSpec {
  return {
    name,
    keyLength,
    ivLength: 12,
    aead: true,
    sealer: (key, iv) => new GcmSealer(algorithm, key, iv),
    opener: (key, iv) => new GcmOpener(algorithm, key, iv),
  };
}

export const aes128Gcm = gcm('aes128-gcm@openssh.com', 'aes-128-gcm', 16);
export const aes256Gcm = gcm('aes256-gcm@openssh.com', 'aes-256-gcm', 32);

/**
 * RFC 5647's own names. The packet format is the same as OpenSSH's (RFC 5647 §7: length in the
 * clear as AAD, §7.1 nonce); what differs is negotiation: §5.1 couples the cipher and the MAC
 * (see `negotiate.ts`), so these names also appear in the MAC lists.
 */
export const aeadAes128Gcm = gcm('AEAD_AES_128_GCM', 'aes-128-gcm', 16);
export const aeadAes256Gcm = gcm('AEAD_AES_256_GCM', 'aes-256-gcm', 32);
/** The RFC 5647 names, which are both cipher and MAC names. */
export const RFC5647_GCM: ReadonlySet<string> = new Set([aeadAes128Gcm.name, aeadAes256Gcm.name]);
