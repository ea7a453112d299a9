import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SessionChannel } from '../../src/channel/session-channel.js';
import type { Connection } from '../../src/edge/connection.js';
import * as ssh from '../../src/index.js';
import { FX, FXF, MAX_DATA, MAX_PACKET } from '../../src/sftp/constants.js';
import { PacketFramer } from '../../src/sftp/framer.js';
import { encodeRequest, type SftpRequest } from '../../src/sftp/requests.js';
import { decodeResponse, type SftpResponse } from '../../src/sftp/responses.js';
import { connectTo, makeEnv, startDaemon, type Env } from '../facade/helpers.js';

/** A bare SFTP peer on a channel: raw bytes out, decoded replies in. */
class RawSftp {
  readonly replies: SftpResponse[] = [];
  private readonly framer = new PacketFramer(MAX_PACKET);
  private waiters: (() => void)[] = [];
  exitStatus: number | undefined;
  closed = false;
  private nextId = 1;

  constructor(readonly ch: SessionChannel) {
    ch.stream.on('data', (d: Buffer) => {
      for (const b of this.framer.push(d)) this.replies.push(decodeResponse(b));
      this.wake();
    });
    ch.stream.on('error', () => {});
    void (async () => {
      for await (const m of ch) if (m.type === 'exitStatus') this.exitStatus = m.status;
      this.closed = true;
      this.wake();
    })();
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  static async open(conn: Connection): Promise<RawSftp> {
    const ch = await conn.sessionChannel();
    assert.equal(await ch.subsystem('sftp'), 'success');
    const s = new RawSftp(ch);
    await ch.send(encodeRequest({ type: 'init', version: 3, extensions: [] }));
    const v = await s.next();
    assert.equal(v.type, 'version');
    return s;
  }

  async next(): Promise<SftpResponse> {
    while (this.replies.length === 0) {
      if (this.closed) throw new Error('channel closed');
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.replies.shift()!;
  }

  async untilClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  id(): number {
    return this.nextId++;
  }

  /** Sends a request (its id filled in) and waits for its reply. */
  async call(
    req: Omit<SftpRequest, 'id'> & { type: Exclude<SftpRequest['type'], 'init'> },
  ): Promise<SftpResponse> {
    const id = this.id();
    await this.ch.send(encodeRequest({ ...req, id } as SftpRequest));
    const r = await this.next();
    assert.equal((r as { id: number }).id, id);
    return r;
  }
}

function status(r: SftpResponse): number {
  assert.equal(r.type, 'status', `expected a status, got ${r.type}`);
  return (r as { code: number }).code;
}

let env: Env;
let daemon: ssh.Daemon;
let root: string;
let outside: string;
let conn: Connection;

before(async () => {
  env = await makeEnv();
  root = join(env.dir, 'root');
  outside = join(env.dir, 'outside');
  await mkdir(join(root, 'sub'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'secret');
  await writeFile(join(root, 'inside.txt'), 'inside');
  await symlink(outside, join(root, 'out-dir'));
  await symlink(join(outside, 'secret'), join(root, 'out-file'));
  await symlink(join(outside, 'nothing-yet'), join(root, 'dangling'));
  daemon = await startDaemon(env, { password: 'pw', subsystems: [ssh.sftpd.subsystemSpec({ root })] });
  conn = await connectTo(daemon, env, { password: 'pw' });
});

after(async () => {
  await daemon?.stop();
  await env?.cleanup();
});

describe('the SFTP server under hostile input', () => {
  test('../, absolute paths and symlinks pointing out of root are refused; nothing outside is touched', async () => {
    const s = await RawSftp.open(conn);
    const opens: [string, number][] = [
      ['../outside/secret', FX.NO_SUCH_FILE],
      ['/../../outside/secret', FX.NO_SUCH_FILE],
      ['out-file', FX.PERMISSION_DENIED],
      ['out-dir/secret', FX.PERMISSION_DENIED],
      ['/sub/../out-dir/new', FX.PERMISSION_DENIED],
      ['dangling', FX.PERMISSION_DENIED],
    ];
    for (const [path, code] of opens) {
      const r = await s.call({
        type: 'open',
        path,
        pflags: FXF.WRITE | FXF.CREAT | FXF.TRUNC,
        attrs: {},
      } as never);
      assert.equal(status(r), code, path);
    }
    for (const req of [
      { type: 'stat', path: 'out-dir' },
      { type: 'opendir', path: 'out-dir' },
      { type: 'setstat', path: 'out-file', attrs: { permissions: 0o777 } },
      { type: 'remove', path: 'out-dir/secret' },
      { type: 'mkdir', path: 'out-dir/made', attrs: {} },
      { type: 'rename', oldPath: 'out-dir/secret', newPath: 'stolen' },
      { type: 'hardlink', oldPath: 'inside.txt', newPath: 'out-dir/linked' },
      { type: 'symlink', linkPath: 'out-dir/l', targetPath: 'inside.txt' },
    ] as SftpRequest[]) {
      assert.equal(status(await s.call(req as never)), FX.PERMISSION_DENIED, req.type);
    }
    // lstat of the link itself is fine: it is inside root.
    assert.equal((await s.call({ type: 'lstat', path: 'out-file' } as never)).type, 'attrs');
    // A REALPATH of .. stays at /.
    const rp = await s.call({ type: 'realpath', path: '/../..' } as never);
    assert.deepEqual(rp.type === 'name' && rp.entries.map((e) => e.filename), ['/']);
    // RMDIR and RENAME of root itself are refused.
    assert.notEqual(status(await s.call({ type: 'rmdir', path: '/' } as never)), FX.OK);
    assert.deepEqual(await readdir(outside), ['secret']);
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'secret');
    await s.ch.close();
  });

  test('SYMLINK targets are taken inside root; links made with them cannot reach out', async () => {
    const s = await RawSftp.open(conn);
    for (const [link, target] of [
      ['t1', '/../../outside/secret'],
      ['t2', '../../../../../outside/secret'],
      ['t3', '/sub'],
    ]) {
      assert.equal(
        status(await s.call({ type: 'symlink', linkPath: link!, targetPath: target! } as never)),
        FX.OK,
      );
    }
    assert.equal(await readlink(join(root, 't1')), 'outside/secret');
    assert.equal(await readlink(join(root, 't2')), 'outside/secret');
    assert.equal(await readlink(join(root, 't3')), 'sub');
    // They point inside root: open one and get root's file, not the one outside.
    await mkdir(join(root, 'outside'));
    await writeFile(join(root, 'outside', 'secret'), 'decoy');
    const r = await s.call({ type: 'open', path: 't1', pflags: FXF.READ, attrs: {} } as never);
    assert.equal(r.type, 'handle');
    const d = await s.call({
      type: 'read',
      handle: (r as { handle: Buffer }).handle,
      offset: 0,
      length: 100,
    } as never);
    assert.equal(d.type === 'data' && d.data.toString(), 'decoy');
    const rl = await s.call({ type: 'readlink', path: 't3' } as never);
    assert.deepEqual(rl.type === 'name' && rl.entries[0]!.filename, 'sub');
    await s.ch.close();
  });

  test('handles are per channel: a handle of one channel means nothing on another (FSETSTAT, READ)', async () => {
    const a = await RawSftp.open(conn);
    const b = await RawSftp.open(conn);
    const h = await a.call({ type: 'open', path: 'inside.txt', pflags: FXF.READ, attrs: {} } as never);
    assert.equal(h.type, 'handle');
    const handle = (h as { handle: Buffer }).handle;
    assert.equal(
      status(await b.call({ type: 'fsetstat', handle, attrs: { permissions: 0o777 } } as never)),
      FX.FAILURE,
    );
    assert.equal(status(await b.call({ type: 'read', handle, offset: 0, length: 10 } as never)), FX.FAILURE);
    assert.equal(
      status(await a.call({ type: 'write', handle, offset: 0, data: Buffer.from('x') } as never)),
      FX.PERMISSION_DENIED,
      'a read-only handle takes no writes',
    );
    assert.equal((await lstat(join(root, 'inside.txt'))).mode & 0o777, 0o644);
    await a.ch.close();
    await b.ch.close();
  });

  test('a READ of 2^32 - 1 bytes gets at most 255 KiB', async () => {
    await writeFile(join(root, 'big'), Buffer.alloc(MAX_DATA * 2, 7));
    const s = await RawSftp.open(conn);
    const h = (await s.call({ type: 'open', path: 'big', pflags: FXF.READ, attrs: {} } as never)) as {
      handle: Buffer;
    };
    const r = await s.call({ type: 'read', handle: h.handle, offset: 0, length: 0xffffffff } as never);
    assert.equal(r.type, 'data');
    assert.equal((r as { data: Buffer }).data.length, MAX_DATA);
    const eof = await s.call({ type: 'read', handle: h.handle, offset: MAX_DATA * 2, length: 10 } as never);
    assert.equal(status(eof), FX.EOF);
    await s.ch.close();
  });

  test('10,000 OPENs: 256 handles, the rest refused; all closed with the channel', async () => {
    // Descriptors open on the file itself: other tests' sockets closing meanwhile cannot move it
    // (counting every descriptor once failed in CI with 256 handles reported).
    const fds = async () => {
      let n = 0;
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
        if (target.endsWith('/inside.txt')) n++;
      }
      return n;
    };
    const before = await fds();
    const s = await RawSftp.open(conn);
    const batch: Buffer[] = [];
    for (let i = 0; i < 10_000; i++)
      batch.push(
        encodeRequest({ type: 'open', id: 1000 + i, path: 'inside.txt', pflags: FXF.READ, attrs: {} }),
      );
    await s.ch.send(Buffer.concat(batch));
    let handles = 0;
    let refused = 0;
    for (let i = 0; i < 10_000; i++) {
      const r = await s.next();
      if (r.type === 'handle') handles++;
      else if (status(r) === FX.FAILURE) refused++;
    }
    assert.equal(handles, 256);
    assert.equal(refused, 10_000 - 256);
    assert.equal(await fds(), before + 256);
    await s.ch.close();
    let now = await fds();
    for (let i = 0; i < 100 && now > before; i++) {
      await new Promise((r) => setTimeout(r, 20));
      now = await fds();
    }
    assert.equal(now, before, 'every handle closed with the channel');
  });

  test('a malformed request gets BAD_MESSAGE and the channel serves on', async () => {
    const s = await RawSftp.open(conn);
    // STAT whose path string claims more bytes than the packet has.
    await s.ch.send(Buffer.from([0, 0, 0, 9, 17, 0, 0, 0, 42, 0, 0, 1, 0]));
    const r = await s.next();
    assert.equal(status(r), FX.BAD_MESSAGE);
    assert.equal((r as { id: number }).id, 42);
    assert.equal((await s.call({ type: 'stat', path: 'inside.txt' } as never)).type, 'attrs');
    // An unknown packet type and an unknown extension: unsupported.
    assert.equal(status(await s.call({ type: 'unknown', packetType: 77 } as never)), FX.OP_UNSUPPORTED);
    assert.equal(
      status(await s.call({ type: 'extended', name: 'evil@example.com', data: Buffer.alloc(3) } as never)),
      FX.OP_UNSUPPORTED,
    );
    await s.ch.close();
  });

  test('a WRITE that comes in pieces lands whole; one whose data length disagrees gets BAD_MESSAGE', async () => {
    const s = await RawSftp.open(conn);
    const h = (await s.call({
      type: 'open',
      path: 'pieces.bin',
      pflags: FXF.WRITE | FXF.CREAT | FXF.TRUNC,
      attrs: {},
    } as never)) as { handle: Buffer };
    const data = Buffer.alloc(100_000);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    // Each part its own channel packet: the head split after 7 bytes, the data after 40,000.
    const sendInParts = async (b: Buffer) => {
      for (const [from, to] of [
        [0, 7],
        [7, 40_000],
        [40_000, b.length],
      ])
        await s.ch.send(b.subarray(from, to));
    };
    await sendInParts(encodeRequest({ type: 'write', id: 500, handle: h.handle, offset: 0, data }));
    const ok = await s.next();
    assert.equal(status(ok), FX.OK);
    assert.equal((ok as { id: number }).id, 500);
    assert.deepEqual(await readFile(join(root, 'pieces.bin')), data);
    // The same WRITE with its data length one short of what the packet holds.
    const bad = encodeRequest({
      type: 'write',
      id: 501,
      handle: h.handle,
      offset: 0,
      data: Buffer.alloc(100_000, 9),
    });
    bad.writeUInt32BE(99_999, 4 + 1 + 4 + 4 + h.handle.length + 8);
    await sendInParts(bad);
    const refused = await s.next();
    assert.equal(status(refused), FX.BAD_MESSAGE);
    assert.equal((refused as { id: number }).id, 501);
    assert.deepEqual(await readFile(join(root, 'pieces.bin')), data, 'nothing of it written');
    assert.equal((await s.call({ type: 'stat', path: 'inside.txt' } as never)).type, 'attrs');
    await s.ch.close();
  });

  test('a truncated packet then EOF: the channel ends with an exit status', async () => {
    const s = await RawSftp.open(conn);
    await s.ch.send(Buffer.from([0, 0, 0, 100, 17, 0]));
    await s.ch.sendEof();
    await s.untilClosed();
    assert.equal(s.exitStatus, 0);
  });

  test('a packet length of 2^31 closes the channel; the daemon serves the next client', async () => {
    const s = await RawSftp.open(conn);
    await s.ch.send(Buffer.from([0x80, 0, 0, 0, 5, 0, 0, 0, 1]));
    await s.untilClosed();
    assert.equal(s.exitStatus, 1);
    const other = await connectTo(daemon, env, { password: 'pw' });
    const t = await RawSftp.open(other);
    assert.equal((await t.call({ type: 'stat', path: '/inside.txt' } as never)).type, 'attrs');
    await other.close();
  });

  test('a request before INIT closes the channel', async () => {
    const ch = await conn.sessionChannel();
    assert.equal(await ch.subsystem('sftp'), 'success');
    const s = new RawSftp(ch);
    await ch.send(encodeRequest({ type: 'stat', id: 1, path: '/' }));
    await s.untilClosed();
    assert.equal(s.exitStatus, 1);
    assert.equal(s.replies.length, 0);
  });

  test('a root that does not exist refuses the subsystem; bad options are refused at once', async () => {
    assert.throws(() => ssh.sftpd.subsystemSpec({ maxFiles: 0 }), { code: 'BAD_OPTION' });
    assert.throws(() => ssh.sftpd.subsystemSpec({ nonsense: 1 } as never), { code: 'BAD_OPTION' });
    const d = await startDaemon(env, {
      password: 'pw',
      subsystems: [ssh.sftpd.subsystemSpec({ root: join(env.dir, 'no-such-dir') })],
    });
    const c = await connectTo(d, env, { password: 'pw' });
    const ch = await c.sessionChannel();
    // Refused: FAILURE, or the channel closed before the answer.
    const answer = await ch.subsystem('sftp').catch((e: { code?: string }) => e.code);
    assert.ok(answer === 'failure' || answer === 'CLOSED', String(answer));
    await d.stop();
  });
});
