/**
 * Authentication methods with OpenSSH's ssh against the Seashell daemon: keyboard-interactive
 * (RFC 4256) and password answered through SSH_ASKPASS (SSH_ASKPASS_REQUIRE=force), the seed's
 * default keyboard-interactive text and a custom one. sshd's own keyboard-interactive needs PAM
 * (with UsePAM no, OpenSSH on Linux has no keyboard-interactive device), and PAM would need a
 * password on a system account: our client's keyboard-interactive is tested against our daemon
 * (test/facade/kbdint.test.ts) and asyncssh (password-change-asyncssh.test.ts) instead. Also
 * publickey per user: `ssh -i` with a key authorized for one user only.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
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
  type OpenSsh,
} from './openssh.js';

interopSuite(
  "OpenSSH's ssh logs in to the Seashell daemon with keyboard-interactive and password",
  (_o: OpenSsh) => {
    let dir: string;
    let systemDir: string;
    let hostLines: string[];
    let askpass: string;
    let promptLog: string;
    const daemons: ssh.Daemon[] = [];

    before(async () => {
      dir = await makeTempDir('auth-openssh-');
      systemDir = join(dir, 'system');
      await mkdir(join(dir, 'user'));
      hostLines = await writeHostKeys(systemDir);
      promptLog = join(dir, 'prompts');
      askpass = join(dir, 'askpass.sh');
      // Records each prompt ssh shows and answers with $TEST_PASSWORD.
      await writeFile(
        askpass,
        `#!/bin/sh\nprintf '%s\\n' "$1" >> '${promptLog}'\nprintf '%s\\n' "$TEST_PASSWORD"\n`,
        {
          mode: 0o700,
        },
      );
    });

    after(async () => {
      await Promise.all(daemons.map((d) => d.stop()));
      await removeTempDir(dir);
    });

    async function start(options: ssh.DaemonOptions): Promise<ssh.Daemon> {
      const d = await ssh.daemon('127.0.0.1', 0, { systemDir, userDir: join(dir, 'user'), ...options });
      daemons.push(d);
      return d;
    }

    async function login(d: ssh.Daemon, method: string, password: string, user = 'kim') {
      const { port } = await ssh.daemonInfo(d);
      const knownHostsFile = join(dir, `known_hosts_${port}`);
      await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, hostLines));
      await writeFile(promptLog, '');
      const args = sshBaseArgs({
        port,
        identityFile: join(dir, 'no-such-key'),
        knownHostsFile,
        user,
        extra: [
          '-o',
          'BatchMode=no',
          '-o',
          `PreferredAuthentications=${method}`,
          '-o',
          'NumberOfPasswordPrompts=1',
          '-o',
          'LogLevel=VERBOSE',
        ],
      });
      const r = await runSsh([...args, '127.0.0.1', '6 * 7'], {
        env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', TEST_PASSWORD: password },
        timeoutMs: 30_000,
      });
      // OpenSSH puts "(user@host) " before a keyboard-interactive prompt.
      const prompts = (await readFile(promptLog, 'utf8')).split('\n').filter(Boolean);
      return { ...r, prompts: prompts.map((p) => p.replace(`(${user}@127.0.0.1) `, '')) };
    }

    test('keyboard-interactive with the seed default text: the right password logs in, connectfun says the method', async () => {
      const logins: string[] = [];
      const d = await start({
        userPasswords: [['kim', 'kim-pw']],
        connectfun: (user, _peer, method) => logins.push(`${user} ${method}`),
      });
      const r = await login(d, 'keyboard-interactive', 'kim-pw');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), '42\n');
      assert.deepEqual(r.prompts, ['password: '], 'the seed default prompt');
      assert.match(r.stderr, /Enter password for "kim"/, 'the instruction is shown');
      assert.match(r.stderr, /Authenticated to 127\.0\.0\.1 .* using "keyboard-interactive"/);
      assert.deepEqual(logins, ['kim keyboard-interactive']);
    });

    test('keyboard-interactive: a wrong answer is refused, and each answer goes through pwdfun', async () => {
      const checks: string[] = [];
      const d = await start({
        pwdfun: (user: string, password: string) => {
          checks.push(`${user}:${password}`);
          return password === 'right';
        },
      });
      const r = await login(d, 'keyboard-interactive', 'wrong');
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Permission denied/);
      assert.deepEqual(checks, ['kim:wrong']);
    });

    test('authMethodKbInteractiveData as a function gets the peer, user and service', async () => {
      const calls: unknown[] = [];
      const d = await start({
        password: 'open sesame',
        authMethodKbInteractiveData: (peer, user, service) => {
          calls.push([peer.address, user, service]);
          return ['Seashell test', `Hello ${user}, say the word`, 'Word: ', false];
        },
      });
      const r = await login(d, 'keyboard-interactive', 'open sesame');
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.prompts, ['Word: ']);
      assert.match(r.stderr, /Hello kim, say the word/);
      assert.deepEqual(calls, [['127.0.0.1', 'kim', 'ssh-connection']]);
    });

    test('password through SSH_ASKPASS logs in with the password method', async () => {
      const d = await start({ password: 'pw' });
      const r = await login(d, 'password', 'pw');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), '42\n');
      assert.match(r.stderr, /using "password"/);
    });

    test('publickey per user (userDir as a function): a key authorized for alice is refused for bob', async () => {
      const aliceDir = join(dir, 'alice');
      await mkdir(aliceDir);
      const key = await sshKeygen('ed25519', join(dir, 'id_alice'));
      await writeFile(join(aliceDir, 'authorized_keys'), key.publicLine + '\n');
      const d = await start({ userDir: (user) => (user === 'alice' ? aliceDir : false) });
      const { port } = await ssh.daemonInfo(d);
      const knownHostsFile = join(dir, `known_hosts_${port}`);
      await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, hostLines));
      const as = (user: string) =>
        runSsh(
          [
            ...sshBaseArgs({
              port,
              identityFile: key.privateKey,
              knownHostsFile,
              user,
              extra: ['-o', 'PreferredAuthentications=publickey'],
            }),
            '127.0.0.1',
            '6 * 7',
          ],
          { timeoutMs: 30_000 },
        );
      const alice = await as('alice');
      assert.equal(alice.code, 0, alice.stderr);
      assert.equal(alice.stdout.toString(), '42\n');
      const bob = await as('bob');
      assert.equal(bob.code, 255, bob.stderr);
      assert.match(bob.stderr, /Permission denied \(publickey\)/);
    });
  },
);
