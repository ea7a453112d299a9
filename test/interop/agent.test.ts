/**
 * Seashell's ssh-agent client against OpenSSH's own `ssh-agent` and `ssh-add`, started here: list,
 * sign (ed25519, ecdsa, RSA with SHA-2), add with a lifetime (the key then goes away) and with
 * confirm (signing asks ssh-agent's SSH_ASKPASS, yes and no), remove, remove all, lock and unlock;
 * and logins that use the agent's keys, to our daemon and to OpenSSH's sshd, with no key file.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import { parsePublicKeyLine } from '../../src/keys/public-key.js';
import { verifySignature } from '../../src/keys/signature.js';
import { writeHostKeys } from './fixtures.js';
import {
  formatKnownHosts,
  interopSuite,
  makeTempDir,
  removeTempDir,
  sshKeygen,
  startSshd,
  type KeyPair,
} from './openssh.js';

interopSuite('the ssh-agent client against OpenSSH ssh-agent', () => {
  let dir: string;
  let sock: string;
  let agentProcess: ChildProcess;
  const keys: Record<string, KeyPair> = {};

  function sshAdd(args: string[]): { status: number; stdout: string; stderr: string } {
    const r = spawnSync('ssh-add', args, { env: { ...process.env, SSH_AUTH_SOCK: sock }, encoding: 'utf8' });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  before(async () => {
    dir = await makeTempDir('agent-');
    sock = join(dir, 'agent.sock');
    agentProcess = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    const end = Date.now() + 10_000;
    while (spawnSync('test', ['-S', sock]).status !== 0) {
      if (Date.now() > end) throw new Error('ssh-agent did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
      keys[type] = await sshKeygen(type, join(dir, `id_${type}`));
      const r = sshAdd(['-q', keys[type].privateKey]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(async () => {
    agentProcess.kill();
    await removeTempDir(dir);
  });

  test('lists the keys ssh-add gave it, and signs with each', async () => {
    const agent = await ssh.AgentClient.connect(sock);
    try {
      const ids = await agent.list();
      assert.equal(ids.length, 3);
      for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
        const pub = parsePublicKeyLine(keys[type].publicLine).key;
        const id = ids.find((i) => i.blob.equals(pub.blob));
        assert.ok(id?.publicKey, `${type} listed`);
        const data = Buffer.from(`sign this with ${type}`);
        const algs =
          type === 'rsa' ? (['rsa-sha2-256', 'rsa-sha2-512'] as const) : ([id.publicKey.type] as const);
        for (const alg of algs) {
          const sig = await agent.sign(id.publicKey, alg as ssh.SignatureAlgorithm, data);
          assert.ok(verifySignature(pub, alg as ssh.SignatureAlgorithm, sig, data), `${alg} verifies`);
          assert.ok(!verifySignature(pub, alg as ssh.SignatureAlgorithm, sig, Buffer.from('other')));
        }
      }
    } finally {
      agent.close();
    }
  });

  test('add (with a lifetime), remove, remove all, lock and unlock, as ssh-add sees them', async () => {
    const agent = await ssh.AgentClient.connect(sock);
    try {
      const mine = generatePrivateKey('ed25519', { comment: 'added by seashell' });
      await agent.add(mine, { lifetime: 600 });
      const fp = ssh.fingerprint(mine.publicKey, 'sha256');
      assert.match(sshAdd(['-l']).stdout, new RegExp(`${fp.replace(/[+/]/g, '\\$&')} added by seashell`));
      await agent.remove(mine.publicKey);
      assert.doesNotMatch(sshAdd(['-l']).stdout, /added by seashell/);
      await assert.rejects(agent.remove(mine.publicKey), (e: ssh.SshError) => e.code === 'AGENT_ERROR');
      await agent.lock('secret');
      assert.deepEqual(await agent.list(), [], 'a locked agent lists nothing');
      await assert.rejects(agent.unlock('wrong'), (e: ssh.SshError) => e.code === 'AGENT_ERROR');
      await agent.unlock('secret');
      assert.equal((await agent.list()).length, 3);
      const rsaAgain = generatePrivateKey('rsa', { bits: 2048 });
      await agent.add(rsaAgain);
      assert.equal((await agent.list()).length, 4);
      await agent.removeAll();
      assert.match(sshAdd(['-l']).stdout + sshAdd(['-l']).stderr, /no identities/);
      for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) sshAdd(['-q', keys[type].privateKey]);
      assert.equal((await agent.list()).length, 3);
    } finally {
      agent.close();
    }
  });

  test("a confirm key signs only when ssh-agent's askpass says yes; a lifetime key goes away by itself", async () => {
    // A second ssh-agent whose SSH_ASKPASS records the question and answers with the exit status
    // written in `answer` (OpenSSH's ask_permission: success means yes).
    const cdir = join(dir, 'confirm');
    await mkdir(cdir);
    const log = join(cdir, 'asked');
    const answer = join(cdir, 'answer');
    const askpass = join(cdir, 'askpass.sh');
    await writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${log}'\nexit $(cat '${answer}')\n`, {
      mode: 0o700,
    });
    const csock = join(cdir, 'agent.sock');
    const child = spawn('ssh-agent', ['-D', '-a', csock], {
      stdio: 'ignore',
      env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      for (let i = 0; spawnSync('test', ['-S', csock]).status !== 0; i++) {
        if (i >= 200) throw new Error('ssh-agent did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
      const agent = await ssh.AgentClient.connect(csock);
      try {
        const key = generatePrivateKey('ed25519', { comment: 'confirm me' });
        await agent.add(key, { confirm: true });
        const data = Buffer.from('sign after asking');
        await writeFile(answer, '0');
        const sig = await agent.sign(key.publicKey, 'ssh-ed25519', data);
        assert.ok(verifySignature(key.publicKey, 'ssh-ed25519', sig, data));
        const asked = await readFile(log, 'utf8');
        assert.match(asked, /Allow use of key confirm me\?/);
        assert.ok(asked.includes(ssh.fingerprint(key.publicKey, 'sha256')), asked);
        await writeFile(answer, '1');
        await assert.rejects(
          agent.sign(key.publicKey, 'ssh-ed25519', data),
          (e: ssh.SshError) => e.code === 'AGENT_ERROR',
        );
        assert.equal((await readFile(log, 'utf8')).match(/Allow use of key/g)?.length, 2, 'asked again');

        const brief = generatePrivateKey('ed25519', { comment: 'one second' });
        await agent.add(brief, { lifetime: 1 });
        const held = async () => (await agent.list()).some((i) => i.blob.equals(brief.publicKey.blob));
        assert.ok(await held(), 'listed once added');
        for (let i = 0; (await held()) && i < 100; i++) await new Promise((r) => setTimeout(r, 100));
        assert.equal(await held(), false, 'the agent dropped the key when its lifetime ran out');
        assert.equal((await agent.list()).length, 1, 'the confirm key is still there');
      } finally {
        agent.close();
      }
    } finally {
      child.kill();
      await exited;
    }
  });

  test("logs in with the agent's key (no key file), to our daemon and to sshd; agent: false does not", async () => {
    const userDir = join(dir, 'empty-user');
    await mkdir(userDir, { recursive: true });
    // Our daemon.
    const systemDir = join(dir, 'system');
    const daemonUsers = join(dir, 'daemon-users');
    await mkdir(daemonUsers, { recursive: true });
    const hostLines = await writeHostKeys(systemDir, ['ed25519']);
    await writeFile(join(daemonUsers, 'authorized_keys'), keys.ecdsa!.publicLine + '\n');
    const d = await ssh.daemon('127.0.0.1', 0, {
      systemDir,
      userDir: daemonUsers,
      exec: () => ({ ok: 'hi\n' }),
    });
    const port = (await ssh.daemonInfo(d)).port;
    await writeFile(join(userDir, 'known_hosts'), formatKnownHosts('127.0.0.1', port, hostLines));
    const c = await ssh.connect('127.0.0.1', port, { user: 'tester', userDir, agent: sock });
    await ssh.close(c);
    await assert.rejects(
      ssh.connect('127.0.0.1', port, { user: 'tester', userDir, agent: false }),
      (e: ssh.SshError) => e.code === 'AUTH_FAILED',
    );
    await ssh.stopDaemon(d);
    // OpenSSH's sshd.
    const sshd = await startSshd({ authorizedKeys: keys.rsa!.publicLine + '\n' });
    try {
      await writeFile(join(userDir, 'known_hosts'), sshd.knownHostsLine());
      const c2 = await ssh.connect(sshd.host, sshd.port, { user: sshd.user, userDir, agent: sock });
      const ch = await c2.sessionChannel();
      assert.equal(await ch.exec('echo agent'), 'success');
      const out: Buffer[] = [];
      for await (const x of ch.stdout) out.push(x as Buffer);
      assert.equal(Buffer.concat(out).toString(), 'agent\n');
      await ssh.close(c2);
    } finally {
      await sshd.stop();
    }
  });
});

describe('the agent option', () => {
  test('an unreachable agent is skipped; a bad option value is refused by name', async () => {
    await assert.rejects(
      ssh.AgentClient.connect('/nonexistent/agent.sock'),
      (e: ssh.SshError) => e.code === 'AGENT_ERROR',
    );
    await assert.rejects(
      ssh.connect('127.0.0.1', 1, { agent: 3 as unknown as string }),
      (e: ssh.SshError) => e.code === 'BAD_OPTION' && /agent/.test(e.message),
    );
  });
});
