import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpareBuffers } from '../../src/sftp/spare-buffers.js';

test('spare buffers: reused at their size, at most maxBytes kept, dropped on a new size or clear', () => {
  const s = new SpareBuffers(3 * 8192);
  const a = s.take(8192);
  const b = s.take(8192);
  s.give(a);
  assert.equal(s.take(8192), a, 'a given buffer comes back');
  s.give(a);
  s.give(b);
  const kept = [s.take(8192), s.take(8192)];
  assert.deepEqual(new Set(kept), new Set([a, b]));
  const more = [s.take(8192), s.take(8192), s.take(8192), s.take(8192)];
  for (const x of more) s.give(x);
  const again = [s.take(8192), s.take(8192), s.take(8192), s.take(8192)];
  assert.equal(again.filter((x) => more.includes(x)).length, 3, 'no more than 3 × 8192 bytes kept');
  s.give(again[0]!);
  assert.notEqual(s.take(4096), again[0], 'another size drops the spares');
  s.give(Buffer.alloc(8192));
  assert.equal(s.take(4096).length, 4096);
  const c = s.take(4096);
  s.give(c);
  s.clear();
  assert.notEqual(s.take(4096), c, 'cleared');
});
