/**
 * The agents' side of the bench protocol. An agent is a child process that plays one contestant
 * (a Seashell or ssh2 client or server). It prints one JSON line `{"hello": {...}}` when it is
 * ready, then answers each request line `{"id", "op", ...params}` from stdin with
 * `{"id", "ok": true, "result"}` or `{"id", "ok": false, "error"}` on stdout. Requests may overlap
 * (a `loadStop` arrives while nothing else runs, but `stats` can come at any time). The agent exits
 * on `{"op": "exit"}` or when stdin ends, so it never outlives the harness's pipe.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { createInterface } from 'node:readline';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export type Params = Record<string, unknown>;
export type Handler = (params: Params) => Promise<unknown> | unknown;

function write(line: unknown): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message + (e.cause instanceof Error ? ` (${e.cause.message})` : '');
  return String(e);
}

/** Reads a command-line flag `--name value`. */
export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/** CPU seconds this process has used (user + system). */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Resident bytes of V8's young generation. V8 grows it to the allocation rate (a burst of
 * handshakes doubles it) and gc() does not shrink it back, so the memory measure subtracts its
 * change: it is sized by recent garbage, not held by any connection.
 */
function youngGeneration(): number {
  let bytes = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
      bytes += s.physical_space_size;
  }
  return bytes;
}

/** The handlers every agent has: stats (CPU and memory of this process) and gc. */
export function commonHandlers(): Record<string, Handler> {
  return {
    stats: () => ({ cpuS: cpuSeconds(), memory: process.memoryUsage(), young: youngGeneration() }),
    gc: () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) {
        gc();
        gc();
      }
      return { gc: gc !== undefined, memory: process.memoryUsage(), young: youngGeneration() };
    },
  };
}

/** Announces the agent and serves requests until `exit` or the end of stdin. */
export function serve(
  hello: Record<string, unknown>,
  handlers: Record<string, Handler>,
  onExit?: () => Promise<void>,
): void {
  const all = { ...commonHandlers(), ...handlers };
  let exiting = false;
  const exit = async () => {
    if (exiting) return;
    exiting = true;
    try {
      await Promise.race([onExit?.(), new Promise((r) => setTimeout(r, 3000))]);
    } finally {
      process.exit(0);
    }
  };
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    let req: Params & { id?: number; op?: string };
    try {
      req = JSON.parse(line) as Params & { id?: number; op?: string };
    } catch {
      write({ id: -1, ok: false, error: `bad request line ${JSON.stringify(line.slice(0, 200))}` });
      return;
    }
    const id = req.id ?? -1;
    if (req.op === 'exit') {
      write({ id, ok: true, result: null });
      void exit();
      return;
    }
    const h = all[req.op ?? ''];
    if (!h) {
      write({ id, ok: false, error: `unknown op ${req.op}` });
      return;
    }
    Promise.resolve()
      .then(() => h(req))
      .then(
        (result) => write({ id, ok: true, result: result ?? null }),
        (e: unknown) => write({ id, ok: false, error: message(e) }),
      );
  });
  rl.on('close', () => void exit());
  write({ hello: { pid: process.pid, node: process.version, ...hello } });
}

/** A 1 MiB buffer of zeros that senders slice from (never written to, so safe to share). */
export const ZEROS = Buffer.alloc(1 << 20);

/** Parses the bench's remote commands (see bench/contestants/commands.ts). */
export function parseCommand(command: string): { name: string; n?: number; rest: string } {
  const parts = command.trim().split(/\s+/);
  const name = parts[0] ?? '';
  const n = parts[1] !== undefined && /^\d+$/.test(parts[1]) ? Number(parts[1]) : undefined;
  return { name, n, rest: parts.slice(1).join(' ') };
}

/** Runs `fn` for `count` items with at most `limit` running at once. */
export async function withConcurrency<T>(
  count: number,
  limit: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return out;
}
