import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  GRANT_GRACE_MS,
  MuxCore,
  type ChannelParams,
  type ChannelSink,
  type MuxChannel,
  type MuxHandler,
  type MuxLimits,
  type MuxLink,
} from '../../src/connection/mux.js';
import type { Reply } from '../../src/connection/replies.js';
import { SshError } from '../../src/errors.js';
import { MAX_PAYLOAD_LENGTH, PacketFramer, type OpenPacket } from '../../src/transport/packet.js';
import {
  decodeChannelOpen,
  decodeGlobalRequest,
  decodeChannelOpenFailure,
  decodeChannelRequest,
  encodeChannelOnly,
  encodeChannelOpen,
  encodeChannelOpenConfirmation,
  encodeChannelOpenFailure,
  encodeChannelRequest,
  encodeGlobalRequest,
  encodeWindowAdjust,
  type ChannelOpen,
  type ChannelRequest,
  type GlobalRequest,
} from '../../src/wire/connection-messages.js';
import { ChannelOpenFailure, Msg } from '../../src/wire/numbers.js';
import { SshWriter } from '../../src/wire/writer.js';

/** A MuxLink that records every payload, whether sent whole or built in place as a data packet. */
class FakeLink implements MuxLink {
  readonly sent: Buffer[] = [];
  /** Payloads that went through openPacket/sealPacket (channel data). */
  readonly sealed: Buffer[] = [];
  blocked = false;
  full = false;
  private readonly framer = new PacketFramer();

  get sendBlocked(): boolean {
    return this.blocked;
  }
  send(payload: Buffer): void {
    this.sent.push(Buffer.from(payload));
  }
  openPacket(headLength: number, body: Buffer): OpenPacket {
    return this.framer.open(headLength, body);
  }
  sealPacket(p: OpenPacket): void {
    const payload = Buffer.concat([p.buf.subarray(p.payloadOffset, p.payloadOffset + p.headLength), p.body]);
    this.sent.push(payload);
    this.sealed.push(payload);
  }
  outputFull(): boolean {
    return this.full;
  }
  /** Net pauses asked for (pauseInput +1, resumeInput -1). */
  pauses = 0;
  pauseInput(): void {
    this.pauses++;
  }
  resumeInput(): void {
    this.pauses--;
  }
  /** Everything sent so far, and forget it. */
  take(): Buffer[] {
    return this.sent.splice(0);
  }
}

/** A link that lets the mux hold short ends of writes, as the connection does; counts the asks. */
class HoldingLink extends FakeLink {
  asks = 0;
  onHeld(): void {
    this.asks++;
  }
}

/** What a channel's owner saw. */
class RecordingSink implements ChannelSink {
  readonly events: string[] = [];
  readonly data: Buffer[] = [];
  readonly requests: ChannelRequest[] = [];
  openFailed: SshError | undefined;
  closeError: SshError | undefined;
  onOpenConfirmed(): void {
    this.events.push('confirmed');
  }
  onOpenFailed(error: SshError): void {
    this.openFailed = error;
    this.events.push('openFailed');
  }
  onData(data: Buffer, dataType: number): void {
    this.data.push(Buffer.from(data));
    this.events.push(`data:${dataType}:${data.length}`);
  }
  onEof(): void {
    this.events.push('eof');
  }
  /** The answers of the requests that wanted one, in arrival order. */
  readonly answers: ((ok: boolean) => void)[] = [];
  onRequest(request: ChannelRequest, reply: ((ok: boolean) => void) | undefined): void {
    this.requests.push(request);
    if (reply) this.answers.push(reply);
    this.events.push(`request:${request.type}`);
  }
  onClose(error?: SshError): void {
    this.closeError = error;
    this.events.push('close');
  }
}

interface Setup {
  link: FakeLink;
  mux: MuxCore;
  opens: ChannelOpen[];
  globals: GlobalRequest[];
  handler: {
    onChannelOpen: MuxHandler['onChannelOpen'];
    globalVerdict: boolean;
    /** When set, global requests are answered by the test through `globalAnswers`. */
    deferGlobals: boolean;
  };
  globalAnswers: Reply[];
}

function setup(
  defaults: ChannelParams = { initialWindow: 1000, maxPacket: 500 },
  limits: MuxLimits = {},
  now: () => number = () => 0,
  link: FakeLink = new FakeLink(),
): Setup {
  const opens: ChannelOpen[] = [];
  const globals: GlobalRequest[] = [];
  const globalAnswers: Reply[] = [];
  const handler = {
    globalVerdict: false,
    deferGlobals: false,
    onChannelOpen: ((open, _accept, reject) => {
      opens.push(open);
      reject(ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED, 'no');
    }) as MuxHandler['onChannelOpen'],
  };
  const mux = new MuxCore(
    link,
    {
      onChannelOpen: (open, accept, reject) => handler.onChannelOpen(open, accept, reject),
      onGlobalRequest: (r, reply) => {
        globals.push(r);
        if (!reply) return;
        if (handler.deferGlobals) globalAnswers.push(reply);
        else reply(handler.globalVerdict);
      },
    },
    defaults,
    limits,
    now,
  );
  return { link, mux, opens, globals, handler, globalAnswers };
}

const PEER_ID = 77;

/** Opens a channel from our side and confirms it as the peer would. */
function openConfirmed(
  s: Setup,
  peer: { window: number; maxPacket: number },
  params?: Partial<ChannelParams>,
): { ch: MuxChannel; sink: RecordingSink } {
  const sink = new RecordingSink();
  const ch = s.mux.openChannel('session', Buffer.alloc(0), sink, params);
  const open = decodeChannelOpen(s.link.take()[0]!);
  assert.equal(open.channelType, 'session');
  assert.equal(open.senderChannel, ch.localId);
  s.mux.handle(
    encodeChannelOpenConfirmation({
      recipientChannel: ch.localId,
      senderChannel: PEER_ID,
      initialWindow: peer.window,
      maxPacket: peer.maxPacket,
    }),
  );
  assert.equal(ch.state, 'open');
  assert.deepEqual(sink.events, ['confirmed']);
  return { ch, sink };
}

interface Decoded {
  type: number;
  recipient?: number;
  data?: Buffer;
  dataType?: number;
  bytes?: number;
  request?: ChannelRequest;
}

function decode(p: Buffer): Decoded {
  const type = p[0]!;
  switch (type) {
    case Msg.CHANNEL_DATA: {
      const len = p.readUInt32BE(5);
      assert.equal(len, p.length - 9, 'data length field matches the packet');
      return { type, recipient: p.readUInt32BE(1), data: p.subarray(9) };
    }
    case Msg.CHANNEL_EXTENDED_DATA: {
      const len = p.readUInt32BE(9);
      assert.equal(len, p.length - 13);
      return { type, recipient: p.readUInt32BE(1), dataType: p.readUInt32BE(5), data: p.subarray(13) };
    }
    case Msg.CHANNEL_WINDOW_ADJUST:
      return { type, recipient: p.readUInt32BE(1), bytes: p.readUInt32BE(5) };
    case Msg.CHANNEL_REQUEST: {
      const { recipient, request } = decodeChannelRequest(p);
      return { type, recipient, request };
    }
    default:
      return p.length >= 5 ? { type, recipient: p.readUInt32BE(1) } : { type };
  }
}

/** A compact trace of what was sent: `data:300`, `eof`, `exit-status`, `close`, ... */
function trace(payloads: Buffer[]): string[] {
  return payloads.map((p) => {
    const d = decode(p);
    switch (d.type) {
      case Msg.CHANNEL_DATA:
        return `data:${d.data!.length}`;
      case Msg.CHANNEL_EXTENDED_DATA:
        return `ext${d.dataType}:${d.data!.length}`;
      case Msg.CHANNEL_EOF:
        return 'eof';
      case Msg.CHANNEL_CLOSE:
        return 'close';
      case Msg.CHANNEL_WINDOW_ADJUST:
        return `adjust:${d.bytes}`;
      case Msg.CHANNEL_REQUEST:
        return d.request!.type === 'other' ? d.request!.name : d.request!.type;
      case Msg.CHANNEL_SUCCESS:
        return 'success';
      case Msg.CHANNEL_FAILURE:
        return 'failure';
      default:
        return `msg${d.type}`;
    }
  });
}

function peerData(recipient: number, data: Buffer, dataType = 0): Buffer {
  const w = new SshWriter()
    .byte(dataType === 0 ? Msg.CHANNEL_DATA : Msg.CHANNEL_EXTENDED_DATA)
    .uint32(recipient);
  if (dataType !== 0) w.uint32(dataType);
  return w.string(data).finish();
}

function bytes(n: number, seed = 1): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
}

function isProtocolError(re?: RegExp) {
  return (e: unknown) => e instanceof SshError && e.code === 'PROTOCOL_ERROR' && (!re || re.test(e.message));
}

describe('MuxCore send side: flow control (RFC 4254 §5.2)', () => {
  test("never more than the peer's window or maximum packet; resumes on WINDOW_ADJUST", () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 1000, maxPacket: 300 });
    const input = bytes(2500);
    let done = false;
    s.mux.write(ch, input, 0, (e) => {
      assert.equal(e, undefined);
      done = true;
    });
    assert.deepEqual(trace(s.link.sent), ['data:300', 'data:300', 'data:300', 'data:100']);
    assert.equal(ch.remoteWindow, 0);
    assert.equal(done, false, 'not done while data waits for window');
    assert.equal(ch.queuedBytes, 1500);

    s.mux.handle(encodeWindowAdjust(ch.localId, 700));
    assert.deepEqual(trace(s.link.sent.slice(4)), ['data:300', 'data:300', 'data:100']);
    assert.equal(done, false);

    s.mux.handle(encodeWindowAdjust(ch.localId, 100_000));
    assert.deepEqual(trace(s.link.sent.slice(7)), ['data:300', 'data:300', 'data:200']);
    assert.equal(done, true);
    assert.equal(ch.remoteWindow, 100_000 - 800);

    const sent = s.link.take().map(decode);
    assert.ok(sent.every((d) => d.recipient === PEER_ID));
    assert.deepEqual(Buffer.concat(sent.map((d) => d.data!)), input, 'the bytes arrive whole and in order');
    assert.ok(sent.every((d) => d.data!.length <= 300));
  });

  test('data written before the open is confirmed waits for the confirmation', () => {
    const s = setup();
    const sink = new RecordingSink();
    const ch = s.mux.openChannel('session', Buffer.alloc(0), sink);
    s.link.take();
    s.mux.write(ch, bytes(50));
    assert.deepEqual(s.link.sent, []);
    s.mux.handle(
      encodeChannelOpenConfirmation({
        recipientChannel: ch.localId,
        senderChannel: 5,
        initialWindow: 20,
        maxPacket: 1000,
      }),
    );
    assert.deepEqual(trace(s.link.take()), ['data:20']);
  });

  test('extended data (stderr) shares the window and keeps its type', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 100, maxPacket: 64 });
    s.mux.write(ch, bytes(80), 0);
    s.mux.write(ch, bytes(80), 1);
    assert.deepEqual(trace(s.link.take()), ['data:64', 'data:16', 'ext1:20']);
    s.mux.handle(encodeWindowAdjust(ch.localId, 1000));
    assert.deepEqual(trace(s.link.take()), ['ext1:60']);
  });

  test("a peer's huge maximum packet is capped so a data packet always fits our packet limit", () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 0xffffffff, maxPacket: 0xffffffff });
    s.mux.write(ch, Buffer.alloc(MAX_PAYLOAD_LENGTH * 2));
    const sizes = s.link.take().map((p) => p.length);
    assert.ok(sizes.length >= 3);
    assert.ok(
      sizes.every((n) => n <= MAX_PAYLOAD_LENGTH),
      `payload sizes ${sizes.join(',')}`,
    );
  });

  test('a window adjust beyond 2^32 - 1 is clamped', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 0xfffffff0, maxPacket: 1000 });
    s.mux.handle(encodeWindowAdjust(ch.localId, 0x100));
    assert.equal(ch.remoteWindow, 0xffffffff);
  });

  test('a full output holds data until resume(); so does a key exchange', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 10_000, maxPacket: 1000 });
    s.link.full = true;
    let done = false;
    s.mux.write(ch, bytes(2500), 0, () => (done = true));
    assert.deepEqual(s.link.sent, []);
    s.mux.sendEof(ch);
    assert.deepEqual(s.link.sent, [], 'EOF waits behind the data');
    s.link.full = false;
    s.mux.resume();
    assert.deepEqual(trace(s.link.take()), ['data:1000', 'data:1000', 'data:500', 'eof']);
    assert.equal(done, true);
  });

  test('a key exchange in progress holds data packets until resume()', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 10_000, maxPacket: 1000 });
    s.link.blocked = true;
    s.mux.write(ch, bytes(10));
    s.mux.close(ch);
    assert.deepEqual(s.link.sent, [], 'no data packet while the transport is re-keying');
    s.link.blocked = false;
    s.mux.resume();
    assert.deepEqual(trace(s.link.take()), ['data:10', 'close']);
  });

  test('output that fills up midway stops, and resume() sends the rest in order', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 10_000, maxPacket: 100 });
    let calls = 0;
    s.link.outputFull = () => ++calls > 2;
    s.mux.write(ch, bytes(450));
    assert.deepEqual(trace(s.link.sent), ['data:100', 'data:100']);
    s.link.outputFull = () => false;
    s.mux.resume();
    assert.deepEqual(trace(s.link.sent), ['data:100', 'data:100', 'data:100', 'data:100', 'data:50']);
    assert.deepEqual(Buffer.concat(s.link.take().map((p) => decode(p).data!)), bytes(450));
  });
});

describe('MuxCore receive side', () => {
  test('data within our window is delivered; one byte beyond it is a protocol error', () => {
    const s = setup({ initialWindow: 1000, maxPacket: 500 });
    const { ch, sink } = openConfirmed(s, { window: 0, maxPacket: 100 });
    s.mux.handle(peerData(ch.localId, bytes(500)));
    s.mux.handle(peerData(ch.localId, bytes(500), 1));
    assert.equal(ch.localWindow, 0);
    assert.deepEqual(sink.events.slice(1), ['data:0:500', 'data:1:500']);
    assert.throws(
      () => s.mux.handle(peerData(ch.localId, bytes(1))),
      isProtocolError(/peer sent 1 bytes with 0 bytes of window left/),
    );
  });

  test('a window adjust is sent once half the window has been consumed', () => {
    const s = setup({ initialWindow: 1000, maxPacket: 500 });
    const { ch } = openConfirmed(s, { window: 0, maxPacket: 100 });
    s.mux.handle(peerData(ch.localId, bytes(300)));
    s.mux.consumed(ch, 300);
    assert.deepEqual(s.link.sent, [], 'no adjust below half the window');
    s.mux.handle(peerData(ch.localId, bytes(300)));
    s.mux.consumed(ch, 199);
    assert.deepEqual(s.link.sent, []);
    s.mux.consumed(ch, 101);
    assert.deepEqual(trace(s.link.take()), ['adjust:600']);
    assert.equal(ch.localWindow, 1000);
  });

  test('the adjust goes to the peer’s channel id', () => {
    const s = setup({ initialWindow: 100, maxPacket: 100 });
    const { ch } = openConfirmed(s, { window: 0, maxPacket: 100 });
    s.mux.handle(peerData(ch.localId, bytes(60)));
    s.mux.consumed(ch, 60);
    const [adj] = s.link.take().map(decode);
    assert.deepEqual(adj, { type: Msg.CHANNEL_WINDOW_ADJUST, recipient: PEER_ID, bytes: 60 });
  });

  test('data whose length field disagrees with the packet, or for an unknown channel, is refused', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 0, maxPacket: 100 });
    const bad = peerData(ch.localId, bytes(10));
    bad.writeUInt32BE(11, 5);
    assert.throws(() => s.mux.handle(bad), isProtocolError(/length does not match/));
    assert.throws(() => s.mux.handle(peerData(999, bytes(1))), isProtocolError(/not open/));
    assert.throws(() => s.mux.handle(Buffer.from([Msg.CHANNEL_DATA, 0, 0])), isProtocolError());
    assert.throws(() => s.mux.handle(encodeWindowAdjust(12345, 1)), isProtocolError(/unknown channel 12345/));
  });

  test('messages for a channel whose open is not confirmed yet are protocol errors', () => {
    const s = setup();
    const sink = new RecordingSink();
    const ch = s.mux.openChannel('session', Buffer.alloc(0), sink);
    s.mux.write(ch, bytes(10));
    s.link.take();
    const messages = [
      encodeChannelOnly(Msg.CHANNEL_CLOSE, ch.localId),
      encodeChannelOnly(Msg.CHANNEL_EOF, ch.localId),
      encodeWindowAdjust(ch.localId, 100),
      encodeChannelRequest(ch.localId, { type: 'exit-status', wantReply: false, status: 0 }),
      peerData(ch.localId, bytes(1)),
    ];
    for (const m of messages) {
      assert.throws(() => s.mux.handle(m), isProtocolError(), `message ${m[0]}`);
    }
    assert.deepEqual(sink.events, [], 'nothing reached the channel');
    assert.deepEqual(s.link.sent, [], 'nothing was sent for it');
  });

  test('data after the peer’s EOF is dropped, not delivered', () => {
    const s = setup();
    const { ch, sink } = openConfirmed(s, { window: 0, maxPacket: 100 });
    s.mux.handle(peerData(ch.localId, bytes(5)));
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_EOF, ch.localId));
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_EOF, ch.localId));
    s.mux.handle(peerData(ch.localId, bytes(5)));
    assert.deepEqual(sink.events.slice(1), ['data:0:5', 'eof']);
  });
});

describe('MuxCore ordering of EOF, exit status and CLOSE', () => {
  test('EOF, exit-status and CLOSE wait behind pending data and keep their order', () => {
    const s = setup();
    const { ch, sink } = openConfirmed(s, { window: 500, maxPacket: 1000 });
    s.mux.write(ch, bytes(1200));
    s.mux.sendEof(ch);
    s.mux.request(ch, { type: 'exit-status', wantReply: false, status: 3 });
    s.mux.request(ch, {
      type: 'exit-signal',
      wantReply: false,
      signal: 'TERM',
      coreDumped: false,
      errorMessage: '',
      language: '',
    });
    s.mux.close(ch);
    assert.deepEqual(trace(s.link.take()), ['data:500']);
    s.mux.handle(encodeWindowAdjust(ch.localId, 400));
    assert.deepEqual(trace(s.link.take()), ['data:400']);
    s.mux.handle(encodeWindowAdjust(ch.localId, 400));
    assert.deepEqual(trace(s.link.take()), ['data:300', 'eof', 'exit-status', 'exit-signal', 'close']);
    assert.equal(ch.sentClose, true);
    assert.equal(ch.state, 'open', 'still in the table until the peer answers the CLOSE');
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_CLOSE, ch.localId));
    assert.deepEqual(s.link.sent, [], 'an answered CLOSE is not answered again');
    assert.equal(ch.state, 'closed');
    assert.equal(s.mux.channel(ch.localId), undefined);
    assert.deepEqual(sink.events.slice(-1), ['close']);
  });

  test('with nothing queued, EOF and CLOSE go out at once; a status request is sent right away', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 500, maxPacket: 1000 });
    s.mux.request(ch, { type: 'exit-status', wantReply: false, status: 0 });
    s.mux.sendEof(ch);
    s.mux.sendEof(ch);
    s.mux.close(ch);
    s.mux.close(ch);
    assert.deepEqual(trace(s.link.take()), ['exit-status', 'eof', 'close']);
  });

  test('writes after EOF or CLOSE are refused with CLOSED', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 500, maxPacket: 1000 });
    s.mux.sendEof(ch);
    const errors: (SshError | undefined)[] = [];
    s.mux.write(ch, bytes(1), 0, (e) => errors.push(e));
    s.mux.close(ch);
    s.mux.write(ch, bytes(1), 0, (e) => errors.push(e));
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e instanceof SshError && e.code === 'CLOSED'));
    assert.deepEqual(trace(s.link.take()), ['eof', 'close']);
  });

  test('a CLOSE asked for while the open is pending is sent once the open is confirmed', () => {
    const s = setup();
    const sink = new RecordingSink();
    const ch = s.mux.openChannel('session', Buffer.alloc(0), sink);
    s.link.take();
    s.mux.close(ch);
    assert.deepEqual(s.link.sent, []);
    s.mux.handle(
      encodeChannelOpenConfirmation({
        recipientChannel: ch.localId,
        senderChannel: 9,
        initialWindow: 10,
        maxPacket: 10,
      }),
    );
    assert.deepEqual(s.link.take().map(decode), [{ type: Msg.CHANNEL_CLOSE, recipient: 9 }]);
    assert.ok(!sink.events.includes('confirmed'));
  });
});

describe('MuxCore: CLOSE from the peer', () => {
  test('is answered with CLOSE; queued data is dropped and its writer told', () => {
    const s = setup();
    const { ch, sink } = openConfirmed(s, { window: 10, maxPacket: 1000 });
    let error: SshError | undefined;
    s.mux.write(ch, bytes(100), 0, (e) => (error = e));
    s.link.take();
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_CLOSE, ch.localId));
    assert.deepEqual(s.link.take().map(decode), [{ type: Msg.CHANNEL_CLOSE, recipient: PEER_ID }]);
    assert.equal(error?.code, 'CLOSED');
    assert.equal(ch.state, 'closed');
    assert.deepEqual(sink.events.slice(-1), ['close']);
    assert.equal(s.mux.channelCount, 0);
  });

  test('what the peer sends for a channel just closed is ignored, as OpenSSH does (paramiko sends WINDOW_ADJUST after its own CLOSE)', () => {
    const s = setup();
    const { ch, sink } = openConfirmed(s, { window: 10, maxPacket: 1000 });
    void s.mux.close(ch);
    s.link.take();
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_CLOSE, ch.localId));
    assert.equal(ch.state, 'closed');
    const events = sink.events.length;
    const late = [
      encodeWindowAdjust(ch.localId, 4096),
      peerData(ch.localId, bytes(5)),
      peerData(ch.localId, bytes(5), 1),
      encodeChannelOnly(Msg.CHANNEL_EOF, ch.localId),
      encodeChannelRequest(ch.localId, { type: 'signal', wantReply: true, signal: 'INT' }),
      encodeChannelOnly(Msg.CHANNEL_SUCCESS, ch.localId),
      encodeChannelOnly(Msg.CHANNEL_CLOSE, ch.localId),
    ];
    for (const m of late) assert.doesNotThrow(() => s.mux.handle(m));
    assert.deepEqual(s.link.take(), [], 'nothing is sent for a closed channel');
    assert.equal(sink.events.length, events, 'its owner hears nothing more');
  });

  test('a channel number that was never opened, or closed long ago, is still a protocol error', () => {
    const s = setup();
    const first = openConfirmed(s, { window: 10, maxPacket: 1000 }).ch;
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_CLOSE, first.localId));
    s.link.take();
    assert.throws(
      () => s.mux.handle(encodeWindowAdjust(first.localId + 1000, 1)),
      isProtocolError(/unknown channel/),
    );
    // The record is small and bounded: after many more channels have closed, the first is forgotten.
    for (let i = 0; i < 40; i++) {
      const { ch } = openConfirmed(s, { window: 10, maxPacket: 1000 });
      s.mux.handle(encodeChannelOnly(Msg.CHANNEL_CLOSE, ch.localId));
      s.link.take();
    }
    assert.throws(
      () => s.mux.handle(encodeWindowAdjust(first.localId, 1)),
      isProtocolError(/unknown channel/),
    );
    assert.throws(() => s.mux.handle(peerData(first.localId, bytes(1))), isProtocolError(/not open/));
  });

  test('pending request replies fail when the channel closes', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 10, maxPacket: 1000 });
    const replies: boolean[] = [];
    s.mux.request(ch, { type: 'shell', wantReply: true }, (ok) => replies.push(ok));
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_CLOSE, ch.localId));
    assert.deepEqual(replies, [false]);
  });
});

describe('MuxCore: requests and replies', () => {
  test('channel requests get their replies in order (RFC 4254 §5.4)', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 10, maxPacket: 1000 });
    const replies: string[] = [];
    s.mux.request(ch, { type: 'env', wantReply: true, name: 'A', value: '1' }, (ok) =>
      replies.push(`env:${ok}`),
    );
    s.mux.request(ch, { type: 'signal', wantReply: false, signal: 'INT' });
    s.mux.request(ch, { type: 'exec', wantReply: true, command: 'x' }, (ok) => replies.push(`exec:${ok}`));
    const sent = s.link.take().map(decode);
    assert.deepEqual(
      sent.map((d) => [d.request!.type, d.request!.wantReply, d.recipient]),
      [
        ['env', true, PEER_ID],
        ['signal', false, PEER_ID],
        ['exec', true, PEER_ID],
      ],
    );
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_FAILURE, ch.localId));
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_SUCCESS, ch.localId));
    assert.deepEqual(replies, ['env:false', 'exec:true']);
    assert.throws(
      () => s.mux.handle(encodeChannelOnly(Msg.CHANNEL_SUCCESS, ch.localId)),
      isProtocolError(/without a request/),
    );
  });

  test("the peer's channel requests reach the sink in order and are answered", () => {
    const s = setup();
    const { ch, sink } = openConfirmed(s, { window: 10, maxPacket: 1000 });
    s.mux.handle(
      encodeChannelRequest(ch.localId, {
        type: 'pty-req',
        wantReply: true,
        terminal: 'vt100',
        cols: 80,
        rows: 24,
        width: 0,
        height: 0,
        modes: Buffer.from([0]),
      }),
    );
    s.mux.handle(encodeChannelRequest(ch.localId, { type: 'exec', wantReply: true, command: 'ls' }));
    assert.deepEqual(
      sink.requests.map((r) => r.type),
      ['pty-req', 'exec'],
    );
    sink.answers[0]!(true);
    sink.answers[1]!(false);
    assert.deepEqual(trace(s.link.take()), ['success', 'failure']);
  });

  test('replies go out in the order the requests came, whatever order they are answered in (RFC 4254 §5.4)', () => {
    const s = setup();
    const { ch, sink } = openConfirmed(s, { window: 10, maxPacket: 1000 });
    for (const name of ['A', 'B', 'C'])
      s.mux.handle(encodeChannelRequest(ch.localId, { type: 'env', wantReply: true, name, value: '1' }));
    s.mux.handle(encodeChannelRequest(ch.localId, { type: 'signal', wantReply: false, signal: 'INT' }));
    s.link.take();
    assert.equal(sink.answers.length, 3, 'a request without want-reply gets no answer slot');
    sink.answers[2]!(true);
    sink.answers[1]!(false);
    assert.deepEqual(s.link.take(), [], 'C and B wait for A');
    sink.answers[0]!(true);
    assert.deepEqual(trace(s.link.take()), ['success', 'failure', 'success']);
    sink.answers[0]!(false);
    assert.deepEqual(s.link.take(), [], 'a second answer is ignored');
    assert.equal(s.mux.owedReplies, 0);
  });

  test("too many unanswered requests pause the peer's input until answers go out", () => {
    const s = setup({ initialWindow: 1000, maxPacket: 500 }, { pendingRequests: 4 });
    const { ch, sink } = openConfirmed(s, { window: 10, maxPacket: 1000 });
    for (let i = 0; i < 3; i++)
      s.mux.handle(
        encodeChannelRequest(ch.localId, { type: 'env', wantReply: true, name: `V${i}`, value: '' }),
      );
    assert.equal(s.link.pauses, 0);
    s.mux.handle(encodeGlobalRequest('x@example.com', true));
    assert.equal(s.link.pauses, 0, 'global requests answered at once do not count');
    s.handler.deferGlobals = true;
    s.mux.handle(encodeGlobalRequest('y@example.com', true));
    assert.equal(s.link.pauses, 1, 'the fourth owed reply pauses input');
    sink.answers[0]!(true);
    assert.equal(s.link.pauses, 0, 'an answer sent resumes it');
  });

  test('replies owed on a channel we close are dropped: nothing is sent after our CLOSE', () => {
    const s = setup();
    const { ch, sink } = openConfirmed(s, { window: 10, maxPacket: 1000 });
    s.mux.handle(encodeChannelRequest(ch.localId, { type: 'exec', wantReply: true, command: 'x' }));
    s.mux.close(ch);
    s.link.take();
    sink.answers[0]!(true);
    assert.deepEqual(s.link.take(), []);
    assert.equal(s.mux.owedReplies, 0);
  });

  test('a request for a channel we are closing is not delivered', () => {
    const s = setup();
    const { ch, sink } = openConfirmed(s, { window: 10, maxPacket: 1000 });
    s.mux.close(ch);
    s.mux.handle(encodeChannelRequest(ch.localId, { type: 'exec', wantReply: true, command: 'ls' }));
    assert.deepEqual(sink.requests, []);
    const replies: boolean[] = [];
    s.mux.request(ch, { type: 'shell', wantReply: true }, (ok) => replies.push(ok));
    assert.deepEqual(replies, [false], 'no request goes out on a closing channel');
  });

  test('global requests are answered with failure by default, and only when a reply is wanted', () => {
    const s = setup();
    s.mux.handle(encodeGlobalRequest('tcpip-forward', true, new SshWriter().string('').uint32(0).finish()));
    s.mux.handle(encodeGlobalRequest('keepalive@openssh.com', false));
    assert.deepEqual(
      s.globals.map((g) => g.name),
      ['tcpip-forward', 'keepalive@openssh.com'],
    );
    assert.deepEqual(s.link.take(), [Buffer.from([Msg.REQUEST_FAILURE])]);
    s.handler.globalVerdict = true;
    s.mux.handle(encodeGlobalRequest('ok@example.com', true));
    assert.deepEqual(s.link.take(), [Buffer.from([Msg.REQUEST_SUCCESS])]);
  });

  test('global replies keep request order and carry a payload (the port of a tcpip-forward to port 0)', () => {
    const s = setup();
    s.handler.deferGlobals = true;
    s.mux.handle(encodeGlobalRequest('tcpip-forward', true, new SshWriter().string('').uint32(0).finish()));
    s.mux.handle(encodeGlobalRequest('other@example.com', true));
    s.globalAnswers[1]!(false);
    assert.deepEqual(s.link.take(), []);
    s.globalAnswers[0]!(true, Buffer.from([0, 0, 0x1f, 0x90]));
    assert.deepEqual(s.link.take(), [
      Buffer.from([Msg.REQUEST_SUCCESS, 0, 0, 0x1f, 0x90]),
      Buffer.from([Msg.REQUEST_FAILURE]),
    ]);
  });

  test('our global requests get their replies in order, with response data', () => {
    const s = setup();
    const got: [boolean, string][] = [];
    s.mux.globalRequest('a', Buffer.alloc(0), (ok, data) => got.push([ok, data.toString('hex')]));
    s.mux.globalRequest('b', Buffer.alloc(0));
    s.mux.globalRequest('c', Buffer.alloc(0), (ok, data) => got.push([ok, data.toString('hex')]));
    assert.equal(s.link.take().length, 3);
    s.mux.handle(Buffer.from([Msg.REQUEST_SUCCESS, 0, 0, 0x1f, 0x90]));
    s.mux.handle(Buffer.from([Msg.REQUEST_FAILURE]));
    assert.deepEqual(got, [
      [true, '00001f90'],
      [false, ''],
    ]);
    assert.throws(() => s.mux.handle(Buffer.from([Msg.REQUEST_SUCCESS])), isProtocolError());
  });
});

describe('MuxCore: opening channels', () => {
  test('an open failure is reported to the sink with the reason', () => {
    const s = setup();
    const sink = new RecordingSink();
    const ch = s.mux.openChannel('direct-tcpip', Buffer.alloc(0), sink);
    s.link.take();
    let writeError: SshError | undefined;
    s.mux.write(ch, bytes(3), 0, (e) => (writeError = e));
    s.mux.handle(
      encodeChannelOpenFailure({
        recipientChannel: ch.localId,
        reason: ChannelOpenFailure.CONNECT_FAILED,
        description: 'connection refused',
      }),
    );
    assert.equal(sink.openFailed?.code, 'CHANNEL_OPEN_FAILED');
    assert.match(sink.openFailed!.message, /direct-tcpip.*connection refused \(code 2\)/);
    assert.equal(writeError?.code, 'CHANNEL_OPEN_FAILED');
    assert.equal(ch.state, 'closed');
    assert.equal(s.mux.channelCount, 0);
    assert.throws(
      () =>
        s.mux.handle(encodeChannelOpenFailure({ recipientChannel: ch.localId, reason: 1, description: '' })),
      isProtocolError(),
    );
  });

  test('a confirmation for a channel that is not opening, or with max packet 0, is refused', () => {
    const s = setup();
    assert.throws(
      () =>
        s.mux.handle(
          encodeChannelOpenConfirmation({
            recipientChannel: 3,
            senderChannel: 1,
            initialWindow: 1,
            maxPacket: 1,
          }),
        ),
      isProtocolError(),
    );
    const ch = s.mux.openChannel('session', Buffer.alloc(0), new RecordingSink());
    assert.throws(
      () =>
        s.mux.handle(
          encodeChannelOpenConfirmation({
            recipientChannel: ch.localId,
            senderChannel: 1,
            initialWindow: 1,
            maxPacket: 0,
          }),
        ),
      isProtocolError(),
    );
  });

  test("the peer's open is accepted with our window and packet size", () => {
    const s = setup({ initialWindow: 4096, maxPacket: 1024 });
    const sink = new RecordingSink();
    let accepted: MuxChannel | undefined;
    s.handler.onChannelOpen = (_open, accept) => {
      accepted = accept(sink, { initialWindow: 8192 });
    };
    s.mux.handle(
      encodeChannelOpen({
        channelType: 'session',
        senderChannel: 42,
        initialWindow: 300,
        maxPacket: 100,
        data: Buffer.alloc(0),
      }),
    );
    assert.ok(accepted);
    const [conf, probe] = s.link.take();
    assert.equal(conf![0], Msg.CHANNEL_OPEN_CONFIRMATION);
    // No round trip measured yet (a daemon's channel): one probe for it, on the idle link.
    assert.equal(decodeGlobalRequest(probe!).name, 'keepalive@openssh.com');
    assert.deepEqual(
      [conf!.readUInt32BE(1), conf!.readUInt32BE(5), conf!.readUInt32BE(9), conf!.readUInt32BE(13)],
      [42, accepted.localId, 8192, 1024],
    );
    s.mux.write(accepted, bytes(500));
    assert.deepEqual(trace(s.link.sent), ['data:100', 'data:100', 'data:100']);
    assert.equal(decode(s.link.sent[0]!).recipient, 42);
  });

  test('a rejected open is answered with OPEN_FAILURE', () => {
    const s = setup();
    s.mux.handle(
      encodeChannelOpen({
        channelType: 'x11',
        senderChannel: 8,
        initialWindow: 1,
        maxPacket: 1,
        data: Buffer.alloc(0),
      }),
    );
    assert.equal(s.opens.length, 1);
    const f = decodeChannelOpenFailure(s.link.take()[0]!);
    assert.deepEqual(f, {
      recipientChannel: 8,
      reason: ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED,
      description: 'no',
    });
  });

  test('maxChannels and minRemoteMaxPacket refuse opens before the handler sees them', () => {
    const s = setup(undefined, { maxChannels: 1, minRemoteMaxPacket: 512 });
    s.handler.onChannelOpen = (_o, accept) => void accept(new RecordingSink());
    const open = (id: number, maxPacket: number) =>
      s.mux.handle(
        encodeChannelOpen({
          channelType: 'session',
          senderChannel: id,
          initialWindow: 1,
          maxPacket,
          data: Buffer.alloc(0),
        }),
      );
    open(1, 100);
    assert.deepEqual(
      decodeChannelOpenFailure(s.link.take()[0]!).reason,
      ChannelOpenFailure.ADMINISTRATIVELY_PROHIBITED,
    );
    open(2, 512);
    assert.equal(s.link.take()[0]![0], Msg.CHANNEL_OPEN_CONFIRMATION);
    open(3, 512);
    const f = decodeChannelOpenFailure(s.link.take()[0]!);
    assert.equal(f.reason, ChannelOpenFailure.RESOURCE_SHORTAGE);
    assert.equal(f.recipientChannel, 3);
  });
});

describe('MuxCore: message numbers and shutdown', () => {
  test('numbers RFC 4254 does not define return false; known ones return true', () => {
    const s = setup();
    for (const n of [83, 89, 101, 110, 127])
      assert.equal(s.mux.handle(Buffer.from([n, 0, 0, 0, 0])), false, `message ${n}`);
    assert.equal(s.mux.handle(encodeGlobalRequest('x', false)), true);
  });

  test('closeAll fails queued writes and pending replies and tells every channel', () => {
    const s = setup();
    const a = openConfirmed(s, { window: 0, maxPacket: 100 });
    const bSink = new RecordingSink();
    s.mux.openChannel('session', Buffer.alloc(0), bSink);
    const results: string[] = [];
    s.mux.write(a.ch, bytes(10), 0, (e) => results.push(`write:${e?.code}`));
    s.mux.request(a.ch, { type: 'shell', wantReply: true }, (ok) => results.push(`reply:${ok}`));
    s.mux.globalRequest('g', Buffer.alloc(0), (ok) => results.push(`global:${ok}`));
    const error = new SshError('CLOSED', 'gone');
    s.mux.closeAll(() => error);
    assert.deepEqual(results, ['write:CLOSED', 'reply:false', 'global:false']);
    assert.equal(a.sink.closeError, error);
    assert.equal(bSink.openFailed, error, 'a channel still opening hears it as an open failure');
    assert.equal(s.mux.channelCount, 0);
    assert.throws(
      () => s.mux.openChannel('session', Buffer.alloc(0), new RecordingSink()),
      (e: unknown) => (e as SshError).code === 'CLOSED',
    );
  });
});

describe('MuxCore: the receive budget (what a peer can make one connection hold)', () => {
  /** A channel the peer opened and we accepted; returns it with its advertised window. */
  function accepted(s: Setup, peerId: number): { ch: MuxChannel; sink: RecordingSink; window: number } {
    const sink = new RecordingSink();
    let ch: MuxChannel | undefined;
    s.handler.onChannelOpen = (_o, accept) => void (ch = accept(sink));
    s.mux.handle(
      encodeChannelOpen({
        channelType: 'session',
        senderChannel: peerId,
        initialWindow: 1 << 20,
        maxPacket: 1000,
        data: Buffer.alloc(0),
      }),
    );
    const conf = s.link.take().find((p) => p[0] === Msg.CHANNEL_OPEN_CONFIRMATION)!;
    return { ch: ch!, sink, window: conf.readUInt32BE(9) };
  }

  test('the windows advertised across channels never pass the budget; a channel past it opens with what is left', () => {
    const s = setup({ initialWindow: 1000, maxPacket: 500 }, { windowBudget: 2500 });
    const windows = [1, 2, 3, 4].map((id) => accepted(s, id).window);
    assert.deepEqual(windows, [1000, 1000, 500, 0]);
    assert.equal(s.mux.receiveOutstanding, 2500);
  });

  test('data nobody consumes keeps its budget: parked data is bounded whatever the channel count', () => {
    const s = setup({ initialWindow: 1000, maxPacket: 1000 }, { windowBudget: 2000 });
    const a = accepted(s, 1);
    const b = accepted(s, 2);
    s.mux.handle(peerData(a.ch.localId, bytes(1000)));
    s.mux.handle(peerData(b.ch.localId, bytes(1000)));
    const c = accepted(s, 3);
    assert.equal(c.window, 0, 'nothing left for a third channel while the data is parked');
    assert.throws(() => s.mux.handle(peerData(c.ch.localId, bytes(1))), isProtocolError(/window/));
  });

  test('budget freed by consumption or a close goes to channels that are owed window', () => {
    const s = setup({ initialWindow: 1000, maxPacket: 1000 }, { windowBudget: 2000 });
    const a = accepted(s, 1);
    const b = accepted(s, 2);
    const c = accepted(s, 3);
    assert.equal(c.window, 0);
    s.mux.handle(peerData(a.ch.localId, bytes(1000)));
    s.mux.consumed(a.ch, 1000);
    // a consumed its 1000: the budget it frees goes first to c, which has waited longest.
    const adjusts = s.link
      .take()
      .map(decode)
      .filter((d) => d.type === Msg.CHANNEL_WINDOW_ADJUST);
    assert.deepEqual(adjusts, [{ type: Msg.CHANNEL_WINDOW_ADJUST, recipient: 3, bytes: 1000 }]);
    assert.equal(s.mux.receiveOutstanding, 2000);
    // Closing b frees its 1000 for a, which is owed what it consumed.
    s.mux.handle(encodeChannelOnly(Msg.CHANNEL_CLOSE, b.ch.localId));
    const after = s.link
      .take()
      .map(decode)
      .filter((d) => d.type === Msg.CHANNEL_WINDOW_ADJUST);
    assert.deepEqual(after, [{ type: Msg.CHANNEL_WINDOW_ADJUST, recipient: 1, bytes: 1000 }]);
  });
});

describe('MuxCore: receive-window growth (the round trip, not the receiver, holds the peer back)', () => {
  const GROWS = { initialWindow: 1000, maxWindow: 4000, maxPacket: 250 };

  /** A channel we opened, confirmed `rtt` ms later by the clock `clock.t`. */
  function opened(clock: { t: number }, rtt: number, limits: MuxLimits = {}, params = GROWS) {
    const s = setup(params, limits, () => clock.t);
    const sink = new RecordingSink();
    const ch = s.mux.openChannel('session', Buffer.alloc(0), sink);
    clock.t += rtt;
    s.mux.handle(
      encodeChannelOpenConfirmation({
        recipientChannel: ch.localId,
        senderChannel: PEER_ID,
        initialWindow: 0,
        maxPacket: 100,
      }),
    );
    s.link.take();
    return { s, ch };
  }

  /** The peer sends `n` bytes in 250-byte packets, `gap` ms apart; each is read at once unless `read` is false. */
  function send(s: Setup, ch: MuxChannel, clock: { t: number }, n: number, gap: number, read = true): void {
    for (let sent = 0; sent < n; sent += 250) {
      clock.t += gap;
      s.mux.handle(peerData(ch.localId, bytes(250)));
      if (read) s.mux.consumed(ch, 250);
    }
  }

  test('a window that arrives within three round trips while the receiver keeps up doubles, up to maxWindow', () => {
    const clock = { t: 0 };
    const { s, ch } = opened(clock, 50);
    send(s, ch, clock, 1000, 12); // 1000 bytes over 36 ms, a round trip of 50
    assert.equal(ch.windowTarget, 2000);
    const own = { t: 0 }; // a clock of their own: time passing here would slow `ch`'s next window
    const edge = opened(own, 50);
    send(edge.s, edge.ch, own, 1000, 50); // 1000 bytes over 150 ms: three round trips
    assert.equal(edge.ch.windowTarget, 2000, 'three round trips: grown');
    const beyond = opened(own, 50);
    send(beyond.s, beyond.ch, own, 1000, 51); // 153 ms
    assert.equal(beyond.ch.windowTarget, 1000, 'past three round trips: not grown');
    send(s, ch, clock, 2000, 6);
    assert.equal(ch.windowTarget, 4000);
    send(s, ch, clock, 8000, 3);
    assert.equal(ch.windowTarget, 4000, 'not past maxWindow');
    assert.equal(ch.localWindow + ch.unconsumed, s.mux.receiveOutstanding);
    const adjusted = s.link
      .take()
      .map(decode)
      .filter((d) => d.type === Msg.CHANNEL_WINDOW_ADJUST)
      .reduce((a, d) => a + d.bytes!, 0);
    assert.equal(1000 + adjusted - 11000, ch.localWindow, 'every byte of growth went out as WINDOW_ADJUST');
  });

  test('it stays when data takes longer than three round trips (loopback), or the receiver is behind', () => {
    const clock = { t: 0 };
    const fast = opened(clock, 1);
    send(fast.s, fast.ch, clock, 8000, 2); // 1000 bytes per 6-8 ms, a round trip of 1 ms
    assert.equal(fast.ch.windowTarget, 1000);
    const behind = opened(clock, 50);
    send(behind.s, behind.ch, clock, 1000, 1, false);
    assert.equal(behind.ch.windowTarget, 1000, 'all of it unread: the receiver is the bottleneck');
  });

  test('nothing grows without a round-trip sample, nor a channel without maxWindow', () => {
    const clock = { t: 0 };
    const s = setup(GROWS, {}, () => clock.t);
    let ch: MuxChannel | undefined;
    s.handler.onChannelOpen = (_o, accept) => void (ch = accept(new RecordingSink()));
    s.mux.handle(
      encodeChannelOpen({
        channelType: 'session',
        senderChannel: 5,
        initialWindow: 1 << 20,
        maxPacket: 1000,
        data: Buffer.alloc(0),
      }),
    );
    send(s, ch!, clock, 4000, 0);
    assert.equal(ch!.windowTarget, 1000, 'the peer opened it and nothing was ever answered');
    // The accept asked for the idle round trip (it sizes only what is withheld of send windows),
    // and the first window's worth for one of its own, once: keepalives wanting a reply.
    const probes = s.link
      .take()
      .filter((p) => p[0] === Msg.GLOBAL_REQUEST)
      .map((p) => decodeGlobalRequest(p));
    assert.deepEqual(
      probes.map((g) => [g.name, g.wantReply]),
      [
        ['keepalive@openssh.com', true],
        ['keepalive@openssh.com', true],
      ],
    );
    s.mux.handle(Buffer.from([Msg.REQUEST_FAILURE])); // the accept's: it does not count for growth
    send(s, ch!, clock, 2000, 10);
    assert.equal(ch!.windowTarget, 1000, 'the idle probe alone grows nothing');
    clock.t += 50;
    s.mux.handle(Buffer.from([Msg.REQUEST_FAILURE])); // a FAILURE measures it as well as SUCCESS
    send(s, ch!, clock, 2000, 10);
    assert.equal(ch!.windowTarget, 2000, 'a window within three round trips of 50 ms: grown');
    const fixed = opened(clock, 50, {}, { initialWindow: 1000, maxPacket: 250 } as typeof GROWS);
    send(fixed.s, fixed.ch, clock, 4000, 1);
    assert.equal(fixed.ch.windowTarget, 1000);
  });

  test('growth takes only budget nobody waits for', () => {
    const clock = { t: 0 };
    const { s, ch } = opened(clock, 50, { windowBudget: 2500 }, { ...GROWS, maxWindow: 8000 });
    send(s, ch, clock, 12000, 1);
    assert.equal(ch.windowTarget, 2000, 'doubling to 4000 would pass the budget');
    assert.ok(s.mux.receiveOutstanding <= 2500, `outstanding ${s.mux.receiveOutstanding}`);
  });
});

describe('MuxCore send side: part of the window withheld on a short path', () => {
  /** A link that can wake the mux, as the connection's edge does; records the delays asked for. */
  class WakingLink extends FakeLink {
    readonly wakes: number[] = [];
    wakeIn(ms: number): void {
      this.wakes.push(ms);
    }
  }
  const clock = { t: 0 };
  /** A short path: the channel's confirmation comes at once (round trip 0 ms). */
  const shortPath = (link: FakeLink = new WakingLink()) => {
    clock.t = 0;
    const s = setup(undefined, undefined, () => clock.t, link);
    return { s, ...openConfirmed(s, { window: 4000, maxPacket: 500 }) };
  };
  const grant = (s: Setup, ch: MuxChannel, n: number) => {
    s.mux.handle(encodeWindowAdjust(ch.localId, n));
    return trace(s.link.take());
  };

  test('a peer granting in small steps keeps half its window free; before its first grant it gets all of it', () => {
    const { s, ch } = shortPath();
    const input = bytes(12_000);
    s.mux.write(ch, input);
    assert.equal(trace(s.link.take()).length, 8, 'the whole window before any grant');
    // OpenSSH grants after every few packets: 500 here. What may be in flight is now half the
    // window (2000), and twice the smallest grant (1000) is less.
    assert.deepEqual(grant(s, ch, 500), []);
    assert.deepEqual(grant(s, ch, 500), []);
    assert.deepEqual(grant(s, ch, 500), []);
    assert.deepEqual(grant(s, ch, 500), [], 'at 2000 in flight');
    assert.deepEqual(grant(s, ch, 500), ['data:500']);
    assert.equal(ch.remoteWindow, 2000, 'half the window left unused');
    assert.ok(
      (s.link as WakingLink).wakes.includes(GRANT_GRACE_MS),
      'a wake-up asked for, should no grant come',
    );
    assert.deepEqual(grant(s, ch, 2000), ['data:500', 'data:500', 'data:500', 'data:500']);
    assert.equal(ch.peakWindow, 4000);
  });

  test('a peer that grants only once half its window is used gets all of it, and every byte arrives', () => {
    const { s, ch, sink } = shortPath();
    const input = bytes(20_000);
    let done = false;
    s.mux.write(ch, input, 0, () => (done = true));
    const sent: Buffer[] = [];
    const take = (payloads: Buffer[]) => {
      for (const p of payloads) sent.push(decode(p).data!);
      return payloads.length;
    };
    assert.equal(take(s.link.take()), 8);
    // asyncssh, Dropbear, libssh: a grant of at least half the window, never less.
    for (let i = 0; i < 8; i++) {
      s.mux.handle(encodeWindowAdjust(ch.localId, 2000));
      assert.equal(take(s.link.take()), 4, `round ${i}: all of the grant is used`);
    }
    assert.ok(done);
    assert.deepEqual(Buffer.concat(sent), input);
    assert.equal(ch.remoteWindow, 0);
    assert.deepEqual(sink.events, ['confirmed']);
  });

  test('without a grant within the grace time, the channel gets its whole window from then on', () => {
    const { s, ch } = shortPath();
    const link = s.link as WakingLink;
    s.mux.write(ch, bytes(12_000));
    assert.equal(trace(s.link.take()).length, 8);
    assert.deepEqual(grant(s, ch, 500), []); // withheld: 500 of the window unused
    assert.deepEqual(link.wakes, [GRANT_GRACE_MS]);
    clock.t = GRANT_GRACE_MS - 10;
    s.mux.wake();
    assert.deepEqual(trace(s.link.take()), [], 'not yet');
    assert.deepEqual(link.wakes, [GRANT_GRACE_MS, 10], 'asked again for the rest of the grace time');
    clock.t = GRANT_GRACE_MS;
    s.mux.wake();
    assert.deepEqual(trace(s.link.take()), ['data:500'], 'the withheld window is used');
    assert.equal(ch.remoteWindow, 0);
    assert.deepEqual(grant(s, ch, 500), ['data:500'], 'and every grant after it');
    assert.deepEqual(grant(s, ch, 1000), ['data:500', 'data:500']);
  });

  test('a grant within the grace time ends the wait: a wake-up then changes nothing', () => {
    const { s, ch } = shortPath();
    s.mux.write(ch, bytes(12_000));
    s.link.take();
    assert.deepEqual(grant(s, ch, 500), []); // stops at 0 ms
    clock.t = 30;
    assert.deepEqual(grant(s, ch, 2000), ['data:500']); // in flight 2000 again: stops anew at 30 ms
    clock.t = GRANT_GRACE_MS + 1; // past the first stop's grace, not the second's
    s.mux.wake();
    assert.deepEqual(trace(s.link.take()), []);
    assert.equal(ch.withholdOff, false);
  });

  test("a daemon's channel: the round trip of the probe sent at the accept decides", () => {
    clock.t = 0;
    const s = setup(undefined, undefined, () => clock.t, new WakingLink());
    let ch: MuxChannel | undefined;
    s.handler.onChannelOpen = (_o, accept) => void (ch = accept(new RecordingSink()));
    s.mux.handle(
      encodeChannelOpen({
        channelType: 'session',
        senderChannel: PEER_ID,
        initialWindow: 4000,
        maxPacket: 500,
        data: Buffer.alloc(0),
      }),
    );
    const [, probe] = s.link.take();
    assert.equal(decodeGlobalRequest(probe!).name, 'keepalive@openssh.com');
    s.mux.write(ch!, bytes(12_000));
    assert.equal(trace(s.link.take()).length, 8);
    assert.deepEqual(grant(s, ch!, 500), ['data:500'], 'no round trip yet: the whole window');
    s.mux.handle(Buffer.from([Msg.REQUEST_FAILURE])); // the probe's answer, at once: a short path
    assert.deepEqual(grant(s, ch!, 500), [], 'now half the window is withheld');
  });

  test('on a long path, or over a link that cannot wake the mux, the whole window is used', () => {
    let t = 0;
    const long = setup(undefined, undefined, () => (t += 100), new WakingLink()); // 100 ms round trip
    const a = openConfirmed(long, { window: 4000, maxPacket: 500 });
    long.mux.write(a.ch, bytes(12_000));
    assert.equal(trace(long.link.take()).length, 8);
    assert.deepEqual(grant(long, a.ch, 500), ['data:500']);
    const { s, ch } = shortPath(new FakeLink());
    s.mux.write(ch, bytes(12_000));
    assert.equal(trace(s.link.take()).length, 8);
    assert.deepEqual(grant(s, ch, 500), ['data:500']);
  });
});

describe('MuxCore send side: the short end of a write shares a packet with the next write', () => {
  const holding = () => setup(undefined, undefined, undefined, new HoldingLink());

  test('the end waits for the next write and goes out at the head of its first packet', () => {
    const s = holding();
    const link = s.link as HoldingLink;
    const { ch } = openConfirmed(s, { window: 100_000, maxPacket: 500 });
    const a = bytes(1300, 1);
    const b = bytes(900, 2);
    const done: string[] = [];
    s.mux.write(ch, a, 0, () => done.push('a'));
    assert.deepEqual(trace(s.link.sent), ['data:500', 'data:500']);
    assert.equal(link.asks, 1, 'the link is asked to release what is held');
    assert.equal(done.length, 0, 'a is not done while its end is held');
    s.mux.write(ch, b, 0, () => done.push('b'));
    // 300 of a and 200 of b in one packet, then 500 of b; b's last 200 wait in turn.
    assert.deepEqual(trace(s.link.sent), ['data:500', 'data:500', 'data:500', 'data:500']);
    assert.deepEqual(done, ['a']);
    assert.equal(link.asks, 1, 'one ask covers the channel until it is released');
    s.mux.releaseHeld();
    assert.deepEqual(trace(s.link.sent.slice(4)), ['data:200']);
    assert.deepEqual(done, ['a', 'b']);
    const sent = s.link.take().map(decode);
    assert.deepEqual(Buffer.concat(sent.map((d) => d.data!)), Buffer.concat([a, b]), 'whole and in order');
    assert.equal(ch.remoteWindow, 100_000 - 2200);
    s.mux.releaseHeld();
    assert.deepEqual(s.link.sent, [], 'nothing is sent twice');
  });

  test('a write from the callback of a write whose end was just sent is not sent twice', () => {
    const s = holding();
    const { ch } = openConfirmed(s, { window: 100_000, maxPacket: 500 });
    const a = bytes(1300, 1);
    const b = bytes(900, 2);
    const c = bytes(100, 3);
    s.mux.write(ch, a, 0, () => s.mux.write(ch, c));
    s.mux.write(ch, b);
    s.mux.releaseHeld();
    const sent = s.link.take().map(decode);
    assert.deepEqual(
      Buffer.concat(sent.map((d) => d.data!)),
      Buffer.concat([a, b, c]),
      'whole, in order, once',
    );
  });

  test('a small write waits alone until released; EOF and CLOSE behind it do not overtake it', () => {
    const s = holding();
    const { ch } = openConfirmed(s, { window: 100_000, maxPacket: 500 });
    s.mux.write(ch, bytes(13));
    assert.deepEqual(s.link.sent, []);
    s.mux.sendEof(ch);
    s.mux.close(ch);
    assert.deepEqual(s.link.sent, [], 'EOF and CLOSE queue behind the held data');
    s.mux.releaseHeld();
    assert.deepEqual(trace(s.link.take()), ['data:13', 'eof', 'close']);
  });

  test('a short write taken whole into the packet of the one before is done, with no empty packet after it', () => {
    const s = holding();
    const { ch } = openConfirmed(s, { window: 100_000, maxPacket: 500 });
    const done: string[] = [];
    s.mux.write(ch, bytes(13, 1), 0, () => done.push('a'));
    s.mux.write(ch, bytes(20, 2), 0, () => done.push('b'));
    assert.deepEqual(trace(s.link.take()), ['data:33']);
    assert.deepEqual(done, ['a', 'b'], 'both are done once their packet is sealed, in order');
    s.mux.releaseHeld();
    assert.deepEqual(s.link.take(), [], 'no empty CHANNEL_DATA follows');
  });

  test('extended data does not join a packet of ordinary data', () => {
    const s = holding();
    const { ch } = openConfirmed(s, { window: 100_000, maxPacket: 500 });
    s.mux.write(ch, bytes(600));
    s.mux.write(ch, bytes(50), 1);
    s.mux.releaseHeld();
    assert.deepEqual(trace(s.link.take()), ['data:500', 'data:100', 'ext1:50']);
  });

  test('nothing is held when the window has no room for more, or the end is longer than 4 KiB', () => {
    const s = holding();
    const { ch } = openConfirmed(s, { window: 700, maxPacket: 500 });
    s.mux.write(ch, bytes(700));
    assert.deepEqual(trace(s.link.take()), ['data:500', 'data:200'], 'the window ends with the write');
    const t = holding();
    const big = openConfirmed(t, { window: 1_000_000, maxPacket: 32_768 });
    t.mux.write(big.ch, bytes(32_768 + 5000));
    assert.deepEqual(trace(t.link.take()), ['data:32768', 'data:5000']);
  });

  test('a link without onHeld gets every piece at once', () => {
    const s = setup();
    const { ch } = openConfirmed(s, { window: 100_000, maxPacket: 500 });
    s.mux.write(ch, bytes(1300));
    assert.deepEqual(trace(s.link.take()), ['data:500', 'data:500', 'data:300']);
  });
});
