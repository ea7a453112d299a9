import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { catCli, writeHostKeys } from './fixtures.js';
import {
  formatKnownHosts,
  interopSuite,
  makeTempDir,
  randomSource,
  removeTempDir,
  runCommand,
  runSsh,
  runSshHashed,
  sshBaseArgs,
  sshKeygen,
  type OpenSsh,
} from './openssh.js';

const MiB = 1024 * 1024;

interopSuite("OpenSSH's ssh against the Seashell daemon", (openssh: OpenSsh) => {
  let dir: string;
  let evalDaemon: ssh.Daemon;
  let catDaemon: ssh.Daemon;
  let evalArgs: string[];
  let catArgs: string[];
  let argsFor: (d: ssh.Daemon) => Promise<string[]>;
  let systemDir: string;
  let userDir: string;
  const logins: string[] = [];

  before(async () => {
    dir = await makeTempDir('ssh-to-daemon-');
    systemDir = join(dir, 'system');
    userDir = join(dir, 'user');
    await mkdir(userDir);
    const hostLines = await writeHostKeys(systemDir);
    const key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
    await writeFile(join(userDir, 'authorized_keys'), key.publicLine + '\n');
    evalDaemon = await ssh.daemon('127.0.0.1', 0, { systemDir, userDir });
    catDaemon = await ssh.daemon('127.0.0.1', 0, {
      systemDir,
      userDir,
      sshCli: catCli,
      connectfun: (user) => logins.push(user),
    });
    argsFor = async (d: ssh.Daemon) => {
      const { port } = await ssh.daemonInfo(d);
      const knownHostsFile = join(dir, `known_hosts_${port}`);
      await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, hostLines));
      return sshBaseArgs({ port, identityFile: key.privateKey, knownHostsFile, user: 'tester' });
    };
    evalArgs = await argsFor(evalDaemon);
    catArgs = await argsFor(catDaemon);
  });

  after(async () => {
    await evalDaemon?.stop();
    await catDaemon?.stop();
    await removeTempDir(dir);
  });

  test('exec evaluates a JavaScript expression and prints its value', async () => {
    const r = await runSsh([...evalArgs, '127.0.0.1', '1 + 2']);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.toString(), '3\n');
    assert.equal(r.code, 0);
  });

  test('a thrown error goes to stderr and the exit status is non-zero', async () => {
    const r = await runSsh([...evalArgs, '127.0.0.1', 'throw new RangeError("out of range")']);
    assert.equal(r.stdout.length, 0);
    assert.equal(r.stderr, 'RangeError: out of range\n');
    assert.equal(r.code, 255, 'exit status -1 arrives as 255');
  });

  test('the exit status and stderr of a handler reach ssh', async () => {
    const r = await runSsh([...catArgs, '127.0.0.1', 'status 7']);
    assert.equal(r.code, 7);
    assert.equal(r.stderr, 'to stderr\n');
  });

  test('a refused exec request makes ssh fail', async () => {
    const r = await runSsh([...catArgs, '127.0.0.1', 'no-such-command']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /exec request failed/);
  });

  test("minimalRemoteMaxPacketSize: ssh's session channel (max packet 32768) opens at 32768 and is refused above", async () => {
    for (const [min, opens] of [
      [32768, true],
      [32769, false],
    ] as const) {
      const d = await ssh.daemon('127.0.0.1', 0, { systemDir, userDir, minimalRemoteMaxPacketSize: min });
      try {
        // ssh reports an open failure at INFO (the first LogLevel given wins).
        const r = await runSsh(['-o', 'LogLevel=INFO', ...(await argsFor(d)), '127.0.0.1', '6 * 7']);
        if (opens) {
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout.toString(), '42\n');
        } else {
          assert.equal(r.code, 255);
          assert.equal(r.stdout.length, 0);
          assert.match(
            r.stderr,
            /open failed: administratively prohibited: maximum packet size 32768 is too small/,
          );
        }
      } finally {
        await d.stop();
      }
    }
  });

  test('64 MiB through stdin and 64 MiB back out, sha256 compared', async () => {
    const source = randomSource(64 * MiB);
    const r = await runSshHashed([...catArgs, '127.0.0.1', 'cat'], {
      input: source.stream,
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdoutBytes, 64 * MiB);
    assert.equal(r.stdoutSha256, source.sha256());
  });

  for (const cipher of [
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'chacha20-poly1305@openssh.com',
  ]) {
    test(`ssh -c ${cipher} negotiates it and moves 8 MiB both ways intact`, async () => {
      const source = randomSource(8 * MiB);
      const args = ['-c', cipher, '-o', 'LogLevel=DEBUG1', ...catArgs, '127.0.0.1', 'cat'];
      const r = await runSshHashed(args, { input: source.stream, timeoutMs: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`kex: client->server cipher: ${cipher.replace(/[.@]/g, '\\$&')}`));
      assert.match(r.stderr, new RegExp(`kex: server->client cipher: ${cipher.replace(/[.@]/g, '\\$&')}`));
      assert.equal(r.stdoutSha256, source.sha256());
    });
  }

  test('re-keying in the middle of a transfer, started by ssh (RekeyLimit=1M) and by the daemon', async () => {
    const source = randomSource(16 * MiB);
    const r = await runSshHashed(
      ['-o', 'RekeyLimit=1M', '-o', 'LogLevel=DEBUG1', ...catArgs, '127.0.0.1', 'cat'],
      {
        input: source.stream,
        timeoutMs: 120_000,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdoutSha256, source.sha256());
    assert.ok((r.stderr.match(/SSH2_MSG_NEWKEYS received/g) ?? []).length >= 3, 'ssh re-keyed several times');

    const rekeying = await ssh.daemon('127.0.0.1', 0, {
      systemDir,
      userDir,
      sshCli: catCli,
      rekeyLimit: 2 * MiB,
    });
    try {
      const source2 = randomSource(16 * MiB);
      const args = ['-o', 'LogLevel=DEBUG1', ...(await argsFor(rekeying)), '127.0.0.1', 'cat'];
      const r2 = await runSshHashed(args, { input: source2.stream, timeoutMs: 120_000 });
      assert.equal(r2.code, 0, r2.stderr);
      assert.equal(r2.stdoutSha256, source2.sha256());
      assert.ok(
        (r2.stderr.match(/SSH2_MSG_NEWKEYS received/g) ?? []).length >= 3,
        'the daemon re-keyed several times',
      );
    } finally {
      await rekeying.stop();
    }
  });

  test('8 channels at once over one connection through ssh connection multiplexing', async () => {
    const control = join(dir, 'ctl');
    logins.length = 0;
    const master = runCommand(
      openssh.ssh,
      ['-o', 'ControlMaster=yes', '-o', `ControlPath=${control}`, '-N', ...catArgs, '127.0.0.1'],
      {
        timeoutMs: 120_000,
      },
    );
    try {
      for (let i = 0; i < 100 && !existsSync(control); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(control), 'the control socket appeared');
      const runs = Array.from({ length: 8 }, (_, i) => {
        const source = randomSource(2 * MiB + i * 4097);
        return runSshHashed(['-o', `ControlPath=${control}`, ...catArgs, '127.0.0.1', 'cat'], {
          input: source.stream,
          timeoutMs: 120_000,
        }).then((r) => ({ r, source }));
      });
      for (const { r, source } of await Promise.all(runs)) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdoutSha256, source.sha256());
      }
      assert.deepEqual(logins, ['tester'], 'all eight sessions shared one authenticated connection');
    } finally {
      await runSsh(['-o', `ControlPath=${control}`, '-O', 'exit', ...catArgs, '127.0.0.1']);
      await master;
    }
  });

  test('ssh refuses the daemon when its host key is not the one in known_hosts', async () => {
    const { port } = await ssh.daemonInfo(evalDaemon);
    const other = await makeTempDir('other-hostkey-');
    try {
      const lines = await writeHostKeys(other, ['ed25519']);
      const knownHostsFile = join(other, 'known_hosts');
      await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, lines));
      const key = await sshKeygen('ed25519', join(other, 'id'));
      const args = sshBaseArgs({ port, identityFile: key.privateKey, knownHostsFile, user: 'x' });
      const r = await runSsh([...args, '-o', 'HostKeyAlgorithms=ssh-ed25519', '127.0.0.1', '1']);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    } finally {
      await removeTempDir(other);
    }
  });
});
