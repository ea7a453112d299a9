/**
 * User key files the client cannot use are skipped, and AUTH_FAILED says which and why (locally
 * only: none of it goes on the wire).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import type { ServerChannelHandler } from '../../src/channel/behaviour.js';
import type { SessionChannel } from '../../src/channel/session-channel.js';
import * as ssh from '../../src/ssh.js';
import type { SshError } from '../../src/errors.js';
import { makeEnv, portOf, startDaemon, waitFor, type Env } from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

test('AUTH_FAILED lists the key files skipped and why; the daemon hears none of it', async () => {
  const dir = join(env.dir, 'skipping');
  await mkdir(dir);
  // An encrypted key (ssh-keygen's own format), a key readable by others, a file that is no key.
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', join(dir, 'id_ed25519')]);
  const rsa = generatePrivateKey('rsa', { bits: 2048 });
  await writeFile(join(dir, 'id_rsa'), formatOpenSshPrivateKey(rsa), { mode: 0o600 });
  await chmod(join(dir, 'id_rsa'), 0o644);
  await writeFile(join(dir, 'id_ecdsa'), 'this is not a key\n', { mode: 0o600 });
  await writeFile(join(env.daemonUserDir, 'authorized_keys'), formatPublicKeyLine(rsa.publicKey) + '\n');

  const heard: string[] = [];
  const d = await startDaemon(env, { disconnectfun: (r) => heard.push(r) });
  const port = await portOf(d);
  const opts = { userDir: dir, user: 'u', silentlyAcceptHosts: true, saveAcceptedHost: false } as const;
  const e = (await ssh.connect('127.0.0.1', port, opts).then(
    () => assert.fail('logged in with unusable keys'),
    (x: unknown) => x,
  )) as SshError;
  assert.equal(e.code, 'AUTH_FAILED');
  assert.match(e.message, /tried nothing/);
  assert.match(e.message, /skipped key files: /);
  assert.match(e.message, new RegExp(`${join(dir, 'id_ed25519')}: a passphrase is needed`));
  assert.match(e.message, new RegExp(`${join(dir, 'id_rsa')}: permissions 0644 are too open`));
  assert.match(e.message, new RegExp(`${join(dir, 'id_ecdsa')}: not a private key`));
  await waitFor(() => heard.length > 0, 'the daemon to hear the disconnect');
  assert.ok(!heard[0]!.includes(dir), `the wire carried a local path: ${heard[0]}`);

  // Mended, the same key logs in.
  await chmod(join(dir, 'id_rsa'), 0o600);
  const c = await ssh.connect('127.0.0.1', port, opts);
  await ssh.close(c);
  await ssh.stopDaemon(d);
});

test('an encrypted id_ed25519 logs in with ed25519PassPhrase; a wrong one is named in AUTH_FAILED', async () => {
  const dir = join(env.dir, 'encrypted');
  await mkdir(dir);
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-a',
    '2',
    '-N',
    'pass phrase',
    '-f',
    join(dir, 'id_ed25519'),
  ]);
  const pub = (await import('node:fs')).readFileSync(join(dir, 'id_ed25519.pub'), 'utf8');
  await writeFile(join(env.daemonUserDir, 'authorized_keys'), pub);
  const d = await startDaemon(env);
  const port = await portOf(d);
  const opts = { userDir: dir, user: 'u', silentlyAcceptHosts: true, saveAcceptedHost: false } as const;
  const c = await ssh.connect('127.0.0.1', port, { ...opts, ed25519PassPhrase: 'pass phrase' });
  assert.equal(ssh.connectionInfo(c, 'user'), 'u');
  await ssh.close(c);
  await assert.rejects(
    ssh.connect('127.0.0.1', port, { ...opts, ed25519PassPhrase: 'nope' }),
    (e: SshError) => e.code === 'AUTH_FAILED' && /id_ed25519: wrong passphrase/.test(e.message),
  );
  await ssh.stopDaemon(d);
});

test("the daemon enforces the authorized_keys line's options: from=, expiry-time=, no-pty, command=", async () => {
  const dir = join(env.dir, 'restricted');
  await mkdir(dir);
  const key = generatePrivateKey('ed25519');
  await writeFile(join(dir, 'id_ed25519'), formatOpenSshPrivateKey(key), { mode: 0o600 });
  const line = formatPublicKeyLine(key.publicKey);
  const seen: string[] = [];
  const recorder: ServerChannelHandler<{ ch?: SessionChannel }> = {
    init: () => ({ ok: {} }),
    handleMsg: (m, s) => {
      if ((m as { type?: string }).type === 'channelUp') s.ch = (m as { channel: SessionChannel }).channel;
      return { ok: s };
    },
    handleSshMsg: async (m, s) => {
      if (m.type === 'env') seen.push(`env ${m.name}=${m.value}`);
      if (m.type === 'exec') {
        seen.push(`exec ${m.command}`);
        s.ch!.replyRequest(m.wantReply, 'success');
        await s.ch!.exitStatus(0);
        return { stop: m.channelId, state: s };
      }
      return { ok: s };
    },
  };
  const d = await startDaemon(env, { sshCli: recorder, perSourcePenalties: false });
  const port = await portOf(d);
  const opts = { userDir: dir, user: 'u', silentlyAcceptHosts: true, saveAcceptedHost: false } as const;
  const login = async (options: string) => {
    await writeFile(join(env.daemonUserDir, 'authorized_keys'), `${options} ${line}\n`);
    return ssh.connect('127.0.0.1', port, opts);
  };
  for (const refused of [
    'from="10.0.0.0/8"',
    'from="*,!127.0.0.1"',
    'expiry-time="20200101"',
    'bogus-option',
  ]) {
    await assert.rejects(login(refused), (e: SshError) => e.code === 'AUTH_FAILED', refused);
  }
  const c = await login('from="127.0.0.0/8",expiry-time="29991231",no-pty,command="forced one"');
  const ch = await c.sessionChannel();
  assert.equal(await ch.ptyAlloc(), 'failure');
  assert.equal(await ch.exec('what I asked'), 'success');
  for await (const m of ch) if (m.type === 'closed') break;
  assert.deepEqual(seen, ['env SSH_ORIGINAL_COMMAND=what I asked', 'exec forced one']);
  await ssh.close(c);
  await ssh.stopDaemon(d);
});

test("authorized_keys environment= reaches the session only with permitUserEnvironment, after the client's", async () => {
  const dir = join(env.dir, 'environment');
  await mkdir(dir);
  const key = generatePrivateKey('ed25519');
  await writeFile(join(dir, 'id_ed25519'), formatOpenSshPrivateKey(key), { mode: 0o600 });
  await writeFile(
    join(env.daemonUserDir, 'authorized_keys'),
    `environment="FROM_KEY=k1",environment="LANG=C.key",environment="NOEQUALS" ${formatPublicKeyLine(key.publicKey)}\n`,
  );
  const seen: string[] = [];
  const recorder: ServerChannelHandler<{ ch?: SessionChannel }> = {
    init: () => ({ ok: {} }),
    handleMsg: (m, s) => {
      if ((m as { type?: string }).type === 'channelUp') s.ch = (m as { channel: SessionChannel }).channel;
      return { ok: s };
    },
    handleSshMsg: async (m, s) => {
      if (m.type === 'env') seen.push(`${m.name}=${m.value}`);
      if (m.type === 'exec') {
        s.ch!.replyRequest(m.wantReply, 'success');
        await s.ch!.exitStatus(0);
        return { stop: m.channelId, state: s };
      }
      return { ok: s };
    },
  };
  const opts = { userDir: dir, user: 'u', silentlyAcceptHosts: true, saveAcceptedHost: false } as const;
  for (const permit of [false, true]) {
    seen.length = 0;
    const d = await startDaemon(env, { sshCli: recorder, permitUserEnvironment: permit });
    try {
      const c = await ssh.connect('127.0.0.1', await portOf(d), opts);
      const ch = await c.sessionChannel();
      assert.equal(await ch.setenv('LANG', 'C.client'), 'success');
      assert.equal(await ch.exec('env'), 'success');
      for await (const m of ch) if (m.type === 'closed') break;
      await ssh.close(c);
    } finally {
      await ssh.stopDaemon(d);
    }
    assert.deepEqual(
      seen,
      permit ? ['FROM_KEY=k1', 'LANG=C.key'] : ['LANG=C.client'],
      `permitUserEnvironment ${permit}`,
    );
  }
});
