import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import {
  interopSuite,
  makeTempDir,
  removeTempDir,
  sshKeygen,
  startSshd,
  type SshdHandle,
} from './openssh.js';
import { mostWritesInFlight } from '../sftp/writes-in-flight.js';

const MiB = 1024 * 1024;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interopSuite(
  "The Seashell SFTP client against OpenSSH sshd's sftp-server",
  () => {
    let dir: string;
    let remote: string;
    let local: string;
    let sshd: SshdHandle;
    let sftp: ssh.sftp.SftpClient;

    before(async () => {
      dir = await makeTempDir('sftp-client-');
      remote = join(dir, 'remote');
      local = join(dir, 'local');
      const userDir = join(dir, 'user');
      await Promise.all([mkdir(remote), mkdir(local), mkdir(userDir)]);
      const key = await sshKeygen('ed25519', join(userDir, 'id_ed25519'));
      sshd = await startSshd({ authorizedKeys: key.publicLine, logLevel: 'ERROR' });
      await writeFile(join(userDir, 'known_hosts'), sshd.knownHostsLine());
      sftp = await ssh.sftp.startChannel(sshd.host, sshd.port, { user: sshd.user, userDir });
    });

    after(async () => {
      if (sftp) await ssh.sftp.stopChannel(sftp);
      await sshd?.stop();
      await removeTempDir(dir);
    });

    test('version 3 and OpenSSH extensions are seen; limits are read', () => {
      for (const e of ['posix-rename@openssh.com', 'statvfs@openssh.com', 'limits@openssh.com', 'copy-data'])
        assert.ok(sftp.extensions.has(e), e);
      assert.ok(sftp.limits.maxReadLength > 32768);
    });

    test('the seed file functions: open/write/pwrite/read/pread/position/close, readFile/writeFile', async () => {
      const p = join(remote, 'f.txt');
      const h = await sftp.open(p, ['write', 'creat', 'trunc']);
      await sftp.write(h, 'hello ');
      await sftp.write(h, 'world');
      await sftp.pwrite(h, 0, 'H');
      await Promise.all([sftp.awrite(h, '!'), sftp.apwrite(h, 20, 'x')]);
      await sftp.close(h);
      const want = Buffer.from('Hello world!');
      const got = await readFile(p);
      assert.deepEqual(got.subarray(0, 12), want);
      assert.equal(got.length, 21);
      const r = await sftp.open(p, 'r');
      assert.equal((await sftp.read(r, 5))?.toString(), 'Hello');
      assert.equal((await sftp.pread(r, 6, 5))?.toString(), 'world');
      assert.equal(await sftp.position(r, { cur: 1 }), 6);
      assert.equal(await sftp.aread(r, 5).then((b) => b?.toString()), 'world');
      assert.equal(await sftp.position(r, { eof: 0 }), 21);
      assert.equal(await sftp.read(r, 5), null);
      assert.equal((await sftp.fstat(r)).size, 21);
      await sftp.close(r);
      await sftp.writeFile(join(remote, 'g.txt'), 'gee');
      assert.deepEqual(await sftp.readFile(join(remote, 'g.txt')), Buffer.from('gee'));
    });

    test('directories, names, links, attributes, renames and deletes', async () => {
      const d = join(remote, 'd');
      await sftp.makeDir(d);
      await sftp.writeFile(join(d, 'a'), 'a');
      await sftp.makeSymlink(join(d, 'l'), 'a');
      assert.equal(await readlink(join(d, 'l')), 'a', 'SYMLINK arguments in OpenSSH order');
      assert.equal(await sftp.readLink(join(d, 'l')), 'a');
      assert.deepEqual((await sftp.listDir(d)).sort(), ['a', 'l']);
      assert.ok(ssh.sftp && (await sftp.readLinkInfo(join(d, 'l'))).permissions! & 0o120000);
      assert.equal((await sftp.readFileInfo(join(d, 'l'))).size, 1);
      await sftp.writeFileInfo(join(d, 'a'), { permissions: 0o640 });
      assert.equal((await stat(join(d, 'a'))).mode & 0o777, 0o640);
      await sftp.rename(join(d, 'a'), join(d, 'b'));
      await sftp.writeFile(join(d, 'c'), 'c');
      await assert.rejects(sftp.rename(join(d, 'b'), join(d, 'c')), { code: 'SFTP_STATUS' });
      await sftp.posixRename(join(d, 'b'), join(d, 'c'));
      assert.equal(await readFile(join(d, 'c'), 'utf8'), 'a');
      await sftp.hardlink(join(d, 'c'), join(d, 'hard'));
      assert.equal((await stat(join(d, 'hard'))).nlink, 2);
      await sftp.lsetstat(join(d, 'c'), { atime: 1000, mtime: 2000 });
      assert.equal((await stat(join(d, 'c'))).mtimeMs, 2_000_000);
      assert.equal(await sftp.realpath(join(d, '..', 'd')), d);
      assert.equal(await sftp.expandPath('~'), process.env.HOME ?? (await sftp.homeDirectory()));
      assert.ok((await sftp.statvfs(remote)).bsize > 0);
      const fh = await sftp.open(join(d, 'c'), 'r+');
      assert.ok((await sftp.fstatvfs(fh)).blocks > 0);
      await sftp.fsync(fh);
      const out = await sftp.open(join(d, 'copy'), 'w');
      await sftp.copyData(fh, 0, 0, out, 0);
      await sftp.close(fh);
      await sftp.close(out);
      assert.equal(await readFile(join(d, 'copy'), 'utf8'), 'a');
      const ids = await sftp.getUsersGroups([0], [0]);
      assert.deepEqual(ids, { users: ['root'], groups: ['root'] });
      await assert.rejects(
        sftp.readFileInfo(join(d, 'nope')),
        (e: ssh.sftp.SftpError) => e.statusName === 'NO_SUCH_FILE',
      );
      assert.equal(await sftp.exists(join(d, 'nope')), false);
      assert.equal(await sftp.exists(d), 'd');
      assert.equal(await sftp.exists(join(d, 'c')), '-');
      assert.equal(await sftp.exists(join(d, 'l')), 'l');
      assert.equal((await sftp.stat(d)).isDirectory, true);
      await sftp.mkdir(join(d, 'x', 'y', 'z'), true);
      assert.ok((await stat(join(d, 'x', 'y', 'z'))).isDirectory());
      await sftp.delete(join(d, 'l'));
      await assert.rejects(lstat(join(d, 'l')), { code: 'ENOENT' });
      await sftp.rmdir(d, true);
      await assert.rejects(stat(d), { code: 'ENOENT' });
    });

    test('fastPut and fastGet of 64 MiB, many requests in flight, compared by sha256', async () => {
      const src = join(local, 'big.bin');
      await writeFile(src, randomBytes(64 * MiB));
      const want = await sha256File(src);
      let steps = 0;
      await sftp.fastPut(src, join(remote, 'big.bin'), { step: () => steps++ });
      assert.equal(await sha256File(join(remote, 'big.bin')), want);
      assert.ok(steps > 100);
      let last = 0;
      await sftp.fastGet(join(remote, 'big.bin'), join(local, 'big.back'), { step: (n) => (last = n) });
      assert.equal(last, 64 * MiB);
      assert.equal(await sha256File(join(local, 'big.back')), want);
    });

    test('a put into sshd has no more WRITEs unanswered than its 2 MiB window holds', async () => {
      const src = join(local, 'fit.bin');
      const data = randomBytes(16 * MiB);
      await writeFile(src, data);
      // sshd grants its fixed 2 MiB window 16 to 64 KiB at a time: 8 WRITEs of 255 KiB.
      const most = await mostWritesInFlight(sftp.session, () => sftp.fastPut(src, join(remote, 'fit.bin')));
      assert.ok(sftp.channel.smallestGrant * 4 <= sftp.channel.sendWindowPeak, 'sshd grants in small steps');
      assert.ok(most >= 4 && most <= 8, `at most 8 WRITEs in flight, not ${most}`);
      assert.equal(sha(await readFile(join(remote, 'fit.bin'))), sha(data));
    });

    test('createReadStream and createWriteStream with backpressure; get and put with streams and Buffers', async () => {
      const data = randomBytes(5 * MiB + 11);
      await pipeline(
        Readable.from([data.subarray(0, 1e6), data.subarray(1e6)]),
        sftp.createWriteStream(join(remote, 's.bin')),
      );
      assert.equal(sha(await readFile(join(remote, 's.bin'))), sha(data));
      const parts: Buffer[] = [];
      // A slow consumer: the stream must not read the whole file ahead.
      await pipeline(
        sftp.createReadStream(join(remote, 's.bin')),
        new Writable({
          highWaterMark: 1,
          write: (c: Buffer, _e, cb) => {
            parts.push(c);
            setImmediate(cb);
          },
        }),
      );
      assert.equal(sha(Buffer.concat(parts)), sha(data));
      const range: Buffer[] = [];
      for await (const c of sftp.createReadStream(join(remote, 's.bin'), { start: 10, end: 19 }))
        range.push(c as Buffer);
      assert.deepEqual(Buffer.concat(range), data.subarray(10, 20));
      await sftp.put(data, join(remote, 'p.bin'));
      assert.equal(sha(await readFile(join(remote, 'p.bin'))), sha(data));
      const got: Buffer[] = [];
      await sftp.get(
        join(remote, 'p.bin'),
        new Writable({ write: (c: Buffer, _e, cb) => (got.push(c), cb()) }),
      );
      assert.equal(sha(Buffer.concat(got)), sha(data));
    });

    test('uploadDir and downloadDir with a filter', async () => {
      const tree = join(local, 'tree');
      await mkdir(join(tree, 'sub'), { recursive: true });
      await writeFile(join(tree, 'a.txt'), 'A');
      await writeFile(join(tree, 'skip.log'), 'no');
      await writeFile(join(tree, 'sub', 'b.txt'), 'B');
      const filter = (p: string) => !p.endsWith('.log');
      await sftp.uploadDir(tree, join(remote, 'tree'), { filter });
      assert.equal(await readFile(join(remote, 'tree', 'sub', 'b.txt'), 'utf8'), 'B');
      await assert.rejects(stat(join(remote, 'tree', 'skip.log')), { code: 'ENOENT' });
      await sftp.downloadDir(join(remote, 'tree'), join(local, 'tree2'));
      assert.equal(await readFile(join(local, 'tree2', 'a.txt'), 'utf8'), 'A');
      assert.equal(await readFile(join(local, 'tree2', 'sub', 'b.txt'), 'utf8'), 'B');
    });

    test('a failed transfer says how far it got and the client serves on', async () => {
      await assert.rejects(sftp.fastGet(join(remote, 'missing'), join(local, 'm')), { code: 'SFTP_STATUS' });
      await assert.rejects(sftp.fastPut(join(local, 'missing'), join(remote, 'm')), { code: 'ENOENT' });
      assert.equal(await sftp.exists(remote), 'd');
    });
  },
  { needs: ['sftpServer'] },
);
