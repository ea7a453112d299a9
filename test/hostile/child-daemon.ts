/**
 * Starts `daemon-child.js` in its own process and talks to it (see that file). Helper module, not a
 * test file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import type { DaemonOptions } from '../../src/options.js';
import { withTimeout } from './raw-peer.js';

export interface Memory {
  /** heapUsed + external after a full GC, in bytes. */
  heap: number;
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
    preset?: 'slowPassword' | 'bigOutput';
  }): Promise<ChildDaemon> {
    const script = new URL('./daemon-child.js', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--expose-gc', script, JSON.stringify(config)], {
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

  /** Stops the daemon process (its daemon first, then the process; killed if it does not exit). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.write('stop\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.lines.close();
  }
}
