/**
 * Admission against a real daemon: MaxStartups, the per-source cap on unauthenticated
 * connections and per-source penalties. The attacker connects from 127.0.0.2 (another source
 * address on the loopback network), the honest user from 127.0.0.1, so one address being
 * refused must not touch the other.
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DisconnectReason } from '../../src/errors.js';
import * as ssh from '../../src/index.js';
import { collect, makeEnv, type Env } from '../facade/helpers.js';
import { CLIENT_IDENT, RawPeer, findClearDisconnect, parseClearOutput, until } from './raw-peer.js';
import { Msg } from '../../src/wire/numbers.js';

const ATTACKER = '127.0.0.2';
let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

function daemon(options: ssh.DaemonOptions): Promise<ssh.Daemon> {
  return ssh.daemon('127.0.0.1', 0, {
    systemDir: env.systemDir,
    userDir: env.daemonUserDir,
    password: 'right',
    exec: (cmd) => ({ ok: `ran ${cmd}` }),
    ...options,
  });
}

async function portOf(d: ssh.Daemon): Promise<number> {
  return (await ssh.daemonInfo(d)).port;
}

function socketFrom(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port, localAddress });
    s.once('error', reject);
    s.once('connect', () => resolve(s));
  });
}

/** Logs in with a password from `localAddress`; resolves with the connection or rejects with the SshError. */
async function login(port: number, localAddress: string, password = 'right'): Promise<ssh.Connection> {
  return ssh.connect(await socketFrom(port, localAddress), {
    user: 'tester',
    password,
    userDir: env.clientDir,
    silentlyAcceptHosts: true,
    saveAcceptedHost: false,
    authMethods: 'password',
  });
}

/** A raw client from `from` that sends its identification and then nothing: an unauthenticated socket. */
async function stalled(port: number, from: string): Promise<RawPeer> {
  const p = await RawPeer.open(port, from);
  p.write(CLIENT_IDENT + '\r\n');
  await p.waitFor(hasKexInit, 'the KEXINIT');
  return p;
}

async function refusedWith(port: number, from: string, reason: number): Promise<string> {
  const p = await RawPeer.open(port, from);
  p.write(CLIENT_IDENT + '\r\n');
  await p.closedByDaemon();
  const d = findClearDisconnect(p.received);
  assert.ok(d, `a DISCONNECT before the connection closed, got ${p.received.length} bytes`);
  assert.equal(d.reason, reason, d.description);
  return d.description;
}

async function run(c: ssh.Connection, command: string): Promise<string> {
  const ch = await c.sessionChannel();
  assert.equal(await ch.exec(command), 'success');
  return (await collect(ch)).stdout.toString();
}

async function honestExec(port: number): Promise<void> {
  const c = await login(port, '127.0.0.1');
  assert.equal(await run(c, 'x'), 'ran x');
  await ssh.close(c);
}

/** The daemon's clear output holds its KEXINIT (false while not even the identification came). */
function hasKexInit(b: Buffer): boolean {
  return b.includes('\r\n') && parseClearOutput(b).payloads.some((x) => x[0] === Msg.KEXINIT);
}

describe('per-source MaxStartups', () => {
  test('one address holds at most perSourceMaxStartups unauthenticated sockets; others still log in', async () => {
    const d = await daemon({ perSourceMaxStartups: 3, perSourcePenalties: false });
    const port = await portOf(d);
    const held = [
      await stalled(port, ATTACKER),
      await stalled(port, ATTACKER),
      await stalled(port, ATTACKER),
    ];
    const why = await refusedWith(port, ATTACKER, DisconnectReason.TOO_MANY_CONNECTIONS);
    assert.match(why, /too many unauthenticated connections from 127\.0\.0\.2/);
    await honestExec(port);
    // A place freed by one that goes is a place for the next.
    held.pop()!.destroy();
    await until(() => d.connectionCount === 2, 'the daemon to notice the close');
    held.push(await stalled(port, ATTACKER));
    assert.equal(findClearDisconnect(held[2]!.received), undefined);
    // Logged-in connections do not count: the attacker's address logs in past its cap.
    held.pop()!.destroy();
    await until(() => d.connectionCount === 2, 'the daemon to notice the close');
    const mine = await login(port, ATTACKER);
    held.push(await stalled(port, ATTACKER));
    await refusedWith(port, ATTACKER, DisconnectReason.TOO_MANY_CONNECTIONS);
    await ssh.close(mine);
    for (const p of held) p.destroy();
    await ssh.stopDaemon(d);
  });
});

describe('MaxStartups', () => {
  test('past `full` unauthenticated connections, new ones are refused; logged-in users go on', async () => {
    const d = await daemon({ maxStartups: 2, perSourceMaxStartups: Infinity, perSourcePenalties: false });
    const port = await portOf(d);
    const before = await login(port, '127.0.0.1');
    const held = [await stalled(port, ATTACKER), await stalled(port, ATTACKER)];
    const why = await refusedWith(port, '127.0.0.1', DisconnectReason.TOO_MANY_CONNECTIONS);
    assert.equal(why, 'too many unauthenticated connections');
    assert.equal(await run(before, 'still'), 'ran still', 'a logged-in user is not affected');
    for (const p of held) p.destroy();
    await until(() => d.connectionCount === 1, 'the stalled sockets to close');
    await honestExec(port);
    await ssh.close(before);
    await ssh.stopDaemon(d);
  });

  test('between start and full, some connections are dropped at random, more as it fills', async () => {
    const d = await daemon({
      maxStartups: [1, 50, 40],
      perSourceMaxStartups: Infinity,
      perSourcePenalties: false,
    });
    const port = await portOf(d);
    const held: RawPeer[] = [];
    let refused = 0;
    for (let i = 0; i < 30; i++) {
      const p = await RawPeer.open(port, ATTACKER);
      p.write(CLIENT_IDENT + '\r\n');
      await p.waitFor(hasKexInit, 'the KEXINIT');
      // The daemon decides before it writes anything: by now it holds the connection or not.
      if (d.connectionCount === held.length) {
        refused++;
        await p.closedByDaemon();
        assert.equal(findClearDisconnect(p.received)?.reason, DisconnectReason.TOO_MANY_CONNECTIONS);
      } else held.push(p);
    }
    // From one held connection on, each new one is refused with probability >= 50%: 29 tries at
    // >= 50% leave all-accepted or all-refused out of reach (2^-29).
    assert.ok(refused > 0 && held.length > 1, `refused ${refused}, held ${held.length}`);
    for (const p of held) p.destroy();
    await ssh.stopDaemon(d);
  });
});

describe('per-source penalties', () => {
  test('failed logins from one address get it refused; other addresses log in; exempt addresses never', async () => {
    const d = await daemon({ perSourcePenalties: { authfail: 5_000, min: 15_000 } });
    const port = await portOf(d);
    for (let i = 0; i < 4; i++) {
      await assert.rejects(login(port, ATTACKER, 'wrong'), (e: ssh.SshError) => e.code === 'AUTH_FAILED');
      await until(() => d.connectionCount === 0, 'the failed connection to end');
      // Three failures are 15 s less the time served since the first: not yet enforced.
      if (i < 2) await honestExec(port);
    }
    const why = await refusedWith(port, ATTACKER, DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT);
    assert.match(why, /try again in (1[5-9]|20) s/);
    await assert.rejects(login(port, ATTACKER), (e: ssh.SshError) => e.message.includes('try again'));
    await honestExec(port);
    await ssh.stopDaemon(d);

    const lenient = await daemon({ perSourcePenalties: { exempt: ['127.0.0.0/30'], min: 1 } });
    const lp = await portOf(lenient);
    await assert.rejects(login(lp, ATTACKER, 'wrong'));
    await until(() => lenient.connectionCount === 0, 'the failed connection to end');
    const ok = await login(lp, ATTACKER);
    await ssh.close(ok);
    await ssh.stopDaemon(lenient);
  });

  test('sockets that never log in before the grace time earn graceExceeded; closing at once earns noauth', async () => {
    const d = await daemon({
      negotiationTimeout: 200,
      perSourcePenalties: { graceExceeded: 8_000, min: 15_000 },
    });
    const port = await portOf(d);
    const a = await stalled(port, ATTACKER);
    const b = await stalled(port, ATTACKER);
    await a.closedByDaemon();
    await b.closedByDaemon();
    await until(() => d.connectionCount === 0, 'the timed-out connections to end');
    await refusedWith(port, ATTACKER, DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT);
    await ssh.stopDaemon(d);

    const q = await daemon({ perSourcePenalties: { noauth: 1_000, min: 2_500 } });
    const qp = await portOf(q);
    for (let i = 0; i < 3; i++) {
      const p = await stalled(qp, ATTACKER);
      p.destroy();
      await until(() => q.connectionCount === 0, 'the abandoned connection to end');
    }
    await refusedWith(qp, ATTACKER, DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT);
    await honestExec(qp);
    await ssh.stopDaemon(q);
  });

  test('perSourcePenalties: false turns them off', async () => {
    const d = await daemon({ perSourcePenalties: false });
    const port = await portOf(d);
    for (let i = 0; i < 4; i++) await assert.rejects(login(port, ATTACKER, 'wrong'));
    const c = await login(port, ATTACKER);
    await ssh.close(c);
    await ssh.stopDaemon(d);
  });

  test('admission options are checked by name', async () => {
    for (const [k, v] of [
      ['maxStartups', [10, 30, 5]],
      ['maxStartups', 0],
      ['perSourceMaxStartups', 0],
      ['perSourcePenalties', { authfail: -1 }],
      ['perSourcePenalties', { nosuch: 1 }],
      ['perSourcePenalties', { exempt: ['not an address'] }],
    ] as const) {
      await assert.rejects(daemon({ [k]: v } as ssh.DaemonOptions), (e: ssh.SshError) => {
        return e.code === 'BAD_OPTION' && e.message.includes(k);
      });
    }
  });
});
