import { createRequire } from 'node:module';
import type * as Pako from 'pako';
import { DisconnectReason, protocolError } from '../errors.js';
import { MAX_PACKET_LENGTH } from './packet.js';

/**
 * Payload compression (RFC 4253 §6.2): one zlib stream per direction and per set of keys (its
 * dictionary carries over from packet to packet; "the compression context is initialized after
 * each key exchange", and OpenSSH starts new streams at every NEWKEYS), each packet's payload
 * flushed with Z_PARTIAL_FLUSH so the peer can inflate it at once.
 * `zlib` starts at NEWKEYS; `zlib@openssh.com` (OpenSSH PROTOCOL §2.2) after USERAUTH_SUCCESS.
 *
 * Not node:zlib: its streams are asynchronous, and its synchronous calls take a whole stream at
 * once (deflateSync); the stream objects' internal `_processChunk` closes the stream after one
 * call. The transport is synchronous, so this uses pako, a line-by-line port of zlib whose
 * streams take one chunk at a time synchronously with any flush mode. Inflation is bounded: a
 * packet that would inflate past the packet limit is a COMPRESSION_ERROR as soon as the output
 * passes the limit (OTP's CVE-2026-23943 was an unbounded inflate).
 */
export const COMPRESSION_METHODS = ['none', 'zlib@openssh.com', 'zlib'] as const;

/** True when the method compresses from NEWKEYS on; 'delayed' for zlib@openssh.com. */
export function compressionStart(method: string): 'never' | 'newkeys' | 'delayed' {
  return method === 'zlib' ? 'newkeys' : method === 'zlib@openssh.com' ? 'delayed' : 'never';
}

let pako: typeof Pako | undefined;

/** pako, loaded when a connection first compresses: most never do (README, "Lazy loading"). */
function zlib(): typeof Pako {
  pako ??= createRequire(import.meta.url)('pako') as typeof Pako;
  return pako;
}

export class PayloadCompressor {
  private readonly z = new (zlib().Deflate)({ level: 6 });
  private out: Uint8Array[] = [];
  constructor() {
    this.z.onData = (chunk) => this.out.push(chunk);
  }
  compress(payload: Buffer): Buffer {
    this.z.push(payload, zlib().Z_PARTIAL_FLUSH);
    if (this.z.err) throw new Error(`deflate failed: ${this.z.msg}`);
    const out = this.out;
    this.out = [];
    return out.length === 1 ? toBuffer(out[0]!) : Buffer.concat(out);
  }
}

export class PayloadDecompressor {
  private readonly z = new (zlib().Inflate)({ chunkSize: 64 * 1024 });
  private out: Uint8Array[] = [];
  private size = 0;
  constructor(private readonly limit = MAX_PACKET_LENGTH) {
    this.z.onData = (chunk) => {
      this.size += chunk.length;
      if (this.size > this.limit) throw tooBig(this.limit);
      this.out.push(chunk);
    };
  }
  decompress(pieces: readonly Buffer[]): Buffer {
    this.out = [];
    this.size = 0;
    for (const p of pieces) {
      if (p.length) this.z.push(p, zlib().Z_SYNC_FLUSH);
      if (this.z.err)
        throw protocolError(`bad compressed data (${this.z.msg})`, DisconnectReason.COMPRESSION_ERROR);
    }
    if (this.size === 0)
      throw protocolError('a compressed packet holds no payload', DisconnectReason.COMPRESSION_ERROR);
    const out = this.out;
    this.out = [];
    return out.length === 1 ? toBuffer(out[0]!) : Buffer.concat(out);
  }
}

function tooBig(limit: number) {
  return protocolError(
    `a compressed packet inflates past ${limit} bytes`,
    DisconnectReason.COMPRESSION_ERROR,
  );
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.length);
}
