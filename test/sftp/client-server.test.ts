import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { connectTo, makeEnv, startDaemon, type Env } from '../facade/helpers.js';
import { MemoryFs } from './memory-handler.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let env: Env;
let daemon: ssh.Daemon;
let root: string;

before(async () => {
  env = await makeEnv();
  root = join(env.dir, 'root');
  await mkdir(root);
  daemon = await startDaemon(env, { password: 'pw', subsystems: [ssh.sftpd.subsystemSpec({ root })] });
});
after(async () => {
  await daemon?.stop();
  await env?.cleanup();
});

test('our client against our server: the extensions both have, transfers and directory helpers', async () => {
  const conn = await connectTo(daemon, env, { password: 'pw' });
  const sftp = await ssh.sftp.startChannel(conn);
  assert.equal(sftp.limits.maxReadLength, 255 * 1024);
  assert.equal(await sftp.realpath('.'), '/');
  const data = randomBytes(8 * 1024 * 1024 + 5);
  await writeFile(join(env.dir, 'src.bin'), data);
  await sftp.fastPut(join(env.dir, 'src.bin'), '/up.bin');
  assert.equal(sha(await readFile(join(root, 'up.bin'))), sha(data));
  await sftp.fastGet('/up.bin', join(env.dir, 'down.bin'));
  assert.equal(sha(await readFile(join(env.dir, 'down.bin'))), sha(data));
  await sftp.mkdir('/a/b/c', true);
  await sftp.writeFile('/a/b/c/f', 'x');
  assert.deepEqual(await sftp.listDir('/a/b/c'), ['f']);
  assert.equal(await sftp.expandPath('~/a'), '/a');
  assert.equal(await sftp.homeDirectory(), '/');
  assert.ok((await sftp.statvfs('/')).bsize > 0);
  const src = await sftp.open('/up.bin', 'r');
  const dst = await sftp.open('/copy.bin', 'w');
  await sftp.copyData(src, 0, 0, dst, 0);
  await Promise.all([sftp.close(src), sftp.close(dst)]);
  assert.equal(sha(await readFile(join(root, 'copy.bin'))), sha(data));
  await sftp.rmdir('/a', true);
  assert.equal(await sftp.exists('/a'), false);
  await ssh.sftp.stopChannel(sftp);
  await conn.close();
});

test('a fileHandler that keeps the files in memory, confined to a root inside it', async () => {
  const mem = new MemoryFs();
  await mem.mkdir('/jail', 0o755);
  await mem.mkdir('/secret', 0o700);
  await mem.symlink('/secret', '/jail/out');
  const d = await startDaemon(env, {
    password: 'pw',
    subsystems: [ssh.sftpd.subsystemSpec({ root: '/jail', fileHandler: mem, maxFiles: 3 })],
  });
  try {
    const conn = await connectTo(d, env, { password: 'pw' });
    // On a connection, connection options mean nothing: refused by name, not dropped.
    await assert.rejects(
      ssh.sftp.startChannel(conn, { user: 'x' } as never),
      (e: ssh.SshError) => e.code === 'BAD_OPTION' && /'user'/.test(e.message),
    );
    const sftp = await ssh.sftp.startChannel(conn);
    const data = randomBytes(3 * 1024 * 1024 + 1);
    await sftp.put(data, '/f.bin');
    assert.equal(sha(await sftp.readFile('/f.bin')), sha(data));
    for (let i = 0; i < 7; i++) await sftp.writeFile(`/n${i}`, String(i));
    // READDIR in batches of maxFiles (3) still lists everything.
    assert.deepEqual((await sftp.listDir('/')).sort(), [
      'f.bin',
      'n0',
      'n1',
      'n2',
      'n3',
      'n4',
      'n5',
      'n6',
      'out',
    ]);
    await sftp.mkdir('/a/b', true);
    await sftp.rename('/n0', '/a/b/moved');
    assert.equal((await sftp.readFile('/a/b/moved')).toString(), '0');
    await assert.rejects(
      sftp.writeFile('/out/planted', 'x'),
      (e: ssh.sftp.SftpError) => e.statusName === 'PERMISSION_DENIED',
    );
    await assert.rejects(
      sftp.listDir('/../secret'),
      (e: ssh.sftp.SftpError) => e.statusName === 'NO_SUCH_FILE',
    );
    const secret = mem.top.kind === 'dir' ? mem.top.entries.get('secret') : undefined;
    assert.equal(secret?.kind === 'dir' && secret.entries.size, 0, 'nothing was written outside /jail');
    await ssh.sftp.stopChannel(sftp);
    await conn.close();
  } finally {
    await d.stop();
  }
});

/** Runs `use` with an SFTP client of a daemon that serves `fh`; stops both after. */
async function withHandler(fh: ssh.sftpd.FileHandler, use: (sftp: ssh.sftp.SftpClient) => Promise<void>) {
  const d = await startDaemon(env, {
    password: 'pw',
    subsystems: [ssh.sftpd.subsystemSpec({ fileHandler: fh })],
  });
  try {
    const conn = await connectTo(d, env, { password: 'pw' });
    const sftp = await ssh.sftp.startChannel(conn);
    await use(sftp);
    await ssh.sftp.stopChannel(sftp);
    await conn.close();
  } finally {
    await d.stop();
  }
}

test('a download whose READs come back short goes on from where each one stopped', async () => {
  // Each READ is answered with at most 100,000 bytes: the handler's first read for a reply gives
  // that much, and the read that would fill the rest of the reply (same buffer) gives nothing.
  class ShortReads extends MemoryFs {
    private readonly begun = new WeakSet<Buffer>();
    override async read(f: unknown, b: Buffer, offset: number, length: number, position: number) {
      if (this.begun.delete(b)) return 0;
      this.begun.add(b);
      return super.read(f, b, offset, Math.min(length, 100_000), position);
    }
  }
  await withHandler(new ShortReads(), async (sftp) => {
    const data = randomBytes(3 * 1024 * 1024 + 11);
    await sftp.put(data, '/s.bin');
    const h = await sftp.open('/s.bin', 'r');
    assert.equal((await sftp.pread(h, 0, 255 * 1024))?.length, 100_000, 'the server answers short');
    await sftp.close(h);
    await sftp.fastGet('/s.bin', join(env.dir, 'short.bin'));
    assert.equal(sha(await readFile(join(env.dir, 'short.bin'))), sha(data));
  });
});

test('a fileHandler with writev gets the WRITEs that span channel chunks as those chunks', async () => {
  class Vectored extends MemoryFs {
    calls = 0;
    buffers = 0;
    async writev(f: unknown, bufs: Buffer[], position: number): Promise<number> {
      this.calls++;
      this.buffers += bufs.length;
      let n = 0;
      for (const b of bufs) n += await this.write(f, b, 0, b.length, position + n);
      return n;
    }
  }
  const mem = new Vectored();
  await withHandler(mem, async (sftp) => {
    const data = randomBytes(4 * 1024 * 1024 + 5);
    await sftp.put(data, '/v.bin');
    assert.equal(sha(await sftp.readFile('/v.bin')), sha(data));
    assert.ok(mem.calls > 0, 'WRITEs went to writev');
    assert.ok(mem.buffers > mem.calls, 'in more than one piece each');
  });
});

test(
  'reply and upload buffers are reused only once their data has gone: every byte arrives as written',
  { timeout: 60_000 },
  async () => {
    const conn = await connectTo(daemon, env, { password: 'pw' });
    // A small window and packets: the daemon's DATA replies wait in the channel's queue while later
    // READs are served, and the client's replies come in many chunks.
    const sftp = await ssh.sftp.startChannel(conn, {
      initialWindowSize: 96 * 1024,
      maxWindowSize: 96 * 1024,
      maxPacketSize: 8 * 1024,
    });
    const data = randomBytes(6 * 1024 * 1024 + 77);
    await writeFile(join(env.dir, 'reuse.bin'), data);
    await sftp.fastPut(join(env.dir, 'reuse.bin'), '/reuse.bin', { concurrency: 32, chunkSize: 48 * 1024 });
    assert.equal(sha(await readFile(join(root, 'reuse.bin'))), sha(data), 'the upload');
    // With the defaults (64 WRITEs of 255 KiB) the daemon's window and budget run out, so WRITEs
    // wait in the client's queue while the next blocks of the file are read.
    const big = randomBytes(40 * 1024 * 1024);
    await writeFile(join(env.dir, 'big.bin'), big);
    const conn2 = await connectTo(daemon, env, { password: 'pw' });
    const sftp2 = await ssh.sftp.startChannel(conn2);
    await sftp2.fastPut(join(env.dir, 'big.bin'), '/big.bin');
    assert.equal(sha(await readFile(join(root, 'big.bin'))), sha(big), 'the default upload');
    await ssh.sftp.stopChannel(sftp2);
    await conn2.close();
    const h = await sftp.open('/reuse.bin', 'r');
    const reads = [];
    for (let i = 0; i < 48; i++) reads.push(sftp.apread(h, i * 40_000, 40_000));
    const got = await Promise.all(reads);
    got.forEach((b, i) => assert.ok(b?.equals(data.subarray(i * 40_000, (i + 1) * 40_000)), `READ ${i}`));
    await sftp.close(h);
    await sftp.fastGet('/reuse.bin', join(env.dir, 'reuse-down.bin'), { concurrency: 32 });
    assert.equal(sha(await readFile(join(env.dir, 'reuse-down.bin'))), sha(data), 'fastGet');
    // Into a caller's Writable that keeps every chunk: nothing of it may be reused under it.
    assert.equal(sha(await sftp.readFile('/reuse.bin')), sha(data), 'readFile');
    await ssh.sftp.stopChannel(sftp);
    await conn.close();
  },
);
