/**
 * The harness's side of the agent protocol (see bench/agents/protocol.ts): starts an agent as a
 * child process of its own, waits for its hello line, and sends it requests.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { killTree, spawnTracked } from './proc.js';

/** Where agents write diagnostic reports (see `Agent.diagnose`). */
const REPORT_DIR = join(tmpdir(), `seashell-bench-reports-${process.pid}`);
mkdirSync(REPORT_DIR, { recursive: true });

/** Absolute path of a compiled agent script (dist/bench/agents/<name>.js). */
export function agentScript(name: string): string {
  return fileURLToPath(new URL(`../agents/${name}.js`, import.meta.url));
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class Agent {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderrTail = '';
  private exited = false;
  hello: Record<string, unknown> = {};

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {}

  get pid(): number {
    return this.child.pid as number;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Starts `node [nodeArgs] <script> [args]` (`node` the given binary, else ours) and resolves once it said hello. */
  static start(
    name: string,
    script: string,
    args: string[],
    options: { nodeArgs?: string[]; timeoutMs?: number; node?: string } = {},
  ): Promise<Agent> {
    const child = spawnTracked(
      options.node ?? process.execPath,
      [
        // On a timed-out request the harness asks for a diagnostic report: where the agent was stuck.
        '--report-on-signal',
        '--report-signal=SIGUSR2',
        `--report-directory=${REPORT_DIR}`,
        '--report-compact',
        ...(options.nodeArgs ?? []),
        agentScript(script),
        ...args,
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const agent = new Agent(name, child);
    return new Promise<Agent>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `agent ${name} did not start within ${options.timeoutMs ?? 30000} ms: ${agent.stderrTail}`,
          ),
        );
        void agent.kill();
      }, options.timeoutMs ?? 30000);
      child.stderr?.on('data', (c: Buffer) => {
        agent.stderrTail = (agent.stderrTail + c.toString('utf8')).slice(-4000);
      });
      child.stdin?.on('error', () => {});
      child.once('exit', (code, signal) => {
        agent.exited = true;
        clearTimeout(timer);
        const why = new Error(
          `agent ${name} exited (code ${code}, signal ${signal})${agent.stderrTail ? `: ${agent.stderrTail.trim()}` : ''}`,
        );
        reject(why);
        for (const p of agent.pending.values()) {
          clearTimeout(p.timer);
          p.reject(why);
        }
        agent.pending.clear();
      });
      const rl = createInterface({ input: child.stdout! });
      rl.on('line', (line) => {
        let msg: {
          hello?: Record<string, unknown>;
          id?: number;
          ok?: boolean;
          result?: unknown;
          error?: string;
        };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          agent.stderrTail = (agent.stderrTail + `[stdout] ${line}\n`).slice(-4000);
          return;
        }
        if (msg.hello) {
          agent.hello = msg.hello;
          clearTimeout(timer);
          resolve(agent);
          return;
        }
        const p = agent.pending.get(msg.id ?? -1);
        if (!p) return;
        agent.pending.delete(msg.id as number);
        clearTimeout(p.timer);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(new Error(`${name}: ${msg.error ?? 'failed'}`));
      });
    });
  }

  /** Sends a request; rejects after `timeoutMs` (the agent is then killed: its state is unknown). */
  request<T>(op: string, params: Record<string, unknown> = {}, timeoutMs = 60000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`agent ${this.name} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        const tail = this.stderrTail.trim().slice(-500);
        void this.diagnose().then((where) => {
          reject(
            new Error(
              `agent ${this.name}: ${op} timed out after ${timeoutMs} ms${tail ? ` (stderr: ${tail})` : ''}` +
                (where ? `; ${where}` : ''),
            ),
          );
          void this.kill();
        });
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.stdin!.write(JSON.stringify({ id, op, ...params }) + '\n');
    });
  }

  /**
   * What a stuck agent is doing: its scheduler state and CPU time from /proc, and the JavaScript
   * stack from a Node diagnostic report (SIGUSR2; Node writes it from the event loop, so an agent
   * spinning in JavaScript or blocked in a call gives none, and the /proc state tells which).
   * Best effort, at most ~3 s.
   */
  private async diagnose(): Promise<string> {
    const pid = this.child.pid;
    if (pid === undefined || this.exited) return '';
    const parts: string[] = [];
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      parts.push(`state ${stat[0]}, CPU ${((Number(stat[11]) + Number(stat[12])) / 100).toFixed(1)} s`);
    } catch {
      // not Linux, or gone
    }
    try {
      const before = new Set(readdirSync(REPORT_DIR));
      this.child.kill('SIGUSR2');
      for (let i = 0; i < 30; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const fresh = readdirSync(REPORT_DIR).filter((f) => !before.has(f) && f.includes(`.${pid}.`));
        if (fresh.length === 0) continue;
        await new Promise((r) => setTimeout(r, 200)); // let it finish writing
        const report = JSON.parse(readFileSync(join(REPORT_DIR, fresh[0]!), 'utf8')) as {
          javascriptStack?: { message?: string; stack?: string[] };
        };
        const js = report.javascriptStack;
        parts.push(`JS stack: ${js?.message ?? ''} ${(js?.stack ?? []).slice(0, 12).join(' | ')}`);
        return parts.join('; ');
      }
      parts.push(
        'no diagnostic report within 3 s (Node writes it from the event loop, so a loop that never yields or a blocking call gives none)',
      );
    } catch (e) {
      parts.push(`no diagnostic report: ${(e as Error).message}`);
    }
    return parts.join('; ');
  }

  /** Asks the agent to exit (it flushes profiles then), killing it if it does not within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin!.write(JSON.stringify({ id: 0, op: 'exit' }) + '\n');
    this.child.stdin!.end();
    const t = setTimeout(() => void this.kill(), graceMs);
    await gone;
    clearTimeout(t);
  }

  async kill(): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    await killTree(this.child.pid, 1000);
  }
}
