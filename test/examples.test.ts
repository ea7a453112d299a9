/**
 * Every file in examples/ runs here against a daemon the test starts (the examples' own daemons
 * included), from a fresh project that installed the packed tarball (`npm pack`, as a user gets
 * the package) and imports it by its name, so an example that rots, or a package that ships
 * without what the examples need, fails the suite.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChannelMessage, Connection } from 'seashell-ssh';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { packAndInstall } from './packed.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The examples as the repository has them. */
const REPO_EXAMPLES = join(ROOT, 'examples');
/** The project that installed the tarball, and the examples copied into it (set in `before`). */
let PROJECT: string;
let EXAMPLES: string;

function run(
  file: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(EXAMPLES, file), ...args], {
      env: { ...process.env, ...env },
      cwd: PROJECT,
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

/**
 * Starts an example daemon; resolves with its port once it says it listens. `lines` collects
 * everything it prints on stdout.
 */
function startDaemon(
  file: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
  const child = spawn(process.execPath, [join(EXAMPLES, file)], {
    env: { ...process.env, ...env },
    cwd: PROJECT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(l);
      const m = /listening on port (\d+)/.exec(l);
      if (m) resolve({ child, port: Number(m[1]), lines });
    });
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
}

/** Our client, logged in as alice, to an example daemon on `port`. */
async function login(port: number, userDir: string): Promise<Connection> {
  const ssh = await import('seashell-ssh');
  return ssh.connect('127.0.0.1', port, {
    user: 'alice',
    password: 'wonderland',
    silentlyAcceptHosts: true,
    saveAcceptedHost: false,
    userDir,
  });
}

/** Everything a channel sends until it closes: stdout, stderr, and the exit status or signal. */
async function drain(
  ch: AsyncIterable<ChannelMessage>,
): Promise<{ out: string; err: string; status?: number; signal?: string }> {
  const r: { out: string; err: string; status?: number; signal?: string } = { out: '', err: '' };
  for await (const m of ch) {
    if (m.type === 'data') {
      if (m.dataType === 1) r.err += m.data.toString();
      else r.out += m.data.toString();
    } else if (m.type === 'exitStatus') r.status = m.status;
    else if (m.type === 'exitSignal') r.signal = m.signal;
  }
  return r;
}

/** Waits (boundedly) until `lines` has one matching `re`. */
async function waitForLine(lines: string[], re: RegExp): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const l = lines.find((x) => re.test(x));
    if (l !== undefined) return l;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no line matching ${re} in ${JSON.stringify(lines)}`);
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
    PROJECT = (await packAndInstall(dir)).project;
    EXAMPLES = join(PROJECT, 'examples');
    await cp(REPO_EXAMPLES, EXAMPLES, { recursive: true });
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
    const files = (await readdir(REPO_EXAMPLES)).filter((f) => f.endsWith('.mjs')).sort();
    assert.deepEqual(files, [
      'client-channel.mjs',
      'daemon.mjs',
      'repl-daemon.mjs',
      'run-command.mjs',
      'server-channel.mjs',
      'sftp-upload-dir.mjs',
      'stream-upload.mjs',
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
    assert.equal(r.out.trim(), "[ 'HELLO ALICE, YOU RAN: REPORT' ]", 'the cast took effect before the call');
  });

  test('sftp-upload-dir against daemon (its default SFTP subsystem), up and back down', async () => {
    const local = join(dir, 'tree');
    await mkdir(join(local, 'sub'), { recursive: true });
    await writeFile(join(local, 'a.txt'), 'a'.repeat(100_000));
    await writeFile(join(local, 'sub', 'b.txt'), 'b');
    const copy = join(dir, 'downloaded');
    const r = await run('sftp-upload-dir.mjs', [local, join(dir, 'uploaded'), copy], client);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'a.txt\nsub\n');
    assert.match(r.err, /\r100000 of 100000 bytes[\r\n]/);
    assert.match(r.err, /100000 of 100000 bytes down/);
    assert.equal(await readFile(join(copy, 'a.txt'), 'utf8'), 'a'.repeat(100_000));
    assert.equal(await readFile(join(copy, 'sub', 'b.txt'), 'utf8'), 'b');
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

  test('stream-upload: a 12 MiB file through pipeline() into the daemon, byte for byte', async () => {
    const local = join(dir, 'big.bin');
    const data = randomBytes(12 * 1024 * 1024);
    await writeFile(local, data);
    const remote = join(dir, 'big-uploaded.bin');
    const r = await run('stream-upload.mjs', [local, remote], client);
    assert.equal(r.code, 0, r.err);
    const sha = createHash('sha256').update(data).digest('hex');
    assert.equal(r.out, `${data.length} bytes sent, ${data.length} on the server, sha256 ${sha}\n`);
    assert.match(r.err, /100%/);
    assert.ok((await readFile(remote)).equals(data), 'the file on the server is the one sent');
  });

  describe('server-channel: a ServerChannelHandler as the whole CLI', () => {
    let d: { child: ChildProcess; port: number; lines: string[] };
    before(async () => {
      d = await startDaemon('server-channel.mjs', { SEASHELL_DIR: join(dir, 'tally'), PORT: '0' });
    });
    after(async () => stop(d.child));

    test('exec, through the run-command example', async () => {
      const env = { ...client, PORT: String(d.port) };
      const ok = await run('run-command.mjs', ['sum 1 2 3.5'], env);
      assert.equal(ok.code, 0, ok.err);
      assert.equal(ok.out, '6.5\n[exit status 0]\n');
      const ssh = await import('seashell-ssh');
      const conn = await login(d.port, join(dir, 'client'));
      try {
        const ch = await conn.sessionChannel();
        await ch.exec('frobnicate');
        const bad = await drain(ch);
        assert.deepEqual(bad, {
          out: '',
          err: 'unknown command: frobnicate (try: sum 1 2 3)\n',
          status: 1,
        });
      } finally {
        await ssh.close(conn);
      }
    });

    test('a shell with a pty: greeting, running total, quit; terminate runs once closed', async () => {
      const ssh = await import('seashell-ssh');
      const conn = await login(d.port, join(dir, 'client'));
      try {
        const ch = await conn.sessionChannel();
        assert.equal(await ch.ptyAlloc({ term: 'vt100', width: 100, height: 30 }), 'success');
        assert.equal(await ch.shell(), 'success');
        await ch.send('1 2\n');
        await ch.send('3\nquit\n');
        const r = await drain(ch);
        assert.equal(
          r.out,
          'tally for alice on a 100x30 vt100; numbers add up, quit ends\n> \r\n= 3\r\n> \r\n= 6\r\n> total 6\r\n',
        );
        assert.equal(r.status, 0);
        assert.match(await waitForLine(d.lines, /tally ended/), /^alice's tally ended at 6 \(normal\)$/);
      } finally {
        await ssh.close(conn);
      }
    });

    test('a shell without a pty ends at EOF; a signal ends it with exit-signal', async () => {
      const ssh = await import('seashell-ssh');
      const conn = await login(d.port, join(dir, 'client'));
      try {
        const a = await conn.sessionChannel();
        await a.shell();
        await a.send('10 -4\n');
        await a.sendEof();
        const ra = await drain(a);
        assert.deepEqual(ra, {
          out: 'tally for alice; numbers add up, quit ends\n\n= 6\ntotal 6\n',
          err: '',
          status: 0,
        });

        const b = await conn.sessionChannel();
        await b.shell();
        await b.signal('INT');
        const rb = await drain(b);
        assert.equal(rb.signal, 'INT');
        assert.equal(rb.status, undefined);
      } finally {
        await ssh.close(conn);
      }
    });
  });

  test('repl-daemon: exec evaluates JavaScript, a shell gets a REPL that keeps its variables', async () => {
    const d = await startDaemon('repl-daemon.mjs', { SEASHELL_DIR: join(dir, 'repl'), PORT: '0' });
    try {
      const env = { ...client, PORT: String(d.port) };
      const r = await run('run-command.mjs', ['[1, 2, 3].map((x) => x * 2)'], env);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, '[ 2, 4, 6 ]\n[exit status 0]\n');

      const ssh = await import('seashell-ssh');
      const conn = await login(d.port, join(dir, 'client'));
      try {
        const ch = await conn.sessionChannel();
        assert.equal(await ch.shell(), 'success');
        await ch.send('const answer = 6 * 7\n');
        await ch.send('`the answer is ${answer}`\n');
        await ch.sendEof();
        const out = await drain(ch);
        assert.match(out.out, /'the answer is 42'/);
        assert.equal(out.status, 0);
      } finally {
        await ssh.close(conn);
      }
    } finally {
      await stop(d.child);
    }
  });
});
