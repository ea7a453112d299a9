/**
 * The bench's delaying proxy: bytes arrive whole and in order both ways, and a half-close is
 * passed on once the delayed bytes before it are delivered. (No timing is asserted.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { startDelayProxy, type DelayProxy } from '../../bench/lib/delay-proxy.js';

let echo: Server;
let proxy: DelayProxy;

before(async () => {
  // Echoes what it reads, then ends when the client ends.
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const port = (echo.address() as { port: number }).port;
  proxy = await startDelayProxy(port, 5);
});

after(async () => {
  await proxy.stop();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

test('4 MiB in 1,000 writes of random sizes comes back intact, in order, and the end follows it', async () => {
  const data = randomBytes(4 << 20);
  const s = connect({ host: '127.0.0.1', port: proxy.port });
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  const ended = new Promise<void>((resolve, reject) => {
    s.on('end', resolve);
    s.on('error', reject);
  });
  await new Promise<void>((resolve) => s.once('connect', resolve));
  let at = 0;
  for (let i = 0; i < 1000 && at < data.length; i++) {
    const n = i === 999 ? data.length - at : Math.min(data.length - at, 1 + ((i * 7919) % 8000));
    s.write(data.subarray(at, at + n));
    at += n;
  }
  assert.equal(at, data.length);
  s.end();
  await ended;
  const back = Buffer.concat(got);
  assert.equal(back.length, data.length);
  assert.ok(back.equals(data), 'the echoed bytes are the bytes sent');
  s.destroy();
});
