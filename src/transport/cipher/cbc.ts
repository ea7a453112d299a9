import { createCipheriv, type Cipher } from 'node:crypto';
import type { MacSpec } from '../mac.js';
import { CtrOpener, macOf } from './aes-ctr.js';
import type { CipherSpec, PacketSealer } from './types.js';

/**
 * aes{128,192,256}-cbc and 3des-cbc (RFC 4253 §6.3), with an HMAC: for old peers only, never
 * offered unless asked for (CBC with encrypt-and-MAC has a known plaintext-recovery attack,
 * Albrecht et al. 2009). The chaining state runs across packets, one context per direction.
 * A block cipher cannot encrypt the packet's pieces where they lie the way CTR does (a piece
 * that ends inside a block would come back short), so a packet is joined and encrypted whole:
 * legacy speed for a legacy cipher.
 */
class CbcSealer implements PacketSealer {
  readonly lengthIsAad: boolean;
  readonly macLength: number;
  private readonly cipher: Cipher;
  constructor(
    algorithm: string,
    key: Buffer,
    iv: Buffer,
    readonly blockSize: number,
    private readonly mac: MacSpec,
    private readonly macKey: Buffer,
  ) {
    this.cipher = createCipheriv(algorithm, key, iv);
    this.cipher.setAutoPadding(false);
    this.lengthIsAad = mac.etm;
    this.macLength = mac.macLength;
  }
  seal(head: Buffer, body: Buffer, tail: Buffer, seq: number): Buffer {
    const padEnd = tail.length - this.macLength;
    const from = this.mac.etm ? 4 : 0; // encrypt-then-MAC leaves the length in the clear
    const plain = Buffer.concat([head.subarray(from), body, tail.subarray(0, padEnd)]);
    const m0 = this.mac.etm
      ? undefined
      : macOf(this.mac, this.macKey, seq, [head, body, tail.subarray(0, padEnd)]);
    const enc = this.cipher.update(plain);
    const headLen = head.length - from;
    enc.copy(head, from, 0, headLen);
    enc.copy(tail, 0, headLen + body.length, headLen + body.length + padEnd);
    const out = body.length ? Buffer.from(enc.subarray(headLen, headLen + body.length)) : body;
    const m = m0 ?? macOf(this.mac, this.macKey, seq, [head, out, tail.subarray(0, padEnd)]);
    m.copy(tail, padEnd);
    return out;
  }
}

function cbc(name: string, algorithm: string, keyLength: number, block: number): CipherSpec {
  return {
    name,
    keyLength,
    ivLength: block,
    aead: false,
    sealer: (key, iv, mac) => {
      if (!mac) throw new Error(`${name} needs a MAC`);
      return new CbcSealer(algorithm, key, iv, block, mac.spec, mac.key);
    },
    opener: (key, iv, mac) => {
      if (!mac) throw new Error(`${name} needs a MAC`);
      return new CtrOpener(algorithm, key, iv, mac.spec, mac.key, block);
    },
  };
}

export const aes128Cbc = cbc('aes128-cbc', 'aes-128-cbc', 16, 16);
export const aes192Cbc = cbc('aes192-cbc', 'aes-192-cbc', 24, 16);
export const aes256Cbc = cbc('aes256-cbc', 'aes-256-cbc', 32, 16);
export const tripleDesCbc = cbc('3des-cbc', 'des-ede3-cbc', 24, 8);
