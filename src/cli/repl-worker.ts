/**
 * The worker thread of one REPL shell session (see repl.ts for the daemon's side).
 *
 * A `node:repl` server reads keys (with a pty) or lines (without) that the daemon posts here and
 * writes to a WorkerOutput that posts back. Input is decoded here and handed to the REPL one key
 * or line at a time, and not at all while an evaluation is in progress, so that a pasted block
 * is evaluated line by line in order, and so that an evaluation always runs synchronously inside
 * `dispatch()` (called straight from a MessagePort message): the one place where the daemon may
 * stop it in place with V8's TerminateExecution without leaving Node's own bookkeeping (the
 * async-id stack, a keypress decoder generator, a Writable's state) half-updated.
 */
import { executionAsyncId } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import readline from 'node:readline';
import repl, { type REPLServer } from 'node:repl';
import { StringDecoder } from 'node:string_decoder';
import { inspect } from 'node:util';
import { MessageChannel, parentPort, workerData } from 'node:worker_threads';
import {
  INTERRUPT_CHECK,
  type ReplInbound,
  type ReplOutbound,
  type ReplWorkerData,
} from './repl-protocol.js';
import { redirectProcessStream, SLOT, WorkerOutput, WorkerOutputFlow } from './worker-stream.js';

type Key = { name?: string; ctrl?: boolean; meta?: boolean; shift?: boolean; sequence?: string };
type Unit =
  | { kind: 'key'; s: string | undefined; key: Key; completion: boolean; bytes: number }
  | { kind: 'line'; text: string; bytes: number }
  | { kind: 'eof'; bytes: number }
  | { kind: 'sigint'; bytes: number };

interface Pending {
  cb: (error: Error | null, result?: unknown) => void;
  abandoned: boolean;
  /** Abandoned while awaiting a promise: the REPL still holds its input paused until it settles. */
  stale: boolean;
}

type Listeners = Map<string | symbol, ((...args: unknown[]) => void)[]>;

function listenersOf(e: EventEmitter): Listeners {
  return new Map(e.eventNames().map((n) => [n, e.rawListeners(n) as ((...args: unknown[]) => void)[]]));
}

/** Removes the listeners `e` gained since `before` was taken. */
function removeListenersSince(e: EventEmitter, before: Listeners): void {
  for (const name of e.eventNames()) {
    const kept = before.get(name) ?? [];
    for (const l of e.rawListeners(name) as ((...args: unknown[]) => void)[]) {
      if (!kept.includes(l)) e.removeListener(name, l);
    }
  }
}

function main(): void {
  const port = parentPort!;
  const data = workerData as ReplWorkerData;
  const flow = data.flow;
  const pty = data.pty;
  const outFlow = new WorkerOutputFlow(port, flow);
  const shape = {
    isTTY: pty !== undefined,
    columns: pty?.columns ?? 80,
    rows: pty?.rows ?? 24,
    onlcr: pty?.onlcr ?? false,
  };
  const output = new WorkerOutput(outFlow, 0, shape);
  // With a pty everything goes to the terminal (one stream, as on a tty); without one, stderr
  // is the channel's extended data.
  const errors = pty ? output : new WorkerOutput(outFlow, 1, shape);
  // Code in the REPL, and modules it loads, write to the client through these.
  redirectProcessStream(process.stdout, output);
  redirectProcessStream(process.stderr, errors);

  // readline's input: a quiet emitter that this module drives (keys, lines, end).
  const input = Object.assign(new EventEmitter(), {
    isTTY: pty !== undefined,
    isRaw: pty !== undefined,
    readable: true,
    setRawMode(mode: boolean) {
      input.isRaw = mode;
      return input;
    },
    resume: () => input,
    pause: () => input,
  });

  // The REPL reports errors through its "domain"; a plain emitter instead of a real domain keeps
  // async hooks off in this thread (a real one enables them).
  const errorsBus = Object.assign(new EventEmitter(), { bind: <F>(f: F): F => f });

  const options = {
    prompt: '> ',
    input: input as unknown as NodeJS.ReadableStream,
    output: output as unknown as NodeJS.WritableStream,
    terminal: pty !== undefined,
    useColors: pty?.colors ?? false,
    historySize: data.historySize,
  } as repl.ReplOptions;
  let server: REPLServer;
  const inputBefore = listenersOf(input);
  const outputBefore = listenersOf(output);
  try {
    server = repl.start({ ...options, domain: errorsBus as never } as repl.ReplOptions);
  } catch (e) {
    // Node 26 refuses the domain option (ERR_INVALID_ARG_VALUE): start without it; errors of
    // the user's callbacks then come through uncaughtException below. The refused REPLServer
    // had already set up its readline Interface on our input and output before it threw: its
    // listeners go, or every key also reaches that half-made REPL, whose Tab completion fails
    // ("Cannot access 'self' before initialization", Node 26.12).
    if ((e as NodeJS.ErrnoException).code !== 'ERR_INVALID_ARG_VALUE') throw e;
    removeListenersSince(input, inputBefore);
    removeListenersSince(output, outputBefore);
    server = repl.start(options);
  }
  // Values print in full: no "... more characters" or "... more items" cut.
  const writerOptions = (server.writer as unknown as { options?: Record<string, unknown> }).options;
  if (writerOptions) {
    writerOptions.maxStringLength = Infinity;
    writerOptions.maxArrayLength = Infinity;
  }

  // Errors thrown later by callbacks the user scheduled are shown as the REPL shows its own.
  process.on('uncaughtException', (e) => {
    if (errorsBus.listenerCount('error') > 0) errorsBus.emit('error', e);
    else {
      // A Node whose REPL no longer reports through its domain option.
      output.write(`Uncaught ${inspect(e)}\n`);
      server.displayPrompt();
    }
  });

  const queue: Unit[] = [];
  let pending: Pending | undefined;
  let staleAwaits = 0;
  let dispatching = false;
  let entryAsyncId = -1;
  let closed = false;
  let delivering: Unit | undefined;
  const ack = (n: number) => {
    if (n > 0) port.postMessage({ t: 'ack', n } satisfies ReplOutbound);
  };
  const ttyWrite = (readline.Interface.prototype as unknown as { _ttyWrite: (s: unknown, k: Key) => void })
    ._ttyWrite;

  const setBusy = (v: 0 | 1) => Atomics.store(flow, SLOT.busy, v);
  const setAwaiting = (v: 0 | 1) => Atomics.store(flow, SLOT.awaiting, v);

  /** The daemon calls this (through the inspector, with this thread paused) before terminating. */
  Object.defineProperty(globalThis, INTERRUPT_CHECK, {
    value: () =>
      JSON.stringify({
        busy: Atomics.load(flow, SLOT.busy) === 1,
        // Safe to terminate: inside dispatch(), running an evaluation, and nothing has pushed an
        // async context since dispatch() began (Node checks that stack when the call unwinds).
        safe: dispatching && pending !== undefined && executionAsyncId() === entryAsyncId,
      }),
  });

  // Every dispatch runs from a message of this private channel: a plain MessagePort callback.
  const kicker = new MessageChannel();
  kicker.port1.on('message', () => dispatch());
  kicker.port1.unref();
  let kicked = false;
  const kick = () => {
    if (kicked) return;
    kicked = true;
    kicker.port2.postMessage(0);
  };

  const interrupted = () => {
    const e = new Error('Script execution was interrupted by Ctrl-C');
    e.stack = `${e.name}: ${e.message}`;
    return e;
  };

  const origEval = server.eval;
  (server as { eval: typeof server.eval }).eval = function (code, context, file, cb) {
    const p: Pending = { cb, abandoned: false, stale: false };
    pending = p;
    let sync = true;
    setBusy(1);
    origEval.call(server, code, context, file, (e: Error | null, result: unknown) => {
      if (p.abandoned) {
        if (p.stale) staleAwaits--;
        return;
      }
      setAwaiting(0);
      // Still pending while the REPL prints the value: a custom inspect that never ends is part
      // of the evaluation, and interruptible as such.
      cb(e, result);
      if (pending === p) pending = undefined;
      if (!sync) kick();
    });
    sync = false;
    setBusy(0);
    if (pending === p) setAwaiting(1);
  };

  /** Ends an evaluation the REPL is waiting for: the daemon stopped it, or Ctrl-C during an await. */
  const abandon = (stale: boolean) => {
    const p = pending;
    pending = undefined;
    setBusy(0);
    setAwaiting(0);
    if (!p) return false;
    p.abandoned = true;
    p.stale = stale;
    if (stale) staleAwaits++;
    p.cb(interrupted());
    return true;
  };

  const deliver = (u: Unit) => {
    switch (u.kind) {
      case 'key':
        (server as unknown as { isCompletionEnabled: boolean }).isCompletionEnabled = u.completion;
        // While an abandoned await keeps the REPL's input paused, keys go straight to readline.
        if (staleAwaits > 0) ttyWrite.call(server, u.s, u.key);
        else input.emit('keypress', u.s, u.key);
        return;
      case 'line':
        input.emit('data', u.text);
        return;
      case 'eof':
        input.emit('end');
        return;
      case 'sigint':
        server.emit('SIGINT');
        return;
    }
  };

  function dispatch(): void {
    kicked = false;
    if (dispatching) return;
    dispatching = true;
    entryAsyncId = executionAsyncId();
    while (pending === undefined && !closed && queue.length > 0) {
      const u = queue.shift()!;
      // Acknowledged once handled, not before: while an evaluation runs, its line still counts
      // as unread input, which tells the daemon that a Ctrl-C must interrupt something.
      delivering = u;
      deliver(u);
      delivering = undefined;
      ack(u.bytes);
    }
    dispatching = false;
    // A Ctrl-C that came with (or right after) the line now awaiting a promise.
    takeInterruptForAwait(0);
  }

  const isCtrlC = (u: Unit) =>
    u.kind === 'sigint' || (u.kind === 'key' && u.key.ctrl === true && u.key.name === 'c');
  /** Removes the first Ctrl-C waiting in the queue; whether there was one. */
  const takeCtrlC = (from: number) => {
    for (let i = from; i < queue.length; i++) {
      const u = queue[i]!;
      if (!isCtrlC(u)) continue;
      queue.splice(i, 1);
      ack(u.bytes);
      return true;
    }
    return false;
  };
  /** Ctrl-C (a key or a signal) while the REPL awaits a promise: the REPL gives up waiting. */
  const takeInterruptForAwait = (from: number) => {
    if (pending === undefined || Atomics.load(flow, SLOT.awaiting) !== 1) return;
    if (takeCtrlC(from)) {
      abandon(true);
      kick();
    }
  };

  // Keys: readline's own decoder, run here on an emitter of our own, never while user code runs.
  const decoderBus = new EventEmitter();
  const decoderIface: { isCompletionEnabled?: boolean } = {};
  decoderBus.on('keypress', (s: string | undefined, key: Key | undefined) => {
    queue.push({
      kind: 'key',
      s,
      key: key ?? {},
      completion: decoderIface.isCompletionEnabled !== false,
      bytes: 0,
    });
    kick();
  });
  readline.emitKeypressEvents(decoderBus as unknown as NodeJS.ReadableStream, decoderIface as never);
  const lineDecoder = new StringDecoder('utf8');
  let partialLine = '';

  const attribute = (from: number, bytes: number) => {
    if (queue.length > from) queue[queue.length - 1]!.bytes += bytes;
    else ack(bytes);
  };

  const onInput = (bytes: Uint8Array) => {
    const from = queue.length;
    if (pty) {
      decoderBus.emit('data', Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } else {
      const text =
        partialLine + lineDecoder.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      const lines = text.split('\n');
      partialLine = lines.pop()!;
      for (const line of lines) queue.push({ kind: 'line', text: line + '\n', bytes: 0 });
    }
    attribute(from, bytes.byteLength);
    takeInterruptForAwait(from);
    kick();
  };

  port.on('message', (m: ReplInbound) => {
    switch (m.t) {
      case 'in':
        onInput(m.data);
        return;
      case 'eof': {
        if (!pty) {
          const rest = partialLine + lineDecoder.end();
          partialLine = '';
          if (rest) queue.push({ kind: 'line', text: rest, bytes: 0 });
        }
        queue.push({ kind: 'eof', bytes: 0 });
        kick();
        return;
      }
      case 'sigint': {
        const from = queue.length;
        queue.push({ kind: 'sigint', bytes: 0 });
        takeInterruptForAwait(from);
        kick();
        return;
      }
      case 'resize':
        output.resize(m.columns, m.rows);
        return;
      case 'poke':
        return;
      case 'interrupted':
        // The daemon terminated the evaluation in place; dispatch() never got to its end.
        dispatching = false;
        if (delivering) ack(delivering.bytes);
        delivering = undefined;
        if (m.dropCtrlC) takeCtrlC(0);
        if (!abandon(false)) server.displayPrompt();
        kick();
        return;
    }
  });

  server.on('close', () => {
    if (closed) return;
    closed = true;
    port.postMessage({ t: 'exit' } satisfies ReplOutbound);
  });
}

try {
  main();
} catch (e) {
  process.stderr.write(`seashell: the REPL could not start: ${inspect(e)}\n`);
  process.exit(70);
}
