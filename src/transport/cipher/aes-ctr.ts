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
import type { CipherSpec, PacketOpener, PacketSealer } from './types.js';

/**
 * aes{128,192,256}-ctr (RFC 4344) with an HMAC (RFC 6668, or OpenSSH's -etm variants). CTR keeps
 * its counter across packets, so each direction uses one cipher context for the connection's life.
 */
const BLOCK = 16;

function seqBytes(seq: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(seq >>> 0, 0);
  return b;
}

function macOf(mac: MacSpec, key: Buffer, seq: number, data: Buffer): Buffer {
  return createHmac(mac.hash, key).update(seqBytes(seq)).update(data).digest();
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
  seal(packet: Buffer, seq: number): void {
    const end = packet.length - this.macLength;
    if (this.mac.etm) {
      this.cipher.update(packet.subarray(4, end)).copy(packet, 4);
      macOf(this.mac, this.macKey, seq, packet.subarray(0, end)).copy(packet, end);
    } else {
      macOf(this.mac, this.macKey, seq, packet.subarray(0, end)).copy(packet, end);
      this.cipher.update(packet.subarray(0, end)).copy(packet, 0);
    }
  }
}

class CtrOpener implements PacketOpener {
  readonly blockSize = BLOCK;
  readonly lengthIsAad: boolean;
  readonly macLength: number;
  readonly firstBlockSize: number;
  private readonly decipher: Decipher;
  /** Encrypt-and-MAC: the first block, decrypted to learn the length, kept for `open`. */
  private firstPlain: Buffer | undefined;
  constructor(
    algorithm: string,
    key: Buffer,
    iv: Buffer,
    private readonly mac: MacSpec,
    private readonly macKey: Buffer,
  ) {
    this.decipher = createDecipheriv(algorithm, key, iv);
    this.lengthIsAad = mac.etm;
    this.macLength = mac.macLength;
    this.firstBlockSize = mac.etm ? 4 : BLOCK;
  }
  packetLength(first: Buffer): number {
    if (this.mac.etm) return first.readUInt32BE(0);
    this.firstPlain = this.decipher.update(first.subarray(0, BLOCK));
    return this.firstPlain.readUInt32BE(0);
  }
  open(whole: Buffer, seq: number): Buffer {
    const end = whole.length - this.macLength;
    const got = whole.subarray(end);
    if (this.mac.etm) {
      const want = macOf(this.mac, this.macKey, seq, whole.subarray(0, end));
      if (!timingSafeEqual(want, got)) throw macError();
      return this.decipher.update(whole.subarray(4, end));
    }
    const plain = Buffer.allocUnsafe(end);
    this.firstPlain!.copy(plain, 0);
    this.decipher.update(whole.subarray(BLOCK, end)).copy(plain, BLOCK);
    this.firstPlain = undefined;
    const want = macOf(this.mac, this.macKey, seq, plain);
    if (!timingSafeEqual(want, got)) throw macError();
    return plain.subarray(4);
  }
}

function macError() {
  return protocolError('message authentication failed (HMAC mismatch)', DisconnectReason.MAC_ERROR);
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
