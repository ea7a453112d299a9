import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { collect, connectTo, makeEnv, portOf, startDaemon, waitFor, type Env } from './helpers.js';

// ssh.stop() stops everything of the process, so it has a test file (a process) of its own.

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => env.cleanup());

test('ssh.stop() stops every daemon and closes every connection of the process', async () => {
  const a = await startDaemon(env, { password: 'pw' });
  const b = await startDaemon(env, { password: 'pw', profile: 'other' });
  const ports = [await portOf(a), await portOf(b)];
  const ca = await connectTo(a, env, { password: 'pw' });
  const cb = await connectTo(b, env, { password: 'pw' });
  const ch = await ca.sessionChannel();
  const iterated = collect(ch);
  // One listener is already stopped; its daemon still counts.
  await ssh.stopListener(b);

  await ssh.stop();

  assert.deepEqual((await iterated).types, ['closed']);
  await waitFor(() => ca.isClosed && cb.isClosed, 'both client connections to close');
  for (const port of ports) {
    await assert.rejects(
      ssh.connect('127.0.0.1', port, { userDir: env.clientDir, silentlyAcceptHosts: true, password: 'pw' }),
      (e: unknown) => e instanceof SshError && e.code === 'SOCKET_ERROR',
    );
  }
  await assert.rejects(
    ssh.stopDaemon('127.0.0.1', ports[0]!),
    (e: unknown) => (e as SshError).code === 'NOT_FOUND',
  );
  assert.equal(a.connectionCount, 0);
  assert.equal(b.connectionCount, 0);

  // Everything can start again afterwards.
  const again = await startDaemon(env, { password: 'pw' });
  await ssh.close(await connectTo(again, env, { password: 'pw' }));
  await ssh.stop();
});
