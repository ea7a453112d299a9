import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  timingSafeEqual,
  type Cipher,
  type Decipher,
} from 'node:crypto';
import { DisconnectReason, protocolError } from '../../errors.js';
import type { MacSpec } from '../mac.js';
import { streamThrough, type CipherSpec, type PacketOpener, type PacketSealer } from './types.js';

/**
 * aes{128,192,256}-ctr (RFC 4344) with an HMAC (RFC 6668, or OpenSSH's -etm variants). CTR keeps
 * its counter across packets, so each direction uses one cipher context for the connection's life.
 */
const BLOCK = 16;

export function macOf(mac: MacSpec, key: Buffer, seq: number, parts: readonly Buffer[]): Buffer {
  const seqBytes = Buffer.allocUnsafe(4);
  seqBytes.writeUInt32BE(seq >>> 0, 0);
  const h = createHmac(mac.hash, key).update(seqBytes);
  for (const p of parts) if (p.length) h.update(p);
  return h.digest();
}

export function macError() {
  return protocolError('message authentication failed (HMAC mismatch)', DisconnectReason.MAC_ERROR);
}

class CtrSealer implements PacketSealer {
  readonly blockSize = BLOCK;
  readonly lengthIsAad: boolean;
  readonly macLength: number;
  private readonly cipher: Cipher;
  constructor(
    algorithm: string,
    key: Buffer,
    iv: Buffer,
    private readonly mac: MacSpec,
    private readonly macKey: Buffer,
  ) {
    this.cipher = createCipheriv(algorithm, key, iv);
    this.lengthIsAad = mac.etm;
    this.macLength = mac.macLength;
  }
  seal(head: Buffer, body: Buffer, tail: Buffer, seq: number): Buffer {
    const padEnd = tail.length - this.macLength;
    const pad = tail.subarray(0, padEnd);
    const update = (b: Buffer) => this.cipher.update(b);
    let out: Buffer;
    let m: Buffer;
    if (this.mac.etm) {
      out = streamThrough(update, head, 4, body, tail, padEnd);
      m = macOf(this.mac, this.macKey, seq, [head, out, pad]);
    } else {
      m = macOf(this.mac, this.macKey, seq, [head, body, pad]);
      out = streamThrough(update, head, 0, body, tail, padEnd);
    }
    m.copy(tail, padEnd);
    return out;
  }
}

/** Also the CBC opener (cbc.ts): decryption of a block cipher in either mode takes the same steps. */
export class CtrOpener implements PacketOpener {
  readonly blockSize: number;
  readonly lengthIsAad: boolean;
  readonly macLength: number;
  readonly firstBlockSize: number;
  readonly copies = true;
  private readonly decipher: Decipher;
  /** Encrypt-and-MAC: the first block, decrypted to learn the length, kept for `open`. */
  private firstPlain: Buffer | undefined;
  constructor(
    algorithm: string,
    key: Buffer,
    iv: Buffer,
    private readonly mac: MacSpec,
    private readonly macKey: Buffer,
    private readonly block = BLOCK,
  ) {
    this.decipher = createDecipheriv(algorithm, key, iv);
    // CBC: no padding of our own (packets are block-aligned), and no block held back.
    this.decipher.setAutoPadding(false);
    this.blockSize = block;
    this.lengthIsAad = mac.etm;
    this.macLength = mac.macLength;
    this.firstBlockSize = mac.etm ? 4 : block;
  }
  packetLength(first: Buffer): number {
    if (this.mac.etm) return first.readUInt32BE(0);
    this.firstPlain = this.decipher.update(first.subarray(0, this.block));
    return this.firstPlain.readUInt32BE(0);
  }
  open(length: Buffer, body: readonly Buffer[], mac: Buffer, seq: number): Buffer[] {
    if (this.mac.etm) {
      if (!timingSafeEqual(macOf(this.mac, this.macKey, seq, [length, ...body]), mac)) throw macError();
      return body.map((b) => this.decipher.update(b));
    }
    // Encrypt-and-MAC: the first BLOCK - 4 body bytes were decrypted with the length; skip them.
    const first = this.firstPlain!;
    this.firstPlain = undefined;
    const plain: Buffer[] = [first.subarray(4)];
    let skip = this.block - 4;
    for (const b of body) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      plain.push(this.decipher.update(skip ? b.subarray(skip) : b));
      skip = 0;
    }
    if (!timingSafeEqual(macOf(this.mac, this.macKey, seq, [first.subarray(0, 4), ...plain]), mac))
      throw macError();
    return plain;
  }
}

function ctr(name: string, algorithm: string, keyLength: number): CipherSpec {
  return {
    name,
    keyLength,
    ivLength: BLOCK,
    aead: false,
    sealer: (key, iv, mac) => {
      if (!mac) throw new Error(`${name} needs a MAC`);
      return new CtrSealer(algorithm, key, iv, mac.spec, mac.key);
    },
    opener: (key, iv, mac) => {
      if (!mac) throw new Error(`${name} needs a MAC`);
      return new CtrOpener(algorithm, key, iv, mac.spec, mac.key);
    },
  };
}

export const aes128Ctr = ctr('aes128-ctr', 'aes-128-ctr', 16);
export const aes192Ctr = ctr('aes192-ctr', 'aes-192-ctr', 24);
export const aes256Ctr = ctr('aes256-ctr', 'aes-256-ctr', 32);
