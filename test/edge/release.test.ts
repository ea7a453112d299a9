import assert from 'node:assert/strict';
import { createServer, Socket, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { releaseBuffers, writesToKernel } from '../../src/edge/release.js';
import { detachByClosedPort, detachByTransfer, FREE_MIN, freedBytes } from '../../src/wire/detach.js';
import * as ssh from '../../src/ssh.js';
import { collect, connectTo, makeEnv, startDaemon, type Env } from '../facade/helpers.js';

describe('releaseBuffers: what may be freed', () => {
  test('a buffer that is the whole of its own ArrayBuffer is detached', () => {
    const b = Buffer.allocUnsafeSlow(FREE_MIN);
    releaseBuffers([b]);
    assert.equal(b.length, 0);
    assert.equal(b.buffer.byteLength, 0);
  });

  test('views, small buffers and slices of the shared pool are left alone', () => {
    const whole = Buffer.allocUnsafeSlow(4 * FREE_MIN).fill(7);
    const view = whole.subarray(0, 2 * FREE_MIN);
    const tail = whole.subarray(FREE_MIN);
    const small = Buffer.allocUnsafeSlow(FREE_MIN - 1).fill(8);
    const pooled = Buffer.from('pooled'); // a slice of Node's 8 KiB pool
    releaseBuffers([view, tail, small, pooled]);
    assert.equal(whole.length, 4 * FREE_MIN);
    assert.equal(view[0], 7);
    assert.equal(tail[0], 7);
    assert.equal(small[0], 8);
    assert.equal(pooled.toString(), 'pooled');
  });

  test('a buffer that cannot be detached is skipped without an error', () => {
    const shared = Buffer.from(new SharedArrayBuffer(FREE_MIN));
    shared[0] = 9;
    assert.doesNotThrow(() => releaseBuffers([shared]));
    assert.equal(shared[0], 9);
  });

  test('both ways of detaching free the buffer on this Node line', () => {
    const ways = [detachByClosedPort, ...(detachByTransfer ? [detachByTransfer] : [])];
    for (const way of ways) {
      const ab = new ArrayBuffer(FREE_MIN);
      way(ab);
      assert.equal(ab.byteLength, 0);
    }
    // Node 22 and later have transfer; Node 20 falls back to the closed port.
    const major = Number(process.versions.node.split('.')[0]);
    assert.equal(detachByTransfer !== undefined, major >= 22);
  });
});

describe('writesToKernel', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('a TCP socket writes to the kernel; a socket without a handle does not', async () => {
    const s = new Socket();
    assert.equal(writesToKernel(s), false);
    s.connect(port, '127.0.0.1');
    assert.equal(writesToKernel(s), true);
    await new Promise((resolve) => s.once('close', resolve).on('error', () => undefined));
  });
});

describe('a connection frees the packets it moved', () => {
  let env: Env;
  before(async () => (env = await makeEnv()));
  after(async () => {
    await ssh.stop();
    await env.cleanup();
  });

  test('4 MiB through a channel arrive intact and their sealed and received packets are freed', async () => {
    const size = 4 * 1024 * 1024;
    const data = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) data[i] = (i * 31 + (i >> 12)) & 0xff;
    const d = await startDaemon(env, { password: 'pw', exec: (_cmd: string) => ({ ok: data }) });
    const conn = await connectTo(d, env, { password: 'pw' });
    const before = freedBytes;
    const ch = await conn.sessionChannel();
    assert.equal(await ch.exec('send'), 'success');
    const r = await collect(ch);
    assert.ok(r.stdout.equals(data), 'the data arrived unchanged');
    // Both ends run in this process: the daemon's sealed bodies and the client's received chunks.
    assert.ok(freedBytes - before >= size, `freed ${freedBytes - before} bytes`);
    await ssh.close(conn);
    await ssh.stopDaemon(d);
  });
});
