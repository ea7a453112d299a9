/**
 * Every file in examples/ runs here against a daemon the test starts (the examples' own daemons
 * included), importing the package by its name as a user's program would, so an example that
 * rots fails the suite.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = join(ROOT, 'examples');

function run(
  file: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(EXAMPLES, file), ...args], {
      env: { ...process.env, ...env },
      cwd: ROOT,
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c));
    p.stderr.on('data', (c: Buffer) => (err += c));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out, err });
    });
  });
}

/** Starts an example daemon; resolves with its port once it says it listens. */
function startDaemon(
  file: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(EXAMPLES, file)], {
    env: { ...process.env, ...env },
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /listening on port (\d+)/.exec(l);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

describe('examples/', () => {
  let dir: string;
  let daemon: { child: ChildProcess; port: number };
  let client: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'seashell-examples-'));
    daemon = await startDaemon('daemon.mjs', { SEASHELL_DIR: join(dir, 'daemon'), PORT: '0' });
    client = {
      HOST: '127.0.0.1',
      PORT: String(daemon.port),
      USER_NAME: 'alice',
      PASSWORD: 'wonderland',
      USER_DIR: join(dir, 'client'),
    };
  });
  after(async () => {
    await stop(daemon.child);
    await rm(dir, { recursive: true, force: true });
  });

  test('every example is run by a test below', async () => {
    const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.mjs')).sort();
    assert.deepEqual(files, [
      'client-channel.mjs',
      'daemon.mjs',
      'run-command.mjs',
      'sftp-upload-dir.mjs',
      'subsystem.mjs',
    ]);
  });

  test('run-command against daemon', async () => {
    const r = await run('run-command.mjs', ['uptime'], client);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'hello alice, you ran: uptime\n[exit status 0]\n');
  });

  test('client-channel against daemon', async () => {
    const r = await run('client-channel.mjs', [], client);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), "[ 'hello alice, you ran: report' ]");
  });

  test('sftp-upload-dir against daemon (its default SFTP subsystem)', async () => {
    const local = join(dir, 'tree');
    await mkdir(join(local, 'sub'), { recursive: true });
    await writeFile(join(local, 'a.txt'), 'a'.repeat(100_000));
    await writeFile(join(local, 'sub', 'b.txt'), 'b');
    const r = await run('sftp-upload-dir.mjs', [local, join(dir, 'uploaded')], client);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'a.txt\nsub\n');
    assert.match(r.err, /100000 of 100000 bytes/);
  });

  test('subsystem: a custom server channel handler, reached with our client', async () => {
    const d = await startDaemon('subsystem.mjs', { SEASHELL_DIR: join(dir, 'subsystem'), PORT: '0' });
    try {
      const ssh = await import('seashell-ssh');
      const conn = await ssh.connect('127.0.0.1', d.port, {
        user: 'alice',
        password: 'wonderland',
        silentlyAcceptHosts: true,
        saveAcceptedHost: false,
        userDir: join(dir, 'client'),
      });
      const ch = await conn.sessionChannel();
      assert.equal(await ch.subsystem('upper'), 'success');
      ch.stdin.end('shout this\n');
      const out: Buffer[] = [];
      for await (const x of ch.stdout) out.push(x as Buffer);
      assert.equal(Buffer.concat(out).toString(), 'SHOUT THIS\n');
      await ssh.close(conn);
    } finally {
      await stop(d.child);
    }
  });
});
