/**
 * Uploads spread over several SFTP channels (src/sftp/lanes.ts) against OpenSSH's sshd, which
 * gives its sftp-server channel a fixed 2 MiB window, through the bench's delaying proxy (20 ms
 * each way): the extra sessions are opened, the file arrives whole, and a server that refuses
 * sessions (MaxSessions) leaves the transfer on the channels it has. No timing is asserted.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startDelayProxy, type DelayProxy } from '../../bench/lib/delay-proxy.js';
import * as ssh from '../../src/index.js';
import {
  formatKnownHosts,
  interopSuite,
  makeTempDir,
  removeTempDir,
  sshKeygen,
  startSshd,
  type SshdHandle,
} from './openssh.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interopSuite('SFTP uploads over several channels to OpenSSH sshd on a long path', () => {
  let dir: string;
  let userDir: string;
  let authorizedKeys: string;
  let src: string;
  let srcHash: string;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    dir = await makeTempDir('sftp-lanes-');
    userDir = join(dir, 'user');
    await mkdir(userDir);
    authorizedKeys = (await sshKeygen('ed25519', join(userDir, 'id_ed25519'))).publicLine;
    await writeFile(join(userDir, 'known_hosts'), '');
    src = join(dir, 'src.bin');
    const data = randomBytes(24 * MiB);
    srcHash = sha(data);
    await writeFile(src, data);
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await removeTempDir(dir);
  });

  /** An sshd behind a proxy that holds every byte 20 ms each way; resolves with the proxy's port. */
  async function longPathTo(extraConfig: string[]): Promise<number> {
    // SHLVL: bash would read the account's ~/.bashrc to start each sftp-server (see the bench).
    const sshd: SshdHandle = await startSshd({
      authorizedKeys,
      logLevel: 'ERROR',
      extraConfig: ['SetEnv SHLVL=1', ...extraConfig],
    });
    stops.push(() => sshd.stop());
    const proxy: DelayProxy = await startDelayProxy(sshd.port, 20);
    stops.push(() => proxy.stop());
    await appendFile(
      join(userDir, 'known_hosts'),
      formatKnownHosts('127.0.0.1', proxy.port, sshd.hostKeyLines),
    );
    return proxy.port;
  }

  /** A connection whose session channels are counted: opened, and refused by the server. */
  async function counted(port: number) {
    const conn = await ssh.connect('127.0.0.1', port, { user: process.env.USER ?? 'root', userDir });
    stops.push(() => conn.close());
    const counts = { opened: 0, refused: 0 };
    const open = conn.sessionChannel.bind(conn);
    conn.sessionChannel = async (...args: Parameters<typeof open>) => {
      try {
        const ch = await open(...args);
        counts.opened++;
        return ch;
      } catch (e) {
        counts.refused++;
        throw e;
      }
    };
    return { conn, counts };
  }

  test('a 24 MiB put over a 40 ms round trip opens two more channels and arrives whole', async () => {
    const port = await longPathTo([]);
    const { conn, counts } = await counted(port);
    const sftp = await ssh.sftp.startChannel(conn);
    assert.equal(counts.opened, 1);
    const remote = join(dir, 'up.bin');
    let last = 0;
    // 2 MiB windows, at least 40 ms: ceil(40 × 128 KiB/ms ÷ 2 MiB) = 3 lanes; 24 MiB is worth 3.
    await sftp.fastPut(src, remote, { step: (n) => (last = n) });
    assert.equal(counts.opened, 3);
    assert.equal(counts.refused, 0);
    assert.equal(last, 24 * MiB);
    assert.equal(sha(await readFile(remote)), srcHash);

    // One channel when asked for, and the file is rewritten whole (TRUNC) on it.
    await writeFile(remote, randomBytes(30 * MiB));
    await sftp.fastPut(src, remote, { channels: 1 });
    assert.equal(counts.opened, 3);
    assert.equal(sha(await readFile(remote)), srcHash);

    await assert.rejects(sftp.fastPut(src, remote, { channels: 0 }), { code: 'BAD_OPTION' });
    await ssh.sftp.stopChannel(sftp);
  });

  test('a server that allows two sessions: the put goes on over the two it gets', async () => {
    const port = await longPathTo(['MaxSessions 2']);
    const { conn, counts } = await counted(port);
    const sftp = await ssh.sftp.startChannel(conn);
    const remote = join(dir, 'two.bin');
    await sftp.fastPut(src, remote);
    assert.equal(counts.opened, 2);
    assert.equal(counts.refused, 1);
    assert.equal(sha(await readFile(remote)), srcHash);
    // The client's own channel serves on.
    assert.equal((await sftp.stat(remote)).size, 24 * MiB);
    await ssh.sftp.stopChannel(sftp);
  });
});
