import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import { SshReader } from '../../src/wire/reader.js';
import { SshWriter, sshString } from '../../src/wire/writer.js';

/** Asserts that `fn` throws the SshError a malformed message must produce. */
function assertProtocolError(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SshError, `expected an SshError, got ${String(e)}`);
    assert.equal(e.code, 'PROTOCOL_ERROR');
    assert.equal(e.reasonName, 'PROTOCOL_ERROR');
    if (message) assert.match(e.message, message);
    return true;
  });
}

const hex = (b: Buffer) => b.toString('hex');

describe('SshWriter / SshReader: RFC 4251 §5 data types', () => {
  test('every type round-trips in order and the reader ends exactly at the end', () => {
    const w = new SshWriter(1); // tiny initial size: growth is exercised too
    w.byte(0xab)
      .boolean(true)
      .boolean(false)
      .uint32(0)
      .uint32(0xffffffff)
      .uint64(0x0123456789abcdefn)
      .string('héllo')
      .string(Buffer.from([0, 1, 2, 255]))
      .nameList(['aes128-ctr', 'hmac-sha2-256'])
      .mpint(0x1234n)
      .raw(Buffer.from('tail'));
    const buf = w.finish();
    assert.equal(w.length, buf.length);
    const r = new SshReader(buf);
    assert.equal(r.byte(), 0xab);
    assert.equal(r.boolean(), true);
    assert.equal(r.boolean(), false);
    assert.equal(r.uint32(), 0);
    assert.equal(r.uint32(), 0xffffffff);
    assert.equal(r.uint64(), 0x0123456789abcdefn);
    assert.equal(r.utf8(), 'héllo');
    assert.deepEqual(r.string(), Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(r.nameList(), ['aes128-ctr', 'hmac-sha2-256']);
    assert.equal(r.mpint(), 0x1234n);
    assert.equal(r.remaining, 4);
    assert.deepEqual(r.raw(4), Buffer.from('tail'));
    assert.equal(r.remaining, 0);
    r.done('test message');
  });

  test('the wire bytes are big-endian with uint32 length prefixes', () => {
    const buf = new SshWriter().uint32(0x01020304).string('ab').uint64(1n).boolean(true).finish();
    assert.equal(hex(buf), '01020304' + '00000002' + '6162' + '0000000000000001' + '01');
  });

  test('a string is its UTF-8 byte length, not its character count', () => {
    assert.equal(hex(sshString('€')), '00000003e282ac');
    assert.equal(hex(sshString(Buffer.alloc(0))), '00000000');
  });

  test('a boolean is read as true for any non-zero byte (RFC 4251 §5)', () => {
    const r = new SshReader(Buffer.from([0, 1, 2, 0xff]));
    assert.deepEqual([r.boolean(), r.boolean(), r.boolean(), r.boolean()], [false, true, true, true]);
  });

  test('uint32 values are written modulo 2^32', () => {
    assert.equal(hex(new SshWriter().uint32(-1).finish()), 'ffffffff');
  });

  test('a reader over a sub-range stops at its end', () => {
    const buf = Buffer.from('0000000000000002616200', 'hex');
    const r = new SshReader(buf, 4, 10);
    assert.equal(r.position, 4);
    assert.equal(r.ascii(), 'ab');
    assert.equal(r.remaining, 0);
    assertProtocolError(() => r.byte());
  });

  test('string() and raw() return views of the input, not copies', () => {
    const buf = new SshWriter().string('abc').finish();
    const s = new SshReader(buf).string();
    buf[4] = 0x7a;
    assert.equal(s.toString(), 'zbc');
  });

  test('rest() takes what is left and done() refuses trailing bytes', () => {
    const r = new SshReader(Buffer.from([1, 2, 3]));
    r.byte();
    assert.deepEqual(r.rest(), Buffer.from([2, 3]));
    r.done('x');
    const r2 = new SshReader(Buffer.from([1, 2, 3]));
    r2.byte();
    assertProtocolError(() => r2.done('KEX_ECDH_INIT'), /KEX_ECDH_INIT: 2 unexpected trailing bytes/);
  });
});

describe('SshReader bounds: truncated and hostile input', () => {
  test('every fixed-size read refuses to run past the end', () => {
    assertProtocolError(() => new SshReader(Buffer.alloc(0)).byte(), /byte needs 1 bytes, 0 left/);
    assertProtocolError(() => new SshReader(Buffer.alloc(0)).boolean());
    assertProtocolError(() => new SshReader(Buffer.alloc(3)).uint32(), /uint32 needs 4 bytes, 3 left/);
    assertProtocolError(() => new SshReader(Buffer.alloc(7)).uint64(), /uint64 needs 8 bytes, 7 left/);
    assertProtocolError(() => new SshReader(Buffer.alloc(2)).raw(3, 'cookie'), /cookie needs 3 bytes/);
  });

  test('a string whose body is cut short is refused', () => {
    const buf = Buffer.from('0000000561626364', 'hex'); // says 5, has 4
    assertProtocolError(() => new SshReader(buf).string('user name'), /user name needs 5 bytes, 4 left/);
  });

  test('a string whose length field itself is cut short is refused', () => {
    assertProtocolError(() => new SshReader(Buffer.from('000000', 'hex')).string());
  });

  test('a huge length is refused before anything is allocated or sliced', () => {
    for (const len of [0xffffffff, 0x80000000, 0x7fffffff, 1 << 24]) {
      const buf = Buffer.alloc(8);
      buf.writeUInt32BE(len, 0);
      const r = new SshReader(buf);
      assertProtocolError(() => r.string(), new RegExp(`needs ${len} bytes, 4 left`));
    }
    const mp = Buffer.from('ffffffff00', 'hex');
    assertProtocolError(() => new SshReader(mp).mpint());
    assertProtocolError(() => new SshReader(mp).nameList());
    assertProtocolError(() => new SshReader(mp).utf8());
  });

  test('a failed read does not move the position past the end', () => {
    const r = new SshReader(Buffer.from('00000010abcd', 'hex'));
    assertProtocolError(() => r.string());
    // The length was consumed, the body was not: what is left is still readable as raw bytes.
    assert.equal(r.remaining, 2);
    assert.deepEqual(r.raw(2), Buffer.from('abcd', 'hex'));
  });
});

describe('mpint (RFC 4251 §5)', () => {
  // The examples of RFC 4251 §5 that are non-negative; Seashell only ever needs those.
  const examples: [bigint, string][] = [
    [0n, '00000000'],
    [0x9a378f9b2e332a7n, '0000000809a378f9b2e332a7'],
    [0x80n, '000000020080'],
  ];
  for (const [value, wire] of examples) {
    test(`${value.toString(16)} encodes as ${wire} and decodes back`, () => {
      assert.equal(hex(new SshWriter().mpint(value).finish()), wire);
      const r = new SshReader(Buffer.from(wire, 'hex'));
      assert.equal(r.mpint(), value);
      assert.equal(r.remaining, 0);
    });
  }

  test('mpintFromUnsigned strips leading zeros and adds one when the top bit is set', () => {
    const enc = (h: string) => hex(new SshWriter().mpintFromUnsigned(Buffer.from(h, 'hex')).finish());
    assert.equal(enc('000000'), '00000000');
    assert.equal(enc(''), '00000000');
    assert.equal(enc('00007f'), '000000017f');
    assert.equal(enc('0000ff01'), '0000000300ff01');
    assert.equal(enc('80'), '000000020080');
    assert.equal(enc('0102'), '000000020102');
  });

  test('a 256-bit value with the top bit set is 33 bytes long', () => {
    const v = (1n << 255n) + 5n;
    const buf = new SshWriter().mpint(v).finish();
    assert.equal(buf.readUInt32BE(0), 33);
    assert.equal(buf[4], 0);
    assert.equal(new SshReader(buf).mpint(), v);
  });

  test('a negative mpint is refused on read and on write', () => {
    // RFC 4251 §5: -1234 is 00000002 fb2e; -deadbeef is 00000005 ff21524111.
    assertProtocolError(() => new SshReader(Buffer.from('00000002fb2e', 'hex')).mpint(), /negative mpint/);
    assertProtocolError(() => new SshReader(Buffer.from('00000005ff21524111', 'hex')).mpint());
    assert.throws(() => new SshWriter().mpint(-1n), RangeError);
  });

  test('mpintBytes returns the two’s-complement bytes untouched', () => {
    const r = new SshReader(Buffer.from('00000002fb2e', 'hex'));
    assert.equal(hex(r.mpintBytes()), 'fb2e');
  });
});

describe('name-list (RFC 4251 §5)', () => {
  test('the empty list is the empty string', () => {
    assert.equal(hex(new SshWriter().nameList([]).finish()), '00000000');
    assert.deepEqual(new SshReader(Buffer.from('00000000', 'hex')).nameList(), []);
  });

  test('RFC 4251 examples: ("zlib") and ("zlib", "none")', () => {
    assert.equal(hex(new SshWriter().nameList(['zlib']).finish()), '000000047a6c6962');
    assert.equal(hex(new SshWriter().nameList(['zlib', 'none']).finish()), '000000097a6c69622c6e6f6e65');
    assert.deepEqual(new SshReader(Buffer.from('000000097a6c69622c6e6f6e65', 'hex')).nameList(), [
      'zlib',
      'none',
    ]);
  });

  test('names keep their order and their @domain parts', () => {
    const names = ['curve25519-sha256', 'kex-strict-c-v00@openssh.com', 'ext-info-c'];
    const r = new SshReader(new SshWriter().nameList(names).finish());
    assert.deepEqual(r.nameList(), names);
  });

  test('a truncated name-list is refused', () => {
    assertProtocolError(() => new SshReader(Buffer.from('0000000a7a6c6962', 'hex')).nameList('kex'), /kex/);
  });
});
