/**
 * Helpers for hostile-peer tests against a real daemon: a raw TCP peer that records everything
 * the daemon sends, a parser for the daemon's clear-text output (identification line, then
 * binary packets under the `none` cipher), hand-built clear packets, and a client that runs a
 * real key exchange with the sans-I/O Transport and then sends whatever payloads a test wants.
 *
 * This is a helper module, not a test file (its name must never end in `.test.ts`).
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { SshError } from '../../src/errors.js';
import { resolveAlgorithms, type AlgorithmsOption } from '../../src/transport/algorithms.js';
import { Transport } from '../../src/transport/transport.js';
import { Msg } from '../../src/wire/numbers.js';
import { SshReader } from '../../src/wire/reader.js';
import { encodeKexInit } from '../../src/wire/transport-messages.js';

/** How long any single wait may take before the test fails instead of hanging (a safety net only). */
export const SAFETY_MS = 15_000;

/** Rejects with `what` if `p` has not settled within `ms`; the timer never keeps the process alive. */
export function withTimeout<T>(p: Promise<T>, what: string, ms = SAFETY_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`safety timeout (${ms} ms): ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Polls `cond` every few milliseconds, a bounded number of times (for state without an event). */
export async function until(
  cond: () => boolean,
  what: string | (() => string),
  ms = SAFETY_MS,
): Promise<void> {
  const step = 10;
  for (let i = 0; i * step < ms; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, step));
  }
  if (!cond()) throw new Error(`safety timeout (${ms} ms): ${typeof what === 'string' ? what : what()}`);
}

/** A plain TCP peer: writes what the test says and keeps every byte the daemon sends. */
export class RawPeer {
  private chunks: Buffer[] = [];
  private waiters: (() => void)[] = [];
  /** The daemon sent FIN (or reset the connection): it closed this client, not the test. */
  endedByDaemon = false;
  isClosed = false;
  error: Error | undefined;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.wake();
    });
    socket.on('end', () => {
      this.endedByDaemon = true;
      this.wake();
    });
    socket.on('error', (e) => {
      // A reset after the daemon's FIN is still the daemon closing us.
      this.error = e;
      if ((e as NodeJS.ErrnoException).code === 'ECONNRESET') this.endedByDaemon = true;
    });
    this.closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  /** Connects to 127.0.0.1:`port`, from `localAddress` when given (e.g. 127.0.0.2, another source). */
  static open(port: number, localAddress?: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true, localAddress });
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawPeer(s));
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  write(data: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Resolves once `cond(received)` holds; rejects if the socket closes first or the safety net fires. */
  async waitFor(cond: (b: Buffer) => boolean, what: string): Promise<void> {
    const p = (async () => {
      for (;;) {
        if (cond(this.received)) return;
        if (this.isClosed) throw new Error(`connection closed while waiting for ${what}`);
        await new Promise<void>((r) => this.waiters.push(r));
      }
    })();
    await withTimeout(p, what);
  }

  /** Waits until the daemon has closed this connection; fails if that does not happen in time. */
  async closedByDaemon(what = 'the daemon to close the connection'): Promise<void> {
    await withTimeout(this.closed, what);
    if (!this.endedByDaemon) throw new Error(`the connection closed, but not by the daemon (${this.error})`);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The daemon's output before any keys are in use. */
export interface ClearOutput {
  identification: string;
  /** Payloads of the whole binary packets found, in order. */
  payloads: Buffer[];
  /** Bytes after the last whole packet (e.g. the text answer to a bad identification line). */
  trailing: Buffer;
}

/** Parses `identification CR LF`, then `uint32 length, byte padding, payload, padding` packets. */
export function parseClearOutput(out: Buffer): ClearOutput {
  const nl = out.indexOf('\r\n');
  if (nl < 0) throw new Error(`no identification line in ${JSON.stringify(out.toString('latin1'))}`);
  const identification = out.subarray(0, nl).toString('latin1');
  let pos = nl + 2;
  const payloads: Buffer[] = [];
  while (out.length - pos >= 5) {
    const len = out.readUInt32BE(pos);
    if (len < 5 || len > 256 * 1024 || out.length - pos - 4 < len) break;
    const padding = out[pos + 4]!;
    if (padding + 1 >= len) break;
    payloads.push(out.subarray(pos + 5, pos + 4 + len - padding));
    pos += 4 + len;
    // After NEWKEYS the daemon encrypts: nothing further can be parsed without keys.
    if (payloads[payloads.length - 1]![0] === Msg.NEWKEYS) break;
  }
  return { identification, payloads, trailing: out.subarray(pos) };
}

export interface DisconnectSeen {
  reason: number;
  description: string;
}

export function decodeDisconnectPayload(p: Buffer): DisconnectSeen {
  const r = new SshReader(p, 1);
  return { reason: r.uint32(), description: r.utf8() };
}

/** The DISCONNECT among the daemon's clear packets, if any. */
export function findClearDisconnect(out: Buffer): DisconnectSeen | undefined {
  const p = parseClearOutput(out).payloads.find((x) => x[0] === Msg.DISCONNECT);
  return p && decodeDisconnectPayload(p);
}

/** One binary packet under the `none` cipher (RFC 4253 §6): 8-byte alignment, at least 4 bytes of padding. */
export function clearPacket(payload: Buffer): Buffer {
  let padding = 8 - ((5 + payload.length) % 8);
  if (padding < 4) padding += 8;
  const b = Buffer.alloc(5 + payload.length + padding);
  b.writeUInt32BE(1 + payload.length + padding, 0);
  b[4] = padding;
  payload.copy(b, 5);
  return b;
}

/** A raw frame: a length field and a body exactly as given (for bad framings). */
export function rawFrame(length: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(4 + body.length);
  b.writeUInt32BE(length >>> 0, 0);
  body.copy(b, 4);
  return b;
}

export const CLIENT_IDENT = 'SSH-2.0-HostileTest_1.0';

/**
 * A KEXINIT payload a real client would send: the default lists, without the strict-kex marker
 * unless `strict` (so that the general before-NEWKEYS rules are what a test exercises). Its kex
 * is curve25519-sha256, whose INIT the hostile tests write by hand.
 */
export function clientKexInit(strict = false, kex = ['curve25519-sha256']): Buffer {
  const a = resolveAlgorithms({ kex });
  return encodeKexInit(randomBytes(16), {
    kex: strict ? [...a.kex, 'kex-strict-c-v00@openssh.com'] : a.kex,
    hostKey: a.publicKey,
    cipherC2S: a.cipher.clientToServer,
    cipherS2C: a.cipher.serverToClient,
    macC2S: a.mac.clientToServer,
    macS2C: a.mac.serverToClient,
    compressionC2S: a.compression.clientToServer,
    compressionS2C: a.compression.serverToClient,
    languageC2S: [],
    languageS2C: [],
  });
}

/**
 * A client that does a real key exchange with the daemon (the sans-I/O Transport over a socket)
 * and then lets the test send any payload, in order, encrypted — including ones an honest client
 * never would. Every message from the daemon is recorded; the daemon's DISCONNECT ends in `closeInfo`.
 */
export class KexClient {
  readonly transport: Transport;
  readonly messages: Buffer[] = [];
  closeInfo: { error: SshError; byPeer: boolean } | undefined;
  socketClosed = false;
  /** Applied to each outgoing buffer while set (to tamper with ciphertext). */
  tamper: ((b: Buffer) => Buffer) | undefined;
  private flushing = false;
  private waiters: (() => void)[] = [];
  private kexResolve!: () => void;
  private readonly kexDone: Promise<void>;

  private constructor(
    readonly socket: Socket,
    algorithms?: AlgorithmsOption,
  ) {
    this.kexDone = new Promise<void>((r) => (this.kexResolve = r));
    this.transport = new Transport(
      {
        role: 'client',
        identification: CLIENT_IDENT,
        algorithms: resolveAlgorithms(algorithms),
        extInfo: true,
      },
      {
        onMessage: (p) => {
          this.messages.push(Buffer.from(p));
          this.wake();
        },
        onKexDone: (first) => {
          if (first) this.kexResolve();
        },
        onOutput: () => this.scheduleFlush(),
        onClose: (error, byPeer) => {
          this.closeInfo = { error, byPeer };
          this.wake();
        },
      },
    );
    socket.on('data', (c: Buffer) => this.transport.receive(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.socketClosed = true;
      this.wake();
    });
  }

  static async connect(port: number, algorithms?: AlgorithmsOption): Promise<KexClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true });
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(s);
      });
    });
    const c = new KexClient(socket, algorithms);
    c.transport.start();
    await withTimeout(
      Promise.race([
        c.kexDone,
        c
          .waitUntil(() => c.closeInfo !== undefined || c.socketClosed, 'key exchange')
          .then(() => {
            throw new Error(`key exchange failed: ${c.closeInfo?.error.message ?? 'socket closed'}`);
          }),
      ]),
      'key exchange with the daemon',
    );
    return c;
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(() => {
      this.flushing = false;
      for (const b of this.transport.takeOutput()) {
        if (this.socket.destroyed) return;
        this.socket.write(this.tamper ? this.tamper(Buffer.from(b)) : b);
      }
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async waitUntil(cond: () => boolean, what: string): Promise<void> {
    const p = (async () => {
      while (!cond()) await new Promise<void>((r) => this.waiters.push(r));
    })();
    await withTimeout(p, what);
  }

  send(payload: Buffer): void {
    this.transport.send(payload);
  }

  /** Waits for a message of `type` from the daemon (fails if the daemon disconnects first). */
  async expectMessage(type: number): Promise<Buffer> {
    await this.waitUntil(
      () => this.messages.some((m) => m[0] === type) || this.closeInfo !== undefined || this.socketClosed,
      `message ${type} from the daemon`,
    );
    const m = this.messages.find((x) => x[0] === type);
    if (!m)
      throw new Error(`expected message ${type}, the daemon disconnected: ${this.closeInfo?.error.message}`);
    return m;
  }

  /** Waits for the daemon's DISCONNECT (or the socket closing) and returns the reason code it sent. */
  async disconnected(): Promise<{ reason: number | undefined; message: string; byPeer: boolean }> {
    await this.waitUntil(() => this.closeInfo !== undefined || this.socketClosed, 'the daemon to disconnect');
    // The socket closes right after the DISCONNECT: wait for that too, so nothing is left open.
    await this.waitUntil(() => this.socketClosed, 'the daemon to close the socket');
    const e = this.closeInfo?.error;
    return {
      reason: e?.reason,
      message: e?.message ?? 'socket closed',
      byPeer: this.closeInfo?.byPeer ?? false,
    };
  }

  destroy(): void {
    this.socket.destroy();
  }
}
