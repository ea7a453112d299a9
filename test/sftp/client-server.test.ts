import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { connectTo, makeEnv, startDaemon, type Env } from '../facade/helpers.js';

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
