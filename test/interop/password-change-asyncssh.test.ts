/**
 * Our client's password change (RFC 4252 §8) and multi-round keyboard-interactive (RFC 4256)
 * against a server that is not Seashell: asyncssh (Debian python3-asyncssh). OpenSSH's sshd cannot
 * serve here: it never sends SSH_MSG_USERAUTH_PASSWD_CHANGEREQ (its password method refuses a
 * change request, "password change not supported"; an expired password is changed through PAM's
 * keyboard-interactive or by passwd in the session), and its keyboard-interactive needs PAM and a
 * password on a system account. The seed's daemon has no password change option, so ours does not
 * ask for one either.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { isCi } from './openssh.js';
import { waitFor } from '../facade/helpers.js';

const PYTHON = '/usr/bin/python3';
// The script is not compiled: from dist/test/interop, go back to the source tree.
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../../test/interop/peers/asyncssh_auth.py');

const available = spawnSync(PYTHON, ['-c', 'import asyncssh'], { stdio: 'ignore' }).status === 0;
if (!available && isCi())
  throw new Error('asyncssh is missing (Debian python3-asyncssh; .ci/run installs it)');

describe(
  'password change and keyboard-interactive against asyncssh',
  { skip: !available && 'no asyncssh' },
  () => {
    let child: ChildProcess;
    let port: number;
    const events: string[] = [];

    before(async () => {
      child = spawn(PYTHON, ['-W', 'ignore', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      port = await new Promise<number>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (l) => {
          const m = /^PORT (\d+)$/.exec(l);
          if (m) resolve(Number(m[1]));
          else events.push(l);
        });
        child.once('exit', (code) => reject(new Error(`asyncssh_auth.py exited ${code}: ${err}`)));
      });
    });
    after(async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin!.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    });

    const base = { silentlyAcceptHosts: true, saveAcceptedHost: false, userDir: false } as const;

    async function hello(c: ssh.Connection): Promise<string> {
      const ch = await c.sessionChannel();
      await ch.exec('hi');
      let out = '';
      for await (const m of ch) if (m.type === 'data') out += m.data.toString();
      return out;
    }

    test('a change refused by passwordChange (or without it) fails cleanly: AUTH_FAILED says so', async () => {
      for (const passwordChange of [undefined, () => undefined]) {
        await assert.rejects(
          ssh.connect('127.0.0.1', port, {
            ...base,
            user: 'expired',
            password: 'old',
            authMethods: 'password',
            ...(passwordChange && { passwordChange }),
          }),
          (e: ssh.SshError) =>
            e.code === 'AUTH_FAILED' &&
            (passwordChange ? /change declined/ : /asked for a password change/).test(e.message),
        );
      }
      assert.ok(!events.some((e) => e.startsWith('CHANGED')), events.join('\n'));
    });

    test('PASSWD_CHANGEREQ is answered from passwordChange: the new password is set and logs in', async () => {
      const prompts: string[] = [];
      const c = await ssh.connect('127.0.0.1', port, {
        ...base,
        user: 'expired',
        password: 'old',
        authMethods: 'password',
        passwordChange: (prompt) => {
          prompts.push(prompt);
          return 'brand new';
        },
      });
      assert.equal(await hello(c), 'hello expired\n');
      await ssh.close(c);
      assert.deepEqual(prompts, ['Your password has expired; choose a new one.']);
      // The server's log line comes through its stdout, which may lag the login it reports.
      await waitFor(() => events.includes('CHANGED expired old brand new'), events.join('\n'), 10_000);
      // The new one logs in without a change.
      const again = await ssh.connect('127.0.0.1', port, {
        ...base,
        user: 'expired',
        password: 'brand new',
        authMethods: 'password',
      });
      await ssh.close(again);
      assert.ok(events.includes('LOGIN expired'), events.join('\n'));
    });

    test('keyboard-interactive in two rounds, two prompts with their echo flags, answered by the callback', async () => {
      const asked: string[] = [];
      const c = await ssh.connect('127.0.0.1', port, {
        ...base,
        user: 'kim',
        authMethods: 'keyboard-interactive',
        keyboardInteractive: (name, instruction, prompts) => {
          asked.push(
            `${name}|${instruction}|${prompts.map((p) => `${p.prompt}${p.echo ? '+echo' : ''}`).join(',')}`,
          );
          return prompts.map(
            (p) => ({ 'Name: ': 'kim', 'PIN: ': '1234', 'Token: ': 't0k3n' })[p.prompt] ?? '',
          );
        },
      });
      assert.equal(await hello(c), 'hello kim\n');
      await ssh.close(c);
      assert.deepEqual(asked, ['Two steps|Answer both questions|Name: +echo,PIN: ', 'Second round||Token: ']);
      assert.ok(
        events.includes('KBDINT kim 1 kim 1234') && events.includes('KBDINT kim 2 t0k3n'),
        events.join('\n'),
      );
    });
  },
);
