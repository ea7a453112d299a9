import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NamespaceLock } from '../../src/sftp/jail.js';

/** A hold that runs until the test ends it; `log` records when each starts and ends. */
function holder(lock: NamespaceLock, log: string[], name: string, alone: boolean) {
  let end!: () => void;
  const ended = new Promise<void>((r) => (end = r));
  const done = lock.hold(alone, async () => {
    log.push(`${name}+`);
    await ended;
    log.push(`${name}-`);
  });
  return { end, done };
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('shared holds run together; one alone waits for them, and later shared holds wait for it', async () => {
  const lock = new NamespaceLock();
  const log: string[] = [];
  const a = holder(lock, log, 'a', false);
  const b = holder(lock, log, 'b', false);
  const w = holder(lock, log, 'w', true);
  const c = holder(lock, log, 'c', false); // after the rename: must not overtake it
  await turns();
  assert.deepEqual(log, ['a+', 'b+']);
  a.end();
  await turns();
  assert.deepEqual(log, ['a+', 'b+', 'a-'], 'w waits for b too');
  b.end();
  await turns();
  assert.deepEqual(log, ['a+', 'b+', 'a-', 'b-', 'w+'], 'c waits for w');
  w.end();
  await turns();
  assert.deepEqual(log.slice(-2), ['w-', 'c+']);
  c.end();
  await Promise.all([a.done, b.done, w.done, c.done]);
  assert.deepEqual(log.slice(-1), ['c-']);
});

test('two holds alone run one after the other, and a failing hold releases the lock', async () => {
  const lock = new NamespaceLock();
  const log: string[] = [];
  const failed = lock.hold(true, async () => {
    log.push('x');
    throw new Error('boom');
  });
  const w1 = holder(lock, log, 'w1', true);
  const w2 = holder(lock, log, 'w2', true);
  await assert.rejects(failed, /boom/);
  await turns();
  assert.deepEqual(log, ['x', 'w1+']);
  w1.end();
  await turns();
  assert.deepEqual(log, ['x', 'w1+', 'w1-', 'w2+']);
  w2.end();
  const r = holder(lock, log, 'r', false);
  await turns();
  assert.deepEqual(log.slice(-2), ['w2-', 'r+']);
  r.end();
  await Promise.all([w1.done, w2.done, r.done]);
});
