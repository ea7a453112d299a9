/**
 * ssh-ed448 and curve448-sha512 against a peer that is not Seashell: asyncssh 2.10 (Debian's
 * python3-asyncssh, which .ci/run installs) has both, where OpenSSH 9.2 has neither. Our client
 * logs in to asyncssh's server whose host key is an Ed448 key file we wrote (asyncssh reads our
 * openssh-key-v1 layout), with an Ed448 user key; asyncssh verifies our signature and we verify
 * its, over a curve448 key exchange, and 1 MiB goes through cat intact.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ssh from '../../src/index.js';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import { formatKnownHosts, isCi, makeTempDir, removeTempDir } from './openssh.js';

const PYTHON = '/usr/bin/python3';
const PEER = join(dirname(fileURLToPath(import.meta.url)), '../../../test/interop/peers/asyncssh_peer.py');
const hasAsyncssh = spawnSync(PYTHON, ['-c', 'import asyncssh'], { stdio: 'ignore' }).status === 0;

describe('ssh-ed448 and curve448-sha512 against asyncssh (peer: asyncssh; OpenSSH 9.2 has neither)', () => {
  if (!hasAsyncssh) {
    if (isCi()) test('asyncssh is installed (required when CI=true)', () => assert.fail('no asyncssh'));
    else test('asyncssh is installed', { skip: 'python3-asyncssh is missing' }, () => {});
    return;
  }
  let dir: string;
  let server: ChildProcess | undefined;
  let port = 0;
  let userDir: string;
  let hostLine: string;

  before(async () => {
    dir = await makeTempDir('asyncssh-ed448-');
    userDir = join(dir, 'user');
    await mkdir(userDir, { mode: 0o700 });
    const host = generatePrivateKey('ed448', { comment: 'asyncssh host' });
    const user = generatePrivateKey('ed448', { comment: 'our user' });
    hostLine = formatPublicKeyLine(host.publicKey);
    await writeFile(join(dir, 'host_ed448'), formatOpenSshPrivateKey(host), { mode: 0o600 });
    await writeFile(join(userDir, 'id_ed448'), formatOpenSshPrivateKey(user), { mode: 0o600 });
    await writeFile(join(dir, 'authorized_keys'), formatPublicKeyLine(user.publicKey) + '\n');
    const child = spawn(
      PYTHON,
      ['-W', 'ignore', PEER, 'server', join(dir, 'host_ed448'), join(dir, 'authorized_keys')],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    server = child;
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (l) => {
        const m = /^PORT (\d+)$/.exec(l);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`asyncssh server exited ${code}: ${err}`)));
    });
  });

  after(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.stdin!.end();
      const t = setTimeout(() => server!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await removeTempDir(dir);
  });

  test('Seashell client → asyncssh server: curve448-sha512, ssh-ed448 host and user keys, 1 MiB through cat', async () => {
    await writeFile(join(userDir, 'known_hosts'), formatKnownHosts('127.0.0.1', port, [hostLine]));
    const conn = await ssh.connect('127.0.0.1', port, {
      user: 'tester',
      userDir,
      agent: false,
      preferredAlgorithms: { kex: ['curve448-sha512'], publicKey: ['ssh-ed448'] },
    });
    try {
      const a = ssh.connectionInfo(conn).algorithms;
      assert.equal(a?.kex, 'curve448-sha512');
      assert.equal(a?.hostKey, 'ssh-ed448');
      const ch = await conn.sessionChannel();
      assert.equal(await ch.exec('cat'), 'success');
      const data = randomBytes(1024 * 1024);
      const got = createHash('sha256');
      const reading = (async () => {
        for await (const c of ch.stdout) got.update(c as Buffer);
      })();
      ch.stdin.end(data);
      await reading;
      assert.equal(got.digest('hex'), createHash('sha256').update(data).digest('hex'));
    } finally {
      await ssh.close(conn);
    }
  });
  test('encrypted Ed448 key files both ways: asyncssh reads what generateKeyFile wrote, we read what asyncssh wrote', async () => {
    const ours = join(dir, 'ours_ed448');
    const key = await ssh.generateKeyFile(ours, 'ed448', { passphrase: 'ed448 secret', rounds: 2 });
    assert.equal((await stat(ours)).mode & 0o777, 0o600);
    assert.equal((await stat(`${ours}.pub`)).mode & 0o777, 0o644);
    const py = (code: string) => spawnSync(PYTHON, ['-W', 'ignore', '-c', code], { encoding: 'utf8' });
    const read = py(
      `import asyncssh, sys\n` +
        `k = asyncssh.read_private_key(${JSON.stringify(ours)}, 'ed448 secret')\n` +
        `print(k.export_public_key().decode().strip())\n` +
        `try:\n  asyncssh.read_private_key(${JSON.stringify(ours)}, 'wrong'); print('READ WITH A WRONG PASSPHRASE')\n` +
        `except asyncssh.KeyEncryptionError: print('REFUSED')\n`,
    );
    assert.equal(read.status, 0, read.stderr);
    const [pub, wrong] = read.stdout.trim().split('\n');
    assert.equal(pub!.split(' ').slice(0, 2).join(' '), formatPublicKeyLine(key.publicKey));
    assert.equal(wrong, 'REFUSED');

    const theirs = join(dir, 'theirs_ed448');
    const made = py(
      `import asyncssh\n` +
        `k = asyncssh.generate_private_key('ssh-ed448')\n` +
        `k.write_private_key(${JSON.stringify(theirs)}, passphrase='from asyncssh')\n` +
        `print(k.export_public_key().decode().strip())\n`,
    );
    assert.equal(made.status, 0, made.stderr);
    const text = await readFile(theirs);
    assert.match(text.toString(), /BEGIN OPENSSH PRIVATE KEY/);
    const parsed = ssh.parsePrivateKey(text, 'from asyncssh');
    assert.equal(formatPublicKeyLine(parsed.publicKey), made.stdout.trim().split(' ').slice(0, 2).join(' '));
    assert.throws(
      () => ssh.parsePrivateKey(text, 'wrong'),
      (e: ssh.SshError) => e.code === 'BAD_KEY',
    );
  });
});
