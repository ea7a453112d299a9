import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { collect } from './fixtures.js';
import {
  interopSuite,
  makeTempDir,
  removeTempDir,
  sshKeygen,
  startSshd,
  type SshdHandle,
} from './openssh.js';

const MiB = 1024 * 1024;

interopSuite('the Seashell client against OpenSSH sshd', () => {
  let dir: string;
  let sshd: SshdHandle;
  /** userDir per key type: id_<type> and a known_hosts with sshd's host keys. */
  const userDirs: Record<string, string> = {};

  before(async () => {
    dir = await makeTempDir('client-to-sshd-');
    const lines: string[] = [];
    for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
      const userDir = join(dir, type);
      await mkdir(userDir);
      const key = await sshKeygen(type, join(userDir, `id_${type}`));
      lines.push(key.publicLine);
      userDirs[type] = userDir;
    }
    sshd = await startSshd({ authorizedKeys: lines.join('\n') + '\n', logLevel: 'VERBOSE' });
    for (const userDir of Object.values(userDirs))
      await writeFile(join(userDir, 'known_hosts'), sshd.knownHostsLine());
  });

  after(async () => {
    await sshd?.stop();
    await removeTempDir(dir);
  });

  const connect = (type = 'ed25519', extra: ssh.ClientOptions = {}) =>
    ssh.connect(sshd.host, sshd.port, { user: sshd.user, userDir: userDirs[type], ...extra });

  for (const type of ['ed25519', 'ecdsa', 'rsa']) {
    test(`authenticates with an ${type} key and runs echo`, async () => {
      const conn = await connect(type);
      try {
        const ch = await conn.sessionChannel();
        assert.equal(await ch.exec('echo hello'), 'success');
        const r = await collect(ch);
        assert.equal(r.stdout.toString(), 'hello\n');
        assert.equal(r.exitStatus, 0);
        assert.equal(r.eof, true);
      } finally {
        await ssh.close(conn);
      }
    });
  }

  test('stderr and a non-zero exit status come back apart from stdout', async () => {
    const conn = await connect();
    try {
      const ch = await conn.sessionChannel();
      await ch.exec('echo out; echo err >&2; exit 3');
      const r = await collect(ch);
      assert.equal(r.stdout.toString(), 'out\n');
      assert.equal(r.stderr.toString(), 'err\n');
      assert.equal(r.exitStatus, 3);
    } finally {
      await ssh.close(conn);
    }
  });

  test('several channels at once on one connection', async () => {
    const conn = await connect();
    try {
      const results = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const ch = await conn.sessionChannel();
          await ch.exec(`echo channel-${i}`);
          return (await collect(ch)).stdout.toString();
        }),
      );
      assert.deepEqual(
        results,
        Array.from({ length: 8 }, (_, i) => `channel-${i}\n`),
      );
    } finally {
      await ssh.close(conn);
    }
  });

  /** Sends `total` random bytes through `cat` with the stdin/stdout streams and compares hashes. */
  async function catRoundTrip(conn: ssh.Connection, total: number): Promise<void> {
    const ch = await conn.sessionChannel();
    assert.equal(await ch.exec('cat'), 'success');
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let received = 0;
    const reading = (async () => {
      for await (const chunk of ch.stdout) {
        got.update(chunk as Buffer);
        received += (chunk as Buffer).length;
      }
    })();
    let left = total;
    while (left > 0) {
      const block = randomBytes(Math.min(left, 1024 * 1024));
      sent.update(block);
      left -= block.length;
      if (!ch.stdin.write(block)) await new Promise((r) => ch.stdin.once('drain', r));
    }
    ch.stdin.end();
    await reading;
    assert.equal(received, total);
    assert.equal(got.digest('hex'), sent.digest('hex'));
  }

  test('a cat round trip of 64 MiB, sha256 compared', async () => {
    const conn = await connect();
    try {
      await catRoundTrip(conn, 64 * MiB);
    } finally {
      await ssh.close(conn);
    }
  });

  for (const cipher of [
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'chacha20-poly1305@openssh.com',
  ]) {
    test(`${cipher}: negotiated, echo and an 8 MiB round trip`, async () => {
      const conn = await connect('ed25519', { preferredAlgorithms: { cipher: [cipher] } });
      try {
        const algs = ssh.connectionInfo(conn, 'algorithms');
        assert.equal(algs?.cipherC2S, cipher);
        assert.equal(algs?.cipherS2C, cipher);
        const ch = await conn.sessionChannel();
        await ch.exec('echo hi');
        assert.equal((await collect(ch)).stdout.toString(), 'hi\n');
        await catRoundTrip(conn, 8 * MiB);
      } finally {
        await ssh.close(conn);
      }
    });
  }

  test('re-keying mid-transfer, started by the client (rekeyLimit) and by sshd (RekeyLimit)', async () => {
    const lines = [await readFile(join(userDirs.ed25519!, 'id_ed25519.pub'), 'utf8')];
    for (const [who, extraConfig, opts] of [
      ['client', [], { rekeyLimit: 2 * MiB }],
      ['sshd', ['RekeyLimit 1M'], {}],
    ] as const) {
      const rekeying = await startSshd({
        authorizedKeys: lines.join(''),
        logLevel: 'DEBUG1',
        extraConfig: [...extraConfig],
      });
      try {
        const userDir = join(dir, `rekey-${who}`);
        await mkdir(userDir, { recursive: true });
        await copyFile(join(userDirs.ed25519!, 'id_ed25519'), join(userDir, 'id_ed25519'));
        await writeFile(join(userDir, 'known_hosts'), rekeying.knownHostsLine());
        const conn = await ssh.connect(rekeying.host, rekeying.port, {
          user: rekeying.user,
          userDir,
          ...opts,
        });
        try {
          await catRoundTrip(conn, 16 * MiB);
        } finally {
          await ssh.close(conn);
        }
        const newkeys = rekeying.logs().match(/SSH2_MSG_NEWKEYS received/g) ?? [];
        assert.ok(newkeys.length >= 3, `${who}: sshd saw ${newkeys.length} NEWKEYS, expected re-keys`);
      } finally {
        await rekeying.stop();
      }
    }
  });

  test('rekeyLimit counts the bulk data we send: a 64 MiB upload with a 1 MiB limit re-keys 60-70 times', async () => {
    const conn = await connect('ed25519', { rekeyLimit: MiB });
    try {
      const ch = await conn.sessionChannel();
      assert.equal(await ch.exec('sha256sum'), 'success');
      const chunks: Buffer[] = [];
      const reading = (async () => {
        for await (const chunk of ch.stdout) chunks.push(chunk as Buffer);
      })();
      const sent = createHash('sha256');
      for (let left = 64 * MiB; left > 0; left -= MiB) {
        const block = randomBytes(MiB);
        sent.update(block);
        if (!ch.stdin.write(block)) await new Promise((r) => ch.stdin.once('drain', r));
      }
      ch.stdin.end();
      await reading;
      const out = Buffer.concat(chunks).toString();
      assert.equal(out.split(' ')[0], sent.digest('hex'));
      const rekeys = ssh.connectionInfo(conn, 'rekeys') as number;
      assert.ok(rekeys >= 60 && rekeys <= 70, `${rekeys} re-keys`);
    } finally {
      await ssh.close(conn);
    }
  });

  test("sshd's SSH_MSG_DEBUG messages reach sshMsgDebugFun", async () => {
    // sshd reports an authorized_keys entry's restrictions to the client as DEBUG messages.
    const line = await readFile(join(userDirs.ed25519!, 'id_ed25519.pub'), 'utf8');
    const restricted = await startSshd({ authorizedKeys: `no-port-forwarding,no-agent-forwarding ${line}` });
    try {
      const userDir = join(dir, 'debug');
      await mkdir(userDir, { recursive: true });
      await copyFile(join(userDirs.ed25519!, 'id_ed25519'), join(userDir, 'id_ed25519'));
      await writeFile(join(userDir, 'known_hosts'), restricted.knownHostsLine());
      const seen: { connection: ssh.ConnectionRef; always: boolean; message: string }[] = [];
      const conn = await ssh.connect(restricted.host, restricted.port, {
        user: restricted.user,
        userDir,
        sshMsgDebugFun: (connection, always, message) => seen.push({ connection, always, message }),
      });
      try {
        const ch = await conn.sessionChannel();
        await ch.exec('true');
        await collect(ch);
      } finally {
        await ssh.close(conn);
      }
      // OpenSSH 9 lists the options the key keeps: forwarding is no longer among them.
      const notes = seen.map((d) => d.message);
      assert.ok(
        notes.some((m) => /authorized_keys:1: key options: .*pty/.test(m)),
        JSON.stringify(notes),
      );
      assert.ok(!notes.some((m) => /key options: .*port-forwarding/.test(m)), JSON.stringify(notes));
      assert.ok(seen.every((d) => d.connection === conn));
    } finally {
      await restricted.stop();
    }
  });

  test('an unknown host key is refused with HOST_KEY_NOT_VERIFIED', async () => {
    const empty = join(dir, 'no-known-hosts');
    await mkdir(empty, { recursive: true });
    await copyFile(join(userDirs.ed25519!, 'id_ed25519'), join(empty, 'id_ed25519'));
    await assert.rejects(
      ssh.connect(sshd.host, sshd.port, { user: sshd.user, userDir: empty }),
      (e: ssh.SshError) => e.code === 'HOST_KEY_NOT_VERIFIED' && /not in .*known_hosts/.test(e.message),
    );
  });

  test('a key sshd does not know fails with AUTH_FAILED', async () => {
    const stranger = join(dir, 'stranger');
    await mkdir(stranger, { recursive: true });
    await sshKeygen('ed25519', join(stranger, 'id_ed25519'));
    await writeFile(join(stranger, 'known_hosts'), sshd.knownHostsLine());
    await assert.rejects(
      ssh.connect(sshd.host, sshd.port, { user: sshd.user, userDir: stranger }),
      (e: ssh.SshError) => e.code === 'AUTH_FAILED' && /publickey/.test(e.message),
    );
  });
});

interopSuite("quietMode against sshd's Banner", () => {
  test("sshd's Banner is written to stderr during login, and not with quietMode", async () => {
    const dir = await makeTempDir('client-banner-');
    let sshd: SshdHandle | undefined;
    try {
      const key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
      const banner = join(dir, 'banner');
      await writeFile(banner, 'Authorized use only: seashell banner test\n');
      sshd = await startSshd({ authorizedKeys: key.publicLine, extraConfig: [`Banner ${banner}`] });
      await writeFile(join(dir, 'known_hosts'), sshd.knownHostsLine());
      const printed = async (quietMode: boolean | undefined): Promise<string> => {
        let out = '';
        const write = process.stderr.write;
        process.stderr.write = ((chunk: string | Uint8Array) => {
          out += chunk.toString();
          return true;
        }) as typeof process.stderr.write;
        try {
          const conn = await ssh.connect(sshd!.host, sshd!.port, {
            user: sshd!.user,
            userDir: dir,
            ...(quietMode === undefined ? {} : { quietMode }),
          });
          await ssh.close(conn);
        } finally {
          process.stderr.write = write;
        }
        return out;
      };
      assert.match(await printed(undefined), /Authorized use only: seashell banner test/);
      assert.match(await printed(false), /Authorized use only: seashell banner test/);
      assert.doesNotMatch(await printed(true), /seashell banner test/);
    } finally {
      await sshd?.stop();
      await removeTempDir(dir);
    }
  });
});
