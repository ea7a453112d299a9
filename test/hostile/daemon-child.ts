/**
 * A Seashell daemon in a process of its own, for tests that measure what attackers can make it
 * hold: its memory is then the daemon's alone. Started with one JSON argument:
 * `{ systemDir, userDir, options, preset? }`; prints `PORT <n>`; then answers lines on stdin:
 * `mem` → one JSON line of memory use after a full GC (`heap` = heapUsed less compiled code and
 * bytecode, plus external, in bytes; `compiled`, the code and bytecode left out; and `rss`), `ran` → the commands the `recordExec` preset ran, `logins` → the users who logged in, `sockets` → `{"sockets": n}`, the sockets the process holds (its stdio aside), `stop` →
 * stops the daemon, answers `{"sockets": n}` with what is still open, and exits.
 *
 * This is a helper program, not a test file (its name must never end in `.test.ts`).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { getHeapCodeStatistics } from 'node:v8';
import type { DaemonOptions } from '../../src/options.js';
import * as ssh from '../../src/ssh.js';
import { Rng } from '../fuzz/prng.js';

interface Config {
  systemDir: string;
  userDir: string;
  options: DaemonOptions;
  /** Option values that are functions, by name. */
  preset?: 'slowPassword' | 'bigOutput' | 'recordExec';
}

/** Commands the `recordExec` preset ran, with their user, in order (the `ran` line answers them). */
const ran: { command: string; user: string }[] = [];
/** Users who logged in, as connectfun heard them (the `logins` line answers them). */
const logins: string[] = [];

// The string 'Infinity' stands for Infinity, which JSON cannot carry (see child-daemon.ts).
const config = JSON.parse(process.argv[2]!, (_k, v: unknown) => (v === 'Infinity' ? Infinity : v)) as Config;
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
if (config.preset === 'recordExec') {
  // Every command recorded; `honest-big-N-SEED`: N bytes of the test PRNG seeded with SEED;
  // anything else `ran COMMAND` (no newline).
  options.exec = (command: string, user: string) => {
    ran.push({ command, user });
    const big = /^honest-big-(\d+)-(\d+)$/.exec(command);
    if (big) return { ok: new Rng(Number(big[2])).bytes(Number(big[1])) };
    return { ok: `ran ${command}` };
  };
}
options.exec ??= (command: string) => ({ ok: `ran ${command}\n` });
options.connectfun = (user: string) => logins.push(user);

/** Sockets this process holds open, less its stdio (which Node makes of socket pairs). */
function openSockets(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    if (Number(fd) <= 2) continue;
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile (the directory's own descriptor)
    }
  }
  return n;
}

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
    // V8's compiled code and bytecode are left out of `heap`: they grow as V8 optimizes the code
    // paths an attack has warmed (measured: over 1,000 honest logins on one daemon, heap
    // snapshots differ only in code, deopt data and V8's weak lists, +0.4 MiB, while the data
    // held stays flat), and that is not what a peer made the daemon hold.
    const code = getHeapCodeStatistics();
    const compiled = code.code_and_metadata_size + code.bytecode_and_metadata_size;
    process.stdout.write(
      JSON.stringify({
        heap: m.heapUsed - compiled + m.external,
        compiled,
        heapUsed: m.heapUsed,
        external: m.external,
        rss: m.rss,
        connections: d.connectionCount,
      }) + '\n',
    );
  } else if (line === 'logins') {
    process.stdout.write(JSON.stringify(logins) + '\n');
  } else if (line === 'ran') {
    process.stdout.write(JSON.stringify(ran) + '\n');
  } else if (line === 'sockets') {
    process.stdout.write(JSON.stringify({ sockets: openSockets() }) + '\n');
  } else if (line === 'stop') {
    // What stopping left open: every socket the daemon opened (its listener and each connection)
    // must be closed by then.
    void ssh.stopDaemon(d).then(() => {
      process.stdout.write(JSON.stringify({ sockets: openSockets() }) + '\n', () => process.exit(0));
    });
  }
});
lines.on('close', () => process.exit(0));
