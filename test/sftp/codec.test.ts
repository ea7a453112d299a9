import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import { longName, type Attrs } from '../../src/sftp/attrs.js';
import { FXP, MAX_PACKET } from '../../src/sftp/constants.js';
import { MAX_PIECES, PacketFramer } from '../../src/sftp/framer.js';
import {
  decodeRequest,
  decodeScatteredWrite,
  encodeRequest,
  frameWrite,
  peekRequestId,
  type SftpRequest,
  writeHeadLength,
} from '../../src/sftp/requests.js';
import {
  DATA_HEADER,
  decodeLimits,
  decodeNames,
  decodeResponse,
  decodeStatVfs,
  encodeLimits,
  encodeNames,
  encodeResponse,
  encodeStatVfs,
  sealData,
  type SftpResponse,
} from '../../src/sftp/responses.js';

const h = Buffer.from('handle-1');
const attrs: Attrs = { size: 2 ** 40 + 3, uid: 1000, gid: 100, permissions: 0o100644, atime: 1, mtime: 2 };

const requests: SftpRequest[] = [
  { type: 'init', version: 3, extensions: [['x@y', Buffer.from('1')]] },
  { type: 'open', id: 1, path: '/a/b ü', pflags: 0x1a, attrs: { permissions: 0o600 } },
  { type: 'close', id: 2, handle: h },
  { type: 'read', id: 3, handle: h, offset: 2 ** 33, length: 32768 },
  { type: 'write', id: 4, handle: h, offset: 7, data: Buffer.from('hello') },
  { type: 'lstat', id: 5, path: 'l' },
  { type: 'stat', id: 6, path: 's' },
  { type: 'opendir', id: 7, path: 'd' },
  { type: 'remove', id: 8, path: 'r' },
  { type: 'rmdir', id: 9, path: 'rd' },
  { type: 'realpath', id: 10, path: '.' },
  { type: 'readlink', id: 11, path: 'ln' },
  { type: 'fstat', id: 12, handle: h },
  { type: 'readdir', id: 13, handle: h },
  { type: 'setstat', id: 14, path: 'p', attrs },
  { type: 'mkdir', id: 15, path: 'm', attrs: {} },
  { type: 'fsetstat', id: 16, handle: h, attrs: { atime: 5, mtime: 6 } },
  { type: 'rename', id: 17, oldPath: 'o', newPath: 'n' },
  { type: 'symlink', id: 18, linkPath: 'link', targetPath: 'target' },
  { type: 'posixRename', id: 19, oldPath: 'o', newPath: 'n' },
  { type: 'hardlink', id: 20, oldPath: 'o', newPath: 'n' },
  { type: 'statvfs', id: 21, path: '/' },
  { type: 'expandPath', id: 22, path: '~/x' },
  { type: 'fstatvfs', id: 23, handle: h },
  { type: 'fsync', id: 24, handle: h },
  { type: 'lsetstat', id: 25, path: 'l', attrs: { uid: 1, gid: 2 } },
  { type: 'limits', id: 26 },
  { type: 'copyData', id: 27, readHandle: h, readOffset: 1, length: 0, writeHandle: h, writeOffset: 9 },
  { type: 'homeDirectory', id: 28, username: 'alice' },
  { type: 'usersGroupsById', id: 29, uids: [0, 1000], gids: [5] },
  { type: 'extended', id: 30, name: 'nobody@example.com', data: Buffer.from([1, 2, 3]) },
  { type: 'unknown', id: 31, packetType: 99 },
];

const responses: SftpResponse[] = [
  { type: 'version', version: 3, extensions: [['limits@openssh.com', Buffer.from('1')]] },
  { type: 'status', id: 1, code: 2, message: 'No such file', language: 'en' },
  { type: 'handle', id: 2, handle: h },
  { type: 'data', id: 3, data: Buffer.from('data') },
  {
    type: 'name',
    id: 4,
    entries: [
      { filename: 'a', longname: 'la', attrs },
      { filename: 'b', longname: 'lb', attrs: {} },
    ],
  },
  { type: 'attrs', id: 5, attrs: { ...attrs, extended: [['t', Buffer.from('d')]] } },
  { type: 'extendedReply', id: 6, data: Buffer.from([9, 9]) },
];

/** The body of a framed packet. */
const body = (p: Buffer) => {
  assert.equal(p.readUInt32BE(0), p.length - 4, 'the length prefix counts the rest');
  return p.subarray(4);
};

describe('SFTP codecs (draft-02 + OpenSSH PROTOCOL §4)', () => {
  for (const m of requests) {
    test(`request ${m.type} round-trips`, () => {
      assert.deepEqual(decodeRequest(body(encodeRequest(m))), m);
    });
  }
  for (const m of responses) {
    test(`response ${m.type} round-trips`, () => {
      assert.deepEqual(decodeResponse(body(encodeResponse(m))), m);
    });
  }

  test('SYMLINK goes out in OpenSSH order: target path first, then link path (PROTOCOL §4.1)', () => {
    const b = body(encodeRequest({ type: 'symlink', id: 1, linkPath: 'LINK', targetPath: 'TARGET' }));
    assert.equal(b[0], FXP.SYMLINK);
    assert.equal(b.readUInt32BE(5), 6);
    assert.equal(b.subarray(9, 15).toString(), 'TARGET');
    assert.equal(b.subarray(19).toString(), 'LINK');
  });

  test('frameWrite builds the same packet as encodeRequest', () => {
    const data = Buffer.from('some bytes');
    assert.deepEqual(
      frameWrite(7, h, 12345, data),
      encodeRequest({ type: 'write', id: 7, handle: h, offset: 12345, data }),
    );
  });

  test('sealData frames a DATA reply read in place', () => {
    const b = Buffer.alloc(DATA_HEADER + 100);
    b.write('abc', DATA_HEADER);
    const p = sealData(b, 42, 3);
    assert.deepEqual(decodeResponse(body(p)), { type: 'data', id: 42, data: Buffer.from('abc') });
  });

  test('extension reply bodies round-trip', () => {
    const s = {
      bsize: 4096,
      frsize: 4096,
      blocks: 10,
      bfree: 5,
      bavail: 4,
      files: 100,
      ffree: 50,
      favail: 50,
      fsid: 7,
      flag: 2,
      namemax: 255,
    };
    assert.deepEqual(decodeStatVfs(encodeStatVfs(s)), s);
    const l = { maxPacketLength: 262144, maxReadLength: 261120, maxWriteLength: 261120, maxOpenHandles: 0 };
    assert.deepEqual(decodeLimits(encodeLimits(l)), l);
    assert.deepEqual(decodeNames(encodeNames(['root', ''], ['wheel'])), {
      users: ['root', ''],
      groups: ['wheel'],
    });
    assert.throws(() => decodeStatVfs(Buffer.alloc(80)), SshError);
  });

  test('a truncated request is an SshError, and its id can still be read to answer it', () => {
    const p = body(encodeRequest({ type: 'read', id: 77, handle: h, offset: 0, length: 10 }));
    for (let cut = 1; cut < p.length; cut++) {
      assert.throws(
        () => decodeRequest(p.subarray(0, cut)),
        (e: unknown) => e instanceof SshError,
      );
    }
    assert.equal(peekRequestId(p.subarray(0, 6)), 77);
    assert.equal(peekRequestId(p.subarray(0, 3)), undefined);
  });

  test('trailing bytes after a request are refused', () => {
    const p = body(encodeRequest({ type: 'stat', id: 1, path: 'x' }));
    assert.throws(() => decodeRequest(Buffer.concat([p, Buffer.from([0])])), /trailing/);
  });

  test('a string length beyond the packet is refused before any allocation', () => {
    const b = Buffer.from([FXP.STAT, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    assert.throws(() => decodeRequest(b), /truncated/);
  });

  test('over-long handles and paths, absurd attribute and id counts are refused', () => {
    assert.throws(() =>
      decodeRequest(body(encodeRequest({ type: 'close', id: 1, handle: Buffer.alloc(300) }))),
    );
    assert.throws(() => decodeRequest(body(encodeRequest({ type: 'stat', id: 1, path: 'x'.repeat(20000) }))));
    const manyExt = Buffer.from([
      FXP.FSETSTAT,
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      1,
      0x68,
      0x80,
      0,
      0,
      0,
      0x7f,
      0xff,
      0xff,
      0xff,
    ]);
    assert.throws(() => decodeRequest(manyExt), /extended pairs/);
    const ids = Buffer.alloc(4 * 5000);
    const w = encodeRequest({
      type: 'extended',
      id: 1,
      name: 'users-groups-by-id@openssh.com',
      data: Buffer.alloc(0),
    });
    const big = Buffer.concat([body(w), Buffer.from([0, 0, 0x4e, 0x20]), ids, Buffer.alloc(4)]);
    assert.throws(() => decodeRequest(big), /id list/);
  });

  test('offsets beyond 2^53 are refused', () => {
    const p = Buffer.from(body(encodeRequest({ type: 'read', id: 1, handle: h, offset: 0, length: 1 })));
    p.writeBigUInt64BE(2n ** 60n, 5 + 4 + h.length);
    assert.throws(() => decodeRequest(p), /2\^53/);
  });

  test('NAME replies with absurd entry counts are refused', () => {
    const b = Buffer.from([FXP.NAME, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff]);
    assert.throws(() => decodeResponse(b), /entries/);
  });
});

describe('PacketFramer', () => {
  const packets = [
    encodeRequest({ type: 'stat', id: 1, path: 'a' }),
    encodeRequest({ type: 'write', id: 2, handle: h, offset: 0, data: Buffer.alloc(70000, 1) }),
    encodeRequest({ type: 'limits', id: 3 }),
  ];
  const stream = Buffer.concat(packets);

  test('gives whole packets whatever the chunking', () => {
    for (const size of [1, 3, 4, 5, 1000, 65536, stream.length]) {
      const f = new PacketFramer(MAX_PACKET);
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) got.push(...f.push(stream.subarray(i, i + size)));
      assert.deepEqual(
        got.map((b) => decodeRequest(b)),
        packets.map((p) => decodeRequest(body(p))),
        `chunks of ${size}`,
      );
      assert.equal(f.pending, 0);
    }
  });

  test('a length of 2^31 is refused on sight, with nothing kept', () => {
    const f = new PacketFramer(MAX_PACKET);
    assert.throws(() => f.push(Buffer.from([0x80, 0, 0, 0, 1])), /2147483648 bytes/);
    const g = new PacketFramer(MAX_PACKET);
    g.push(Buffer.from([0x80, 0]));
    assert.throws(() => g.push(Buffer.from([0, 0])), SshError);
  });

  test('a length of 0 is refused', () => {
    assert.throws(() => new PacketFramer(MAX_PACKET).push(Buffer.alloc(4)), /length 0/);
  });

  test('a spendable chunk is spent only once all of it was copied, never when a packet views it', () => {
    // After the LIMITS request (viewed where it lies), another packet spans chunks.
    const all = [
      ...packets,
      encodeRequest({ type: 'write', id: 4, handle: h, offset: 0, data: Buffer.alloc(40000, 2) }),
    ];
    const stream = Buffer.concat(all);
    for (const size of [1000, 4096, 30000, 65536]) {
      const spent: ArrayBufferLike[] = [];
      // Spent memory is wiped, as if it were reused at once: a packet still viewing it would show it.
      const f = new PacketFramer(MAX_PACKET, undefined, (m) => (spent.push(m), Buffer.from(m).fill(0xee)));
      const chunks: Buffer[] = [];
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) {
        // Each chunk with an ArrayBuffer of its own, as a packet's plaintext has.
        const part = stream.subarray(i, i + size);
        const c = Buffer.allocUnsafeSlow(part.length);
        part.copy(c);
        chunks.push(c);
        got.push(...f.push(c, true));
      }
      assert.deepEqual(
        got.map((b) => decodeRequest(b)),
        all.map((p) => decodeRequest(body(p))),
        `chunks of ${size}`,
      );
      for (const m of spent) {
        assert.ok(
          chunks.some((c) => c.buffer === m),
          'a chunk that was pushed',
        );
        for (const g of got) assert.notEqual(g.buffer, m, 'no packet is a view of a spent chunk');
      }
      assert.equal(new Set(spent).size, spent.length, 'each chunk once');
      // The 70,000-byte WRITE spans chunks of 30,000 or less: the ones wholly inside it are copied.
      if (size <= 30000) assert.ok(spent.length > 0, `chunks of ${size}: something was spent`);
    }
  });

  test('chunks not marked spendable are never spent', () => {
    let calls = 0;
    const f = new PacketFramer(MAX_PACKET, undefined, () => calls++);
    for (let i = 0; i < stream.length; i += 1000) f.push(Buffer.from(stream.subarray(i, i + 1000)));
    assert.equal(f.pending, 0);
    assert.equal(calls, 0);
  });
});

describe('WRITE in pieces', () => {
  const data = Buffer.alloc(50_000, 6);
  const whole = body(encodeRequest({ type: 'write', id: 9, handle: h, offset: 2 ** 40, data }));
  const head = writeHeadLength(whole.subarray(0, 9));

  test('its head length comes from the first 9 bytes; a handle over 256 bytes is not scattered', () => {
    assert.equal(head, 1 + 4 + 4 + h.length + 8 + 4);
    const long = body(encodeRequest({ type: 'write', id: 1, handle: Buffer.alloc(300), offset: 0, data }));
    assert.equal(writeHeadLength(long.subarray(0, 9)), 0);
  });

  test('decodes to the same request, data left in the pieces, handle copied', () => {
    for (const cuts of [[head], [head, head + 1], [head + 10, 30_000], [head + 49_999]]) {
      const pieces = [0, ...cuts].map((c, i, all) => whole.subarray(c, all[i + 1] ?? whole.length));
      const w = decodeScatteredWrite(pieces);
      assert.deepEqual({ ...w, data: Buffer.concat(w.data) }, decodeRequest(whole));
      for (const d of w.data) assert.equal(d.buffer, whole.buffer, 'data not copied');
      assert.notEqual(w.handle.buffer, whole.buffer, 'the handle is a copy');
    }
  });

  test('a data length other than what the pieces hold is a protocol error', () => {
    const bad = Buffer.from(whole);
    bad.writeUInt32BE(data.length + 1, head - 4);
    assert.throws(() => decodeScatteredWrite([bad.subarray(0, head), bad.subarray(head)]), /50001 bytes/);
  });
});

describe('PacketFramer.pushScattering', () => {
  // DATA replies of several sizes between other replies; a DATA whose head is split too.
  const replies: SftpResponse[] = [
    { type: 'data', id: 1, data: Buffer.alloc(70000, 1) },
    { type: 'status', id: 2, code: 0, message: 'ok', language: '' },
    { type: 'data', id: 3, data: Buffer.alloc(3, 3) },
    { type: 'data', id: 4, data: Buffer.alloc(40000, 4) },
    { type: 'data', id: 5, data: Buffer.alloc(9000, 5) },
    { type: 'data', id: 6, data: Buffer.alloc(0) },
  ];
  const stream = Buffer.concat(replies.map((r) => encodeResponse(r)));
  const isData = (head: Buffer) => (head[0] === FXP.DATA ? 9 : 0);

  test('a picked packet that spans chunks comes as views of them, its head whole in the first', () => {
    for (const size of [1, 3, 7, 13, 1000, 4096, 30000, 65536]) {
      const f = new PacketFramer(MAX_PACKET);
      const got: (Buffer | Buffer[])[] = [];
      const chunks: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) {
        const c = Buffer.from(stream.subarray(i, i + size));
        chunks.push(c);
        got.push(...f.pushScattering(c, false, isData));
      }
      assert.equal(f.pending, 0);
      assert.deepEqual(
        got.map((b) => decodeResponse(Array.isArray(b) ? Buffer.concat(b) : b)),
        replies,
        `chunks of ${size}`,
      );
      const scattered = got.filter((b) => Array.isArray(b));
      if (size >= 1000 && size < 40000)
        assert.ok(scattered.length >= 2, `chunks of ${size}: DATA came scattered`);
      for (const pieces of scattered) {
        assert.ok(pieces[0]!.length >= 9, 'the head in the first piece');
        assert.ok(pieces.length <= MAX_PIECES + 1, 'at most MAX_PIECES views and a head');
        assert.equal(pieces[0]![0], FXP.DATA, 'only what was picked');
        // Past a head gathered on its own, the pieces are the chunks' own memory: nothing copied.
        for (const p of pieces.slice(1)) assert.ok(chunks.some((c) => c.buffer === p.buffer));
      }
    }
  });

  test('a packet over more than MAX_PIECES chunks is gathered, one over fewer scattered', () => {
    const big = encodeResponse({ type: 'data', id: 7, data: Buffer.alloc(200_000, 7) });
    const f = new PacketFramer(MAX_PACKET);
    const got: (Buffer | Buffer[])[] = [];
    for (let i = 0; i < big.length; i++) got.push(...f.pushScattering(big.subarray(i, i + 1), false, isData));
    assert.equal(got.length, 1);
    assert.ok(!Array.isArray(got[0]), 'gathered');
    assert.deepEqual(decodeResponse(got[0] as Buffer), {
      type: 'data',
      id: 7,
      data: Buffer.alloc(200_000, 7),
    });
    const g = new PacketFramer(MAX_PACKET);
    const parts: (Buffer | Buffer[])[] = [];
    for (let i = 0; i < big.length; i += 4096)
      parts.push(...g.pushScattering(big.subarray(i, i + 4096), false, isData));
    assert.ok(Array.isArray(parts[0]) && parts[0].length === Math.ceil(big.length / 4096), 'scattered');
  });

  test('memory is spent once the framer and every piece viewing it are done, never while read', () => {
    for (const size of [7, 1000, 4096, 30000]) {
      const spent: ArrayBufferLike[] = [];
      const f = new PacketFramer(MAX_PACKET, undefined, (m) => (spent.push(m), Buffer.from(m).fill(0xee)));
      const chunks: Buffer[] = [];
      const got: (Buffer | Buffer[])[] = [];
      for (let i = 0; i < stream.length; i += size) {
        const part = stream.subarray(i, i + size);
        const c = Buffer.allocUnsafeSlow(part.length);
        part.copy(c);
        chunks.push(c);
        got.push(...f.pushScattering(c, true, isData));
      }
      const decoded = () => got.map((b) => decodeResponse(Array.isArray(b) ? Buffer.concat(b) : b));
      // Nothing a piece still views was spent (it would read 0xee).
      assert.deepEqual(decoded(), replies, `chunks of ${size}, before release`);
      const before = spent.length;
      const scattered = got.filter((b) => Array.isArray(b));
      for (const pieces of scattered) f.release(pieces);
      if (size <= 30000) assert.ok(spent.length > before, `chunks of ${size}: released pieces let memory go`);
      assert.equal(new Set(spent).size, spent.length, 'each once');
      for (const m of spent)
        assert.ok(
          chunks.some((c) => c.buffer === m),
          'a chunk that was pushed',
        );
      // Packets returned whole still read what they viewed.
      for (const [i, b] of got.entries())
        if (!Array.isArray(b)) assert.deepEqual(decodeResponse(b), replies[i]);
    }
  });
});

test('longName looks like ls -l', () => {
  const now = Date.UTC(2026, 5, 1) / 1000;
  const s = longName(
    'file.txt',
    { permissions: 0o100644, size: 12, uid: 1000, gid: 1000, mtime: now - 60 },
    1,
    now,
  );
  assert.match(s, /^-rw-r--r-- +1 1000 +1000 +12 May 31 23:59 file\.txt$/);
  const d = longName('d', { permissions: 0o040755, mtime: 0 }, 2, now);
  assert.match(d, /^drwxr-xr-x +2 .* Jan {2}1 {2}1970 d$/);
});
