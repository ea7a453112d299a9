/**
 * `ssh.shell()` (the seed's shell/1,2,3): an interactive session on the local terminal.
 *
 * With a terminal on both stdin and stdout it asks for a pty (RFC 4254 §6.2) of the terminal's
 * size and `TERM`, puts the local terminal in raw mode while the session runs (so keys such as
 * Ctrl-C go to the remote side as bytes) and restores it afterwards, also when the session fails
 * or the process gets a terminating signal, and sends each local resize (SIGWINCH) as a
 * `window-change` (§6.7). Without a terminal it runs the shell without a pty, piping stdin (its
 * end becomes the channel's EOF) and stdout/stderr. It resolves with the remote exit status once
 * the shell has ended.
 */
import { Socket } from 'node:net';
import type { Connection } from './edge/connection.js';
import { SshError } from './errors.js';
import type { ClientOptions } from './options.js';
import { connect } from './ssh.js';

type TtyIn = NodeJS.ReadStream & { setRawMode?: (mode: boolean) => unknown };

/** What ssh(1) exits with when the remote side reports no exit status (e.g. it died of a signal). */
const NO_STATUS = 255;
const TERMINATING_SIGNALS = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT'] as const;

/** Connects to `host` (port 22 by default), runs an interactive shell there and resolves with its exit status. */
export function shell(host: string, port?: number, options?: ClientOptions): Promise<number>;
export function shell(host: string, options?: ClientOptions): Promise<number>;
/** Runs SSH over an already connected socket and an interactive shell on the other end. */
export function shell(socket: Socket, options?: ClientOptions): Promise<number>;
export async function shell(
  a: string | Socket,
  b?: number | ClientOptions,
  c?: ClientOptions,
): Promise<number> {
  let conn: Connection;
  if (a instanceof Socket) {
    conn = await connect(a, b as ClientOptions | undefined);
  } else if (typeof a === 'string') {
    const port = typeof b === 'number' ? b : 22;
    const options = typeof b === 'object' ? b : c;
    conn = await connect(a, port, options);
  } else {
    throw new SshError('BAD_OPTION', 'shell takes (host, port?, options?) or (socket, options?)');
  }
  try {
    return await runShell(conn);
  } finally {
    await conn.close();
  }
}

/** The local terminal's raw mode, switched on once and put back exactly once. */
function rawMode(stdin: TtyIn): () => void {
  if (typeof stdin.setRawMode !== 'function') return () => {};
  const was = stdin.isRaw;
  stdin.setRawMode(true);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.off('exit', restore);
    for (const [sig, h] of handlers) process.off(sig, h);
    try {
      stdin.setRawMode?.(was);
    } catch {
      // the terminal is gone
    }
  };
  const handlers = TERMINATING_SIGNALS.map((sig) => {
    // Alone with the signal, put the terminal back and die of it as if we had not been here;
    // when the program listens for it too, only put the terminal back and let it decide.
    const alone = process.listenerCount(sig) === 0;
    const h = () => {
      restore();
      if (alone) process.kill(process.pid, sig);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  process.on('exit', restore);
  return restore;
}

async function runShell(conn: Connection): Promise<number> {
  const stdin = process.stdin as TtyIn;
  const stdout = process.stdout;
  const ch = await conn.sessionChannel();
  const tty = stdin.isTTY === true && stdout.isTTY === true;
  if (tty) {
    const status = await ch.ptyAlloc({
      term: process.env.TERM ?? 'vt100',
      width: stdout.columns,
      height: stdout.rows,
    });
    if (status !== 'success') process.stderr.write('PTY allocation request failed\r\n');
  }
  if ((await ch.shell()) !== 'success') {
    await ch.close();
    throw new SshError('REQUEST_FAILED', 'the server refused to start a shell');
  }
  const restore = tty ? rawMode(stdin) : () => {};
  const onResize = () => void ch.windowChange(stdout.columns, stdout.rows).catch(() => {});
  try {
    if (tty) stdout.on('resize', onResize);
    ch.stdout.pipe(stdout, { end: false });
    ch.stderr.pipe(process.stderr, { end: false });
    stdin.pipe(ch.stdin);
    let exitStatus: number | undefined;
    for await (const m of ch) {
      if (m.type === 'exitStatus') exitStatus = m.status;
      else if (m.type === 'exitSignal') {
        process.stderr.write(`${tty ? '\r\n' : ''}Shell killed by signal ${m.signal}${tty ? '\r\n' : '\n'}`);
      }
    }
    return exitStatus ?? NO_STATUS;
  } finally {
    stdout.off('resize', onResize);
    stdin.unpipe(ch.stdin);
    // Reading must stop, or a terminal on stdin keeps the program alive after the shell ends.
    stdin.pause();
    restore();
  }
}
