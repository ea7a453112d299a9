/**
 * The attacks of the bounded-resources issue, each against a daemon in a process of its own (its
 * memory measured alone): after login, request floods from a client that never reads, env floods,
 * data parked on 64 channels, 10,000 channel opens, a 100 MiB exec output nobody reads, a client
 * flooding while its slow password check runs, 200 connections that come and go. Each asserts the
 * daemon's growth (heap + external after a GC) stays under MEMORY_BUDGET, that an honest client
 * (OpenSSH's `ssh` with a key) still logs in, and where the protocol allows that the attacker is
 * dropped; afterwards a fresh honest client is served and the daemon's memory is back within 10%
 * of where the test started, and stopping the daemon closes every socket it opened. Bounded in
 * bytes and time; 127.0.0.1 only.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import { encodeUserauthPassword } from '../../src/wire/auth-messages.js';
import {
  encodeChannelOpen,
  encodeChannelRequest,
  encodeGlobalRequest,
} from '../../src/wire/connection-messages.js';
import { Msg } from '../../src/wire/numbers.js';
import { encodeServiceRequest } from '../../src/wire/transport-messages.js';
import { formatKnownHosts, runSsh, sshBaseArgs } from '../interop/openssh.js';
import { ChildDaemon, type Memory } from './child-daemon.js';
import { KexClient } from './raw-peer.js';

const MiB = 1024 * 1024;
const MEMORY_BUDGET = 64 * MiB;

let dir: string;
let systemDir: string;
let userDir: string;
let hostLine: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'seashell-attacks-'));
  systemDir = join(dir, 'system');
  userDir = join(dir, 'user');
  await mkdir(systemDir);
  await mkdir(userDir);
  const host = generatePrivateKey('ed25519');
  await writeFile(join(systemDir, 'ssh_host_ed25519_key'), formatOpenSshPrivateKey(host), { mode: 0o600 });
  hostLine = formatPublicKeyLine(host.publicKey);
  const user = generatePrivateKey('ed25519');
  await writeFile(join(dir, 'id_ed25519'), formatOpenSshPrivateKey(user), { mode: 0o600 });
  await writeFile(join(userDir, 'authorized_keys'), formatPublicKeyLine(user.publicKey) + '\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const BASE = { password: 'pw', perSourcePenalties: false, limits: { outputStallTimeout: 2000 } } as const;

let honest = 0;

/** An honest login by OpenSSH's `ssh` with a key, running one command. */
async function honestLogin(port: number): Promise<void> {
  const knownHosts = join(dir, `known_hosts_${port}`);
  await writeFile(knownHosts, formatKnownHosts('127.0.0.1', port, [hostLine]));
  const args = sshBaseArgs({
    port,
    identityFile: join(dir, 'id_ed25519'),
    knownHostsFile: knownHosts,
    user: 'honest',
  });
  const command = `honest-${honest++}`;
  const r = await runSsh([...args, '127.0.0.1', command], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, `honest ssh login: ${r.stderr}`);
  assert.equal(r.stdout.toString(), `ran ${command}\n`);
}

/** A raw client logged in with the password; its channel 0 is an open session when `session`. */
async function loggedIn(port: number, session = false): Promise<{ c: KexClient; remote: number }> {
  const c = await KexClient.connect(port);
  c.send(encodeServiceRequest('ssh-userauth'));
  c.send(encodeUserauthPassword('attacker', 'ssh-connection', 'pw'));
  await c.expectMessage(Msg.USERAUTH_SUCCESS);
  if (!session) return { c, remote: 0 };
  c.send(openSession(0));
  const confirm = await c.expectMessage(Msg.CHANNEL_OPEN_CONFIRMATION);
  return { c, remote: confirm.readUInt32BE(5) };
}

function openSession(sender: number, window = 4 * MiB): Buffer {
  return encodeChannelOpen({
    channelType: 'session',
    senderChannel: sender,
    initialWindow: window,
    maxPacket: 32768,
    data: Buffer.alloc(0),
  });
}

function channelData(recipient: number, data: Buffer): Buffer {
  const b = Buffer.alloc(9 + data.length);
  b[0] = Msg.CHANNEL_DATA;
  b.writeUInt32BE(recipient, 1);
  b.writeUInt32BE(data.length, 5);
  data.copy(b, 9);
  return b;
}

/** Sends `count` payloads while the socket takes them, for at most `ms`. Returns how many went. */
async function flood(
  c: KexClient,
  payload: (i: number) => Buffer,
  count: number,
  ms: number,
): Promise<number> {
  const end = Date.now() + ms;
  let i = 0;
  while (i < count && Date.now() < end && !c.socketClosed && !c.closeInfo) {
    for (let j = 0; j < 256 && i < count; j++) c.send(payload(i++));
    await new Promise((r) => setImmediate(r));
    if (c.socket.writableLength > 4 * MiB) {
      await Promise.race([
        new Promise((r) => c.socket.once('drain', r)),
        new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())).unref()),
      ]);
    }
  }
  return i;
}

function grew(before: Memory, now: Memory): number {
  return now.heap - before.heap;
}

function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

/** Polls the daemon until it holds no connection but the ones it should keep, at most `ms`. */
async function dropsTo(d: ChildDaemon, count: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while ((await d.memory()).connections > count) {
    if (Date.now() > end) throw new Error(`the daemon still holds more than ${count} connections`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * After an attack: the attacker is gone, a fresh honest client is served, and the daemon's memory
 * is back within 10% of where the test started.
 */
async function recovered(d: ChildDaemon, base: Memory, what: string): Promise<void> {
  await dropsTo(d, 0, 30_000);
  await honestLogin(d.port);
  const now = await d.memoryBackTo(base, what);
  console.log(`${what}: afterwards ${mib(now.heap - base.heap)} from where it started (${mib(base.heap)})`);
}

describe('after login, a client that never reads', () => {
  let d: ChildDaemon;
  before(async () => (d = await ChildDaemon.start({ systemDir, userDir, options: BASE })));
  after(async () => d.stop());

  for (const [what, make] of [
    ['300,000 global requests with want-reply', () => encodeGlobalRequest('nosuch@example.com', true)],
    [
      '300,000 unknown channel requests with want-reply',
      () =>
        encodeChannelRequest(0, {
          type: 'other',
          name: 'nosuch@example.com',
          wantReply: true,
          data: Buffer.alloc(0),
        }),
    ],
  ] as const) {
    test(`${what}: input pauses, memory stays bounded, the attacker is dropped`, async () => {
      await honestLogin(d.port);
      const base = await d.memory();
      const { c } = await loggedIn(d.port, what.includes('channel'));
      c.socket.pause();
      // Until the daemon's replies fill the socket both ways and it stops reading (about 5 s
      // alone; longer when the machine is busy).
      const sent = await flood(c, make, 300_000, 60_000);
      await honestLogin(d.port);
      const now = await d.memory();
      console.log(`${what}: sent ${sent}; daemon grew ${mib(grew(base, now))}`);
      assert.ok(grew(base, now) < MEMORY_BUDGET, `grew ${mib(grew(base, now))}`);
      await dropsTo(d, 0, 30_000);
      c.destroy();
      await recovered(d, base, what);
    });
  }

  test('2,000 env requests of 50 KB on one channel: refused, nothing kept', async () => {
    const base = await d.memory();
    const { c } = await loggedIn(d.port, true);
    c.socket.pause();
    const value = 'v'.repeat(50_000);
    const sent = await flood(
      c,
      (i) => encodeChannelRequest(0, { type: 'env', wantReply: true, name: `LC_X${i}`, value }),
      2000,
      8000,
    );
    await honestLogin(d.port);
    const now = await d.memory();
    console.log(`env flood: sent ${sent}; daemon grew ${mib(grew(base, now))}`);
    assert.ok(grew(base, now) < MEMORY_BUDGET, `grew ${mib(grew(base, now))}`);
    c.destroy();
    await recovered(d, base, 'env flood');
  });
});

describe('channels', () => {
  let d: ChildDaemon;
  before(async () => (d = await ChildDaemon.start({ systemDir, userDir, options: BASE })));
  after(async () => d.stop());

  test('data sent on 64 session channels before any request is bounded by the receive budget', async () => {
    const base = await d.memory();
    const { c } = await loggedIn(d.port);
    const remotes: { id: number; window: number }[] = [];
    for (let i = 0; i < 64; i++) c.send(openSession(i));
    const end = Date.now() + 10_000;
    while (c.messages.filter((m) => m[0] === Msg.CHANNEL_OPEN_CONFIRMATION).length < 64 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const m of c.messages.filter((x) => x[0] === Msg.CHANNEL_OPEN_CONFIRMATION)) {
      remotes.push({ id: m.readUInt32BE(5), window: m.readUInt32BE(9) });
    }
    assert.equal(remotes.length, 64, 'all 64 open (the default limit)');
    const windows = remotes.reduce((a, r) => a + r.window, 0);
    assert.ok(windows <= 32 * MiB, `windows advertised in all: ${mib(windows)}`);
    // Fill every window the daemon gave (sending past it would be a protocol error).
    const chunk = Buffer.alloc(32_000, 0x61);
    for (const r of remotes) {
      for (let left = r.window; left > 0; left -= chunk.length) {
        c.send(channelData(r.id, left >= chunk.length ? chunk : chunk.subarray(0, left)));
      }
      await new Promise((res) => setImmediate(res));
    }
    await new Promise((r) => setTimeout(r, 1000));
    await honestLogin(d.port);
    const now = await d.memory();
    console.log(`parked: ${mib(windows)} sent on 64 channels; daemon grew ${mib(grew(base, now))}`);
    assert.ok(grew(base, now) < MEMORY_BUDGET, `grew ${mib(grew(base, now))}`);
    c.destroy();
    await recovered(d, base, 'data parked on 64 channels');
  });

  test('10,000 channel opens: 64 confirmed, the rest refused, memory bounded', async () => {
    const base = await d.memory();
    const { c } = await loggedIn(d.port);
    await flood(c, (i) => openSession(i, 32768), 10_000, 8000);
    const end = Date.now() + 15_000;
    const answered = () =>
      c.messages.filter((m) => m[0] === Msg.CHANNEL_OPEN_CONFIRMATION || m[0] === Msg.CHANNEL_OPEN_FAILURE)
        .length;
    while (answered() < 10_000 && Date.now() < end && !c.closeInfo)
      await new Promise((r) => setTimeout(r, 50));
    const confirmed = c.messages.filter((m) => m[0] === Msg.CHANNEL_OPEN_CONFIRMATION).length;
    assert.equal(answered(), 10_000);
    assert.equal(confirmed, 64);
    await honestLogin(d.port);
    const now = await d.memory();
    console.log(`10,000 opens: daemon grew ${mib(grew(base, now))}`);
    assert.ok(grew(base, now) < MEMORY_BUDGET, `grew ${mib(grew(base, now))}`);
    c.destroy();
    await recovered(d, base, '10,000 channel opens');
  });
});

describe('output nobody reads', () => {
  let d: ChildDaemon;
  before(
    async () => (d = await ChildDaemon.start({ systemDir, userDir, options: BASE, preset: 'bigOutput' })),
  );
  after(async () => d.stop());

  test('an exec of 100 MiB to a client that does not read is not encrypted all at once', async () => {
    const base = await d.memory();
    // A 100 MiB window, so only backpressure (not flow control) can hold the output back.
    const c = await KexClient.connect(d.port);
    c.send(encodeServiceRequest('ssh-userauth'));
    c.send(encodeUserauthPassword('attacker', 'ssh-connection', 'pw'));
    c.send(openSession(0, 100 * MiB));
    const confirm = await c.expectMessage(Msg.CHANNEL_OPEN_CONFIRMATION);
    c.socket.pause();
    c.send(
      encodeChannelRequest(confirm.readUInt32BE(5), { type: 'exec', wantReply: true, command: 'big 100' }),
    );
    await new Promise((r) => setTimeout(r, 1500));
    const now = await d.memory();
    console.log(`100 MiB exec, unread: daemon grew ${mib(grew(base, now))}`);
    // The 100 MiB result is the exec function's own buffer; unbounded, its packets came on top.
    assert.ok(grew(base, now) < 100 * MiB + MEMORY_BUDGET / 2, `grew ${mib(grew(base, now))}`);
    await honestLogin(d.port);
    await dropsTo(d, 0, 15_000);
    c.destroy();
    await recovered(d, base, '100 MiB exec output unread');
  });
});

describe('a slow password check', () => {
  let d: ChildDaemon;
  before(
    async () => (d = await ChildDaemon.start({ systemDir, userDir, options: BASE, preset: 'slowPassword' })),
  );
  after(async () => d.stop());

  test('a client flooding while its 2 s password check runs is not read: memory stays bounded', async () => {
    const base = await d.memory();
    const c = await KexClient.connect(d.port);
    c.send(encodeServiceRequest('ssh-userauth'));
    c.send(encodeUserauthPassword('attacker', 'ssh-connection', 'wrong'));
    const junk = Buffer.concat([Buffer.from([Msg.IGNORE, 0, 0, 0x7f, 0xf0]), Buffer.alloc(0x7ff0)]);
    const sent = await flood(c, () => junk, 20_000, 4000);
    const now = await d.memory();
    console.log(`slow pwdfun flood: sent ${mib(sent * junk.length)}; daemon grew ${mib(grew(base, now))}`);
    assert.ok(grew(base, now) < MEMORY_BUDGET, `grew ${mib(grew(base, now))}`);
    c.destroy();
    await recovered(d, base, 'flood during a slow password check');
  });
});

describe('many connections come and go', () => {
  let d: ChildDaemon;
  before(async () => {
    d = await ChildDaemon.start({
      systemDir,
      userDir,
      // (JSON carries the options: no Infinity.)
      options: { ...BASE, maxStartups: 1000, perSourceMaxStartups: 1000 },
    });
  });
  after(async () => d.stop());

  test('200 connections each running an exec at once, then all closed: memory grows less than 10%', async () => {
    const open200 = () =>
      Promise.all(
        Array.from({ length: 200 }, () =>
          ssh.connect('127.0.0.1', d.port, {
            user: 'many',
            password: 'pw',
            silentlyAcceptHosts: true,
            saveAcceptedHost: false,
            userDir: join(dir, 'client'),
          }),
        ),
      );
    const runAndClose = async (conns: ssh.Connection[]) => {
      await Promise.all(
        conns.map(async (conn) => {
          const ch = await conn.sessionChannel();
          assert.equal(await ch.exec('x'), 'success');
          for await (const m of ch) if (m.type === 'closed') break;
        }),
      );
      await Promise.all(conns.map((c) => ssh.close(c)));
      await dropsTo(d, 0, 15_000);
    };
    // Warm up (code paths, caches, the JIT of the ML-KEM code, which runs in JavaScript on
    // Node 20: after 20 logins it still grew the heap by about 1 MiB in the next 200) with the
    // same load until a round grows the heap by less than 2% (at most four rounds: on Node 26,
    // whose daemon heap is only 9.4 MiB now that rarely used modules load lazily, one round left
    // up to 1.1 MiB of optimized code to come), then measure: a leak would not settle, and would
    // show as growth in the measured round too.
    await Promise.all(Array.from({ length: 20 }, () => honestLogin(d.port)));
    let base = await d.memory();
    for (let round = 0; round < 4; round++) {
      await runAndClose(await open200());
      const m = await d.memory();
      const settled = m.heap - base.heap < base.heap * 0.02;
      base = m;
      if (settled) break;
    }
    // Measured rounds: a leak holds something per connection, so it grows the heap in every
    // round; what a collection or V8 happens to keep once does not recur. One round of noise was
    // seen in CI (Node 24/26: 9.5 MiB to 10.4 after the warm-up had settled), so up to three
    // rounds run and the least growth must be under 10% of the base: a leak of 5 KiB per
    // connection (1 MiB a round) fails all three.
    const growth: number[] = [];
    for (let round = 0; round < 3; round++) {
      const conns = await open200();
      const during = await d.memory();
      assert.equal(during.connections, 200);
      await runAndClose(conns);
      const now = await d.memory();
      console.log(
        `200 connections: ${mib(during.heap - base.heap)} while open; after ${mib(grew(base, now))}`,
      );
      growth.push(now.heap - base.heap);
      // Less than the base (a collection freeing more the second time, as seen once: 14.4 MiB
      // to 13.0) is memory given back.
      if (now.heap - base.heap < base.heap * 0.1) break;
      base = now;
    }
    assert.ok(
      Math.min(...growth) < base.heap * 0.1,
      `grew ${growth.map(mib).join(', ')} in successive rounds (base ${mib(base.heap)})`,
    );
  });
});
