/**
 * User keys of the types OpenSSH 9.2 has but no longer offers (ssh-dss: DSA is built in, off by
 * default) and of the type it never had (ssh-ed448), logging in both ways: our client with
 * id_dsa to sshd (PubkeyAcceptedAlgorithms +ssh-dss), OpenSSH's ssh with a DSA key to our daemon
 * (which accepts ssh-dss when asked to), and id_ed448 against our own daemon, the only peer that
 * has it. Host keys of both types are in algorithms-openssh.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import { catCli, writeHostKeys } from './fixtures.js';
import {
  formatKnownHosts,
  interopSuite,
  makeTempDir,
  removeTempDir,
  runSsh,
  sshBaseArgs,
  sshKeygen,
  startSshd,
} from './openssh.js';

async function execOut(conn: ssh.Connection, command: string, input: Buffer): Promise<Buffer> {
  const ch = await conn.sessionChannel();
  assert.equal(await ch.exec(command), 'success');
  ch.stdin.end(input);
  const got: Buffer[] = [];
  for await (const chunk of ch.stdout) got.push(chunk as Buffer);
  return Buffer.concat(got);
}

interopSuite('ssh-dss and ssh-ed448 user keys', () => {
  let dir: string;
  let userDir: string;
  let systemDir: string;
  let daemon: ssh.Daemon;
  let port: number;
  let hostLines: string[];

  before(async () => {
    dir = await makeTempDir('legacy-keys-');
    userDir = join(dir, 'user');
    systemDir = join(dir, 'system');
    await mkdir(userDir, { mode: 0o700 });
    hostLines = await writeHostKeys(systemDir, ['ed25519']);
    const dsa = await sshKeygen('dsa', join(userDir, 'id_dsa'));
    const ed448 = generatePrivateKey('ed448', { comment: 'ed448 user' });
    await writeFile(join(userDir, 'id_ed448'), formatOpenSshPrivateKey(ed448), { mode: 0o600 });
    await writeFile(
      join(userDir, 'authorized_keys'),
      `${dsa.publicLine}\n${formatPublicKeyLine(ed448.publicKey, 'ed448 user')}\n`,
    );
    daemon = await ssh.daemon('127.0.0.1', 0, {
      systemDir,
      userDir,
      sshCli: catCli,
      modifyAlgorithms: [{ append: { publicKey: ['ssh-dss'] } }],
    });
    port = (await ssh.daemonInfo(daemon)).port;
  });

  after(async () => {
    await daemon?.stop();
    await removeTempDir(dir);
  });

  test('Seashell client → sshd with id_dsa (PubkeyAcceptedAlgorithms +ssh-dss): logged in, data through cat', async () => {
    const sshd = await startSshd({
      authorizedKeys: await readFile(join(userDir, 'id_dsa.pub'), 'utf8'),
      extraConfig: ['PubkeyAcceptedAlgorithms +ssh-dss'],
      logLevel: 'ERROR',
      hostKeyTypes: ['ed25519'],
    });
    try {
      await writeFile(join(userDir, 'known_hosts'), sshd.knownHostsLine());
      const conn = await ssh.connect(sshd.host, sshd.port, {
        user: sshd.user,
        userDir,
        agent: false,
        prefPublicKeyAlgs: ['ssh-dss'],
      });
      try {
        const data = Buffer.from('dsa to sshd\n');
        assert.deepEqual(await execOut(conn, 'cat', data), data);
      } finally {
        await ssh.close(conn);
      }
    } finally {
      await sshd.stop();
    }
  });

  test('ssh -i id_dsa -o PubkeyAcceptedAlgorithms=+ssh-dss → Seashell daemon: logged in, data through cat', async () => {
    const knownHostsFile = join(dir, 'known_hosts_ssh');
    await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, hostLines));
    const args = sshBaseArgs({
      port,
      identityFile: join(userDir, 'id_dsa'),
      knownHostsFile,
      user: 'tester',
      extra: ['-o', 'PubkeyAcceptedAlgorithms=+ssh-dss', '-o', 'LogLevel=DEBUG1'],
    });
    const r = await runSsh([...args, '127.0.0.1', 'cat'], { input: 'dsa to seashell\n', timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), 'dsa to seashell\n');
    assert.match(r.stderr, /Server accepts key: \S+ DSA SHA256:/);
  });

  test('Seashell client with id_ed448 → Seashell daemon (OpenSSH lacks Ed448; peer: Seashell itself): logged in, data through cat', async () => {
    const conn = await ssh.connect('127.0.0.1', port, {
      user: 'tester',
      userDir,
      agent: false,
      silentlyAcceptHosts: true,
      saveAcceptedHost: false,
      prefPublicKeyAlgs: ['ssh-ed448'],
    });
    try {
      const data = Buffer.from('ed448 to seashell\n');
      assert.deepEqual(await execOut(conn, 'cat', data), data);
    } finally {
      await ssh.close(conn);
    }
  });
});
