/**
 * Starts `daemon-child.js` in its own process and talks to it (see that file). Helper module, not a
 * test file.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import type { DaemonOptions } from '../../src/options.js';
import { withTimeout } from './raw-peer.js';

export interface Memory {
  /**
   * The data the daemon holds after a full GC, in bytes: heapUsed less V8's compiled code and
   * bytecode (`compiled`), plus external.
   */
  heap: number;
  compiled: number;
  heapUsed: number;
  external: number;
  rss: number;
  connections: number;
}

export class ChildDaemon {
  private readonly replies: ((line: string) => void)[] = [];
  private constructor(
    private readonly child: ChildProcess,
    private readonly lines: Interface,
    readonly port: number,
  ) {
    lines.on('line', (l) => this.replies.shift()?.(l));
  }

  static async start(config: {
    systemDir: string;
    userDir: string;
    options: DaemonOptions;
    preset?: 'slowPassword' | 'bigOutput' | 'recordExec';
  }): Promise<ChildDaemon> {
    const script = new URL('./daemon-child.js', import.meta.url).pathname;
    // JSON has no Infinity (e.g. `perSourceMaxStartups: Infinity`): it travels as a string.
    const json = JSON.stringify(config, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v));
    const child = spawn(process.execPath, ['--expose-gc', script, json], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout! });
    const first = await withTimeout(
      new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`daemon process exited with ${code}`)));
      }),
      'the daemon process to start',
    );
    const m = /^PORT (\d+)$/.exec(first);
    if (!m) throw new Error(`unexpected first line from the daemon process: ${first}`);
    return new ChildDaemon(child, lines, Number(m[1]));
  }

  /** The daemon's memory after a full garbage collection. */
  memory(): Promise<Memory> {
    const p = new Promise<string>((resolve) => this.replies.push(resolve));
    this.child.stdin!.write('mem\n');
    return withTimeout(p, 'the daemon process to report its memory').then((l) => JSON.parse(l) as Memory);
  }

  /** The commands the daemon ran (preset `recordExec`), with their users, in order. */
  ran(): Promise<{ command: string; user: string }[]> {
    const p = new Promise<string>((resolve) => this.replies.push(resolve));
    this.child.stdin!.write('ran\n');
    return withTimeout(p, 'the daemon process to list what it ran').then(
      (l) => JSON.parse(l) as { command: string; user: string }[],
    );
  }

  /** The users who logged in, in order. */
  logins(): Promise<string[]> {
    const p = new Promise<string>((resolve) => this.replies.push(resolve));
    this.child.stdin!.write('logins\n');
    return withTimeout(p, 'the daemon process to list its logins').then((l) => JSON.parse(l) as string[]);
  }

  /** The connections the daemon holds. */
  async connections(): Promise<number> {
    return (await this.memory()).connections;
  }

  /** Waits (at most `ms`) until the daemon holds `count` connections or fewer; asserts it does. */
  async dropsTo(count: number, what: string, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    let now = await this.connections();
    while (now > count && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      now = await this.connections();
    }
    assert.ok(now <= count, `${what}: the daemon still holds ${now} connections, not ${count}`);
  }

  /** The sockets the daemon process holds (its listener and connections). */
  sockets(): Promise<number> {
    const p = new Promise<string>((resolve) => this.replies.push(resolve));
    this.child.stdin!.write('sockets\n');
    return withTimeout(p, 'the daemon process to count its sockets').then(
      (l) => (JSON.parse(l) as { sockets: number }).sockets,
    );
  }

  /**
   * Stops the daemon process (its daemon first, then the process; killed if it does not exit).
   * Asserts that stopping the daemon closed every socket it had opened.
   */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const left = new Promise<string>((resolve) => this.replies.push(resolve));
    this.child.stdin!.write('stop\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const line = await Promise.race([left, exited.then(() => undefined)]);
    await exited;
    clearTimeout(timer);
    this.lines.close();
    const sockets = line === undefined ? undefined : (JSON.parse(line) as { sockets: number }).sockets;
    assert.equal(sockets, 0, 'sockets the daemon still held once stopped');
  }

  /**
   * After an attack: waits (at most `ms`) until the daemon's memory is back within 10% of `base`
   * (heap + external after a full GC; an attack's buffers may take a moment to be let go), and
   * asserts it is. Returns the memory last measured.
   */
  async memoryBackTo(base: Memory, what: string, ms = 15_000): Promise<Memory> {
    const end = Date.now() + ms;
    for (;;) {
      const now = await this.memory();
      const off = Math.abs(now.heap - base.heap);
      if (off < base.heap * 0.1) return now;
      if (Date.now() > end) {
        const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
        assert.fail(
          `${what}: the daemon's memory is ${mib(now.heap)}, not back within 10% of ${mib(base.heap)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
