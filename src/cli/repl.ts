/**
 * The daemon's default shell (the seed's "default Erlang shell", in Node terms): a `node:repl`
 * served over the channel, one worker thread per session (repl-worker.ts), so that an endless
 * loop, a `process.exit()` or running out of memory ends or stalls that session only.
 *
 * With a pty (RFC 4254 §6.2) the REPL has line editing, history and Tab completion, sized to the
 * pty and redrawn on `window-change` (§6.7); its terminal modes are honoured where a REPL can
 * see them: VINTR interrupts, VEOF ends input, OPOST/ONLCR decide whether "\n" goes out as
 * "\r\n". Without a pty it reads plain lines. Ctrl-C (or a `signal` request for INT, §6.9)
 * interrupts the running expression, keeping the session's variables where that can be done
 * safely (repl-interrupt.ts) and restarting the worker where it cannot; Ctrl-D, `.exit` and the
 * end of input end the session with exit status 0; `process.exit(n)` ends it with status n.
 */
import type { Worker } from 'node:worker_threads';
import type { ChannelMessage, HandlerResult, ServerChannelHandler } from '../channel/behaviour.js';
import type { SessionChannel as Channel } from '../channel/session-channel.js';
import type { TerminalMode } from '../wire/terminal-modes.js';
import { debug } from '../log.js';
import { interruptWorker } from './repl-interrupt.js';
import type { ReplInbound, ReplOutbound, ReplWorkerData } from './repl-protocol.js';
import { OutputRelay, SLOT, sharedFlow } from './worker-stream.js';

/** The pty the client asked for (a `pty` channel message). */
export interface ReplPty {
  terminal: string;
  cols: number;
  rows: number;
  modes: TerminalMode[];
}

export interface ReplSessionOptions {
  pty?: ReplPty;
  /** Environment variables the client set (RFC 4254 §6.4), on top of the daemon's. */
  env?: Iterable<[string, string]>;
  /** The worker's old-generation heap limit in MiB (worker resourceLimits). */
  memoryLimitMb?: number;
}

/** How a session ended: an exit status, or a message and a failing status. */
export interface ReplExit {
  status: number;
  /** Set when a `signal` request ended the session: it is reported as exit-signal (RFC 4254 §6.10). */
  signal?: string;
  message?: string;
}

/** Input bytes posted to the worker and not yet taken by its REPL before `input()` waits. */
const INPUT_LIMIT = 64 * 1024;
export const DEFAULT_MEMORY_LIMIT_MB = 256;
const HISTORY_SIZE = 1000;
const INTR = 0x03;
const EOT = 0x04;
/** How long a worker not busy in an evaluation gets to take input sent before a Ctrl-C. */
const CATCH_UP_MS = 1000;
/** How long a worker not running user code is waited for before a Ctrl-C stops it anyway. */
const SLOW_WORKER_MS = 4000;

function mode(modes: TerminalMode[], name: string): number | undefined {
  for (const [op, value] of modes) if (op === name) return value;
  return undefined;
}

/** A control character setting that is not disabled (_POSIX_VDISABLE is 0 or 255). */
function controlChar(value: number | undefined, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  return value === 0 || value === 255 ? undefined : value & 0xff;
}

/**
 * One REPL session: its worker, the input going in, the output coming out. Knows the channel
 * only as a function that sends data.
 */
export class ReplSession {
  readonly exited: Promise<ReplExit>;
  private resolveExit!: (e: ReplExit) => void;
  private worker!: Worker;
  private flow!: Int32Array;
  private relay!: OutputRelay;
  private columns: number;
  private rows: number;
  private readonly vintr: number | undefined;
  private readonly veof: number | undefined;
  private readonly workerData: Omit<ReplWorkerData, 'flow'>;
  private readonly env: Record<string, string | undefined>;
  private inFlight = 0;
  private roomWaiters: (() => void)[] = [];
  private ackWaiters: (() => void)[] = [];
  private interrupting = false;
  /**
   * Messages held back: for a worker being replaced, posted once the new one exists; or typed
   * after a Ctrl-C that came during an evaluation, posted once it is decided what it did.
   */
  private held: ReplInbound[] | undefined;
  private ending = false;
  private done = false;

  constructor(
    private readonly send: (data: Buffer, dataType: number) => Promise<void>,
    private readonly options: ReplSessionOptions = {},
  ) {
    this.exited = new Promise((r) => (this.resolveExit = r));
    const pty = options.pty;
    this.columns = pty?.cols || 80;
    this.rows = pty?.rows || 24;
    this.vintr = pty ? controlChar(mode(pty.modes, 'vintr'), INTR) : undefined;
    this.veof = pty ? controlChar(mode(pty.modes, 'veof'), EOT) : undefined;
    const onlcr = pty !== undefined && mode(pty.modes, 'opost') !== 0 && mode(pty.modes, 'onlcr') !== 0;
    this.workerData = {
      historySize: HISTORY_SIZE,
      ...(pty
        ? { pty: { columns: this.columns, rows: this.rows, onlcr, colors: pty.terminal !== 'dumb' } }
        : {}),
    };
    this.env = { ...process.env, ...Object.fromEntries(options.env ?? []) };
    if (pty) this.env.TERM = pty.terminal || 'dumb';
    this.spawn();
  }

  private spawn(): void {
    this.flow = sharedFlow();
    const flow = this.flow;
    this.relay = new OutputRelay(flow, this.send, () => void this.end({ status: 255 }, false));
    const limit = this.options.memoryLimitMb ?? DEFAULT_MEMORY_LIMIT_MB;
    const data: ReplWorkerData = {
      ...this.workerData,
      ...(this.workerData.pty
        ? { pty: { ...this.workerData.pty, columns: this.columns, rows: this.rows } }
        : {}),
      flow,
    };
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    const worker = new Worker(new URL('./repl-worker.js', import.meta.url), {
      workerData: data,
      env: this.env,
      name: 'seashell-repl',
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: limit, maxYoungGenerationSizeMb: Math.min(32, limit) },
    });
    this.worker = worker;
    const mine = () => this.worker === worker;
    worker.on('message', (m: ReplOutbound) => {
      if (!mine() || this.relay.handle(m)) return;
      if (m.t === 'ack') this.acked(m.n);
      else if (m.t === 'exit') void this.end({ status: 0 }, true);
    });
    // Anything written before the worker replaced its process.stdout/stderr.
    for (const [stream, dataType] of [
      [worker.stdout, this.workerData.pty ? 0 : 1],
      [worker.stderr, this.workerData.pty ? 0 : 1],
    ] as const) {
      stream.on('data', (d: Buffer) => {
        if (mine() && !this.done) this.relay.passThrough(d, dataType);
      });
    }
    worker.on('error', (e: Error & { code?: string }) => {
      if (!mine()) return;
      const message =
        e.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `the REPL ran out of memory (the limit is ${limit} MiB); the session ends`
          : `the REPL failed: ${e.message}`;
      void this.end({ status: 1, message }, true);
    });
    worker.on('exit', (code) => {
      // process.exit(n) in the REPL ends the session with exit status n.
      if (mine()) void this.end({ status: code }, true);
    });
  }

  private acked(n: number): void {
    this.inFlight = Math.max(0, this.inFlight - n);
    if (this.inFlight < INPUT_LIMIT) for (const w of this.roomWaiters.splice(0)) w();
    if (this.inFlight === 0) for (const w of this.ackWaiters.splice(0)) w();
  }

  /** Posts to the worker, behind what is held back unless `now` (the worker must be there). */
  private post(m: ReplInbound, now = false): void {
    if (this.done) return;
    if (m.t === 'in') {
      // A copy of just these bytes: posting a view would clone its whole underlying buffer.
      m = { t: 'in', data: new Uint8Array(m.data) };
      this.inFlight += m.data.byteLength;
    }
    if (this.held && !now) this.held.push(m);
    else this.worker.postMessage(m);
  }

  /** Posts what was held back while a Ctrl-C was being decided. */
  private unpark(): void {
    const held = this.held;
    this.held = undefined;
    if (held && !this.done) for (const m of held) this.worker.postMessage(m);
  }

  /**
   * Data from the client. Resolves when the worker has room for more: hold the channel's window
   * until then, and a client typing into a stalled session is stopped by flow control.
   */
  async input(data: Buffer): Promise<void> {
    if (this.done) return;
    let bytes = data;
    if (this.workerData.pty && ((this.vintr ?? INTR) !== INTR || (this.veof ?? EOT) !== EOT)) {
      bytes = Buffer.from(bytes);
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] === this.vintr) bytes[i] = INTR;
        else if (bytes[i] === this.veof) bytes[i] = EOT;
      }
    }
    if (this.vintr !== undefined) {
      // Each Ctrl-C is judged after the bytes before it were posted: "1+1\r\x03" in one packet
      // must not let the line start an endless evaluation with the Ctrl-C queued behind it.
      for (let at = bytes.indexOf(INTR); at >= 0; at = bytes.indexOf(INTR)) {
        if (at > 0) this.post({ t: 'in', data: bytes.subarray(0, at) });
        this.ctrlC();
        bytes = bytes.subarray(at + 1);
      }
    }
    if (bytes.length > 0) this.post({ t: 'in', data: bytes });
    if (this.inFlight >= INPUT_LIMIT && !this.done) {
      await new Promise<void>((r) => this.roomWaiters.push(r));
    }
  }

  /** The client's EOF: the REPL ends once it has read everything before it. */
  eof(): void {
    this.post({ t: 'eof' });
  }

  windowChange(cols: number, rows: number): void {
    if (!this.workerData.pty) return;
    this.columns = cols || this.columns;
    this.rows = rows || this.rows;
    this.post({ t: 'resize', columns: this.columns, rows: this.rows });
  }

  /** RFC 4254 §6.9: INT interrupts like Ctrl-C; TERM, HUP, KILL end the session. */
  signal(name: string): void {
    if (this.done) return;
    if (name === 'INT') this.ctrlC();
    else if (name === 'TERM' || name === 'HUP' || name === 'KILL') {
      void this.end({ status: 128 + (name === 'KILL' ? 9 : name === 'TERM' ? 15 : 1), signal: name }, false);
    }
  }

  /** Ends the session now (the channel closed). */
  async stop(): Promise<void> {
    await this.end({ status: 255 }, false);
  }

  private forwardInterrupt(now = false): void {
    if (this.workerData.pty) this.post({ t: 'in', data: Buffer.of(INTR) }, now);
    else this.post({ t: 'sigint' }, now);
  }

  private caughtUp(ms: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.ackWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /**
   * A Ctrl-C (VINTR on a pty, or a `signal` INT, RFC 4254 §6.9). An evaluation running is
   * interrupted (repl-interrupt.ts); otherwise the REPL reads it as a key (clearing the line, or
   * giving up an await), unless the worker does not take it within a second: then something
   * else holds the thread (a callback that does not end) and it is interrupted as well.
   */
  private ctrlC(): void {
    debug(
      'REPL Ctrl-C: busy %d awaiting %d inFlight %d interrupting %s',
      Atomics.load(this.flow, SLOT.busy),
      Atomics.load(this.flow, SLOT.awaiting),
      this.inFlight,
      this.interrupting,
    );
    if (this.done || this.interrupting) return;
    this.interrupting = true;
    const worker = this.worker;
    const busy = Atomics.load(this.flow, SLOT.busy) === 1;
    if (!busy) this.forwardInterrupt();
    // While it is decided what a Ctrl-C seen during an evaluation did, what is typed after it
    // waits: if the evaluation had just ended (the worker was slow to clear its flag: seen on a
    // loaded machine), the Ctrl-C goes to the REPL as a key, and must reach it before that input.
    else this.held ??= [];
    void (async () => {
      try {
        if (!busy) {
          let caught = await this.caughtUp(CATCH_UP_MS);
          // A worker that is only slow to read (a loaded machine) and not running user code gets
          // longer: stopping it would cut into the REPL's own work on the line (its preview) and
          // lose the Ctrl-C. A line that started user code, or a callback that never returns,
          // is stopped after at most SLOW_WORKER_MS.
          const until = Date.now() + SLOW_WORKER_MS - CATCH_UP_MS;
          while (!caught && !this.done && Atomics.load(this.flow, SLOT.busy) === 0 && Date.now() < until) {
            caught = await this.caughtUp(100);
          }
          if (caught) return;
        }
        const result = await interruptWorker(worker.threadId, () => worker.postMessage({ t: 'poke' }));
        if (this.done || worker !== this.worker) return;
        if (result === 'interrupted') this.post({ t: 'interrupted', dropCtrlC: !busy }, true);
        else if (result === 'idle') {
          if (busy) this.forwardInterrupt(true);
        } else await this.restart();
      } finally {
        this.interrupting = false;
        if (busy) this.unpark();
      }
    })();
  }

  /** The worker could not be stopped in place: a fresh one replaces it. */
  private async restart(): Promise<void> {
    const old = this.worker;
    // Input typed after the Ctrl-C (held back while it was decided) goes to the new worker.
    this.held ??= [];
    this.inFlight = 0;
    for (const m of this.held) if (m.t === 'in') this.inFlight += m.data.byteLength;
    await this.relay.drained();
    this.worker = undefined as unknown as Worker; // its events are ignored from now on
    await old.terminate();
    if (this.done) return;
    for (const w of [...this.roomWaiters.splice(0), ...this.ackWaiters.splice(0)]) w();
    const nl = this.workerData.pty ? '\r\n' : '\n';
    await this.send(
      Buffer.from(
        `${nl}[the running code could not be interrupted in place (it was in a callback or in native code); ` +
          `the REPL was restarted and its variables are gone]${nl}`,
      ),
      this.workerData.pty ? 0 : 1,
    ).catch(() => {});
    if (this.done) return;
    this.spawn();
    const held = this.held;
    this.held = undefined;
    for (const m of held) this.worker.postMessage(m);
  }

  /** Ends the session once; `drain` waits for output the worker already posted to go out. */
  private async end(exit: ReplExit, drain: boolean): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    const worker = this.worker;
    if (drain) await this.relay.drained();
    this.done = true;
    for (const w of [...this.roomWaiters.splice(0), ...this.ackWaiters.splice(0)]) w();
    await worker?.terminate();
    this.resolveExit(exit);
  }
}

// ---- the channel handler -------------------------------------------------------------------

/** Arguments of `replShell`'s init. */
export interface ReplShellArgs {
  /** The pty and env already requested, for a handler started after the `shell` request. */
  pty?: ReplPty;
  env?: Iterable<[string, string]>;
  /** Start at once (the `shell` request was answered by whoever started this handler). */
  started?: boolean;
  memoryLimitMb?: number;
}

/** The state `replShell` keeps per channel. */
export interface ReplState {
  args: ReplShellArgs;
  channel?: Channel;
  pty?: ReplPty;
  env: Map<string, string>;
  session?: ReplSession;
}

/** The message a session's end posts to its handler's mailbox (the seed's `{'EXIT', Shell, _}`). */
export interface ReplExited {
  type: 'seashell.repl.exited';
  exit: ReplExit;
}

function start(state: ReplState): void {
  const ch = state.channel!;
  const session = new ReplSession((data, dataType) => ch.send(data, { dataType }), {
    ...(state.pty ? { pty: state.pty } : {}),
    env: state.env,
    ...(state.args.memoryLimitMb !== undefined ? { memoryLimitMb: state.args.memoryLimitMb } : {}),
  });
  state.session = session;
  void session.exited.then((exit) => ch.post({ type: 'seashell.repl.exited', exit } satisfies ReplExited));
}

/**
 * The default shell as a ServerChannelHandler. It serves a whole session channel (env, pty-req,
 * shell, data, EOF, window-change, signal) or, started with `started: true` and the pty and env
 * in its init arguments, takes over a channel whose `shell` request was already accepted.
 */
export const replShell: ServerChannelHandler<ReplState> = {
  init(args) {
    const a = (args[0] ?? {}) as ReplShellArgs;
    return { ok: { args: a, env: new Map(a.env ?? []), ...(a.pty ? { pty: a.pty } : {}) } };
  },

  async handleMsg(message, state): Promise<HandlerResult<ReplState>> {
    const m = message as { type?: string; channel?: Channel; channelId?: number } | ReplExited;
    if (m?.type === 'channelUp') {
      state.channel = (m as { channel: Channel }).channel;
      if (state.args.started) start(state);
    } else if (m?.type === 'seashell.repl.exited' && state.channel) {
      const ch = state.channel;
      const { exit } = m as ReplExited;
      if (exit.message) {
        const nl = state.pty ? '\r\n' : '\n';
        await ch.send(`${nl}${exit.message}${nl}`, { dataType: state.pty ? 0 : 1 }).catch(() => {});
      }
      const exitReport = exit.signal ? ch.exitSignal(exit.signal) : ch.exitStatus(exit.status);
      await Promise.all([ch.sendEof(), exitReport]).catch(() => {});
      return { stop: ch.channelId, state };
    }
    return { ok: state };
  },

  async handleSshMsg(message: ChannelMessage, state): Promise<HandlerResult<ReplState>> {
    const ch = state.channel!;
    switch (message.type) {
      case 'env':
        state.env.set(message.name, message.value);
        ch.replyRequest(message.wantReply, 'success');
        break;
      case 'pty':
        if (state.session) ch.replyRequest(message.wantReply, 'failure');
        else {
          state.pty = {
            terminal: message.terminal,
            cols: message.cols,
            rows: message.rows,
            modes: message.modes,
          };
          ch.replyRequest(message.wantReply, 'success');
        }
        break;
      case 'shell':
        if (state.session) ch.replyRequest(message.wantReply, 'failure');
        else {
          ch.replyRequest(message.wantReply, 'success');
          start(state);
        }
        break;
      case 'exec':
        ch.replyRequest(message.wantReply, 'failure');
        break;
      case 'data':
        if (message.dataType === 0) await state.session?.input(message.data);
        break;
      case 'eof':
        state.session?.eof();
        break;
      case 'windowChange':
        state.session?.windowChange(message.cols, message.rows);
        break;
      case 'signal':
        state.session?.signal(message.signal);
        break;
      default:
        break;
    }
    return { ok: state };
  },

  async terminate(_reason, state) {
    await state.session?.stop();
  },
};
