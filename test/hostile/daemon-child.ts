/**
 * A Seashell daemon in a process of its own, for tests that measure what attackers can make it
 * hold: its memory is then the daemon's alone. Started with one JSON argument:
 * `{ systemDir, userDir, options, preset? }`; prints `PORT <n>`; then answers lines on stdin:
 * `mem` → one JSON line of memory use after a full GC (`heap` = heapUsed + external, in bytes, and
 * `rss`), `stop` → stops the daemon and exits.
 *
 * This is a helper program, not a test file (its name must never end in `.test.ts`).
 */
import { createInterface } from 'node:readline';
import type { DaemonOptions } from '../../src/options.js';
import * as ssh from '../../src/ssh.js';

interface Config {
  systemDir: string;
  userDir: string;
  options: DaemonOptions;
  /** Option values that are functions, by name. */
  preset?: 'slowPassword' | 'bigOutput';
}

const config = JSON.parse(process.argv[2]!) as Config;
const options: DaemonOptions = { ...config.options };
if (config.preset === 'slowPassword') {
  // An asynchronous password check that takes 2 s, as bcrypt, PAM or LDAP may.
  options.pwdfun = (_user: string, password: string) =>
    new Promise<boolean>((resolve) => setTimeout(() => resolve(password === 'pw'), 2000));
}
if (config.preset === 'bigOutput') {
  // `big N`: N MiB on stdout, produced at once (the exec function's result is a whole buffer).
  options.exec = (command: string) => {
    const m = /^big (\d+)$/.exec(command);
    return m ? { ok: Buffer.alloc(Number(m[1]) * 1024 * 1024, 0x61) } : { ok: `ran ${command}\n` };
  };
}
options.exec ??= (command: string) => ({ ok: `ran ${command}\n` });

const gc = (globalThis as { gc?: () => void }).gc;
const d = await ssh.daemon('127.0.0.1', 0, {
  systemDir: config.systemDir,
  userDir: config.userDir,
  ...options,
});
process.stdout.write(`PORT ${(await ssh.daemonInfo(d)).port}\n`);

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === 'mem') {
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    process.stdout.write(
      JSON.stringify({
        heap: m.heapUsed + m.external,
        heapUsed: m.heapUsed,
        external: m.external,
        rss: m.rss,
        connections: d.connectionCount,
      }) + '\n',
    );
  } else if (line === 'stop') {
    void ssh.stopDaemon(d).then(() => process.exit(0));
  }
});
lines.on('close', () => process.exit(0));
