import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import {
  decodeChannelOpen,
  decodeChannelOpenConfirmation,
  decodeChannelOpenFailure,
  decodeChannelRequest,
  decodeGlobalRequest,
  encodeChannelOnly,
  encodeChannelOpen,
  encodeChannelOpenConfirmation,
  encodeChannelOpenFailure,
  encodeChannelRequest,
  encodeGlobalRequest,
  encodeWindowAdjust,
  type ChannelRequest,
} from '../../src/wire/connection-messages.js';
import { Msg } from '../../src/wire/numbers.js';
import { SshReader } from '../../src/wire/reader.js';
import { SshWriter } from '../../src/wire/writer.js';

function isProtocolError(e: unknown): boolean {
  return e instanceof SshError && e.code === 'PROTOCOL_ERROR';
}

describe('global requests (RFC 4254 §4)', () => {
  test('round-trip name, want reply and request-specific data', () => {
    const data = new SshWriter().string('0.0.0.0').uint32(8022).finish();
    const p = encodeGlobalRequest('tcpip-forward', true, data);
    assert.equal(p[0], Msg.GLOBAL_REQUEST);
    assert.deepEqual(decodeGlobalRequest(p), { name: 'tcpip-forward', wantReply: true, data });
    const bare = decodeGlobalRequest(encodeGlobalRequest('keepalive@openssh.com', false));
    assert.deepEqual(bare, { name: 'keepalive@openssh.com', wantReply: false, data: Buffer.alloc(0) });
  });

  test('a request without its want-reply byte is refused', () => {
    const p = new SshWriter().byte(Msg.GLOBAL_REQUEST).string('x').finish();
    assert.throws(() => decodeGlobalRequest(p), isProtocolError);
  });
});

describe('channel open and its answers (RFC 4254 §5.1)', () => {
  test('CHANNEL_OPEN round-trips type, ids, window, max packet and extra data', () => {
    const m = {
      channelType: 'direct-tcpip',
      senderChannel: 7,
      initialWindow: 0xffffffff,
      maxPacket: 32768,
      data: Buffer.from('extra'),
    };
    const p = encodeChannelOpen(m);
    assert.equal(p[0], Msg.CHANNEL_OPEN);
    assert.deepEqual(decodeChannelOpen(p), m);
    assert.throws(() => decodeChannelOpen(p.subarray(0, 20)), isProtocolError);
  });

  test('CONFIRMATION round-trips', () => {
    const m = { recipientChannel: 1, senderChannel: 0xfffffffe, initialWindow: 2097152, maxPacket: 32768 };
    const p = encodeChannelOpenConfirmation(m);
    assert.equal(p.length, 17);
    assert.equal(p[0], Msg.CHANNEL_OPEN_CONFIRMATION);
    assert.deepEqual(decodeChannelOpenConfirmation(p), m);
    assert.throws(() => decodeChannelOpenConfirmation(p.subarray(0, 16)), isProtocolError);
  });

  test('FAILURE round-trips reason and description', () => {
    const m = { recipientChannel: 3, reason: 2, description: 'connect failed – refused' };
    const p = encodeChannelOpenFailure(m);
    assert.equal(p[0], Msg.CHANNEL_OPEN_FAILURE);
    assert.deepEqual(decodeChannelOpenFailure(p), m);
    assert.throws(() => decodeChannelOpenFailure(p.subarray(0, 12)), isProtocolError);
  });
});

describe('fixed-shape channel messages', () => {
  test('EOF/CLOSE/SUCCESS/FAILURE are the number and the recipient', () => {
    for (const type of [Msg.CHANNEL_EOF, Msg.CHANNEL_CLOSE, Msg.CHANNEL_SUCCESS, Msg.CHANNEL_FAILURE]) {
      assert.deepEqual(encodeChannelOnly(type, 0x01020304), Buffer.from([type, 1, 2, 3, 4]));
    }
  });

  test('WINDOW_ADJUST is the number, the recipient and the bytes to add', () => {
    assert.deepEqual(
      encodeWindowAdjust(5, 0x80000000),
      Buffer.from([Msg.CHANNEL_WINDOW_ADJUST, 0, 0, 0, 5, 0x80, 0, 0, 0]),
    );
  });
});

describe('channel requests (RFC 4254 §6)', () => {
  const requests: ChannelRequest[] = [
    {
      type: 'pty-req',
      wantReply: true,
      terminal: 'xterm-256color',
      cols: 132,
      rows: 43,
      width: 1024,
      height: 768,
      modes: Buffer.from([53, 0, 0, 0, 1, 0]),
    },
    { type: 'env', wantReply: false, name: 'LANG', value: 'sv_SE.UTF-8' },
    { type: 'shell', wantReply: true },
    { type: 'exec', wantReply: true, command: 'echo "hällo"' },
    { type: 'subsystem', wantReply: true, name: 'sftp' },
    { type: 'window-change', wantReply: false, cols: 80, rows: 24, width: 0, height: 0 },
    { type: 'xon-xoff', wantReply: false, clientCanDo: true },
    { type: 'signal', wantReply: false, signal: 'INT' },
    { type: 'exit-status', wantReply: false, status: 0xffffffff },
    {
      type: 'exit-signal',
      wantReply: false,
      signal: 'KILL',
      coreDumped: true,
      errorMessage: 'killed',
      language: 'en',
    },
    { type: 'other', name: 'keepalive@openssh.com', wantReply: true, data: Buffer.alloc(0) },
    { type: 'other', name: 'x-custom@example.com', wantReply: false, data: Buffer.from([1, 2, 3]) },
  ];

  for (const request of requests) {
    const name = request.type === 'other' ? request.name : request.type;
    test(`${name} round-trips`, () => {
      const p = encodeChannelRequest(42, request);
      assert.equal(p[0], Msg.CHANNEL_REQUEST);
      const r = new SshReader(p, 1);
      assert.equal(r.uint32(), 42);
      assert.equal(r.ascii(), name);
      assert.equal(r.boolean(), request.wantReply);
      assert.deepEqual(decodeChannelRequest(p), { recipient: 42, request });
    });
  }

  test('exit-status is the uint32 of RFC 4254 §6.10', () => {
    const p = encodeChannelRequest(0, { type: 'exit-status', wantReply: false, status: 3 });
    assert.equal(p.subarray(p.length - 4).readUInt32BE(0), 3);
    assert.equal(p.length, 1 + 4 + 4 + 'exit-status'.length + 1 + 4);
  });

  test('exit-signal without a language tag decodes with an empty one', () => {
    const p = new SshWriter()
      .byte(Msg.CHANNEL_REQUEST)
      .uint32(1)
      .string('exit-signal')
      .boolean(false)
      .string('TERM')
      .boolean(false)
      .string('terminated')
      .finish();
    const { request } = decodeChannelRequest(p);
    assert.deepEqual(request, {
      type: 'exit-signal',
      wantReply: false,
      signal: 'TERM',
      coreDumped: false,
      errorMessage: 'terminated',
      language: '',
    });
  });

  test('truncated requests of every known type are refused', () => {
    for (const request of requests) {
      if (request.type === 'other' || request.type === 'shell') continue;
      const p = encodeChannelRequest(1, request);
      assert.throws(
        () => decodeChannelRequest(p.subarray(0, p.length - 1)),
        isProtocolError,
        `${request.type} cut by one byte`,
      );
    }
    assert.throws(
      () => decodeChannelRequest(Buffer.from([Msg.CHANNEL_REQUEST, 0, 0, 0, 1])),
      isProtocolError,
    );
  });

  test('an unknown request type with an absurdly long name is refused', () => {
    const p = new SshWriter()
      .byte(Msg.CHANNEL_REQUEST)
      .uint32(0)
      .string('z'.repeat(257))
      .boolean(false)
      .finish();
    assert.throws(() => decodeChannelRequest(p), isProtocolError);
  });
});
