import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Daemon } from '../../src/daemon.js';
import { SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { makeEnv, portOf, startDaemon, waitFor, type Env } from './helpers.js';

const INDEX = new URL('../../src/index.js', import.meta.url).href;

/** Runs a node program that connects, and exits the moment connect() rejects. */
function connectThenExit(port: number, userDir: string): Promise<{ code: number | null; stderr: string }> {
  const program = `
    import * as ssh from ${JSON.stringify(INDEX)};
    try {
      await ssh.connect('127.0.0.1', ${port}, { userDir: ${JSON.stringify(userDir)}, user: 'u', password: 'pw' });
      process.exit(2);
    } catch (e) {
      process.stderr.write(String(e.code));
      process.exit(3); // at once: nothing queued after this point is ever written
    }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', program], { stdio: 'pipe' });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('a failed connect()', () => {
  let env: Env;
  let d: Daemon;
  const reasons: string[] = [];

  before(async () => {
    env = await makeEnv();
    d = await startDaemon(env, { password: 'pw', disconnectfun: (r) => reasons.push(r) });
  });
  after(async () => {
    await ssh.stopDaemon(d);
    await env.cleanup();
  });

  test('rejects only after its DISCONNECT is with the socket: a program exiting at once still tells the server why', async () => {
    for (let i = 0; i < 5; i++) {
      reasons.length = 0;
      // No known_hosts and no silentlyAcceptHosts: the host key is refused.
      const r = await connectThenExit(await portOf(d), env.clientDir);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stderr, 'HOST_KEY_NOT_VERIFIED');
      await waitFor(() => reasons.length > 0, 'the daemon to hear the disconnect');
      assert.match(reasons[0]!, /HOST_KEY_NOT_VERIFIABLE/, `run ${i}: the daemon heard ${reasons[0]}`);
    }
  });
});

describe('connectTimeout', () => {
  test('a TCP connect that is never answered fails with TIMEOUT after connectTimeout', async (t) => {
    // A listener that never accepts, with a backlog of 0: once one connection waits in its queue,
    // the kernel drops further SYNs, so a connect to it neither succeeds nor fails.
    const script = [
      'import socket, sys',
      's = socket.socket()',
      's.bind(("127.0.0.1", 0))',
      's.listen(0)',
      'print(s.getsockname()[1], flush=True)',
      'sys.stdin.read()',
    ].join('\n');
    const py = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      py.once('error', reject);
      py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    }).catch((e: Error) => {
      if (/ENOENT/.test(e.message)) return undefined;
      throw e;
    });
    if (port === undefined) {
      t.skip('python3 is not installed');
      return;
    }
    const filler = netConnect({ host: '127.0.0.1', port });
    try {
      await new Promise<void>((resolve, reject) => {
        filler.once('connect', resolve);
        filler.once('error', reject);
      });
      await assert.rejects(
        // The negotiation timeout (connect/4) would also say TIMEOUT: the message tells them apart.
        ssh.connect('127.0.0.1', port, { user: 'u', password: 'pw', connectTimeout: 300 }, 20_000),
        (e: unknown) => {
          assert.ok(e instanceof SshError, String(e));
          assert.equal(e.code, 'TIMEOUT');
          assert.match(
            e.message,
            new RegExp(`TCP connect to 127\\.0\\.0\\.1:${port} timed out after 300 ms`),
          );
          return true;
        },
      );
    } finally {
      filler.destroy();
      py.stdin.end();
      await new Promise((r) => (py.exitCode !== null ? r(undefined) : py.once('exit', r)));
    }
  });
});
