/**
 * Interrupting JavaScript that runs in a REPL worker (Ctrl-C on a `for(;;){}`), keeping the
 * session's context.
 *
 * A worker busy in a loop never looks at its messages, and the usual tools do not reach it:
 * `vm`'s `breakOnSigint` listens for the process's SIGINT (one per process, not per session, and
 * the daemon's own), and `worker.terminate()` loses every variable the session defined. V8 can
 * stop a running script from outside (TerminateExecution), and the inspector protocol delivers
 * that to one worker thread from the daemon's thread (`NodeWorker.sendMessageToWorker`), handled
 * at V8's next interrupt check, which a loop makes on every iteration.
 *
 * Stopping JavaScript at an arbitrary point is not safe in Node: measured with Node 20, a
 * termination inside a timer or immediate callback, or inside any callback while async hooks
 * are enabled, leaves Node's async-id stack unbalanced and Node aborts the whole process. So the
 * worker is first paused (`Debugger.pause`) and, while it is frozen, asked whether it is at the
 * one point known to be safe: inside its own dispatch of an evaluation, called straight from a
 * MessagePort message, with no async context pushed since (see `INTERRUPT_CHECK` in
 * repl-worker.ts). Only then is it terminated, which unwinds to that message callback; the
 * worker then tells the REPL the evaluation was interrupted. Anywhere else the answer is
 * "stuck", and the session restarts its worker instead (its context is lost, the daemon lives).
 */
import type { Session as InspectorSession } from 'node:inspector';
import { debug } from '../log.js';
import { INTERRUPT_CHECK } from './repl-protocol.js';

type Params = Record<string, unknown>;
interface WorkerReply {
  id?: number;
  method?: string;
  params?: Params;
  result?: Params;
  error?: { message: string };
}

interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string };
}

/** Where this file and the worker scripts beside it live: their frames are not the user's code. */
const OUR_DIR = new URL('.', import.meta.url).href;

/** Whether a paused stack is in code the user wrote (the REPL's `REPLn` scripts, their modules). */
function inUserCode(frames: CallFrame[]): boolean {
  return frames.some((f) => f.url !== '' && !f.url.startsWith('node:') && !f.url.startsWith(OUR_DIR));
}

/** How long the steps of an interrupt may take before the worker counts as stuck. */
const STEP_MS = 2000;

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * One inspector session on the daemon's thread with the NodeWorker domain on, shared by the
 * interrupts in progress and closed when none is (so that no worker is attached otherwise).
 */
class WorkerDebugger {
  private session: InspectorSession | undefined;
  private ready: Promise<void> | undefined;
  private users = 0;
  private nextId = 0;
  private readonly attached = new Map<string, string>();
  private readonly attachWaiters = new Map<string, (sessionId: string) => void>();
  private readonly replies = new Map<number, (m: WorkerReply) => void>();
  private readonly pausedWaiters = new Map<string, (frames: CallFrame[]) => void>();
  /** Script URLs by id, per worker session (CallFrame.url is deprecated and left empty). */
  private readonly scripts = new Map<string, Map<string, string>>();

  async acquire(): Promise<void> {
    this.users++;
    if (!this.ready) this.ready = this.open();
    await this.ready;
  }

  private async open(): Promise<void> {
    const { Session } = await import('node:inspector');
    const s = new Session();
    s.connect();
    s.on('NodeWorker.attachedToWorker', (m) => {
      const p = m.params as { sessionId: string; workerInfo: { workerId: string; title: string } };
      // The inspector numbers workers its own way; its title names the threadId: "[worker 7] name".
      const threadId = /^\[worker (\d+)\]/.exec(p.workerInfo.title)?.[1];
      if (threadId === undefined) return;
      this.attached.set(threadId, p.sessionId);
      this.attachWaiters.get(threadId)?.(p.sessionId);
    });
    s.on('NodeWorker.detachedFromWorker', (m) => {
      const p = m.params as { sessionId: string };
      for (const [w, sid] of this.attached) if (sid === p.sessionId) this.attached.delete(w);
    });
    s.on('NodeWorker.receivedMessageFromWorker', (m) => {
      const p = m.params as { sessionId: string; message: string };
      const msg = JSON.parse(p.message) as WorkerReply;
      if (msg.id !== undefined) {
        this.replies.get(msg.id)?.(msg);
        this.replies.delete(msg.id);
      } else if (msg.method === 'Debugger.scriptParsed') {
        const { scriptId, url } = msg.params as { scriptId: string; url: string };
        let urls = this.scripts.get(p.sessionId);
        if (!urls) this.scripts.set(p.sessionId, (urls = new Map()));
        urls.set(scriptId, url);
      } else if (msg.method === 'Debugger.paused') {
        const urls = this.scripts.get(p.sessionId);
        const frames = ((msg.params?.callFrames ?? []) as CallFrame[]).map((f) => ({
          ...f,
          url: f.url || (urls?.get(f.location?.scriptId) ?? ''),
        }));
        this.pausedWaiters.get(p.sessionId)?.(frames);
      }
    });
    this.session = s;
    await this.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
  }

  release(): void {
    if (--this.users > 0) return;
    const s = this.session;
    this.session = undefined;
    this.ready = undefined;
    this.attached.clear();
    if (s) {
      s.post('NodeWorker.disable', () => s.disconnect());
    }
  }

  private post(method: string, params: Params): Promise<Params> {
    return new Promise((resolve, reject) =>
      this.session!.post(method, params, (e, r) => (e ? reject(e) : resolve((r ?? {}) as Params))),
    );
  }

  /** The inspector session id of the worker with this threadId. */
  async attach(threadId: number): Promise<string> {
    const key = String(threadId);
    const known = this.attached.get(key);
    if (known) return known;
    try {
      return await within(
        new Promise<string>((resolve) => this.attachWaiters.set(key, resolve)),
        STEP_MS,
        'attaching to the worker',
      );
    } finally {
      this.attachWaiters.delete(key);
    }
  }

  /** Sends a protocol command to a worker; resolves with its result. */
  send(sessionId: string, method: string, params: Params = {}): Promise<Params> {
    const id = ++this.nextId;
    const reply = new Promise<Params>((resolve, reject) =>
      this.replies.set(id, (m) => (m.error ? reject(new Error(m.error.message)) : resolve(m.result ?? {}))),
    );
    this.post('NodeWorker.sendMessageToWorker', {
      sessionId,
      message: JSON.stringify({ id, method, params }),
    }).catch((e: unknown) => {
      this.replies.get(id)?.({ error: { message: String(e) } });
      this.replies.delete(id);
    });
    return reply;
  }

  paused(sessionId: string): Promise<CallFrame[]> {
    return new Promise((resolve) => this.pausedWaiters.set(sessionId, resolve));
  }

  forgetPaused(sessionId: string): void {
    this.pausedWaiters.delete(sessionId);
    this.scripts.delete(sessionId);
  }
}

const shared = new WorkerDebugger();

/**
 * 'interrupted': the evaluation was stopped in place; 'idle': the worker was paused in Node's or
 * our own code, so it is responsive and will read the Ctrl-C itself; 'stuck': it runs user code
 * where it cannot be stopped safely (a timer or promise callback), or did not pause at all
 * (native code), and only replacing the worker ends it.
 */
export type InterruptResult = 'interrupted' | 'idle' | 'stuck';

/**
 * Stops the evaluation a REPL worker is running, if it can be done safely (see above). `poke`
 * posts the worker a message of no meaning, so that a worker that went idle meanwhile runs some
 * JavaScript and reaches the pause. Never rejects: anything that goes wrong (no inspector in this
 * Node build, a step that does not answer) is 'stuck'.
 */
export async function interruptWorker(threadId: number, poke: () => void): Promise<InterruptResult> {
  try {
    await shared.acquire();
  } catch (e) {
    debug('REPL interrupt: no inspector: %s', e instanceof Error ? e.message : e);
    shared.release();
    return 'stuck';
  }
  let sessionId: string | undefined;
  try {
    sessionId = await shared.attach(threadId);
    const sid = sessionId;
    await within(shared.send(sid, 'Debugger.enable'), STEP_MS, 'Debugger.enable');
    const paused = shared.paused(sid);
    await within(shared.send(sid, 'Debugger.pause'), STEP_MS, 'Debugger.pause');
    poke();
    const frames = await within(paused, STEP_MS, 'the pause');
    const check = await within(
      shared.send(sid, 'Runtime.evaluate', {
        expression: `globalThis[Symbol.for(${JSON.stringify(INTERRUPT_CHECK.description)})]()`,
        returnByValue: true,
      }),
      STEP_MS,
      'the check',
    );
    const value = (check.result as { value?: unknown } | undefined)?.value;
    const verdict = typeof value === 'string' ? (JSON.parse(value) as { safe: boolean }) : undefined;
    debug(
      'REPL interrupt of worker %d: %s, paused in %j',
      threadId,
      value,
      frames.map((f) => `${f.functionName}@${f.url}`),
    );
    if (verdict?.safe) {
      // Terminate while paused, then resume: the worker cannot move on between check and stop.
      const terminated = shared.send(sid, 'Runtime.terminateExecution');
      await within(shared.send(sid, 'Debugger.resume'), STEP_MS, 'Debugger.resume');
      await within(terminated, STEP_MS, 'the termination');
      return 'interrupted';
    }
    await within(shared.send(sid, 'Debugger.resume'), STEP_MS, 'Debugger.resume');
    return inUserCode(frames) ? 'stuck' : 'idle';
  } catch (e) {
    debug('REPL interrupt of worker %d: %s', threadId, e instanceof Error ? e.message : e);
    return 'stuck';
  } finally {
    if (sessionId !== undefined) {
      shared.forgetPaused(sessionId);
      // Disabling the debugger also drops a pause still pending and lets a paused worker go on.
      await within(shared.send(sessionId, 'Debugger.disable'), STEP_MS, 'Debugger.disable').catch(() => {});
    }
    shared.release();
  }
}
