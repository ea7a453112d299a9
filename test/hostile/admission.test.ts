/**
 * Admission against a real daemon: MaxStartups, the per-source cap on unauthenticated
 * connections, per-source penalties and maxSessions. The attacker connects from 127.0.0.2
 * (another source address on the loopback network), the honest user from 127.0.0.1, so one
 * address being refused must not touch the other. Each daemon runs in a process of its own
 * (ChildDaemon): after every attack it still serves a fresh honest client, its memory (heap +
 * external after a GC) is back within 10% of where it started, and stopping it closes every
 * socket it opened.
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DisconnectReason } from '../../src/errors.js';
import * as ssh from '../../src/index.js';
import { collect, makeEnv, type Env } from '../facade/helpers.js';
import { ChildDaemon, type Memory } from './child-daemon.js';
import { CLIENT_IDENT, RawPeer, findClearDisconnect, parseClearOutput } from './raw-peer.js';
import { Msg } from '../../src/wire/numbers.js';

const ATTACKER = '127.0.0.2';
let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

/**
 * A daemon in a process of its own (password `right`; exec answers `ran COMMAND`), warmed up by
 * one honest login; the memory it holds then is the base its memory must come back to.
 */
async function daemon(options: ssh.DaemonOptions): Promise<{ d: ChildDaemon; base: Memory }> {
  const d = await ChildDaemon.start({
    systemDir: env.systemDir,
    userDir: env.daemonUserDir,
    options: { password: 'right', ...options },
  });
  try {
    await honestExec(d.port);
    await d.dropsTo(0, 'the warm-up login to end');
    return { d, base: await d.memory() };
  } catch (e) {
    await d.stop().catch(() => {});
    throw e;
  }
}

/**
 * After an attack: the daemon lets go of the attack's connections (all but `kept`), serves a
 * fresh honest client, its memory is back within 10% of `base`, and stopping it closes every
 * socket it opened (ChildDaemon.stop asserts that).
 */
async function recovered(d: ChildDaemon, base: Memory, what: string, kept = 0): Promise<void> {
  await d.dropsTo(kept, `${what}: the attack's connections to end`);
  await honestExec(d.port);
  await d.memoryBackTo(base, what);
  await d.stop();
}

/** Runs `attack` against a fresh daemon, then checks it recovered; the daemon is stopped either way. */
async function attacked(
  options: ssh.DaemonOptions,
  what: string,
  attack: (d: ChildDaemon) => Promise<void>,
): Promise<void> {
  const { d, base } = await daemon(options);
  try {
    await attack(d);
    await recovered(d, base, what);
  } finally {
    await d.stop().catch(() => {});
  }
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

/** A fresh honest client from 127.0.0.1: logs in, runs a command, closes. */
async function honestExec(port: number): Promise<void> {
  const c = await login(port, '127.0.0.1');
  assert.equal(await run(c, 'x'), 'ran x\n');
  await ssh.close(c);
}

/** The daemon's clear output holds its KEXINIT (false while not even the identification came). */
function hasKexInit(b: Buffer): boolean {
  return b.includes('\r\n') && parseClearOutput(b).payloads.some((x) => x[0] === Msg.KEXINIT);
}

describe('per-source MaxStartups', () => {
  test('one address holds at most perSourceMaxStartups unauthenticated sockets; others still log in', async () => {
    const options = { perSourceMaxStartups: 3, perSourcePenalties: false } as const;
    await attacked(options, 'per-source cap', async (d) => {
      const port = d.port;
      const held = [
        await stalled(port, ATTACKER),
        await stalled(port, ATTACKER),
        await stalled(port, ATTACKER),
      ];
      try {
        const why = await refusedWith(port, ATTACKER, DisconnectReason.TOO_MANY_CONNECTIONS);
        assert.match(why, /too many unauthenticated connections from 127\.0\.0\.2/);
        // Refused again and again: each refusal costs nothing that stays.
        for (let i = 0; i < 50; i++) await refusedWith(port, ATTACKER, DisconnectReason.TOO_MANY_CONNECTIONS);
        await honestExec(port);
        // A place freed by one that goes is a place for the next.
        held.pop()!.destroy();
        await d.dropsTo(2, 'the daemon to notice the close');
        held.push(await stalled(port, ATTACKER));
        assert.equal(findClearDisconnect(held[2]!.received), undefined);
        // Logged-in connections do not count: the attacker's address logs in past its cap.
        held.pop()!.destroy();
        await d.dropsTo(2, 'the daemon to notice the close');
        const mine = await login(port, ATTACKER);
        held.push(await stalled(port, ATTACKER));
        await refusedWith(port, ATTACKER, DisconnectReason.TOO_MANY_CONNECTIONS);
        await ssh.close(mine);
      } finally {
        for (const p of held) p.destroy();
      }
    });
  });
});

describe('MaxStartups', () => {
  test('past `full` unauthenticated connections, new ones are refused; logged-in users go on', async () => {
    const options = { maxStartups: 2, perSourceMaxStartups: Infinity, perSourcePenalties: false } as const;
    await attacked(options, 'MaxStartups full', async (d) => {
      const port = d.port;
      const before = await login(port, '127.0.0.1');
      const held = [await stalled(port, ATTACKER), await stalled(port, ATTACKER)];
      try {
        const why = await refusedWith(port, '127.0.0.1', DisconnectReason.TOO_MANY_CONNECTIONS);
        assert.equal(why, 'too many unauthenticated connections');
        for (let i = 0; i < 50; i++) await refusedWith(port, ATTACKER, DisconnectReason.TOO_MANY_CONNECTIONS);
        assert.equal(await run(before, 'still'), 'ran still\n', 'a logged-in user is not affected');
      } finally {
        for (const p of held) p.destroy();
      }
      await d.dropsTo(1, 'the stalled sockets to close');
      await honestExec(port);
      await ssh.close(before);
    });
  });

  test('between start and full, some connections are dropped at random, more as it fills', async () => {
    const options = { maxStartups: [1, 50, 40], perSourceMaxStartups: Infinity, perSourcePenalties: false };
    await attacked(options as ssh.DaemonOptions, 'random early drop', async (d) => {
      const held: RawPeer[] = [];
      let refused = 0;
      try {
        for (let i = 0; i < 30; i++) {
          const p = await RawPeer.open(d.port, ATTACKER);
          p.write(CLIENT_IDENT + '\r\n');
          await p.waitFor(hasKexInit, 'the KEXINIT');
          // The daemon decides before it writes anything: by now it holds the connection or not.
          if ((await d.connections()) === held.length) {
            refused++;
            await p.closedByDaemon();
            assert.equal(findClearDisconnect(p.received)?.reason, DisconnectReason.TOO_MANY_CONNECTIONS);
          } else held.push(p);
        }
      } finally {
        for (const p of held) p.destroy();
      }
      // From one held connection on, each new one is refused with probability >= 50%: 29 tries at
      // >= 50% leave all-accepted or all-refused out of reach (2^-29).
      assert.ok(refused > 0 && held.length > 1, `refused ${refused}, held ${held.length}`);
    });
  });
});

describe('per-source penalties', () => {
  test('failed logins from one address get it refused; other addresses log in', async () => {
    await attacked({ perSourcePenalties: { authfail: 5_000, min: 15_000 } }, 'failed logins', async (d) => {
      for (let i = 0; i < 4; i++) {
        await assert.rejects(login(d.port, ATTACKER, 'wrong'), (e: ssh.SshError) => e.code === 'AUTH_FAILED');
        await d.dropsTo(0, 'the failed connection to end');
        // Three failures are 15 s less the time served since the first: not yet enforced.
        if (i < 2) await honestExec(d.port);
      }
      const why = await refusedWith(d.port, ATTACKER, DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT);
      assert.match(why, /try again in (1[5-9]|20) s/);
      await assert.rejects(login(d.port, ATTACKER), (e: ssh.SshError) => e.message.includes('try again'));
      for (let i = 0; i < 50; i++) {
        await refusedWith(d.port, ATTACKER, DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT);
      }
      await honestExec(d.port);
    });
  });

  test('exempt addresses are never penalised', async () => {
    const options = { perSourcePenalties: { exempt: ['127.0.0.0/30'], min: 1 } };
    await attacked(options, 'failed logins from an exempt address', async (d) => {
      for (let i = 0; i < 3; i++) {
        await assert.rejects(login(d.port, ATTACKER, 'wrong'));
        await d.dropsTo(0, 'the failed connection to end');
      }
      const ok = await login(d.port, ATTACKER);
      await ssh.close(ok);
    });
  });

  test('sockets that never log in before the grace time earn graceExceeded', async () => {
    // negotiationTimeout leaves the warm-up and the honest logins time enough on a busy machine.
    const options = { negotiationTimeout: 1500, perSourcePenalties: { graceExceeded: 8_000, min: 15_000 } };
    await attacked(options, 'sockets past the grace time', async (d) => {
      const a = await stalled(d.port, ATTACKER);
      const b = await stalled(d.port, ATTACKER);
      await a.closedByDaemon();
      await b.closedByDaemon();
      await d.dropsTo(0, 'the timed-out connections to end');
      await refusedWith(d.port, ATTACKER, DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT);
    });
  });

  test('sockets closed before trying to log in earn noauth', async () => {
    await attacked({ perSourcePenalties: { noauth: 1_000, min: 2_500 } }, 'abandoned sockets', async (d) => {
      for (let i = 0; i < 3; i++) {
        const p = await stalled(d.port, ATTACKER);
        p.destroy();
        await d.dropsTo(0, 'the abandoned connection to end');
      }
      await refusedWith(d.port, ATTACKER, DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT);
    });
  });

  test('perSourcePenalties: false turns them off', async () => {
    await attacked({ perSourcePenalties: false }, 'failed logins without penalties', async (d) => {
      for (let i = 0; i < 4; i++) await assert.rejects(login(d.port, ATTACKER, 'wrong'));
      const c = await login(d.port, ATTACKER);
      await ssh.close(c);
    });
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
      await assert.rejects(
        ssh.daemon('127.0.0.1', 0, {
          systemDir: env.systemDir,
          userDir: env.daemonUserDir,
          [k]: v,
        } as ssh.DaemonOptions),
        (e: ssh.SshError) => e.code === 'BAD_OPTION' && e.message.includes(k),
      );
    }
  });
});

describe('maxSessions', () => {
  test('alone, idle unauthenticated sockets can take every place; once they go, honest users are served', async () => {
    const options = { maxSessions: 4, perSourceMaxStartups: Infinity, perSourcePenalties: false } as const;
    await attacked(options, 'maxSessions filled by idle sockets', async (d) => {
      const held: RawPeer[] = [];
      try {
        for (let i = 0; i < 4; i++) held.push(await stalled(d.port, ATTACKER));
        const why = await refusedWith(d.port, '127.0.0.1', DisconnectReason.TOO_MANY_CONNECTIONS);
        assert.equal(why, 'too many sessions (max_sessions is 4)');
        for (let i = 0; i < 50; i++)
          await refusedWith(d.port, ATTACKER, DisconnectReason.TOO_MANY_CONNECTIONS);
      } finally {
        for (const p of held) p.destroy();
      }
    });
  });

  test('with perSourceMaxStartups, one address holds only its share: honest users keep places', async () => {
    const options = { maxSessions: 4, perSourceMaxStartups: 2, perSourcePenalties: false } as const;
    await attacked(options, 'maxSessions with the per-source cap', async (d) => {
      const held = [await stalled(d.port, ATTACKER), await stalled(d.port, ATTACKER)];
      const mine: ssh.Connection[] = [];
      try {
        const why = await refusedWith(d.port, ATTACKER, DisconnectReason.TOO_MANY_CONNECTIONS);
        assert.match(why, /from 127\.0\.0\.2/);
        // The two places the attacker cannot take are the honest users'.
        mine.push(await login(d.port, '127.0.0.1'), await login(d.port, '127.0.0.1'));
        // Now every place is taken: the next is refused, whoever it is, and the logged-in go on.
        assert.equal(
          await refusedWith(d.port, '127.0.0.1', DisconnectReason.TOO_MANY_CONNECTIONS),
          'too many sessions (max_sessions is 4)',
        );
        for (const c of mine) assert.equal(await run(c, 'still'), 'ran still\n');
      } finally {
        for (const p of held) p.destroy();
        for (const c of mine) await ssh.close(c);
      }
    });
  });
});
