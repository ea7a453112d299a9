import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';

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
