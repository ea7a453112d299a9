import assert from 'node:assert/strict';
import { test } from 'node:test';
import { copyOut } from '../../src/wire/chunks.js';

test('copyOut takes bytes from any offset across chunks, into memory of its own', () => {
  const all = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
  const chunks = [all.subarray(0, 3), all.subarray(3, 4), all.subarray(4, 20), all.subarray(20)];
  for (let at = 0; at < all.length; at++)
    for (let n = 1; at + n <= all.length; n += 3) {
      const b = copyOut(chunks, at, n);
      assert.deepEqual(b, all.subarray(at, at + n), `at ${at}, ${n} bytes`);
      b.fill(0xff); // a copy: the chunks are untouched
      assert.equal(all[at], at);
    }
});
