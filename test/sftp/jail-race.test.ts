import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Connection } from '../../src/edge/connection.js';
import * as ssh from '../../src/index.js';
import type { FileHandler } from '../../src/sftp/file-handler.js';
import { connectTo, makeEnv, startDaemon, type Env } from '../facade/helpers.js';

/**
 * A confined client must not be able to race its own path checks. Between the server resolving
 * `d/secret` inside root and opening it, another channel (or connection) could rename `d` away
 * and rename a symlink that points outside root into its place; the open would then follow it
 * out. The file handler here stops the first open of `d/secret` until the test lets it go.
 */
let env: Env;
let daemon: ssh.Daemon;
let root: string;
let outside: string;
let conn: Connection;
let gate: { suffix: string; reached: () => void; release: Promise<void> } | undefined;

const gated: FileHandler = {
  ...ssh.sftpd.nodeFileHandler,
  async open(path, flags, mode) {
    const g = gate;
    if (g && path.endsWith(g.suffix)) {
      gate = undefined;
      g.reached();
      await g.release;
    }
    return ssh.sftpd.nodeFileHandler.open(path, flags, mode);
  },
};

/** Holds the next open of a path ending in `suffix` after its check; `atOpen` says it is held. */
function holdOpen(suffix: string): { atOpen: Promise<void>; release: () => void } {
  let reached!: () => void;
  const atOpen = new Promise<void>((r) => (reached = r));
  let release!: () => void;
  gate = { suffix, reached, release: new Promise<void>((r) => (release = r)) };
  return { atOpen, release };
}

/** Up to 100 ms for `done` to come true (it must not, while an open is held). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 20 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
}

before(async () => {
  env = await makeEnv();
  root = join(env.dir, 'root');
  outside = join(env.dir, 'outside');
  await mkdir(join(root, 'd'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(root, 'd', 'secret'), 'inside');
  await writeFile(join(outside, 'secret'), 'OUTSIDE');
  // A link out of root that was there already (a client can also make one: a relative link
  // made deep in the tree and renamed to a shallower place points further up than it did).
  await symlink(outside, join(root, 'out'));
  daemon = await startDaemon(env, {
    password: 'pw',
    subsystems: [ssh.sftpd.subsystemSpec({ root, fileHandler: gated })],
  });
  conn = await connectTo(daemon, env, { password: 'pw' });
});

after(async () => {
  await daemon?.stop();
  await env?.cleanup();
});

describe('SFTP root against renames racing path checks', () => {
  test('a rename on another channel waits for a checked open: the open reads what was checked', async () => {
    const reader = await ssh.sftp.startChannel(conn);
    const renamer = await ssh.sftp.startChannel(conn);
    const { atOpen, release } = holdOpen('/d/secret');

    const read = reader.readFile('/d/secret');
    await atOpen; // checked, not yet opened
    let swapped = false;
    const swap = (async () => {
      await renamer.rename('/d', '/d-old');
      await renamer.rename('/out', '/d');
      swapped = true;
    })();
    // Give the renames every chance to run while the open is held (they must not).
    await until(() => swapped);
    const whileHeld = swapped;
    release();
    const got = await read;
    await swap;
    assert.equal(got.toString(), 'inside', 'the open followed a symlink swapped in after the check');
    assert.equal(whileHeld, false, 'the renames waited for the open');
    // Once they are done, the swapped-in link is refused as any link out of root is.
    assert.ok((await lstat(join(root, 'd'))).isSymbolicLink());
    await assert.rejects(reader.readFile('/d/secret'), (e: ssh.SshError) => e.code === 'SFTP_STATUS');
    await ssh.sftp.stopChannel(reader);
    await ssh.sftp.stopChannel(renamer);
  });

  test('a SYMLINK on another channel waits for a checked create: it cannot lead the new file out', async () => {
    // The name did not exist when checked; a link made there meanwhile, whose target passes
    // through a link out of root, would take the create (and its truncation) outside.
    await symlink(join(outside, 'victim'), join(root, 'out-victim'));
    await writeFile(join(outside, 'victim'), 'keep me');
    const writer = await ssh.sftp.startChannel(conn);
    const linker = await ssh.sftp.startChannel(conn);
    const { atOpen, release } = holdOpen('/new');
    const write = writer.writeFile('/new', 'written');
    await atOpen;
    let linked = false;
    const link = linker.makeSymlink('/new', '/out-victim').then(
      () => (linked = true),
      (e: ssh.SshError) => e.code,
    );
    await until(() => linked);
    const whileHeld = linked;
    release();
    await write;
    const linkOutcome = await link;
    assert.equal(
      await readFile(join(outside, 'victim'), 'utf8'),
      'keep me',
      'the file outside root was written',
    );
    assert.equal(await readFile(join(root, 'new'), 'utf8'), 'written');
    assert.equal(whileHeld, false, 'the SYMLINK waited for the create');
    assert.equal(linkOutcome, 'SFTP_STATUS', 'and then found the name taken');
    await ssh.sftp.stopChannel(writer);
    await ssh.sftp.stopChannel(linker);
  });

  test(
    'opening a FIFO does not hold a thread: it fails or reads nothing, and the server serves on',
    { timeout: 20_000 },
    async () => {
      // Four such opens would otherwise take every thread of libuv's pool from the whole daemon.
      execFileSync('mkfifo', [join(root, 'fifo')]);
      const s = await ssh.sftp.startChannel(conn);
      const tries = Array.from({ length: 6 }, () =>
        s.open('/fifo', 'r').then(
          async (h) => {
            await s.close(h);
            return 'opened';
          },
          (e: ssh.SshError) => e.code,
        ),
      );
      const outcomes = await Promise.all(tries);
      for (const o of outcomes) assert.ok(o === 'opened' || o === 'SFTP_STATUS', String(o));
      assert.equal((await s.readFile('/d-old/secret')).toString(), 'inside');
      await ssh.sftp.stopChannel(s);
    },
  );
});
