import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DisconnectReason, SshError } from '../../src/errors.js';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import * as ssh from '../../src/ssh.js';
import { encodeUserauthPassword } from '../../src/wire/auth-messages.js';
import { Msg } from '../../src/wire/numbers.js';
import { encodeServiceRequest } from '../../src/wire/transport-messages.js';
import { clientOptions, connectTo, makeEnv, portOf, RawClient, startDaemon, type Env } from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

function authFailed(e: unknown): boolean {
  assert.ok(e instanceof SshError, String(e));
  assert.equal(e.code, 'AUTH_FAILED');
  assert.equal(e.reasonName, 'NO_MORE_AUTH_METHODS_AVAILABLE');
  return true;
}

describe('password authentication against the daemon', () => {
  test('userPasswords: each user with their own password', async () => {
    const d = await startDaemon(env, {
      userPasswords: [
        ['alice', 'alice-pw'],
        ['bob', 'bob-pw'],
      ],
    });
    const conn = await connectTo(d, env, { user: 'alice', password: 'alice-pw' });
    assert.equal(ssh.connectionInfo(conn, 'user'), 'alice');
    await ssh.close(conn);
    await ssh.close(await connectTo(d, env, { user: 'bob', password: 'bob-pw' }));
    await assert.rejects(connectTo(d, env, { user: 'alice', password: 'bob-pw' }), authFailed);
    await assert.rejects(connectTo(d, env, { user: 'carol', password: 'alice-pw' }), authFailed);
    await ssh.stopDaemon(d);
  });

  test('password: one password for any user', async () => {
    const d = await startDaemon(env, { password: 'shared' });
    for (const user of ['x', 'y']) await ssh.close(await connectTo(d, env, { user, password: 'shared' }));
    await assert.rejects(connectTo(d, env, { user: 'x', password: 'Shared' }), authFailed);
    await ssh.stopDaemon(d);
  });

  test('pwdfun/2 is called with user and password', async () => {
    const calls: unknown[][] = [];
    const d = await startDaemon(env, {
      pwdfun: (user: string, password: string) => {
        calls.push([user, password]);
        return password === `${user}!`;
      },
    });
    await ssh.close(await connectTo(d, env, { user: 'dora', password: 'dora!' }));
    await assert.rejects(connectTo(d, env, { user: 'dora', password: 'nope' }), authFailed);
    // The right password logs in at the first method offered (keyboard-interactive, answered
    // from the password option); the wrong one is refused by keyboard-interactive and password.
    assert.deepEqual(calls, [
      ['dora', 'dora!'],
      ['dora', 'nope'],
      ['dora', 'nope'],
    ]);
    await ssh.stopDaemon(d);
  });

  test('a pwdfun that answers something other than true refuses', async () => {
    const d = await startDaemon(env, {
      pwdfun: (() => 'true') as unknown as (u: string, p: string) => boolean,
    });
    await assert.rejects(connectTo(d, env, { password: 'x' }), authFailed);
    await ssh.stopDaemon(d);
  });

  test('a pwdfun that throws is a failed attempt, not a hang', async () => {
    const d = await startDaemon(env, {
      pwdfun: () => {
        throw new Error('password database down');
      },
    });
    await assert.rejects(connectTo(d, env, { password: 'x' }), authFailed);
    await ssh.stopDaemon(d);
  });

  test('pwdfun/4 gets the peer and a per-connection state that starts undefined', async () => {
    const calls: { password: string; state: unknown; peer: { address: string; port: number } }[] = [];
    const d = await startDaemon(env, {
      pwdfun: (_user: string, password: string, peer: { address: string; port: number }, state: unknown) => {
        calls.push({ password, state, peer });
        const n = typeof state === 'number' ? state : 0;
        if (password === 'open') return [n >= 2, n + 1];
        return [false, n + 1];
      },
    });
    const port = await portOf(d);
    const raw = await RawClient.open(port);
    raw.send(encodeServiceRequest('ssh-userauth'));
    assert.equal((await raw.next())[0], Msg.SERVICE_ACCEPT);
    const attempt = async (pw: string) => {
      raw.send(encodeUserauthPassword('erin', 'ssh-connection', pw));
      return (await raw.next())[0];
    };
    assert.equal(await attempt('a'), Msg.USERAUTH_FAILURE);
    assert.equal(await attempt('open'), Msg.USERAUTH_FAILURE, 'state 1: not yet');
    assert.equal(await attempt('open'), Msg.USERAUTH_SUCCESS, 'state 2: accepted');
    assert.deepEqual(
      calls.map((c) => [c.password, c.state]),
      [
        ['a', undefined],
        ['open', 1],
        ['open', 2],
      ],
    );
    assert.deepEqual(calls[0]!.peer, { address: '127.0.0.1', port: raw.socket.localPort });
    await raw.close();

    // A new connection starts again from undefined.
    const conn = await connectTo(d, env, { user: 'erin', password: 'open' }).catch((e: unknown) => e);
    assert.ok(
      conn instanceof SshError && conn.code === 'AUTH_FAILED',
      'state 0 on the new connection: refused',
    );
    assert.equal(calls[3]!.state, undefined);
    await ssh.stopDaemon(d);
  });

  test('pwdfun/4 may answer a plain boolean', async () => {
    const d = await startDaemon(env, {
      pwdfun: (_u: string, password: string, _peer: unknown, _state: unknown) => password === 'yes',
    });
    await ssh.close(await connectTo(d, env, { password: 'yes' }));
    await assert.rejects(connectTo(d, env, { password: 'no' }), authFailed);
    await ssh.stopDaemon(d);
  });

  test("pwdfun/4 answering 'disconnect' disconnects at once", async () => {
    const failures: string[] = [];
    const d = await startDaemon(env, {
      pwdfun: (_u: string, _p: string, _peer: unknown, _state: unknown) => 'disconnect' as const,
      failfun: (user, _peer, reason) => failures.push(`${user}: ${reason}`),
    });
    await assert.rejects(connectTo(d, env, { user: 'eve', password: 'x' }), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.code, 'DISCONNECTED');
      assert.equal(e.reason, DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE);
      return true;
    });
    assert.deepEqual(failures, ['eve: disconnected by the password check']);
    await ssh.stopDaemon(d);
  });

  test('AUTH_FAILED when nothing the client has works, naming what it tried', async () => {
    const d = await startDaemon(env, { password: 'right' });
    await assert.rejects(connectTo(d, env, { user: 'frank', password: 'wrong' }), (e: unknown) => {
      authFailed(e);
      assert.match((e as Error).message, /user 'frank'/);
      assert.match((e as Error).message, /tried keyboard-interactive, password/);
      return true;
    });
    await assert.rejects(connectTo(d, env, { user: 'frank' }), (e: unknown) => {
      authFailed(e);
      assert.match((e as Error).message, /no usable key or password/);
      return true;
    });
    await ssh.stopDaemon(d);
  });

  test('a daemon without password options does not offer password', async () => {
    const d = await startDaemon(env);
    await assert.rejects(connectTo(d, env, { password: 'anything' }), (e: unknown) => {
      authFailed(e);
      assert.match((e as Error).message, /server accepts publickey/);
      return true;
    });
    await ssh.stopDaemon(d);
  });

  test('authMethods on the client limits what it tries', async () => {
    const d = await startDaemon(env, { password: 'pw' });
    await assert.rejects(connectTo(d, env, { password: 'pw', authMethods: 'publickey' }), authFailed);
    await ssh.close(await connectTo(d, env, { password: 'pw', authMethods: 'password' }));
    await ssh.stopDaemon(d);
  });

  test('connectfun and failfun report logins and failures', async () => {
    const events: string[] = [];
    const d = await startDaemon(env, {
      password: 'pw',
      connectfun: (user, peer, method) => events.push(`connect ${user} ${method} ${peer.address}`),
      failfun: (user, _peer, reason) => events.push(`fail ${user} ${reason}`),
    });
    await assert.rejects(connectTo(d, env, { user: 'gina', password: 'bad' }), authFailed);
    await ssh.close(await connectTo(d, env, { user: 'gina', password: 'pw' }));
    assert.deepEqual(events, [
      'fail gina wrong password', // keyboard-interactive
      'fail gina wrong password', // password
      'connect gina keyboard-interactive 127.0.0.1',
    ]);
    events.length = 0;
    await ssh.close(await connectTo(d, env, { user: 'gina', password: 'pw', authMethods: 'password' }));
    assert.deepEqual(events, ['connect gina password 127.0.0.1']);
    await ssh.stopDaemon(d);
  });
});

describe('publickey authentication against the daemon', () => {
  test("a key in the client's userDir that is in the daemon's authorized_keys logs in", async () => {
    const key = generatePrivateKey('ed25519');
    await writeFile(join(env.clientDir, 'id_ed25519'), formatOpenSshPrivateKey(key), { mode: 0o600 });
    await writeFile(join(env.daemonUserDir, 'authorized_keys'), formatPublicKeyLine(key.publicKey) + '\n');
    const methods: string[] = [];
    const d = await startDaemon(env, { connectfun: (_u, _p, m) => methods.push(m) });
    await ssh.close(await ssh.connect('127.0.0.1', await portOf(d), clientOptions(env)));
    assert.deepEqual(methods, ['publickey']);
    await writeFile(join(env.daemonUserDir, 'authorized_keys'), '');
    await assert.rejects(connectTo(d, env), authFailed);
    await ssh.stopDaemon(d);
  });
});
