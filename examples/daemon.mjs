// A daemon with password users and publickey users, serving exec through a function of ours.
// Run: SEASHELL_DIR=./demo node examples/daemon.mjs   (host keys are made in $SEASHELL_DIR/system)
import { mkdir, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import * as ssh from 'seashell-ssh';

const dir = process.env.SEASHELL_DIR ?? './seashell-demo';
const systemDir = join(dir, 'system');
const userDir = join(dir, 'users'); // authorized_keys for the publickey users
await mkdir(systemDir, { recursive: true });
await mkdir(userDir, { recursive: true });
const hostKeyFile = join(systemDir, 'ssh_host_ed25519_key');
if (
  !(await access(hostKeyFile).then(
    () => true,
    () => false,
  ))
) {
  const key = ssh.generatePrivateKey('ed25519');
  await writeFile(hostKeyFile, ssh.formatOpenSshPrivateKey(key), { mode: 0o600 });
}

const daemon = await ssh.daemon('127.0.0.1', Number(process.env.PORT ?? 0), {
  systemDir,
  userDir,
  userPasswords: [
    ['alice', 'wonderland'],
    ['bob', 'builder'],
  ],
  exec: (command, user) => ({ ok: `hello ${user}, you ran: ${command}\n` }),
});
console.log(`listening on port ${(await ssh.daemonInfo(daemon)).port}`);
process.on('SIGTERM', () => ssh.stopDaemon(daemon).then(() => process.exit(0)));
