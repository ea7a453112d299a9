/**
 * Key files against OpenSSH itself:
 * - keys Seashell generates and writes (generateKeyFile, plain and encrypted) log in to sshd;
 * - the known_hosts our client writes when it accepts a host (plain and hashed) is one OpenSSH's
 *   ssh trusts with StrictHostKeyChecking=yes for each of our daemon's host keys, and one
 *   `ssh-keygen -F` finds entries in.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { parseKnownHosts } from '../../src/keys/known-hosts.js';
import { collect, writeHostKeys } from './fixtures.js';
import {
  interopSuite,
  makeTempDir,
  removeTempDir,
  runCommand,
  runSsh,
  sshBaseArgs,
  sshKeygen,
  startSshd,
  type OpenSsh,
  type SshdHandle,
} from './openssh.js';

interopSuite('key files: ours with OpenSSH sshd, ssh and ssh-keygen', (openssh: OpenSsh) => {
  let dir: string;
  let sshd: SshdHandle;
  /** One user directory per key, each with its id_* file and sshd's known_hosts line. */
  const cases: { label: string; userDir: string; options: ssh.ClientOptions }[] = [];

  before(async () => {
    dir = await makeTempDir('keys-openssh-');
    const lines: string[] = [];
    const specs = [
      ['ed25519', 'ed25519', {}, undefined],
      ['ecdsa', 'ecdsa nistp256', { curve: 'nistp256' }, 'p256 secret'],
      ['ecdsa', 'ecdsa nistp384', { curve: 'nistp384' }, undefined],
      ['ecdsa', 'ecdsa nistp521', { curve: 'nistp521' }, undefined],
      ['rsa', 'rsa 3072', {}, 'rsa secret'],
      ['ed25519', 'ed25519 (chacha20-poly1305)', {}, 'ed secret'],
    ] as const;
    for (const [i, [type, label, gen, passphrase]] of specs.entries()) {
      const userDir = join(dir, `user${i}`);
      await mkdir(userDir);
      const key = await ssh.generateKeyFile(join(userDir, `id_${type}`), type, {
        ...gen,
        comment: label,
        passphrase,
        rounds: 2,
        cipher: label.includes('chacha') ? 'chacha20-poly1305@openssh.com' : undefined,
      });
      lines.push(ssh.formatPublicKeyLine(key.publicKey));
      const options: ssh.ClientOptions =
        passphrase === undefined
          ? {}
          : type === 'rsa'
            ? { rsaPassPhrase: passphrase }
            : type === 'ecdsa'
              ? { ecdsaPassPhrase: passphrase }
              : { ed25519PassPhrase: passphrase };
      cases.push({ label: passphrase ? `${label}, encrypted` : label, userDir, options });
    }
    sshd = await startSshd({ authorizedKeys: lines.join('\n') + '\n', logLevel: 'VERBOSE' });
    for (const c of cases) await writeFile(join(c.userDir, 'known_hosts'), sshd.knownHostsLine());
  });

  after(async () => {
    await sshd?.stop();
    await removeTempDir(dir);
  });

  test('keys generated and written by Seashell log in to sshd, encrypted ones with the passphrase option', async () => {
    for (const c of cases) {
      const conn = await ssh.connect(sshd.host, sshd.port, {
        user: sshd.user,
        userDir: c.userDir,
        agent: false,
        ...c.options,
      });
      try {
        const ch = await conn.sessionChannel();
        assert.equal(await ch.exec('echo logged in'), 'success', c.label);
        assert.equal((await collect(ch)).stdout.toString(), 'logged in\n', c.label);
      } finally {
        await ssh.close(conn);
      }
    }
    // Without the passphrase, the encrypted rsa key is not usable: AUTH_FAILED names the file.
    const rsa = cases.find((c) => c.label.startsWith('rsa'))!;
    await assert.rejects(
      ssh.connect(sshd.host, sshd.port, {
        user: sshd.user,
        userDir: rsa.userDir,
        agent: false,
        userInteraction: false,
      }),
      (e: ssh.SshError) => e.code === 'AUTH_FAILED' && e.message.includes(join(rsa.userDir, 'id_rsa')),
    );
  });

  for (const hashed of [false, true]) {
    test(`ssh trusts our daemon through the ${hashed ? 'hashed' : 'plain'} known_hosts our client saved; ssh-keygen -F finds it`, async () => {
      const base = await makeTempDir('kh-');
      try {
        const systemDir = join(base, 'system');
        const daemonUsers = join(base, 'daemon-users');
        await mkdir(daemonUsers);
        await writeHostKeys(systemDir, ['ed25519', 'ecdsa', 'rsa']);
        const user = await sshKeygen('ed25519', join(base, 'id_user'));
        await writeFile(join(daemonUsers, 'authorized_keys'), user.publicLine + '\n');
        const d = await ssh.daemon('127.0.0.1', 0, {
          systemDir,
          userDir: daemonUsers,
          exec: (cmd) => ({ ok: `ran ${cmd}\n` }),
          perSourcePenalties: false,
        });
        try {
          const { port } = await ssh.daemonInfo(d);
          const clientDir = join(base, 'client');
          await mkdir(clientDir);
          await ssh.generateKeyFile(join(clientDir, 'id_ed25519'), 'ed25519');
          await writeFile(
            join(daemonUsers, 'authorized_keys'),
            user.publicLine + '\n' + (await readFile(join(clientDir, 'id_ed25519.pub'), 'utf8')),
          );
          // Our client accepts each host key type once (saving it), as a user connecting first.
          for (const alg of ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512']) {
            const c = await ssh.connect('127.0.0.1', port, {
              userDir: clientDir,
              agent: false,
              silentlyAcceptHosts: true,
              hashKnownHosts: hashed,
              preferredAlgorithms: { publicKey: [alg] },
              prefPublicKeyAlgs: ['ssh-ed25519'],
            });
            await ssh.close(c);
          }
          const knownHostsFile = join(clientDir, 'known_hosts');
          const text = await readFile(knownHostsFile, 'utf8');
          assert.equal(text.trim().split('\n').length, 3, text);
          if (hashed) assert.ok(!text.includes('127.0.0.1'), text);
          else assert.match(text, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${port} ssh-ed25519 `, 'm'));
          const found = await runCommand(openssh.sshKeygen, [
            '-F',
            `[127.0.0.1]:${port}`,
            '-f',
            knownHostsFile,
          ]);
          assert.equal(found.code, 0, found.stderr);
          assert.equal([...found.stdout.toString().matchAll(/found: line (\d+)/g)].length, 3);
          // OpenSSH's ssh with StrictHostKeyChecking=yes trusts each key through that file.
          for (const alg of ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512']) {
            const args = sshBaseArgs({ port, identityFile: user.privateKey, knownHostsFile, user: 'tester' });
            const r = await runSsh([...args, '-o', `HostKeyAlgorithms=${alg}`, '127.0.0.1', 'hello']);
            assert.equal(r.code, 0, `${alg}: ${r.stderr}`);
            assert.equal(r.stdout.toString(), 'ran hello\n');
          }
        } finally {
          await ssh.stopDaemon(d);
        }
      } finally {
        await removeTempDir(base);
      }
    });
  }
  test('@cert-authority lines: ssh and our client both refuse a plain host key they name, and accepting the key keeps them', async () => {
    const c0 = cases[0]!;
    const userDir = join(dir, 'ca-user');
    await mkdir(userDir);
    await writeFile(join(userDir, 'id_ed25519'), await readFile(join(c0.userDir, 'id_ed25519')), {
      mode: 0o600,
    });
    const knownHostsFile = join(userDir, 'known_hosts');
    // sshd's own host keys marked as certificate authorities for it: no plain key is trusted by that.
    const caLines = sshd.hostKeyLines.map((l) => `@cert-authority [127.0.0.1]:${sshd.port} ${l}`).join('\n');
    const before = `# signers of this host's certificates\n${caLines}\n`;
    await writeFile(knownHostsFile, before);
    const args = sshBaseArgs({
      port: sshd.port,
      identityFile: join(userDir, 'id_ed25519'),
      knownHostsFile,
      user: sshd.user,
    });
    const refused = await runSsh([...args, '127.0.0.1', 'true']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Host key verification failed/);
    await assert.rejects(
      ssh.connect(sshd.host, sshd.port, { user: sshd.user, userDir, agent: false, userInteraction: false }),
      (e: ssh.SshError) => e.code === 'HOST_KEY_NOT_VERIFIED',
    );
    assert.equal(await readFile(knownHostsFile, 'utf8'), before);
    const conn = await ssh.connect(sshd.host, sshd.port, {
      user: sshd.user,
      userDir,
      agent: false,
      silentlyAcceptHosts: true,
    });
    await ssh.close(conn);
    const after = await readFile(knownHostsFile, 'utf8');
    assert.ok(after.startsWith(before), after);
    assert.equal(after.trim().split('\n').length, before.trim().split('\n').length + 1, after);
    const cas = parseKnownHosts(after).filter((e) => e.marker === 'cert-authority');
    assert.equal(cas.length, sshd.hostKeyLines.length, 'the @cert-authority lines are recognised');
    const accepted = await runSsh([...args, '127.0.0.1', 'echo trusted']);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(accepted.stdout.toString(), 'trusted\n');
  });
});
