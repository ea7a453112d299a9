/**
 * Processes for the bench: starting and tracking children, ending whole trees (also on Ctrl-C),
 * and reading CPU time and anonymous memory from Linux /proc.
 *
 * CPU time of a process tree: /proc/<pid>/stat gives utime, stime (the process itself) and cutime,
 * cstime (its children that it has waited for), in clock ticks (USER_HZ, 100 per second on Linux).
 * Summing all four over a process and its live descendants counts every CPU second once: a child
 * that exited and was reaped is in its parent's cutime/cstime, a live one is counted by itself.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';

/** USER_HZ: the unit of the times in /proc/<pid>/stat (100 on every Linux we run on). */
const CLOCK_TICKS = 100;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Stat {
  ppid: number;
  state: string;
  /** utime + stime + cutime + cstime, in ticks. */
  ticks: number;
  start: string;
}

function readStat(pid: number | 'self'): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state), f[1] field 4 (ppid), f[11..14] fields 14-17 (utime stime cutime cstime),
  // f[19] field 22 (starttime).
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return { state: f[0] ?? '?', ppid: Number(f[1]), ticks, start: f[19] ?? '' };
}

/** CPU seconds of this process's children that it has waited for (cutime + cstime of /proc/self). */
export function reapedChildrenCpuSeconds(): number {
  let text: string;
  try {
    text = readFileSync('/proc/self/stat', 'utf8');
  } catch {
    return NaN;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / CLOCK_TICKS;
}

/** Every live descendant of `pid`. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = readStat(Number(e));
    if (s === undefined || s.state === 'Z') continue;
    const list = children.get(s.ppid);
    if (list) list.push(Number(e));
    else children.set(s.ppid, [Number(e)]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** CPU seconds used so far by `pid`, its reaped children and its live descendants. */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) ticks += readStat(p)?.ticks ?? 0;
  return ticks / CLOCK_TICKS;
}

export interface MemorySample {
  /** Proportional anonymous memory (Pss_Anon, or Anonymous on kernels without it), bytes. */
  anon: number;
  /** Resident set size, bytes. */
  rss: number;
  /** Processes summed. */
  processes: number;
}

function smapsRollup(pid: number): { anon: number; rss: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  return { anon: field('Pss_Anon') ?? field('Anonymous') ?? 0, rss: field('Rss') ?? 0 };
}

/** Anonymous memory of `pid` and its live descendants (each counted proportionally to sharing). */
export function treeMemory(pid: number): MemorySample {
  let anon = 0;
  let rss = 0;
  let processes = 0;
  for (const p of [pid, ...descendants(pid)]) {
    const m = smapsRollup(p);
    if (!m) continue;
    anon += m.anon;
    rss += m.rss;
    processes++;
  }
  return { anon, rss, processes };
}

/** The soft limit on open files of this process (children inherit it). */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    // not Linux
  }
  return 1024;
}

/** A port that was free a moment ago on 127.0.0.1 (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something on 127.0.0.1:port answers with an SSH identification line; false after `ms`. */
export async function waitForSshBanner(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(1000, () => done(false));
      s.once('error', () => done(false));
      s.once('data', (d: Buffer) => done(d.toString('latin1').startsWith('SSH-')));
    });
    if (ok) return true;
    await sleep(50);
  }
  return false;
}

// ---- children ------------------------------------------------------------------------------

const live = new Set<ChildProcess>();

/** spawn(), remembering the child so that `stopAll` (and Ctrl-C) can end it and its descendants. */
export function spawnTracked(cmd: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(cmd, args, options);
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

function isRunning(pid: number): boolean {
  const s = readStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** SIGTERM to a process and its descendants, SIGKILL to whatever is left after `graceMs`. */
export async function killTree(pid: number, graceMs = 2000): Promise<void> {
  const all = [pid, ...descendants(pid)];
  for (const p of all) kill(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let left = all.filter(isRunning);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(20);
    left = left.filter(isRunning);
  }
  for (const p of left) for (const q of [p, ...descendants(p)]) kill(q, 'SIGKILL');
}

/** Ends every child this process started with spawnTracked, and their descendants. */
export async function stopAll(graceMs = 2000): Promise<void> {
  const children = [...live].filter(
    (c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null,
  );
  await Promise.all(children.map((c) => killTree(c.pid as number, graceMs)));
}

/** The last-resort version of stopAll for process exit (synchronous: SIGKILL at once). */
export function killAllNow(): void {
  for (const c of live) {
    if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) continue;
    for (const p of [...descendants(c.pid), c.pid]) kill(p, 'SIGKILL');
  }
}

export interface TimedRun {
  code: number | null;
  signal: string | null;
  /** Wall time from spawn to exit, ms. */
  ms: number;
  /** CPU seconds of the process and its descendants (this process's cutime+cstime delta). */
  cpuS: number;
  stderr: string;
  /** Bytes read from stdout when it was 'count'. */
  stdoutBytes: number;
}

export interface TimedRunOptions {
  /** stdin: a file descriptor, or 'ignore' (/dev/null). */
  stdin: number | 'ignore';
  /** stdout: a file descriptor, 'ignore', or 'count' (piped here and counted). */
  stdout: number | 'ignore' | 'count';
  timeoutMs: number;
}

/**
 * Runs a program to its end and times it from spawn to exit. Its CPU time is read from this
 * process's reaped-children counters, so only one timed program may run at a time.
 */
export function runTimed(cmd: string, args: string[], o: TimedRunOptions): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const cpu0 = reapedChildrenCpuSeconds();
    const t0 = performance.now();
    const child = spawnTracked(cmd, args, {
      stdio: [o.stdin, o.stdout === 'count' ? 'pipe' : o.stdout, 'pipe'],
    });
    let stderr = '';
    let stdoutBytes = 0;
    child.stderr?.on('data', (c: Buffer) => {
      if (stderr.length < 16384) stderr += c.toString('utf8');
    });
    child.stdout?.on('data', (c: Buffer) => (stdoutBytes += c.length));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) void killTree(child.pid, 500);
    }, o.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.once('exit', (code, signal) => {
      const ms = performance.now() - t0;
      const cpuS = reapedChildrenCpuSeconds() - cpu0;
      clearTimeout(timer);
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        if (timedOut) {
          reject(new Error(`${cmd} timed out after ${o.timeoutMs} ms: ${stderr.trim().slice(0, 500)}`));
        } else resolve({ code, signal, ms, cpuS, stderr, stdoutBytes });
      };
      // Let piped output drain (bounded: a grandchild might hold the pipe open).
      if (child.stdout || child.stderr) {
        const t = setTimeout(finish, 2000);
        child.once('close', () => {
          clearTimeout(t);
          finish();
        });
      } else finish();
    });
  });
}
