import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as ssh from '../../src/ssh.js';
import { makeEnv, portOf, startDaemon, type Env } from './helpers.js';

const child = fileURLToPath(new URL('./fd-child.js', import.meta.url));

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

/** Waits for a line on the child's stdout that matches. */
function line(p: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    p.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = buf.split('\n').find((l) => re.test(l));
      if (m) resolve(m);
    });
    p.once('exit', (code) => reject(new Error(`child exited ${code} before printing ${re}: ${buf}`)));
  });
}

function exited(p: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (p.exitCode !== null) resolve(p.exitCode);
    else p.once('exit', (code) => resolve(code));
  });
}

/** The file descriptor under a listening net.Server (Unix). */
function fdOf(s: Server): number {
  return (s as unknown as { _handle: { fd: number } })._handle.fd;
}

describe('the fd option', () => {
  test('a daemon serves on a listening socket it is given by file descriptor', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (server.address() as { port: number }).port;
    const p = spawn(process.execPath, [child, 'daemon', env.systemDir], {
      stdio: ['pipe', 'pipe', 'inherit', fdOf(server)],
    });
    // The child holds the socket now: this process stops listening on its copy.
    await new Promise<void>((r) => server.close(() => r()));
    try {
      await line(p, /^ready$/);
      const conn = await ssh.connect('127.0.0.1', port, {
        user: 'u',
        password: 'pw',
        userDir: false,
        silentlyAcceptHosts: true,
      });
      assert.equal(ssh.connectionInfo(conn, 'peer').port, port);
      await ssh.close(conn);
    } finally {
      p.stdin!.end();
      assert.equal(await exited(p), 0);
    }
  });

  test('a client runs over a connected socket it is given by file descriptor', async (t) => {
    const d = await startDaemon(env, { password: 'pw' });
    const port = await portOf(d);
    // python3 connects without reading, so no byte of the exchange is taken by another reader.
    const script = [
      'import os, socket, subprocess, sys',
      `s = socket.create_connection(("127.0.0.1", ${port}))`,
      'os.dup2(s.fileno(), 3)',
      'os.set_inheritable(3, True)',
      'p = subprocess.Popen([sys.argv[1], sys.argv[2], "client"], stdin=subprocess.DEVNULL, pass_fds=[3])',
      's.close()',
      'sys.exit(p.wait())',
    ].join('\n');
    const p = spawn('python3', ['-c', script, process.execPath, child], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const out = await line(p, /^result /).catch((e: Error) => {
      if (/ENOENT/.test(e.message)) t.skip('python3 is not installed');
      throw e;
    });
    assert.equal(out, 'result 42');
    assert.equal(await exited(p), 0);
    await ssh.stopDaemon(d);
  });
});
