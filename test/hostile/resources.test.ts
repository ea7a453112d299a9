/**
 * What one peer can make the daemon hold, tried as an attacker would (issue: bounded resources).
 * The daemon runs in a process of its own so that its memory is measured alone; the attackers and
 * an honest client run here. Every attack is bounded in bytes and in time; each test asserts the
 * daemon's memory stays within MEMORY_BUDGET, that honest clients keep logging in meanwhile, and,
 * where the protocol allows, that the attacker is disconnected with a reason.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import { ChildDaemon, type Memory } from './child-daemon.js';
import { KexClient } from './raw-peer.js';

const MiB = 1024 * 1024;
/** The most an attack may make the daemon grow (heap and external buffers, after a GC). */
const MEMORY_BUDGET = 64 * MiB;

let dir: string;
let systemDir: string;
let userDir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'seashell-resources-'));
  systemDir = join(dir, 'system');
  userDir = join(dir, 'user');
  await mkdir(systemDir);
  await mkdir(userDir);
  const host = generatePrivateKey('ed25519');
  await writeFile(join(systemDir, 'ssh_host_ed25519_key'), formatOpenSshPrivateKey(host), { mode: 0o600 });
  const user = generatePrivateKey('ed25519');
  await writeFile(join(userDir, 'authorized_keys'), formatPublicKeyLine(user.publicKey) + '\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An honest login and exec through our client; returns how long it took in ms (reported, never asserted). */
async function honestLogin(port: number): Promise<number> {
  const t0 = performance.now();
  const conn = await ssh.connect('127.0.0.1', port, {
    user: 'honest',
    password: 'pw',
    silentlyAcceptHosts: true,
    saveAcceptedHost: false,
    userDir: join(dir, 'client'),
  });
  try {
    const ch = await conn.sessionChannel();
    await ch.exec('hello');
    for await (const m of ch) if (m.type === 'closed') break;
  } finally {
    await ssh.close(conn);
  }
  return performance.now() - t0;
}

/** Writes through `send` while the socket keeps up, for at most `ms` and `bytes`. */
async function flood(
  c: KexClient,
  payload: () => Buffer,
  limits: { ms: number; bytes: number },
): Promise<number> {
  const end = Date.now() + limits.ms;
  let sent = 0;
  while (Date.now() < end && sent < limits.bytes && !c.socketClosed && !c.closeInfo) {
    for (let i = 0; i < 256; i++) {
      const p = payload();
      c.send(p);
      sent += p.length;
    }
    await new Promise((r) => setImmediate(r));
    if (c.socket.writableLength > 4 * MiB) {
      await Promise.race([
        new Promise((r) => c.socket.once('drain', r)),
        new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())).unref()),
      ]);
    }
  }
  return sent;
}

/** Polls `probe` until `cond` holds, at most `ms`. */
async function until(
  cond: () => boolean,
  what: string,
  ms: number,
  probe: () => Promise<void>,
): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    await probe();
    if (cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function growth(before: Memory, now: Memory): string {
  const mib = (n: number) => (n / MiB).toFixed(1);
  return (
    `heap+external ${mib(now.heap - before.heap)} MiB (heap ${mib(now.heapUsed - before.heapUsed)}, ` +
    `external ${mib(now.external - before.external)}), rss ${mib(now.rss - before.rss)} MiB`
  );
}

describe('an unauthenticated client that never reads', () => {
  let d: ChildDaemon;
  before(async () => {
    d = await ChildDaemon.start({
      systemDir,
      userDir,
      options: { password: 'pw', limits: { outputStallTimeout: 2000 } },
    });
  });
  after(async () => {
    await d.stop();
  });

  test('flooding messages that each get UNIMPLEMENTED: the daemon stops reading it, memory stays bounded, others log in', async () => {
    await honestLogin(d.port);
    const base = await d.memory();
    const attacker = await KexClient.connect(d.port);
    attacker.socket.pause(); // never read the daemon's replies
    const junk = Buffer.from([200, 0, 0, 0]);
    // Until the daemon drops it (its replies fill the socket both ways first): about 8 s alone,
    // longer on a busy machine.
    const attack = flood(attacker, () => junk, { ms: 30_000, bytes: 512 * MiB });
    const took: number[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      took.push(await honestLogin(d.port));
    }
    const sent = await attack;
    const during = await d.memory();
    let lastCount = during.connections;
    console.log(
      `sent ${(sent / MiB).toFixed(1)} MiB; daemon grew ${growth(base, during)}; logins ${took.map((t) => t.toFixed(0)).join(', ')} ms`,
    );
    // Unbounded, this grew by about 40 MiB in these 8 s (and ~930 MB in 100 s); bounded, the
    // replies stop at the read limit of about 2 MiB.
    assert.ok(during.heap - base.heap < MEMORY_BUDGET / 4, `daemon grew ${growth(base, during)}`);
    // It read nothing of what it provoked: dropped once outputStallTimeout passed without
    // progress (the attacker, not reading, would not even see the FIN: ask the daemon).
    await until(
      () => lastCount === 0,
      'the daemon to drop the client that does not read',
      15_000,
      async () => {
        lastCount = (await d.memory()).connections;
      },
    );
    attacker.destroy();
    // Afterwards: a fresh honest client is served and the memory is back where it started.
    await honestLogin(d.port);
    await d.memoryBackTo(base, 'after the UNIMPLEMENTED flood');
  });
});
