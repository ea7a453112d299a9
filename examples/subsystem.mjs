// A daemon with a custom subsystem: a server channel handler (the seed's ssh_server_channel) that
// answers each line in upper case. Try it with: ssh -p PORT -s alice@127.0.0.1 upper
// Run: SEASHELL_DIR=./demo node examples/subsystem.mjs
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ssh from 'seashell-ssh';

/** @type {import('seashell-ssh').ServerChannelHandler<{ channel?: import('seashell-ssh').SessionChannel }>} */
const upper = {
  init: () => ({ ok: {} }),
  handleMsg: (m, s) => (m?.type === 'channelUp' ? { ok: { channel: m.channel } } : { ok: s }),
  handleSshMsg: async (m, s) => {
    if (m.type === 'data') await s.channel.send(m.data.toString().toUpperCase());
    if (m.type === 'eof') {
      await s.channel.sendEof();
      await s.channel.exitStatus(0);
      return { stop: m.channelId, state: s };
    }
    return { ok: s };
  },
};

const dir = process.env.SEASHELL_DIR ?? './seashell-demo';
await mkdir(join(dir, 'system'), { recursive: true });
await writeFile(
  join(dir, 'system', 'ssh_host_ed25519_key'),
  ssh.formatOpenSshPrivateKey(ssh.generatePrivateKey('ed25519')),
  { mode: 0o600 },
);
const daemon = await ssh.daemon('127.0.0.1', Number(process.env.PORT ?? 0), {
  systemDir: join(dir, 'system'),
  userPasswords: [['alice', 'wonderland']],
  subsystems: [['upper', upper]],
});
console.log(`listening on port ${(await ssh.daemonInfo(daemon)).port}`);
process.on('SIGTERM', () => ssh.stopDaemon(daemon).then(() => process.exit(0)));
