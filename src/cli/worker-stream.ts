/**
 * Output from a worker thread to a channel, with backpressure that stops the worker.
 *
 * The worker's writes are posted to the daemon's thread in pieces; the daemon sends them on the
 * channel and, as each piece is handed to the transport (the channel's window allowed it),
 * counts it as acknowledged in a shared Int32Array. A worker with more than `WORKER_OUTPUT_LIMIT`
 * bytes unacknowledged waits (Atomics.wait) until the daemon catches up: a worker printing in a
 * loop to a client that does not read stops, as a process writing to a full pipe does, and
 * nothing is buffered without bound on either side. Atomics.wait wakes for V8 interrupts, so
 * such a worker can still be paused, terminated or interrupted.
 */
import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';

/** Bytes a worker may have posted and not yet had sent before it waits. */
export const WORKER_OUTPUT_LIMIT = 256 * 1024;
/** Largest piece posted at once (a write of 1 MiB becomes 32 KiB pieces, each waiting its turn). */
export const WORKER_OUTPUT_PIECE = 32 * 1024;

/** Slots of the shared Int32Array. */
export const SLOT = {
  /** Bytes the daemon has sent (wrapping int32), written by the daemon only. */
  acked: 0,
  /** 1 while the worker runs an evaluation synchronously (REPL: the interruptible section). */
  busy: 1,
  /** 1 while an evaluation waits for a promise (top-level await). */
  awaiting: 2,
} as const;
export const SLOTS = 4;

export function sharedFlow(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(SLOTS * 4));
}

/** A piece of output as posted by the worker. */
export interface OutputMessage {
  t: 'out';
  /** 0: stdout, 1: stderr (RFC 4254 §5.2 extended data type). */
  dataType: number;
  data: Uint8Array;
}

export interface TerminalShape {
  isTTY: boolean;
  columns: number;
  rows: number;
  /** Translate "\n" to "\r\n" (a pty's OPOST+ONLCR, on unless the client turned them off). */
  onlcr: boolean;
}

/** Shared by a worker's stdout and stderr so that their pieces keep their order. */
export class WorkerOutputFlow {
  private posted = 0;
  constructor(
    private readonly port: MessagePort,
    private readonly flow: Int32Array,
  ) {}

  /** Posts `bytes` in pieces, waiting while too much is unacknowledged. */
  post(bytes: Uint8Array, dataType: number): void {
    for (let at = 0; at < bytes.length; at += WORKER_OUTPUT_PIECE) {
      for (;;) {
        const acked = Atomics.load(this.flow, SLOT.acked);
        if (((this.posted - acked) | 0) <= WORKER_OUTPUT_LIMIT) break;
        Atomics.wait(this.flow, SLOT.acked, acked, 1000);
      }
      // A copy: the caller's buffer may be reused, and a slice of a pooled Buffer would drag
      // the whole pool along in the structured clone.
      const data = Uint8Array.prototype.slice.call(bytes, at, at + WORKER_OUTPUT_PIECE);
      const message: OutputMessage = { t: 'out', dataType, data };
      this.port.postMessage(message);
      this.posted = (this.posted + data.length) | 0;
    }
  }
}

const LF = 0x0a;
const CR = 0x0d;

/** "\n" → "\r\n", as a pty's output processing does (termios OPOST|ONLCR). */
export function translateNewlines(bytes: Uint8Array): Uint8Array {
  let count = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === LF) count++;
  if (count === 0) return bytes;
  const out = new Uint8Array(bytes.length + count);
  let j = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === LF) out[j++] = CR;
    out[j++] = bytes[i]!;
  }
  return out;
}

type WriteCallback = (error?: Error | null) => void;

/**
 * What a worker's `process.stdout` / `process.stderr` and the REPL's output become: a small
 * synchronous writer (no internal Writable state that an interrupted evaluation could leave
 * half-updated) with the tty properties readline and user code look at.
 */
export class WorkerOutput extends EventEmitter {
  readonly writable = true;
  isTTY: boolean;
  columns: number;
  rows: number;
  private readonly onlcr: boolean;

  constructor(
    private readonly flow: WorkerOutputFlow,
    private readonly dataType: number,
    shape: TerminalShape,
  ) {
    super();
    this.isTTY = shape.isTTY;
    this.columns = shape.columns;
    this.rows = shape.rows;
    this.onlcr = shape.onlcr;
  }

  write(chunk: unknown, encoding?: BufferEncoding | WriteCallback, cb?: WriteCallback): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    let bytes: Uint8Array;
    if (typeof chunk === 'string') bytes = Buffer.from(chunk, encoding ?? 'utf8');
    else if (chunk instanceof Uint8Array) bytes = chunk;
    else throw new TypeError('write() takes a string, a Buffer or a Uint8Array');
    if (this.onlcr) bytes = translateNewlines(bytes);
    this.flow.post(bytes, this.dataType);
    // null, not undefined: Console's write-error handler treats anything else as an error.
    if (cb) process.nextTick(cb, null);
    return true;
  }

  end(chunk?: unknown, encoding?: BufferEncoding | WriteCallback, cb?: WriteCallback): this {
    if (typeof chunk === 'function') cb = chunk as WriteCallback;
    else if (chunk !== undefined && chunk !== null) this.write(chunk, encoding, cb);
    else if (typeof encoding === 'function') cb = encoding;
    if (cb) process.nextTick(cb, null);
    return this;
  }

  cork(): void {}
  uncork(): void {}
  setDefaultEncoding(): this {
    return this;
  }

  /** tty.WriteStream's methods, for code that checks them. */
  getWindowSize(): [number, number] {
    return [this.columns, this.rows];
  }
  getColorDepth(): number {
    return this.isTTY ? 8 : 1;
  }
  hasColors(count = 16): boolean {
    return this.isTTY && count <= 256;
  }

  /** The terminal changed size (the client's window-change); readline redraws on 'resize'. */
  resize(columns: number, rows: number): void {
    this.columns = columns;
    this.rows = rows;
    this.emit('resize');
  }
}

/** A worker that somehow posts this much more than it was allowed to is stopped. */
const RELAY_HARD_CAP = 4 * 1024 * 1024;

/**
 * The daemon's side: sends a worker's output pieces with `send` (which resolves once the
 * channel's window let them go), in order, and acknowledges each to the worker when sent.
 */
export class OutputRelay {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private failed: unknown;

  constructor(
    private readonly flow: Int32Array,
    private readonly send: (data: Buffer, dataType: number) => Promise<void>,
    /** Called once when sending fails (the channel closed) or the worker overran the cap. */
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /** Handles one message from the worker; false when it was not output. */
  handle(message: unknown): boolean {
    const m = message as OutputMessage;
    if (m?.t !== 'out' || !(m.data instanceof Uint8Array)) return false;
    if (this.failed !== undefined) return true;
    const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    this.pending += data.length;
    if (this.pending > RELAY_HARD_CAP) {
      this.fail(new Error('the worker overran its output limit'));
      return true;
    }
    const dataType = m.dataType === 1 ? 1 : 0;
    this.tail = this.tail.then(async () => {
      if (this.failed !== undefined) return;
      try {
        await this.send(data, dataType);
      } catch (e) {
        this.fail(e);
        return;
      }
      this.pending -= data.length;
      Atomics.add(this.flow, SLOT.acked, data.length);
      Atomics.notify(this.flow, SLOT.acked);
    });
    return true;
  }

  /**
   * Sends bytes that did not come through the flow (what a worker wrote through Node's own
   * stdio plumbing), in order with the rest, without acknowledging them to the worker.
   */
  passThrough(data: Buffer, dataType: number): void {
    if (this.failed !== undefined) return;
    this.tail = this.tail.then(async () => {
      if (this.failed !== undefined) return;
      await this.send(data, dataType).catch((e: unknown) => this.fail(e));
    });
  }

  /** Resolves when everything received so far has been sent (or sending failed). */
  drained(): Promise<void> {
    return this.tail;
  }

  private fail(e: unknown): void {
    if (this.failed !== undefined) return;
    this.failed = e ?? new Error('output failed');
    this.onFailure(this.failed);
  }
}

/**
 * Makes a worker's own `process.stdout` or `process.stderr` write through `to`, and report `to`'s
 * terminal shape. The stream object itself stays (Node's worker plumbing calls into it), only its
 * `write` and tty properties change, so code holding it (the global console) follows along.
 */
export function redirectProcessStream(stream: NodeJS.WriteStream, to: WorkerOutput): void {
  const s = stream as unknown as Record<string, unknown> & EventEmitter;
  s.write = (chunk: unknown, encoding?: BufferEncoding | WriteCallback, cb?: WriteCallback) =>
    to.write(chunk, encoding, cb);
  for (const key of ['isTTY', 'columns', 'rows'] as const) {
    Object.defineProperty(s, key, { configurable: true, enumerable: true, get: () => to[key] });
  }
  s.getWindowSize = () => to.getWindowSize();
  s.getColorDepth = () => to.getColorDepth();
  s.hasColors = (count?: number) => to.hasColors(count);
  to.on('resize', () => s.emit('resize'));
}
