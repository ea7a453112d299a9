/**
 * A real terminal for interactive interop tests: a private tmux server (its own socket in a temp
 * dir, no config file) running one command in one window, driven by keys and read back as the
 * screen tmux renders. Not a test file.
 *
 *   const term = await Terminal.start(dir, ['ssh', '-tt', ...], { width: 80, height: 24 });
 *   term.type('1 + 2'); term.keys('Enter');
 *   await term.waitFor(/^3$/m, 'the value');
 *   await term.resize(120, 40);
 *   await term.stop();
 *
 * When the command ends, the window stays and shows `[exit N]` (see `exitStatus()`).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { isCi } from './openssh.js';

const TMUX_DIRS = ['/usr/bin', '/usr/local/bin', '/bin'];

export function findTmux(): string | undefined {
  for (const d of TMUX_DIRS) {
    try {
      accessSync(join(d, 'tmux'), constants.X_OK);
      return join(d, 'tmux');
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Returns tmux's path; or fails on CI and skips elsewhere when it is missing. */
export function requireTmux(t: TestContext): string | undefined {
  const tmux = findTmux();
  if (tmux) return tmux;
  const message = 'tmux is not installed (Debian package tmux; .ci/run installs it)';
  if (isCi()) throw new Error(message);
  t.skip(message);
  return undefined;
}

/** Quotes one word for sh. */
export function shQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function run(tmux: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(tmux, args, { timeout: 20_000 }, (e, stdout, stderr) =>
      e ? reject(new Error(`tmux ${args.join(' ')}: ${e.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

export class Terminal {
  private constructor(
    private readonly tmux: string,
    private readonly socket: string,
  ) {}

  /** Starts `argv` in a new window of the given size; `env` is added to the command's environment. */
  static async start(
    tmux: string,
    dir: string,
    argv: string[],
    options: { width: number; height: number; env?: Record<string, string> },
  ): Promise<Terminal> {
    const socket = join(dir, `tmux-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const script = join(dir, `run-${Math.random().toString(36).slice(2)}.sh`);
    const env = Object.entries(options.env ?? {}).map(([k, v]) => `export ${k}=${shQuote(v)}\n`);
    // The window outlives the command and shows how it ended.
    await writeFile(
      script,
      `${env.join('')}${argv.map(shQuote).join(' ')}\necho "[exit $?]"\nexec sleep 3600\n`,
      {
        mode: 0o700,
      },
    );
    const t = new Terminal(tmux, socket);
    await run(tmux, [
      '-S',
      socket,
      '-f',
      '/dev/null',
      'new-session',
      '-d',
      '-s',
      'test',
      '-x',
      String(options.width),
      '-y',
      String(options.height),
      `/bin/sh ${shQuote(script)}`,
    ]);
    return t;
  }

  /** Types text literally (no key names). */
  type(text: string): Promise<string> {
    return run(this.tmux, ['-S', this.socket, 'send-keys', '-t', 'test', '-l', text]);
  }

  /** Presses keys by tmux name: 'Enter', 'Tab', 'C-c', 'C-d'. */
  keys(...names: string[]): Promise<string> {
    return run(this.tmux, ['-S', this.socket, 'send-keys', '-t', 'test', ...names]);
  }

  /** The screen as text (wrapped lines joined). */
  screen(): Promise<string> {
    return run(this.tmux, ['-S', this.socket, 'capture-pane', '-p', '-J', '-t', 'test']);
  }

  /** Changes the window's size; the program in it gets SIGWINCH. */
  async resize(width: number, height: number): Promise<void> {
    await run(this.tmux, [
      '-S',
      this.socket,
      'resize-window',
      '-t',
      'test',
      '-x',
      String(width),
      '-y',
      String(height),
    ]);
  }

  /**
   * Waits until the screen matches; returns the screen. The limit only turns a hang into a
   * failure with the screen in the message; nothing is asserted about the time it took.
   */
  async waitFor(
    pattern: RegExp | ((screen: string) => boolean),
    what: string,
    limitMs = 30_000,
  ): Promise<string> {
    const test = typeof pattern === 'function' ? pattern : (s: string) => pattern.test(s);
    const start = Date.now();
    let screen = '';
    for (;;) {
      screen = await this.screen();
      if (test(screen)) return screen;
      if (Date.now() - start > limitMs)
        throw new Error(`gave up waiting for ${what}; the screen:\n${screen}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The exit status the command ended with, once it has. */
  async exitStatus(): Promise<number> {
    const screen = await this.waitFor(/\[exit \d+\]$/m, 'the command to end');
    return Number(/\[exit (\d+)\]$/m.exec(screen)![1]);
  }

  async stop(): Promise<void> {
    await run(this.tmux, ['-S', this.socket, 'kill-server']).catch(() => {});
  }
}
