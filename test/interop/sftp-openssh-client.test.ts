import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { writeHostKeys } from './fixtures.js';
import {
  formatKnownHosts,
  interopSuite,
  makeTempDir,
  removeTempDir,
  runCommand,
  sftpBaseArgs,
  sshKeygen,
  type OpenSsh,
} from './openssh.js';

const MiB = 1024 * 1024;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A file of random bytes. */
async function writeRandomFile(path: string, bytes: number): Promise<void> {
  await writeFile(path, randomBytes(bytes));
}

interopSuite(
  "OpenSSH's sftp and scp against the Seashell daemon's SFTP server",
  (openssh: OpenSsh) => {
    let dir: string;
    let root: string;
    let local: string;
    let daemon: ssh.Daemon;
    let base: string[];

    before(async () => {
      dir = await makeTempDir('sftp-openssh-');
      const systemDir = join(dir, 'system');
      const userDir = join(dir, 'user');
      root = join(dir, 'root');
      local = join(dir, 'local');
      await Promise.all([mkdir(userDir), mkdir(root), mkdir(local)]);
      const hostLines = await writeHostKeys(systemDir, ['ed25519']);
      const key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
      await writeFile(join(userDir, 'authorized_keys'), key.publicLine + '\n');
      daemon = await ssh.daemon('127.0.0.1', 0, {
        systemDir,
        userDir,
        subsystems: [ssh.sftpd.subsystemSpec({ root })],
      });
      const { port } = await ssh.daemonInfo(daemon);
      const knownHostsFile = join(dir, 'known_hosts');
      await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, hostLines));
      base = sftpBaseArgs({ port, identityFile: key.privateKey, knownHostsFile, user: 'tester' });
    });

    after(async () => {
      await daemon?.stop();
      await removeTempDir(dir);
    });

    async function batch(lines: string[]) {
      const file = join(dir, 'batch');
      await writeFile(file, lines.join('\n') + '\n');
      const r = await runCommand(openssh.sftp!, [...base, '-b', file, '127.0.0.1'], { cwd: local });
      return { ...r, stdout: r.stdout.toString() };
    }

    test('sftp -b: mkdir, put, rename, ln -s, chmod land inside root; get, ls, df, rm, rmdir', async () => {
      await writeRandomFile(join(local, 'a.bin'), 3 * MiB + 17);
      const want = await sha256File(join(local, 'a.bin'));
      const r1 = await batch([
        'mkdir /dir',
        'put a.bin /dir/a.bin',
        'rename /dir/a.bin /dir/b.bin',
        'ln -s b.bin /dir/link',
        'ln -s /dir/b.bin /dir/abslink',
        'chmod 600 /dir/b.bin',
        'ls -l /dir',
        'df /',
        'pwd',
      ]);
      assert.equal(r1.code, 0, r1.stderr);
      assert.equal(await sha256File(join(root, 'dir', 'b.bin')), want);
      assert.equal((await stat(join(root, 'dir', 'b.bin'))).mode & 0o777, 0o600);
      assert.equal(await readlink(join(root, 'dir', 'link')), 'b.bin');
      // An absolute target is taken inside root and stored relative, so it points inside root.
      assert.equal(await readlink(join(root, 'dir', 'abslink')), 'b.bin');
      assert.ok((await lstat(join(root, 'dir', 'link'))).isSymbolicLink());
      assert.match(r1.stdout, /-rw------- .* \/dir\/b\.bin\n/);
      assert.match(r1.stdout, /Size +Used +Avail/, 'df shows statvfs figures');
      assert.match(r1.stdout, /Remote working directory: \/\n/);

      const r2 = await batch([
        'get /dir/b.bin back.bin',
        'get /dir/link via-link.bin',
        'cd /dir',
        'get abslink via-abslink.bin',
        'rm link',
        'rm abslink',
        'rm b.bin',
        'cd /',
        'rmdir dir',
      ]);
      assert.equal(r2.code, 0, r2.stderr);
      for (const f of ['back.bin', 'via-link.bin', 'via-abslink.bin'])
        assert.equal(await sha256File(join(local, f)), want, f);
      await assert.rejects(stat(join(root, 'dir')), { code: 'ENOENT' });
    });

    test('sftp -b: errors reach sftp as statuses with messages, and the batch stops', async () => {
      const r = await batch(['get /no/such/file x', 'mkdir /never']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not found/);
      await assert.rejects(stat(join(root, 'never')), { code: 'ENOENT' });
      const r2 = await batch(['mkdir /twice', '-mkdir /twice', 'rmdir /twice']);
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stderr, /Failure/);
    });

    test('sftp -b: a 64 MiB put and get, compared by sha256', async () => {
      await writeRandomFile(join(local, 'big.bin'), 64 * MiB);
      const want = await sha256File(join(local, 'big.bin'));
      const r = await batch(['put big.bin /big.bin', 'get /big.bin big.back']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await sha256File(join(root, 'big.bin')), want);
      assert.equal(await sha256File(join(local, 'big.back')), want);
    });

    test('scp (SFTP mode) up and down with a clean exit status', async () => {
      await writeRandomFile(join(local, 'scp.bin'), 5 * MiB + 3);
      const want = await sha256File(join(local, 'scp.bin'));
      const scp = openssh.sftp!.replace(/sftp$/, 'scp');
      const up = await runCommand(scp, [...base, '-q', join(local, 'scp.bin'), '127.0.0.1:/scp-up.bin']);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(await sha256File(join(root, 'scp-up.bin')), want);
      const down = await runCommand(scp, [
        ...base,
        '-q',
        '127.0.0.1:/scp-up.bin',
        join(local, 'scp-down.bin'),
      ]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(await sha256File(join(local, 'scp-down.bin')), want);
    });

    test('sftp cannot leave root: .., absolute paths and symlinks pointing out', async () => {
      const outside = join(dir, 'outside.txt');
      await writeFile(outside, 'secret');
      const { symlink } = await import('node:fs/promises');
      await symlink(dir, join(root, 'escape'));
      const r = await batch([
        '-get ../outside.txt x1',
        '-get /../../outside.txt x2',
        '-get /escape/outside.txt x3',
        '-put a.bin /escape/planted.txt',
        '-ls /escape',
        'ls /../..',
      ]);
      assert.equal(r.code, 0, r.stderr);
      for (const x of ['x1', 'x2', 'x3']) await assert.rejects(stat(join(local, x)), { code: 'ENOENT' });
      await assert.rejects(stat(join(dir, 'planted.txt')), { code: 'ENOENT' });
      assert.equal(await readFile(outside, 'utf8'), 'secret');
      assert.match(r.stderr, /Permission denied/);
    });
  },
  { needs: ['sftp'] },
);
