import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import { Msg } from '../../src/wire/numbers.js';
import {
  decodeDebug,
  decodeDisconnect,
  decodeExtInfo,
  decodeKexEcdhInit,
  decodeKexEcdhReply,
  decodeKexInit,
  decodeServiceName,
  encodeDebug,
  encodeDisconnect,
  encodeExtInfo,
  encodeIgnore,
  encodeKexEcdhInit,
  encodeKexEcdhReply,
  encodeKexInit,
  encodeServiceAccept,
  encodeServiceRequest,
  encodeUnimplemented,
  type KexInitLists,
} from '../../src/wire/transport-messages.js';
import { SshReader } from '../../src/wire/reader.js';
import { SshWriter } from '../../src/wire/writer.js';

function isProtocolError(e: unknown): boolean {
  return e instanceof SshError && e.code === 'PROTOCOL_ERROR';
}

const lists: KexInitLists = {
  kex: ['curve25519-sha256', 'ext-info-c', 'kex-strict-c-v00@openssh.com'],
  hostKey: ['ssh-ed25519', 'rsa-sha2-512'],
  cipherC2S: ['aes128-gcm@openssh.com', 'aes128-ctr'],
  cipherS2C: ['chacha20-poly1305@openssh.com'],
  macC2S: ['hmac-sha2-256-etm@openssh.com'],
  macS2C: ['hmac-sha2-512'],
  compressionC2S: ['none'],
  compressionS2C: ['none', 'zlib@openssh.com'],
  languageC2S: [],
  languageS2C: ['en'],
};

describe('KEXINIT (RFC 4253 §7.1)', () => {
  test('round-trips the cookie, the ten lists and first_kex_packet_follows', () => {
    const cookie = randomBytes(16);
    for (const follows of [false, true]) {
      const payload = encodeKexInit(cookie, lists, follows);
      assert.equal(payload[0], Msg.KEXINIT);
      const k = decodeKexInit(payload);
      assert.deepEqual(k.cookie, cookie);
      for (const key of Object.keys(lists) as (keyof KexInitLists)[]) assert.deepEqual(k[key], lists[key]);
      assert.equal(k.firstKexPacketFollows, follows);
      assert.equal(k.payload, payload, 'the exact payload is kept for the exchange hash');
    }
  });

  test('has the field layout of RFC 4253 §7.1, ending with a zero reserved uint32', () => {
    const cookie = Buffer.alloc(16, 0xcc);
    const payload = encodeKexInit(cookie, lists, true);
    const r = new SshReader(payload);
    assert.equal(r.byte(), 20);
    assert.deepEqual(r.raw(16), cookie);
    assert.deepEqual(r.nameList(), lists.kex);
    for (let i = 1; i < 10; i++) r.nameList();
    assert.equal(r.byte(), 1);
    assert.equal(r.uint32(), 0);
    r.done('KEXINIT');
  });

  test('a truncated KEXINIT is refused at every cut', () => {
    const payload = encodeKexInit(randomBytes(16), lists);
    for (let cut = 1; cut < payload.length; cut += 7) {
      assert.throws(() => decodeKexInit(payload.subarray(0, cut)), isProtocolError, `cut at ${cut}`);
    }
    assert.throws(() => decodeKexInit(payload.subarray(0, payload.length - 1)), isProtocolError);
  });

  test('a name-list longer than 64 KiB is refused', () => {
    const w = new SshWriter().byte(Msg.KEXINIT).raw(Buffer.alloc(16));
    w.string('a'.repeat(64 * 1024 + 1));
    for (let i = 1; i < 10; i++) w.nameList([]);
    w.boolean(false).uint32(0);
    assert.throws(
      () => decodeKexInit(w.finish()),
      (e: unknown) => {
        assert.ok(isProtocolError(e));
        assert.match((e as Error).message, /kex list is 65537 bytes long/);
        return true;
      },
    );
  });

  test('trailing bytes after the reserved field are tolerated', () => {
    const payload = Buffer.concat([encodeKexInit(Buffer.alloc(16), lists), Buffer.from([1, 2, 3])]);
    assert.deepEqual(decodeKexInit(payload).kex, lists.kex);
  });
});

describe('DISCONNECT, IGNORE, DEBUG, UNIMPLEMENTED, SERVICE_*', () => {
  test('DISCONNECT round-trips its reason and description (RFC 4253 §11.1)', () => {
    const p = encodeDisconnect(14, 'no more methods – ünïcode');
    assert.equal(p[0], Msg.DISCONNECT);
    assert.deepEqual(decodeDisconnect(p), {
      reason: 14,
      description: 'no more methods – ünïcode',
      language: '',
    });
  });

  test('DISCONNECT without a language tag is accepted; a cut description is not', () => {
    const noLang = new SshWriter().byte(Msg.DISCONNECT).uint32(2).string('bye').finish();
    assert.deepEqual(decodeDisconnect(noLang), { reason: 2, description: 'bye', language: '' });
    assert.throws(() => decodeDisconnect(noLang.subarray(0, noLang.length - 1)), isProtocolError);
    assert.throws(() => decodeDisconnect(Buffer.from([Msg.DISCONNECT, 0, 0])), isProtocolError);
  });

  test('IGNORE carries a string of data', () => {
    const p = encodeIgnore(Buffer.from('xyz'));
    assert.equal(p[0], Msg.IGNORE);
    assert.equal(new SshReader(p, 1).ascii(), 'xyz');
    assert.deepEqual(encodeIgnore(), Buffer.from([Msg.IGNORE, 0, 0, 0, 0]));
  });

  test('DEBUG round-trips always_display and the message (RFC 4253 §11.3)', () => {
    for (const always of [true, false]) {
      const d = decodeDebug(encodeDebug(always, 'a debug line'));
      assert.deepEqual(d, { alwaysDisplay: always, message: 'a debug line', language: '' });
    }
    assert.throws(() => decodeDebug(Buffer.from([Msg.DEBUG, 1, 0, 0, 0, 9, 0x41])), isProtocolError);
  });

  test('UNIMPLEMENTED carries the rejected sequence number', () => {
    const p = encodeUnimplemented(0xfffffffe);
    assert.deepEqual(p, Buffer.from([Msg.UNIMPLEMENTED, 0xff, 0xff, 0xff, 0xfe]));
  });

  test('SERVICE_REQUEST and SERVICE_ACCEPT carry the service name', () => {
    const req = encodeServiceRequest('ssh-userauth');
    const acc = encodeServiceAccept('ssh-connection');
    assert.equal(req[0], Msg.SERVICE_REQUEST);
    assert.equal(acc[0], Msg.SERVICE_ACCEPT);
    assert.equal(decodeServiceName(req), 'ssh-userauth');
    assert.equal(decodeServiceName(acc), 'ssh-connection');
    assert.throws(
      () => decodeServiceName(Buffer.from([Msg.SERVICE_REQUEST, 0, 0, 0, 4, 0x73])),
      isProtocolError,
    );
  });
});

describe('EXT_INFO (RFC 8308 §2.3)', () => {
  test('round-trips extension names and values in order', () => {
    const ext = new Map<string, Buffer | string>([
      ['server-sig-algs', 'ssh-ed25519,rsa-sha2-256'],
      ['no-flow-control', Buffer.from('p')],
    ]);
    const p = encodeExtInfo(ext);
    assert.equal(p[0], Msg.EXT_INFO);
    const out = decodeExtInfo(p);
    assert.deepEqual([...out.keys()], ['server-sig-algs', 'no-flow-control']);
    assert.equal(out.get('server-sig-algs')!.toString(), 'ssh-ed25519,rsa-sha2-256');
    assert.equal(out.get('no-flow-control')!.toString(), 'p');
  });

  test('an announced count beyond what follows is refused, and absurd counts outright', () => {
    const short = new SshWriter().byte(Msg.EXT_INFO).uint32(2).string('a').string('b').finish();
    assert.throws(() => decodeExtInfo(short), isProtocolError);
    const huge = new SshWriter().byte(Msg.EXT_INFO).uint32(0xffffffff).finish();
    assert.throws(
      () => decodeExtInfo(huge),
      (e: unknown) => {
        assert.ok(isProtocolError(e));
        assert.match((e as Error).message, /EXT_INFO announces 4294967295 extensions/);
        return true;
      },
    );
  });
});

describe('KEX_ECDH_INIT / KEX_ECDH_REPLY (RFC 5656 §4, RFC 8731)', () => {
  test('INIT round-trips Q_C and refuses trailing bytes', () => {
    const q = randomBytes(32);
    const p = encodeKexEcdhInit(q);
    assert.equal(p[0], Msg.KEX_ECDH_INIT);
    assert.deepEqual(decodeKexEcdhInit(p), q);
    assert.throws(() => decodeKexEcdhInit(Buffer.concat([p, Buffer.from([0])])), isProtocolError);
    assert.throws(() => decodeKexEcdhInit(p.subarray(0, 20)), isProtocolError);
  });

  test('REPLY round-trips K_S, Q_S and the signature and refuses trailing bytes', () => {
    const m = { hostKey: randomBytes(51), serverPublic: randomBytes(32), signature: randomBytes(83) };
    const p = encodeKexEcdhReply(m);
    assert.equal(p[0], Msg.KEX_ECDH_REPLY);
    assert.deepEqual(decodeKexEcdhReply(p), m);
    assert.throws(() => decodeKexEcdhReply(Buffer.concat([p, Buffer.from([0])])), isProtocolError);
    assert.throws(() => decodeKexEcdhReply(p.subarray(0, p.length - 1)), isProtocolError);
  });
});
