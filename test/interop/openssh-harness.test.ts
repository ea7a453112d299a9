// Self-test of the interop harness (openssh.ts) with OpenSSH on both ends: our sshd launcher and
// client helpers must work before any Seashell-vs-OpenSSH test can be trusted.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  formatKnownHosts,
  interopSuite,
  makeTempDir,
  randomSource,
  removeTempDir,
  runCommand,
  runSsh,
  runSshHashed,
  sftpBaseArgs,
  sha256Hex,
  sshBaseArgs,
  sshKeygen,
  startSshd,
} from './openssh.js';
import type { KeyPair, SshdHandle } from './openssh.js';

/** Pids of processes whose command line contains `marker`, except our own children (Linux /proc). */
function pidsWithMarker(marker: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // The local ssh client carries the marker in its arguments too: it is our child.
      if (cmdline.includes(marker) && state !== 'Z' && Number(ppid) !== process.pid) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interopSuite('OpenSSH interop harness (OpenSSH ssh against sshd)', (openssh) => {
  let dir: string | undefined;
  let sshd: SshdHandle | undefined;
  let key: KeyPair;
  let knownHosts: string;
  let args: string[];

  before(async () => {
    dir = await makeTempDir('harness-');
    key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
    sshd = await startSshd({ authorizedKeys: key.publicLine });
    knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, sshd.knownHostsLine());
    args = sshBaseArgs({
      port: sshd.port,
      identityFile: key.privateKey,
      knownHostsFile: knownHosts,
      user: sshd.user,
    });
  });

  after(async () => {
    await sshd?.stop();
    await removeTempDir(dir);
  });

  test('the handle describes the daemon', () => {
    assert.ok(sshd);
    assert.equal(sshd.host, '127.0.0.1');
    assert.ok(sshd.port > 0);
    assert.deepEqual(
      sshd.hostKeyLines.map((l) => l.split(' ')[0]),
      ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa'],
    );
    const lines = sshd.knownHostsLine().trimEnd().split('\n');
    assert.equal(lines.length, 3);
    for (const [i, line] of lines.entries())
      assert.equal(line, `[127.0.0.1]:${sshd.port} ${sshd.hostKeyLines[i]}`);
  });

  test('exec: stdout, stderr and exit status', { timeout: 60_000 }, async () => {
    assert.ok(sshd);
    const r = await runSsh([...args, sshd.host, 'echo hello; echo err >&2; exit 3']);
    assert.equal(r.stdout.toString(), 'hello\n', `stderr: ${r.stderr}\nsshd log:\n${sshd.logs()}`);
    assert.match(r.stderr, /err/);
    assert.equal(r.code, 3);
    assert.equal(r.signal, null);
    await sshd.waitIdle();
    assert.match(sshd.logs(), /Accepted publickey for \S+ from /);
  });

  test('8 MiB of random data through cat keeps its sha256', { timeout: 120_000 }, async () => {
    assert.ok(sshd);
    const data = randomBytes(8 << 20);
    const r = await runSsh([...args, sshd.host, 'cat'], { input: data });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, data.length);
    assert.equal(sha256Hex(r.stdout), sha256Hex(data));
  });

  test('runSshHashed streams 32 MiB both ways without holding it', { timeout: 120_000 }, async () => {
    assert.ok(sshd);
    const src = randomSource(32 << 20);
    const r = await runSshHashed([...args, sshd.host, 'cat'], { input: src.stream });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdoutBytes, 32 << 20);
    assert.equal(r.stdoutSha256, src.sha256());
  });

  test('a wrong host key in known_hosts makes ssh fail with 255', { timeout: 60_000 }, async () => {
    assert.ok(sshd && dir);
    const other = await sshKeygen('ed25519', join(dir, 'not_the_host_key'));
    const wrongKnownHosts = join(dir, 'known_hosts_wrong');
    await writeFile(wrongKnownHosts, formatKnownHosts('127.0.0.1', sshd.port, [other.publicLine]));
    const wrongArgs = sshBaseArgs({
      port: sshd.port,
      identityFile: key.privateKey,
      knownHostsFile: wrongKnownHosts,
      user: sshd.user,
    });
    const r = await runSsh([...wrongArgs, sshd.host, 'echo should-not-run']);
    assert.equal(r.code, 255);
    assert.equal(r.stdout.length, 0);
    assert.match(r.stderr, /host key|HOST IDENTIFICATION/i);
  });

  test('a key that is not authorized is refused', { timeout: 60_000 }, async () => {
    assert.ok(sshd && dir);
    const stranger = await sshKeygen('ecdsa', join(dir, 'id_stranger'));
    const r = await runSsh([
      ...sshBaseArgs({
        port: sshd.port,
        identityFile: stranger.privateKey,
        knownHostsFile: knownHosts,
        user: sshd.user,
      }),
      sshd.host,
      'true',
    ]);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Permission denied/);
  });

  test('sftp reaches the sftp subsystem', { timeout: 60_000, skip: openssh.sftp === undefined }, async () => {
    assert.ok(sshd && dir && openssh.sftp);
    const file = join(dir, 'upload-me');
    const content = randomBytes(100_000);
    await writeFile(file, content);
    const target = join(dir, 'uploaded');
    const r = await runCommand(
      openssh.sftp,
      [
        ...sftpBaseArgs({
          port: sshd.port,
          identityFile: key.privateKey,
          knownHostsFile: knownHosts,
          user: sshd.user,
        }),
        '-b',
        '-',
        sshd.host,
      ],
      { input: `put ${file} ${target}\n` },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sha256Hex(readFileSync(target)), sha256Hex(content));
  });

  test('concurrent connections each get their own sshd', { timeout: 60_000 }, async () => {
    assert.ok(sshd);
    const before = sshd.connections();
    const results = await Promise.all(
      [0, 1, 2, 3, 4].map((i) => runSsh([...args, sshd?.host ?? '', `echo ${i}`])),
    );
    assert.deepEqual(
      results.map((r) => r.stdout.toString()),
      ['0\n', '1\n', '2\n', '3\n', '4\n'],
    );
    assert.equal(sshd.connections() - before, 5);
  });

  test(
    'runSsh kills a process that outlives its timeout and reports stderr',
    { timeout: 60_000 },
    async () => {
      assert.ok(sshd);
      await assert.rejects(
        runSsh([...args, sshd.host, 'echo about-to-hang >&2; sleep 30'], { timeoutMs: 1500 }),
        (err) => {
          assert.ok(err instanceof Error);
          assert.match(err.message, /timed out after 1500 ms/);
          assert.match(err.message, /about-to-hang/);
          return true;
        },
      );
    },
  );

  test('stop() ends the sessions still running, with their processes', { timeout: 60_000 }, async () => {
    assert.ok(dir);
    const own = await startSshd({ authorizedKeys: key.publicLine, hostKeyTypes: ['ed25519'] });
    try {
      const ownKnownHosts = join(dir, 'known_hosts_own');
      await writeFile(ownKnownHosts, own.knownHostsLine());
      const marker = `seashell-marker-${randomUUID()}`;
      const client = runSsh(
        [
          ...sshBaseArgs({
            port: own.port,
            identityFile: key.privateKey,
            knownHostsFile: ownKnownHosts,
            user: own.user,
          }),
          own.host,
          `sleep 300; : ${marker}`,
        ],
        { timeoutMs: 30_000 },
      );
      await until('the remote command to start', () => pidsWithMarker(marker).length > 0);
      const sshdPids = own.livePids();
      assert.equal(sshdPids.length, 1);
      await own.stop();
      assert.deepEqual(own.livePids(), []);
      assert.deepEqual(pidsWithMarker(marker), []);
      for (const pid of sshdPids) assert.throws(() => process.kill(pid, 0), /ESRCH/);
      const r = await client;
      assert.equal(r.code, 255);
    } finally {
      await own.stop();
    }
  });
});
