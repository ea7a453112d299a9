import assert from 'node:assert/strict';
import { test } from 'node:test';
import { poly1305 } from '../../src/keys/poly1305.js';

test('Poly1305 gives the tag of RFC 8439 §2.5.2, and of vector #1 of §A.3 (zero key, zero message)', () => {
  const key = Buffer.from('85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b', 'hex');
  const tag = poly1305(key, Buffer.from('Cryptographic Forum Research Group'));
  assert.equal(tag.toString('hex'), 'a8061dc1305136c6c22b8baf0c0127a9');
  // Test vector #1 of §A.3: zero key, 64 zero bytes, zero tag.
  assert.equal(poly1305(Buffer.alloc(32), Buffer.alloc(64)).toString('hex'), '0'.repeat(32));
  assert.notEqual(
    poly1305(key, Buffer.alloc(17)).toString('hex'),
    poly1305(key, Buffer.alloc(16)).toString('hex'),
  );
  assert.throws(() => poly1305(Buffer.alloc(16), Buffer.alloc(1)), RangeError);
});
