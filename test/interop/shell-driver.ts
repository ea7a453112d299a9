/**
 * Runs `ssh.shell()` on the terminal it is started in (by test/interop/client-shell.test.ts, inside
 * tmux), then reports the exit status and whether the terminal is still in raw mode. Not a test
 * file. Arguments: host, port, and the client options as JSON.
 */
import { execFileSync } from 'node:child_process';
import * as ssh from '../../src/index.js';

const [host, port, json] = process.argv.slice(2);
let status: string;
try {
  status = String(await ssh.shell(host!, Number(port), JSON.parse(json!) as ssh.ClientOptions));
} catch (e) {
  status = `error ${(e as Error).message}`;
}
// The terminal as the shell left it, asked while this process still runs (Node resets it at exit).
let raw = 'no-terminal';
if (process.stdin.isTTY) {
  const modes = execFileSync('stty', ['-a'], { stdio: ['inherit', 'pipe', 'inherit'] }).toString();
  raw = String(/-icanon/.test(modes) && /-echo\b/.test(modes));
}
process.stdout.write(`\nSHELL-EXIT=${status} RAW-AFTER=${raw}\n`);
