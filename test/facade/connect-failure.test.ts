import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Daemon } from '../../src/daemon.js';
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
