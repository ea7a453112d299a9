/**
 * Our client's keyboard-interactive against OpenSSH's sshd. On Linux, sshd offers
 * keyboard-interactive only through PAM (there is no BSD auth), so this test gives it a PAM service
 * of its own: sshd runs through a symlink named `seashell-kbd-<random>` (portable OpenSSH takes its
 * PAM service name from the program name, `__progname`), and /etc/pam.d/<that name> checks the
 * typed password with pam_exec (expose_authtok) running a small script, then permits account and
 * session. The script also records PAM_SERVICE, which shows which service sshd used.
 *
 * Writing /etc/pam.d needs root: run as anyone else the suite is skipped, saying so, also under
 * CI=true. The PAM file is removed afterwards (and at exit, if the run is cut short).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import * as ssh from '../../src/index.js';
import { collect } from './fixtures.js';
import { interopSuite, makeTempDir, removeTempDir, startSshd, type SshdHandle } from './openssh.js';

const isRoot = process.getuid?.() === 0;
const NOT_ROOT =
  "not running as root: sshd offers keyboard-interactive on Linux only through PAM, and this test's " +
  'PAM service is a file it must write under /etc/pam.d';

interopSuite("our client's keyboard-interactive against OpenSSH sshd (PAM)", (o) => {
  if (!isRoot) {
    test('sshd with a PAM service of its own', { skip: NOT_ROOT }, () => {});
    return;
  }
  const service = `seashell-kbd-${randomBytes(6).toString('hex')}`;
  const pamFile = `/etc/pam.d/${service}`;
  const password = randomBytes(12).toString('hex');
  let dir: string;
  let userDir: string;
  let calls: string;
  let sshd: SshdHandle;
  const removePamFile = (): void => {
    try {
      unlinkSync(pamFile);
    } catch {
      // not written, or removed already
    }
  };

  before(async () => {
    process.once('exit', removePamFile);
    dir = await makeTempDir('kbdint-pam-');
    userDir = join(dir, 'user');
    calls = join(dir, 'pam-calls');
    const program = join(dir, service);
    await symlink(o.sshd, program);
    const check = join(dir, 'check-password');
    // pam_exec hands the typed password on stdin (NUL-terminated); the password is hex, so no quoting
    // question arises.
    await writeFile(
      check,
      [
        '#!/bin/sh',
        `echo "$PAM_SERVICE $PAM_USER $PAM_TYPE" >> ${calls}`,
        `typed=$(tr -d '\\000')`,
        `[ "$typed" = "${password}" ]`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    await writeFile(
      pamFile,
      [
        `# Written by Seashell's test ${import.meta.url}; removed when it ends.`,
        `auth requisite pam_exec.so quiet expose_authtok ${check}`,
        // pam_exec has no credentials to set; pam_permit answers sshd's pam_setcred.
        'auth required pam_permit.so',
        'account required pam_permit.so',
        'session required pam_permit.so',
        'password required pam_deny.so',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    sshd = await startSshd({
      authorizedKeys: '# no keys: keyboard-interactive only',
      program,
      logLevel: 'VERBOSE',
      extraConfig: [
        'UsePAM yes',
        'KbdInteractiveAuthentication yes',
        'PasswordAuthentication no',
        'PubkeyAuthentication no',
        'PermitRootLogin yes',
      ],
    });
    await mkdir(userDir);
    await writeFile(join(userDir, 'known_hosts'), sshd.knownHostsLine());
  });

  after(async () => {
    await sshd?.stop();
    await rm(pamFile, { force: true });
    process.off('exit', removePamFile);
    await removeTempDir(dir);
  });

  const connect = (options: ssh.ClientOptions): Promise<ssh.Connection> =>
    ssh.connect(sshd.host, sshd.port, {
      user: sshd.user,
      userDir,
      authMethods: 'keyboard-interactive',
      userInteraction: false,
      agent: false,
      ...options,
    });

  async function echo(conn: ssh.Connection, word: string): Promise<string> {
    const ch = await conn.sessionChannel();
    assert.equal(await ch.exec(`echo ${word}; id -un`), 'success');
    return (await collect(ch)).stdout.toString();
  }

  async function pamCalls(): Promise<string[]> {
    return (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  }

  test('the password option answers PAM\'s "Password: " prompt: logged in, a command runs', async () => {
    const before = (await pamCalls()).length;
    const conn = await connect({ password });
    try {
      assert.equal(await echo(conn, 'through-pam'), `through-pam\n${sshd.user}\n`);
    } finally {
      await ssh.close(conn);
    }
    // sshd asked the PAM service named after its program: the name is __progname, not "sshd".
    assert.deepEqual((await pamCalls()).slice(before), [`${service} ${sshd.user} auth`]);
    await sshd.waitIdle();
    assert.match(sshd.logs(), new RegExp(`Accepted keyboard-interactive/pam for ${sshd.user} `));
  });

  test('the keyboardInteractive callback sees the prompts and answers them', async () => {
    const seen: { name: string; instruction: string; prompts: { prompt: string; echo: boolean }[] }[] = [];
    const conn = await connect({
      keyboardInteractive: (name, instruction, prompts) => {
        seen.push({ name, instruction, prompts });
        return prompts.map(() => password);
      },
    });
    try {
      assert.equal(await echo(conn, 'callback'), `callback\n${sshd.user}\n`);
    } finally {
      await ssh.close(conn);
    }
    // PAM's conversation as sshd relays it: the password prompt, then (PAM done) a request with no
    // prompts, which RFC 4256 §3.4 answers with an empty response.
    assert.deepEqual(seen, [
      { name: '', instruction: '', prompts: [{ prompt: 'Password: ', echo: false }] },
      { name: '', instruction: '', prompts: [] },
    ]);
  });

  test('a callback that answers every request with the password still logs in', async () => {
    // A request without prompts gets an empty response whatever the callback gives back.
    const conn = await connect({ keyboardInteractive: () => [password] });
    try {
      assert.equal(await echo(conn, 'naive'), `naive\n${sshd.user}\n`);
    } finally {
      await ssh.close(conn);
    }
  });

  test('a wrong password from the option is refused by PAM: AUTH_FAILED naming the method', async () => {
    const before = (await pamCalls()).length;
    await assert.rejects(connect({ password: 'wrong' }), (e: unknown) => {
      assert.ok(e instanceof SshError, String(e));
      assert.equal(e.code, 'AUTH_FAILED');
      assert.match(e.message, /tried keyboard-interactive/);
      return true;
    });
    // PAM checked it once (the password option is sent once), and said no.
    assert.deepEqual((await pamCalls()).slice(before), [`${service} ${sshd.user} auth`]);
    await sshd.waitIdle();
    assert.match(sshd.logs(), new RegExp(`Failed keyboard-interactive/pam for ${sshd.user} `));
  });

  test('a wrong answer from the callback: three tries, each refused, then AUTH_FAILED', async () => {
    const before = (await pamCalls()).length;
    let asked = 0;
    await assert.rejects(
      connect({
        keyboardInteractive: (_n, _i, prompts) => {
          asked++;
          return prompts.map(() => 'not it');
        },
      }),
      (e: unknown) =>
        e instanceof SshError && e.code === 'AUTH_FAILED' && /keyboard-interactive/.test(e.message),
    );
    assert.equal(asked, 3, 'one prompt per try, three tries (as OpenSSH NumberOfPasswordPrompts)');
    assert.equal((await pamCalls()).length - before, 3);
  });
});
