// The REPL daemon: without `exec`, `shell` or `sshCli` options a daemon serves the seed's
// defaults, here in Node terms: `ssh host 'expr'` evaluates the JavaScript and prints its value,
// and `ssh host` gets a Node REPL. Each exec and each shell runs in a worker thread of its own,
// with a time limit (exec) and a heap limit (both). The code users send runs with this process's
// rights: only give such a daemon to users you would let run programs as its account.
//   ssh -p PORT alice@127.0.0.1 '[1, 2, 3].map((x) => x * 2)'
//   ssh -p PORT alice@127.0.0.1                          (a REPL; Ctrl-C interrupts, Ctrl-D ends)
// Run: SEASHELL_DIR=./demo node examples/repl-daemon.mjs
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ssh from 'seashell-ssh';

const dir = process.env.SEASHELL_DIR ?? './seashell-demo';
await mkdir(join(dir, 'system'), { recursive: true });
await writeFile(
  join(dir, 'system', 'ssh_host_ed25519_key'),
  ssh.formatOpenSshPrivateKey(ssh.generatePrivateKey('ed25519')),
  { mode: 0o600 },
);
const daemon = await ssh.daemon('127.0.0.1', Number(process.env.PORT ?? 0), {
  systemDir: join(dir, 'system'),
  userDir: false,
  userPasswords: [['alice', 'wonderland']],
  evalTimeLimit: 10_000, // an exec evaluation is stopped after 10 s (default 60 s)
  evalMemoryLimit: 128, //  MiB of heap per evaluation and per REPL session (default 256)
  subsystems: [], //        no SFTP: this daemon is for the REPL only
});
console.log(`listening on port ${(await ssh.daemonInfo(daemon)).port}`);
process.on('SIGTERM', () => ssh.stopDaemon(daemon).then(() => process.exit(0)));
