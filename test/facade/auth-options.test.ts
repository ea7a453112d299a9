import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listenAddress } from '../../src/daemon.js';
import type { Connection } from '../../src/edge/connection.js';
import { DisconnectReason, SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { Msg } from '../../src/wire/numbers.js';
import { encodeServiceRequest } from '../../src/wire/transport-messages.js';
import { connectTo, execute, makeEnv, portOf, RawClient, startDaemon, waitFor, type Env } from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('disconnectfun and unexpectedfun', () => {
  test('disconnectfun fires on both sides whoever ends the connection', async () => {
    const daemonSide: string[] = [];
    const d = await startDaemon(env, { password: 'pw', disconnectfun: (r) => daemonSide.push(r) });
    // The client ends it.
    const clientSide: string[] = [];
    const conn = await connectTo(d, env, { password: 'pw', disconnectfun: (r) => clientSide.push(r) });
    await ssh.close(conn);
    assert.equal(clientSide.length, 1, 'the client hears of its own close');
    await waitFor(() => daemonSide.length === 1, 'the daemon hears of the peer close');
    // The daemon ends it: too many failures.
    await assert.rejects(connectTo(d, env, { password: 'bad', authMethods: 'password' }));
    const raw = await RawClient.open(await portOf(d));
    raw.send(encodeServiceRequest('ssh-userauth'));
    await raw.next();
    const { encodeUserauthPassword } = await import('../../src/wire/auth-messages.js');
    for (let i = 0; i < 6; i++) raw.send(encodeUserauthPassword('u', 'ssh-connection', `x${i}`));
    await waitFor(() => raw.closed !== undefined, 'the daemon drops the guesser');
    await waitFor(
      () => daemonSide.some((r) => /too many authentication failures/.test(r)),
      'disconnectfun for a drop',
    );
    await raw.close();
    await ssh.stopDaemon(d);
  });

  test('unexpectedfun hears of a message nothing handles, with the peer; the connection goes on', async () => {
    const seen: { type: number; address: string }[] = [];
    const d = await startDaemon(env, {
      unexpectedfun: (m, peer) => {
        seen.push({ type: m.type, address: peer.address });
        return 'skip';
      },
    });
    const raw = await RawClient.open(await portOf(d));
    raw.send(Buffer.from([200, 1, 2, 3])); // answered UNIMPLEMENTED (which this raw client swallows)
    raw.send(encodeServiceRequest('ssh-userauth'));
    assert.equal((await raw.next())[0], Msg.SERVICE_ACCEPT, 'still served');
    assert.deepEqual(seen, [{ type: 200, address: '127.0.0.1' }]);
    await raw.close();
    await ssh.stopDaemon(d);
  });
});

/**
 * Runs a daemon whose unexpectedfun answers `verdicts` (by message number; none: no unexpectedfun)
 * in a process with NODE_DEBUG=seashell, sends it messages 200 and 201 from a raw client, and
 * returns what the daemon logged.
 */
function unexpectedLog(verdicts: Record<number, 'report' | 'skip'> | undefined): Promise<string> {
  const program = `
    import * as ssh from ${JSON.stringify(new URL('../../src/ssh.js', import.meta.url).href)};
    import { RawClient } from ${JSON.stringify(new URL('./helpers.js', import.meta.url).href)};
    const verdicts = ${JSON.stringify(verdicts ?? null)};
    const d = await ssh.daemon('127.0.0.1', 0, {
      systemDir: ${JSON.stringify(env.systemDir)},
      userDir: false,
      ...(verdicts ? { unexpectedfun: (m) => verdicts[m.type] } : {}),
    });
    const raw = await RawClient.open((await ssh.daemonInfo(d)).port);
    raw.send(Buffer.from([200]));
    raw.send(Buffer.from([201]));
    raw.send(Buffer.from([5, 0, 0, 0, 12, ...Buffer.from('ssh-userauth')]));
    const reply = await raw.next();
    if (reply[0] !== 6) throw new Error('no SERVICE_ACCEPT: ' + reply[0]);
    await raw.close();
    await ssh.stopDaemon(d);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', program], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NODE_DEBUG: 'seashell' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stderr) : reject(new Error(`exit ${code}: ${stderr}`))));
  });
}

describe("unexpectedfun's verdict", () => {
  const reported = (log: string, type: number) => new RegExp(`unexpected message ${type} \\(`).test(log);

  test("'report' logs the message (NODE_DEBUG=seashell), 'skip' does not; without the option every one is reported", async () => {
    const log = await unexpectedLog({ 200: 'report', 201: 'skip' });
    assert.ok(reported(log, 200), 'message 200 reported');
    assert.ok(!reported(log, 201), 'message 201 not reported');
    const plain = await unexpectedLog(undefined);
    assert.ok(reported(plain, 200) && reported(plain, 201), 'both reported by default');
  });
});

describe('parallelLogin', () => {
  async function tenLogins(parallelLogin: boolean | undefined) {
    let now = 0;
    let most = 0;
    const d = await startDaemon(env, {
      ...(parallelLogin === undefined ? {} : { parallelLogin }),
      maxStartups: 20,
      pwdfun: async (_u: string, p: string) => {
        most = Math.max(most, ++now);
        await sleep(100);
        now--;
        return p === 'pw';
      },
    });
    const t0 = performance.now();
    const conns = await Promise.all(
      Array.from({ length: 10 }, () => connectTo(d, env, { password: 'pw', authMethods: 'password' })),
    );
    const took = performance.now() - t0;
    await Promise.all(conns.map((c) => ssh.close(c)));
    await ssh.stopDaemon(d);
    return { most, took, count: conns.length };
  }

  test('false (the default): ten clients at once all log in, one check at a time, none dropped', async () => {
    const r = await tenLogins(undefined);
    assert.equal(r.count, 10);
    assert.equal(r.most, 1, 'never two password checks at once');
    assert.ok(r.took >= 1000, `ten 100 ms checks in a row take a second (took ${r.took} ms)`);
  });

  test('false: a check that never answers holds the others only until its connection times out', async () => {
    const d = await startDaemon(env, {
      negotiationTimeout: 400,
      pwdfun: (user: string) => (user === 'hang' ? new Promise<boolean>(() => {}) : Promise.resolve(true)),
    });
    const hung = connectTo(d, env, { user: 'hang', password: 'x', authMethods: 'password' }).catch(
      (e: unknown) => e,
    );
    await sleep(50);
    const t0 = performance.now();
    const conn = await connectTo(d, env, { user: 'ok', password: 'x', authMethods: 'password' });
    assert.ok(performance.now() - t0 < 5000, 'the second login went through');
    assert.ok(await hung, 'the hung login failed');
    await ssh.close(conn);
    await ssh.stopDaemon(d);
  });

  test('true: the checks run in parallel', async () => {
    const r = await tenLogins(true);
    assert.equal(r.count, 10);
    assert.ok(r.most >= 5, `several checks at once (at most ${r.most})`);
    assert.ok(r.took < 1000, `took ${r.took} ms`);
  });

  /**
   * The seed: with max_sessions N, at most N - K logins are attempted at once, K being the
   * connections logged in; connection N+1 is refused whatever parallelLogin says, and parallelLogin
   * decides whether the admitted ones are checked together or one at a time.
   */
  for (const parallelLogin of [true, false]) {
    test(`maxSessions with parallelLogin ${parallelLogin}: N - K logins admitted at once, the rest refused`, async () => {
      let now = 0;
      let most = 0;
      const d = await startDaemon(env, {
        maxSessions: 4,
        parallelLogin,
        maxStartups: 20,
        pwdfun: async (_u: string, p: string) => {
          most = Math.max(most, ++now);
          await sleep(200);
          now--;
          return p === 'pw';
        },
      });
      const opts = { password: 'pw', authMethods: 'password' } as const;
      const loggedIn = await connectTo(d, env, opts); // K = 1
      most = 0;
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, () =>
          connectTo(d, env, opts).then(
            (c) => c,
            (e: SshError) => e,
          ),
        ),
      );
      const admitted = outcomes.filter((o) => !(o instanceof SshError)) as Connection[];
      const refused = outcomes.filter((o) => o instanceof SshError);
      assert.equal(admitted.length, 3, 'N - K = 3 logins admitted');
      assert.equal(refused.length, 2);
      for (const e of refused) assert.equal(e.reason, DisconnectReason.TOO_MANY_CONNECTIONS, e.message);
      if (parallelLogin) assert.ok(most >= 2, `the admitted checks ran together (at most ${most})`);
      else assert.equal(most, 1, 'one check at a time');
      // Places free up as connections leave.
      await Promise.all([loggedIn, ...admitted].map((c) => ssh.close(c)));
      await waitFor(() => d.connectionCount === 0, 'the daemon to see them leave');
      const later = await connectTo(d, env, opts);
      await ssh.close(later);
      await ssh.stopDaemon(d);
    });
  }
});

describe('idleTime', () => {
  test('the daemon closes a logged-in connection with no channel after idleTime, not one with a channel', async () => {
    const d = await startDaemon(env, { password: 'pw', idleTime: 300 });
    const t0 = performance.now();
    const idle = await connectTo(d, env, { password: 'pw' });
    const busy = await connectTo(d, env, { password: 'pw' });
    const ch = await busy.sessionChannel();
    await waitFor(() => idle.isClosed, 'the idle connection is closed', 5000);
    assert.ok(performance.now() - t0 >= 300, 'not before idleTime');
    await sleep(400);
    assert.equal(busy.isClosed, false, 'a connection with a channel stays');
    await ch.close();
    await waitFor(() => busy.isClosed, 'closed once its last channel is', 5000);
    await ssh.stopDaemon(d);
  });

  test('the client side closes an idle connection too; exec still works before that', async () => {
    const d = await startDaemon(env, { password: 'pw' });
    const reasons: string[] = [];
    const conn = await connectTo(d, env, {
      password: 'pw',
      idleTime: 300,
      disconnectfun: (r) => reasons.push(r),
    });
    const r = await execute(conn, '1 + 1');
    assert.equal(r.stdout.toString(), '2\n');
    await waitFor(() => conn.isClosed, 'the client closes it', 5000);
    assert.match(reasons[0] ?? '', /idle/);
    await ssh.stopDaemon(d);
  });
});

describe('userDir: false, inet', () => {
  test('a client with userDir false reads and writes no user file; a daemon with it takes keys only from keyCb', async () => {
    const d = await startDaemon(env, { password: 'pw', userDir: false });
    const conn = await ssh.connect('127.0.0.1', await portOf(d), {
      userDir: false,
      user: 'u',
      password: 'pw',
      silentlyAcceptHosts: true,
    });
    await ssh.close(conn);
    // The host key was accepted and, with no user directory, saved nowhere ('' joined is the cwd).
    assert.equal(existsSync('known_hosts'), false);
    await ssh.stopDaemon(d);
    // A daemon with userDir false and no keyCb offers publickey but authorizes no key.
    const { generatePrivateKey, formatOpenSshPrivateKey } = await import('../../src/keys/openssh-format.js');
    const { writeFile, mkdtemp } = await import('node:fs/promises');
    const key = generatePrivateKey('ed25519');
    const clientDir = await mkdtemp(join(env.dir, 'c-'));
    await writeFile(join(clientDir, 'id_ed25519'), formatOpenSshPrivateKey(key), { mode: 0o600 });
    const d2 = await startDaemon(env, { userDir: false });
    await assert.rejects(
      ssh.connect('127.0.0.1', await portOf(d2), {
        userDir: clientDir,
        user: 'u',
        silentlyAcceptHosts: true,
        saveAcceptedHost: false,
      }),
      (e: unknown) => e instanceof SshError && e.code === 'AUTH_FAILED',
    );
    await ssh.stopDaemon(d2);
    const d3 = await startDaemon(env, {
      userDir: false,
      keyCb: { isAuthKey: async (k) => k.blob.equals(key.publicKey.blob) },
    });
    await ssh.close(
      await ssh.connect('127.0.0.1', await portOf(d3), {
        userDir: clientDir,
        user: 'u',
        silentlyAcceptHosts: true,
        saveAcceptedHost: false,
      }),
    );
    await ssh.stopDaemon(d3);
    // The client with userDir false offers no key from any directory.
    const d4 = await startDaemon(env, { keyCb: { isAuthKey: async () => true } });
    await assert.rejects(
      ssh.connect('127.0.0.1', await portOf(d4), { userDir: false, user: 'u', silentlyAcceptHosts: true }),
      (e: unknown) => e instanceof SshError && e.code === 'AUTH_FAILED' && /no usable key/.test(e.message),
    );
    await ssh.stopDaemon(d4);
  });

  test("inet picks the family for 'any' on the daemon and for a host name on the client", async () => {
    assert.equal(listenAddress('any', 'inet'), '0.0.0.0');
    assert.equal(listenAddress(undefined, 'inet6'), '::');
    assert.equal(listenAddress('any', undefined), undefined);
    assert.equal(listenAddress('loopback', 'inet6'), '127.0.0.1');
    const d = await startDaemon(env, { password: 'pw' });
    const port = await portOf(d);
    const conn = await ssh.connect('localhost', port, {
      user: 'u',
      password: 'pw',
      silentlyAcceptHosts: true,
      saveAcceptedHost: false,
      userDir: false,
      inet: 'inet',
    });
    assert.equal(ssh.connectionInfo(conn, 'peer').address, '127.0.0.1');
    await ssh.close(conn);
    await assert.rejects(
      ssh.connect('localhost', port, {
        user: 'u',
        password: 'pw',
        silentlyAcceptHosts: true,
        userDir: false,
        inet: 'inet6',
      }),
      (e: unknown) => e instanceof SshError && e.code === 'SOCKET_ERROR',
    );
    await ssh.stopDaemon(d);
  });
});
