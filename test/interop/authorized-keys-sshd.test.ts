/**
 * authorized_keys options decided the same way by OpenSSH's sshd and by our daemon: OpenSSH's
 * ssh logs in with one key to each, the key's line carrying one option set at a time, and both
 * must agree on whether the key is let in. Among them `principals=` on a key that is not a
 * `cert-authority` (sshd's auth_authorise_keyopts denies it: "principals on non-CA key"),
 * `environment=` (accepted as a line; sshd without PermitUserEnvironment ignores its value),
 * unknown options, expiry and from=.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { writeHostKeys } from './fixtures.js';
import {
  formatKnownHosts,
  interopSuite,
  makeTempDir,
  removeTempDir,
  runSsh,
  sshBaseArgs,
  sshKeygen,
  startSshd,
  type KeyPair,
  type OpenSsh,
  type SshdHandle,
} from './openssh.js';

/** [options before the key, whether sshd and our daemon let the key in]. */
const CASES: [string, boolean][] = [
  ['', true],
  ['principals="kim"', false],
  ['cert-authority,principals="kim"', false],
  ['cert-authority', false],
  ['environment="SEASHELL_X=1"', true],
  ['no-pty,restrict', true],
  ['frobnicate', false],
  ['expiry-time="20000101"', false],
  ['expiry-time="29990101"', true],
  ['from="10.0.0.0/8"', false],
  ['from="127.0.0.0/8,!10.1.1.1"', true],
];

interopSuite('authorized_keys options: sshd and our daemon agree on who gets in', (_o: OpenSsh) => {
  let dir: string;
  let sshd: SshdHandle;
  let key: KeyPair;
  let systemDir: string;
  let hostLines: string[];

  before(async () => {
    dir = await makeTempDir('authkeys-sshd-');
    key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
    systemDir = join(dir, 'system');
    hostLines = await writeHostKeys(systemDir, ['ed25519']);
    sshd = await startSshd({ authorizedKeys: key.publicLine + '\n', logLevel: 'VERBOSE' });
  });

  after(async () => {
    await sshd?.stop();
    await removeTempDir(dir);
  });

  async function login(port: number, knownHosts: string, user: string, command: string) {
    const knownHostsFile = join(dir, `known_hosts_${port}`);
    await writeFile(knownHostsFile, knownHosts);
    const args = sshBaseArgs({ port, identityFile: key.privateKey, knownHostsFile, user });
    return runSsh([...args, '127.0.0.1', command], { timeoutMs: 30_000 });
  }

  for (const [i, [options, allowed]] of CASES.entries()) {
    test(`${options === '' ? '(no options)' : options}: ${allowed ? 'let in' : 'refused'} by both`, async () => {
      const line = `${options}${options === '' ? '' : ' '}${key.publicLine} case-${i}\n`;
      await writeFile(join(sshd.dir, 'authorized_keys'), line);
      const theirs = await login(sshd.port, sshd.knownHostsLine(), sshd.user, 'echo 42');
      const userDir = join(dir, `user${i}`);
      await mkdir(userDir);
      await writeFile(join(userDir, 'authorized_keys'), line);
      const d = await ssh.daemon('127.0.0.1', 0, { systemDir, userDir });
      try {
        const { port } = await ssh.daemonInfo(d);
        const ours = await login(port, formatKnownHosts('127.0.0.1', port, hostLines), 'kim', '6 * 7');
        for (const [who, r] of [
          ['sshd', theirs],
          ['our daemon', ours],
        ] as const) {
          if (allowed) {
            assert.equal(r.code, 0, `${who}: ${r.stderr}`);
            assert.equal(r.stdout.toString(), '42\n', who);
          } else {
            assert.notEqual(r.code, 0, `${who} let the key in`);
            assert.match(r.stderr, /Permission denied/, who);
          }
        }
      } finally {
        await d.stop();
      }
    });
  }
});
