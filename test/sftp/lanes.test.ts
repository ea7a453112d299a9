/**
 * Uploads over several channels (src/sftp/lanes.ts): the rule that picks how many, and lanes
 * against our daemon on loopback with the client told the round trip is a second.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { lanesFor, windowFit } from '../../src/sftp/lanes.js';
import { connectTo, makeEnv, startDaemon, type Env } from '../facade/helpers.js';
import { MemoryFs } from './memory-handler.js';
import { mostWritesInFlight } from './writes-in-flight.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('lanesFor: windows to cover a round trip at 128 MiB/s, four windows of file per lane, within max', () => {
  // Loopback: a 2 MiB window covers half a millisecond many times over.
  assert.equal(lanesFor(2 * MiB, 0.5, 256 * MiB, 4), 1);
  // 50 ms: 6.4 MiB at 128 MiB/s takes four 2 MiB windows (3.2, rounded up).
  assert.equal(lanesFor(2 * MiB, 50, 256 * MiB, 4), 4);
  assert.equal(lanesFor(2 * MiB, 50, 256 * MiB, 8), 4);
  assert.equal(lanesFor(2 * MiB, 50, 256 * MiB, 3), 3);
  // 20 ms: 2.5 MiB, two windows.
  assert.equal(lanesFor(2 * MiB, 20, 256 * MiB, 4), 2);
  // The file must give each lane four windows.
  assert.equal(lanesFor(2 * MiB, 50, 24 * MiB, 4), 3);
  assert.equal(lanesFor(2 * MiB, 50, 15 * MiB, 4), 1);
  // A large window covers a long path alone; no round trip, no window or max 1: one.
  assert.equal(lanesFor(16 * MiB, 50, 256 * MiB, 4), 1);
  assert.equal(lanesFor(2 * MiB, 0, 256 * MiB, 4), 1);
  assert.equal(lanesFor(0, 50, 256 * MiB, 4), 1);
  assert.equal(lanesFor(2 * MiB, 50, 256 * MiB, 1), 1);
});

test('windowFit: a window in WRITEs where the server grants in steps of a quarter of it or less', () => {
  const chunk = 255 * 1024;
  // OpenSSH's sshd: 2 MiB, granted 16 to 64 KiB at a time.
  assert.equal(windowFit(2 * MiB, 16 * 1024, chunk), 8);
  assert.equal(windowFit(2 * MiB, 512 * 1024, chunk), 8);
  // Ours and asyncssh grant half the window at once: no limit, whatever the window.
  assert.equal(windowFit(4 * MiB, 2 * MiB, chunk), Infinity);
  assert.equal(windowFit(2 * MiB, 1 * MiB, chunk), Infinity);
  // Before any grant nothing is known; a window under one WRITE still allows one.
  assert.equal(windowFit(2 * MiB, 0, chunk), Infinity);
  assert.equal(windowFit(64 * 1024, 16 * 1024, chunk), 1);
});

let env: Env;
let src: string;
let data: Buffer;

before(async () => {
  env = await makeEnv();
  // Our daemon's first window is 4 MiB: 32 MiB gives two lanes four windows each.
  data = randomBytes(32 * MiB + 3);
  src = join(env.dir, 'src.bin');
  await writeFile(src, data);
});
after(async () => {
  await env?.cleanup();
});

/**
 * A client of `fs` served by our daemon, as if the round trip were a second and (`notPosix`) the
 * server had no fsync@openssh.com.
 */
async function farClient(fs: MemoryFs, notPosix = true) {
  const d = await startDaemon(env, {
    password: 'pw',
    subsystems: [ssh.sftpd.subsystemSpec({ root: '/', fileHandler: fs })],
  });
  const conn = await connectTo(d, env, { password: 'pw' });
  let opened = 0;
  const open = conn.sessionChannel.bind(conn);
  conn.sessionChannel = (...args: Parameters<typeof open>) => (opened++, open(...args));
  const sftp = await ssh.sftp.startChannel(conn);
  if (notPosix) (sftp.session.extensions as Map<string, string>).delete('fsync@openssh.com');
  sftp.session.roundTrip = 1000;
  return {
    sftp,
    opened: () => opened,
    stop: async () => {
      await conn.close();
      await d.stop();
    },
  };
}

test('a server not known to be POSIX gets one channel, even when more are asked for', async () => {
  const c = await farClient(new MemoryFs());
  try {
    await c.sftp.fastPut(src, '/one.bin', { channels: 4 });
    assert.equal(c.opened(), 1);
    assert.equal(sha(await c.sftp.readFile('/one.bin')), sha(data));
  } finally {
    await c.stop();
  }
});

test('our daemon on a (said to be) long path: a lane opens and the file arrives whole', async () => {
  const c = await farClient(new MemoryFs(), false);
  try {
    await c.sftp.fastPut(src, '/two.bin');
    assert.equal(c.opened(), 2);
    assert.equal(sha(await c.sftp.readFile('/two.bin')), sha(data));
    await assert.rejects(c.sftp.fastPut(src, '/x.bin', { channels: 1.5 }), { code: 'BAD_OPTION' });
  } finally {
    await c.stop();
  }
});

test('against our daemon a put keeps more WRITEs in flight than its first window holds', async () => {
  const c = await farClient(new MemoryFs(), false);
  try {
    c.sftp.session.roundTrip = 0.1; // loopback: one lane
    const most = await mostWritesInFlight(c.sftp.session, () => c.sftp.fastPut(src, '/deep.bin'));
    assert.equal(c.opened(), 1);
    // Our daemon's first window is 4 MiB (16 WRITEs of 255 KiB); the cap is 64.
    assert.ok(most > 16, `more than 16 WRITEs in flight, not ${most}`);
    assert.equal(sha(await c.sftp.readFile('/deep.bin')), sha(data));
  } finally {
    await c.stop();
  }
});

/** Creating a file takes 300 ms; opens for writing without CREAT that succeed are counted. */
class SlowCreateFs extends MemoryFs {
  laneOpens = 0;
  override async open(path: string, flags: number, mode: number): Promise<unknown> {
    if (flags & constants.O_CREAT) await sleep(300);
    const f = await super.open(path, flags, mode);
    if (!(flags & constants.O_CREAT) && flags & constants.O_WRONLY) this.laneOpens++;
    return f;
  }
}

test('a lane opens the file only once the client has created it, even when that is slow', async () => {
  const fs = new SlowCreateFs();
  const c = await farClient(fs, false);
  try {
    // The lane's session is ready long before the 300 ms OPEN: its OPEN must wait for it (an
    // OPEN without CREAT before then would find no file).
    await c.sftp.fastPut(src, '/slow.bin');
    assert.equal(c.opened(), 2);
    assert.equal(fs.laneOpens, 1);
    assert.equal(sha(await c.sftp.readFile('/slow.bin')), sha(data));
  } finally {
    await c.stop();
  }
});
