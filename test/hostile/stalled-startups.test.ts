/**
 * 600 stalled unauthenticated connections (300 silent, 300 that send their version line and stop)
 * from one address, 127.0.0.2, while OpenSSH's `ssh` logs in from 127.0.0.1 once a second: every
 * honest login succeeds, with the default options and with `maxSessions: 100`. The per-source cap
 * (10) refuses the attacker's connections past it at once, and MaxStartups' random early drop
 * spares a source's first connection, so the attacker cannot make logins a lottery. The login
 * times are reported, not asserted (tests never assert on time); they were 105-290 ms here.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeHostKeys } from '../interop/fixtures.js';
import {
  formatKnownHosts,
  isCi,
  makeTempDir,
  removeTempDir,
  runSsh,
  sshBaseArgs,
  sshKeygen,
  findOpenSsh,
  type KeyPair,
} from '../interop/openssh.js';
import { writeFile, mkdir } from 'node:fs/promises';
import { ChildDaemon } from './child-daemon.js';

const ATTACKER = '127.0.0.2';

function stalledSocket(port: number, sendVersion: boolean): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: ATTACKER });
    s.on('error', () => {});
    s.once('connect', () => {
      if (sendVersion) s.write('SSH-2.0-Stalled_1.0\r\n');
      s.pause(); // reads nothing the daemon sends
      resolve(s);
    });
  });
}

const openssh = findOpenSsh();
const why = 'OpenSSH ssh is not installed (.ci/run installs openssh-client)';

describe(
  '600 stalled connections from one address while OpenSSH ssh logs in',
  { skip: !openssh && !isCi() ? why : false },
  () => {
    let dir: string;
    let key: KeyPair;
    let systemDir: string;
    let userDir: string;
    let hostLines: string[];

    before(async () => {
      if (!openssh) throw new Error(why);
      dir = await makeTempDir('stalled-');
      systemDir = join(dir, 'system');
      userDir = join(dir, 'user');
      await mkdir(userDir);
      hostLines = await writeHostKeys(systemDir, ['ed25519']);
      key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
      await writeFile(join(userDir, 'authorized_keys'), key.publicLine + '\n');
    });
    after(async () => removeTempDir(dir));

    for (const [label, options] of [
      ['the default options', {}],
      ['maxSessions: 100', { maxSessions: 100 }],
    ] as const) {
      test(`every honest login succeeds, with ${label}`, async () => {
        const d = await ChildDaemon.start({ systemDir, userDir, options });
        const sockets: Socket[] = [];
        try {
          const knownHosts = join(dir, `known_hosts_${d.port}`);
          await writeFile(knownHosts, formatKnownHosts('127.0.0.1', d.port, hostLines));
          const args = sshBaseArgs({
            port: d.port,
            identityFile: key.privateKey,
            knownHostsFile: knownHosts,
            user: 'tester',
          });
          const login = async (command: string) => {
            const r = await runSsh([...args, '127.0.0.1', command], { timeoutMs: 30_000 });
            assert.equal(r.code, 0, `${command}: ${r.stderr}`);
            assert.equal(r.stdout.toString(), `ran ${command}\n`);
          };
          await login('before');
          const base = await d.memory();
          for (let i = 0; i < 600; i++) sockets.push(await stalledSocket(d.port, i % 2 === 1));
          const held = (await d.memory()).connections;
          assert.ok(held <= 10 + 1, `the daemon holds ${held} of the attacker's connections`);
          const times: number[] = [];
          for (let i = 0; i < 5; i++) {
            const t0 = performance.now();
            const r = await runSsh([...args, '127.0.0.1', `login-${i}`], { timeoutMs: 30_000 });
            times.push(performance.now() - t0);
            assert.equal(r.code, 0, `login ${i}: ${r.stderr}`);
            assert.equal(r.stdout.toString(), `ran login-${i}\n`);
            await new Promise((res) => setTimeout(res, 1000 - Math.min(1000, times.at(-1)!)));
          }
          console.log(
            `${label}: ${held} attacker connections held; logins took ${times.map((t) => t.toFixed(0)).join(', ')} ms`,
          );
          // The attackers leave: the daemon lets go of them, serves a fresh login, and its memory
          // is back within 10% of where it started.
          for (const s of sockets.splice(0)) s.destroy();
          const end = Date.now() + 15_000;
          while ((await d.memory()).connections > 0 && Date.now() < end)
            await new Promise((res) => setTimeout(res, 100));
          assert.equal((await d.memory()).connections, 0, 'the daemon let go of the stalled sockets');
          await login('after');
          await d.memoryBackTo(base, `after 600 stalled sockets (${label})`);
        } finally {
          for (const s of sockets) s.destroy();
          await d.stop();
        }
      });
    }
  },
);
