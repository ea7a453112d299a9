import { closeSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { ReadStream } from 'node:tty';

/**
 * Asks a question on the controlling terminal (/dev/tty, as OpenSSH does, so that it works with
 * stdin and stdout redirected) and returns the answer line; undefined when there is no terminal.
 * `validate` returns the final answer, or undefined to ask again with `again`.
 */
export async function askTerminal<T>(
  question: string,
  again: string,
  validate: (line: string) => T | undefined,
): Promise<T | undefined> {
  let tty;
  try {
    tty = await open('/dev/tty', 'r+');
  } catch {
    return undefined; // no controlling terminal (a service, CI): nobody to ask
  }
  const input = tty.createReadStream({ autoClose: false });
  // Loaded here, not at import: readline and tty would add ~0.5 MB to the heap of
  // every process that imports the package (README, "Lazy loading").
  const { createInterface } = process.getBuiltinModule('node:readline');
  const rl = createInterface({ input, terminal: false });
  try {
    await tty.write(question);
    for await (const line of rl) {
      const v = validate(line.trim());
      if (v !== undefined) return v;
      await tty.write(again);
    }
    return undefined; // end of input
  } finally {
    rl.close();
    input.destroy();
    await tty.close();
  }
}

/** Whether this process has a controlling terminal to ask on. */
export function hasTerminal(): boolean {
  try {
    closeSync(openSync('/dev/tty', 'r+'));
    return true;
  } catch {
    return false;
  }
}

/** One question for `askTerminalPrompts`: shown as given; the answer is echoed only when `echo`. */
export interface TerminalPrompt {
  prompt: string;
  echo: boolean;
}

/** Bytes of one typed answer beyond this are dropped (the auth methods refuse longer ones anyway). */
const MAX_TYPED = 1024;

/**
 * Text from the server made safe to show: control characters (escape sequences that could
 * rewrite the screen, as OpenSSH's prompt filtering guards against) are dropped, except tab and
 * newline.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
}

/**
 * Shows `header` (if any) and asks each prompt in turn on the controlling terminal, as OpenSSH
 * asks for a password: the terminal in raw mode, typed characters echoed only for prompts that
 * say so, Backspace and Ctrl-U edit, Enter ends an answer. Undefined when there is no terminal,
 * or when the user cancels (Ctrl-C, or Ctrl-D on an empty line). The terminal's mode is restored.
 */
export async function askTerminalPrompts(
  header: string,
  prompts: readonly TerminalPrompt[],
): Promise<string[] | undefined> {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch {
    return undefined; // no controlling terminal (a service, CI): nobody to ask
  }
  let input: ReadStream | undefined;
  try {
    const tty = process.getBuiltinModule('node:tty');
    if (!tty.isatty(fd)) return undefined;
    input = new tty.ReadStream(fd);
    input.setRawMode(true);
    if (header) writeSync(fd, header.replace(/\r?\n/g, '\r\n'));
    const answers: string[] = [];
    for (const p of prompts) {
      writeSync(fd, p.prompt);
      const answer = await readAnswer(input, fd, p.echo);
      writeSync(fd, '\r\n');
      if (answer === undefined) return undefined;
      answers.push(answer);
    }
    return answers;
  } finally {
    // libuv opens the terminal again for the stream where it can (then our descriptor is still
    // ours to close), else it takes ours and closes it itself: close it once, never twice.
    const ownFd = (input as unknown as { _handle?: { fd?: number } } | undefined)?._handle?.fd;
    if (input) {
      input.setRawMode(false);
      const closed = new Promise((resolve) => input!.once('close', resolve));
      input.destroy();
      await closed;
    }
    if (ownFd !== fd) closeSync(fd);
  }
}

/** Reads one answer from a terminal in raw mode; undefined on Ctrl-C or Ctrl-D on an empty line. */
function readAnswer(input: ReadStream, fd: number, echo: boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    let typed = Buffer.alloc(0);
    const done = (v: string | undefined) => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.pause();
      resolve(v);
    };
    const onEnd = () => done(undefined);
    const onData = (chunk: Buffer) => {
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) return done(typed.toString('utf8'));
        if (byte === 0x03 || (byte === 0x04 && typed.length === 0)) return done(undefined);
        if (byte === 0x7f || byte === 0x08) {
          // Remove one UTF-8 character: its continuation bytes, then its first byte.
          let end = typed.length;
          while (end > 0 && (typed[end - 1]! & 0xc0) === 0x80) end--;
          if (end > 0) end--;
          if (echo && end < typed.length) writeSync(fd, '\b \b');
          typed = typed.subarray(0, end);
          continue;
        }
        if (byte === 0x15) {
          if (echo) writeSync(fd, '\b \b'.repeat(typed.toString('utf8').length));
          typed = Buffer.alloc(0);
          continue;
        }
        if (byte < 0x20 || typed.length >= MAX_TYPED) continue;
        typed = Buffer.concat([typed, Buffer.from([byte])]);
        if (echo) writeSync(fd, Buffer.from([byte]));
      }
    };
    input.on('data', onData);
    input.once('end', onEnd);
    input.resume();
  });
}
