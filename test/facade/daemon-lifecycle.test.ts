import assert from 'node:assert/strict';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { ServerChannelHandler } from '../../src/channel/behaviour.js';
import type { Daemon } from '../../src/daemon.js';
import { DisconnectReason, SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { encodeServiceRequest } from '../../src/wire/transport-messages.js';
import {
  collect,
  connectTo,
  execute,
  makeEnv,
  portOf,
  RawClient,
  socketClosed,
  startDaemon,
  waitFor,
  type Env,
} from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

function refused(e: unknown): boolean {
  assert.ok(e instanceof SshError, String(e));
  assert.equal(e.code, 'SOCKET_ERROR');
  assert.match(e.message, /ECONNREFUSED/);
  return true;
}

describe('negotiationTimeout', () => {
  test('the daemon disconnects a client that never logs in', async () => {
    const d = await startDaemon(env, { password: 'pw', negotiationTimeout: 200 });
    const raw = await RawClient.open(await portOf(d));
    raw.send(encodeServiceRequest('ssh-userauth'));
    await raw.next(); // SERVICE_ACCEPT; then nothing more from us
    await raw.done;
    assert.equal(raw.closed?.error?.code, 'DISCONNECTED');
    assert.equal(raw.closed?.error?.reason, DisconnectReason.BY_APPLICATION);
    assert.match(raw.closed!.error.message, /login timed out/);
    await waitFor(() => d.connectionCount === 0, 'the daemon to drop the connection');
    await ssh.stopDaemon(d);
  });

  test('the daemon also drops a TCP client that never says anything', async () => {
    const d = await startDaemon(env, { negotiationTimeout: 100 });
    const socket = netConnect({ host: '127.0.0.1', port: await portOf(d) });
    socket.on('data', () => {});
    socket.on('error', () => {});
    await socketClosed(socket);
    await ssh.stopDaemon(d);
  });

  test('the client-side negotiation timeout (connect/4) rejects with TIMEOUT', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    await assert.rejects(ssh.connect('127.0.0.1', port, { userDir: env.clientDir }, 100), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.code, 'TIMEOUT');
      return true;
    });
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });
});

describe('connectionInfo and daemonInfo', () => {
  test('connectionInfo reports versions, user, peer and sockname', async () => {
    const d = await startDaemon(env, { password: 'pw', idString: 'TestServer_9.9' });
    const conn = await connectTo(d, env, { password: 'pw', user: 'jo', idString: 'TestClient_1.2' });
    const info = ssh.connectionInfo(conn);
    assert.deepEqual(info.clientVersion, {
      protocolVersion: [2, 0],
      versionString: 'SSH-2.0-TestClient_1.2',
    });
    assert.deepEqual(info.serverVersion, {
      protocolVersion: [2, 0],
      versionString: 'SSH-2.0-TestServer_9.9',
    });
    assert.equal(info.user, 'jo');
    assert.deepEqual(info.peer, { address: '127.0.0.1', port: await portOf(d) });
    assert.equal(info.sockname.address, '127.0.0.1');
    assert.ok(info.sockname.port > 0 && info.sockname.port !== info.peer.port);
    assert.equal(info.algorithms?.kex, 'mlkem768x25519-sha256');
    // A list of keys gives just those; one key gives its value; an unknown key is refused.
    assert.deepEqual(ssh.connectionInfo(conn, ['user', 'peer']), { user: 'jo', peer: info.peer });
    assert.deepEqual(ssh.connectionInfo(conn, 'serverVersion'), info.serverVersion);
    assert.throws(
      () => ssh.connectionInfo(conn, ['user', 'nope' as 'user']),
      (e: unknown) => e instanceof SshError && e.code === 'BAD_OPTION' && /nope/.test(e.message),
    );
    await ssh.stopDaemon(d);
  });

  test('the default identification is SSH-2.0-Seashell_<version>', async () => {
    const d = await startDaemon(env, { password: 'pw' });
    const conn = await connectTo(d, env, { password: 'pw' });
    const info = ssh.connectionInfo(conn);
    assert.match(info.serverVersion.versionString, /^SSH-2\.0-Seashell_\d+\.\d+\.\d+/);
    assert.match(info.clientVersion.versionString, /^SSH-2\.0-Seashell_\d+\.\d+\.\d+/);
    await ssh.stopDaemon(d);
  });

  test("idString 'random' makes a new random software version for each connection", async () => {
    const d = await startDaemon(env, { password: 'pw', idString: 'random' });
    const versions = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const conn = await connectTo(d, env, { password: 'pw' });
      const v = ssh.connectionInfo(conn, 'serverVersion').versionString;
      assert.match(v, /^SSH-2\.0-[A-Za-z0-9]{8,16}$/);
      versions.add(v);
      await ssh.close(conn);
    }
    assert.equal(versions.size, 3);
    await ssh.stopDaemon(d);
  });

  test('idString { random: [min, max] } bounds the length', async () => {
    const d = await startDaemon(env, { password: 'pw', idString: { random: [3, 5] } });
    for (let i = 0; i < 4; i++) {
      const conn = await connectTo(d, env, { password: 'pw', idString: { random: [20, 20] } });
      const info = ssh.connectionInfo(conn);
      assert.match(info.serverVersion.versionString, /^SSH-2\.0-[A-Za-z0-9]{3,5}$/);
      assert.match(info.clientVersion.versionString, /^SSH-2\.0-[A-Za-z0-9]{20}$/);
      await ssh.close(conn);
    }
    await ssh.stopDaemon(d);
  });

  test('daemonInfo gives ip, port and profile', async () => {
    const d = await startDaemon(env, { profile: 'blue' });
    const info = await ssh.daemonInfo(d);
    assert.equal(info.ip, '127.0.0.1');
    assert.ok(Number.isInteger(info.port) && info.port > 0);
    assert.equal(info.profile, 'blue');
    const plain = await startDaemon(env);
    assert.equal((await ssh.daemonInfo(plain)).profile, 'default');
    assert.notEqual((await ssh.daemonInfo(plain)).port, info.port);
    const loop = await ssh.daemon('loopback', 0, { systemDir: env.systemDir });
    assert.equal((await ssh.daemonInfo(loop)).ip, '127.0.0.1');
    await Promise.all([d, plain, loop].map((x) => ssh.stopDaemon(x)));
  });
});

describe('stopListener and stopDaemon', () => {
  async function liveChannel(d: Daemon) {
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    return { conn, ch };
  }

  test('stopListener leaves live connections running while new ones are refused', async () => {
    const d = await startDaemon(env, { password: 'pw', exec: (c: string) => ({ ok: `ran ${c}` }) });
    const port = await portOf(d);
    const conn = await connectTo(d, env, { password: 'pw' });
    await ssh.stopListener(d);
    await assert.rejects(connectTo(d, env, { password: 'pw' }), refused);
    assert.equal((await execute(conn, 'still here')).stdout.toString(), 'ran still here');
    assert.equal(d.connectionCount, 1);
    await ssh.stopListener(d); // a second stop is harmless
    await ssh.stopDaemon(d);
    await waitFor(() => conn.isClosed, 'the client to see the close');
    await assert.rejects(ssh.connect('127.0.0.1', port, { userDir: env.clientDir }), refused);
  });

  test('stopDaemon closes the live connections too', async () => {
    const d = await startDaemon(env, { password: 'pw' });
    const { conn, ch } = await liveChannel(d);
    const closed = collect(ch);
    await ssh.stopDaemon(d);
    assert.deepEqual((await closed).types, ['closed']);
    await waitFor(() => conn.isClosed, 'the client to see the close');
    await assert.rejects(conn.sessionChannel(), (e: unknown) => e instanceof SshError && e.code === 'CLOSED');
    await assert.rejects(connectTo(d, env, { password: 'pw' }), refused);
  });

  test('stopDaemon(address, port) and stopDaemon(address, port, profile)', async () => {
    const a = await startDaemon(env, { password: 'pw' });
    const b = await startDaemon(env, { password: 'pw', profile: 'red' });
    const pa = await portOf(a);
    const pb = await portOf(b);
    const live = await liveChannel(b);

    await assert.rejects(ssh.stopDaemon('127.0.0.1', pb, 'blue'), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.match(e.message, /profile blue/);
      return true;
    });
    assert.equal(live.conn.isClosed, false, 'the wrong profile stopped nothing');
    await ssh.close(await connectTo(b, env, { password: 'pw' }));

    await ssh.stopDaemon('127.0.0.1', pb, 'red');
    await assert.rejects(connectTo(b, env, { password: 'pw' }), refused);
    await waitFor(() => live.conn.isClosed, 'the connection of b to close');

    await ssh.close(await connectTo(a, env, { password: 'pw' }));
    await ssh.stopDaemon('127.0.0.1', pa);
    await assert.rejects(connectTo(a, env, { password: 'pw' }), refused);
    await assert.rejects(
      ssh.stopDaemon('127.0.0.1', pa),
      (e: unknown) => (e as SshError).code === 'NOT_FOUND',
    );
  });

  test('stopListener(address, port) and stopListener(address, port, profile)', async () => {
    const a = await startDaemon(env, { password: 'pw', exec: () => ({ ok: 'a' }) });
    const b = await startDaemon(env, { password: 'pw', profile: 'green', exec: () => ({ ok: 'b' }) });
    const ca = await connectTo(a, env, { password: 'pw' });
    const cb = await connectTo(b, env, { password: 'pw' });

    await assert.rejects(
      ssh.stopListener('127.0.0.1', await portOf(b), 'other'),
      (e: unknown) => (e as SshError).code === 'NOT_FOUND',
    );
    await ssh.stopListener('127.0.0.1', await portOf(b), 'green');
    await ssh.stopListener('127.0.0.1', await portOf(a));
    await assert.rejects(connectTo(a, env, { password: 'pw' }), refused);
    await assert.rejects(connectTo(b, env, { password: 'pw' }), refused);
    assert.equal((await execute(ca, 'x')).stdout.toString(), 'a');
    assert.equal((await execute(cb, 'x')).stdout.toString(), 'b');
    // A stopped listener's daemon can still be stopped by address: it closes the connections.
    await ssh.stopDaemon('127.0.0.1', await portOf(a));
    await waitFor(() => ca.isClosed, 'a connection to close');
    assert.equal(cb.isClosed, false);
    await ssh.stopDaemon(b);
  });
});

describe('hardening: maxSessions and maxChannels', () => {
  test('maxSessions refuses connection N+1 with TOO_MANY_CONNECTIONS until one leaves', async () => {
    const d = await startDaemon(env, { password: 'pw', maxSessions: 2 });
    const first = await connectTo(d, env, { password: 'pw' });
    const second = await connectTo(d, env, { password: 'pw' });
    await assert.rejects(connectTo(d, env, { password: 'pw' }), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.code, 'DISCONNECTED');
      assert.equal(e.reason, DisconnectReason.TOO_MANY_CONNECTIONS);
      return true;
    });
    await ssh.close(first);
    await waitFor(() => d.connectionCount === 1, 'the daemon to drop the closed connection');
    const third = await connectTo(d, env, { password: 'pw' });
    assert.equal(third.isClosed, false);
    assert.equal(second.isClosed, false);
    await ssh.stopDaemon(d);
  });

  test('maxSessions counts connections that have not logged in yet', async () => {
    const d = await startDaemon(env, { password: 'pw', maxSessions: 1 });
    const raw = await RawClient.open(await portOf(d));
    await assert.rejects(
      connectTo(d, env, { password: 'pw' }),
      (e: unknown) => (e as SshError).reason === DisconnectReason.TOO_MANY_CONNECTIONS,
    );
    await raw.close();
    await ssh.stopDaemon(d);
  });

  /** A subsystem that just waits; its channel stays open until the client closes it. */
  const idle: ServerChannelHandler<null> = {
    init: () => ({ ok: null }),
    handleMsg: (_m, s) => ({ ok: s }),
    handleSshMsg: (_m, s) => ({ ok: s }),
  };

  test('maxChannels refuses subsystem channel N+1 on a connection (the seed counts subsystems), and frees a slot when one closes', async () => {
    const d = await startDaemon(env, { password: 'pw', maxChannels: 2, subsystems: [['idle', idle]] });
    const conn = await connectTo(d, env, { password: 'pw' });
    const a = await conn.sessionChannel();
    assert.equal(await a.subsystem('idle'), 'success');
    const b = await conn.sessionChannel();
    assert.equal(await b.subsystem('idle'), 'success');
    const c = await conn.sessionChannel();
    assert.equal(await c.subsystem('idle'), 'failure', 'a third subsystem is over maxChannels');
    // Shells and commands are not subsystems: the channel still serves an exec.
    assert.equal(await c.exec('1 + 1'), 'success');
    // The limit is per connection.
    const other = await connectTo(d, env, { password: 'pw' });
    assert.equal(await (await other.sessionChannel()).subsystem('idle'), 'success');
    await a.close();
    await waitFor(() => ssh.connectionInfo(conn, 'channels') === 2, 'the closed channel to be forgotten');
    const again = await conn.sessionChannel();
    assert.equal(await again.subsystem('idle'), 'success', 'a slot was freed');
    await ssh.stopDaemon(d);
  });

  test('limits.channels refuses channel N+1 of any kind with RESOURCE_SHORTAGE, and frees a slot when one closes', async () => {
    const d = await startDaemon(env, { password: 'pw', limits: { channels: 2 } });
    const conn = await connectTo(d, env, { password: 'pw' });
    const a = await conn.sessionChannel();
    await conn.sessionChannel();
    await assert.rejects(conn.sessionChannel(), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.code, 'CHANNEL_OPEN_FAILED');
      assert.match(e.message, /too many channels \(code 4\)/);
      return true;
    });
    await a.close();
    const c = await conn.sessionChannel();
    assert.equal(c.isClosed, false);
    await ssh.stopDaemon(d);
  });
});
