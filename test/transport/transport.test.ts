import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadPoly1305 } from '../../src/transport/cipher/chacha20-poly1305.js';
import { Msg } from '../../src/wire/numbers.js';
import { encodeIgnore } from '../../src/wire/transport-messages.js';
import { shuttle, transportPair } from './pair.js';

before(async () => loadPoly1305());

describe('transport: key exchange between two in-memory peers', () => {
  for (const cipher of [
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
    'chacha20-poly1305@openssh.com',
    'aes128-ctr',
  ]) {
    test(`completes with ${cipher} and carries messages both ways`, () => {
      const { client, server } = transportPair({ client: { cipher: [cipher] } });
      shuttle(client, server);
      assert.deepEqual(client.kexDone, [true]);
      assert.deepEqual(server.kexDone, [true]);
      assert.equal(client.transport.negotiated?.cipherC2S, cipher);
      assert.ok(client.transport.sessionId?.equals(server.transport.sessionId!));
      const big = Buffer.alloc(100_000, 7);
      big[0] = Msg.CHANNEL_DATA;
      client.transport.send(Buffer.from([Msg.SERVICE_REQUEST, 1, 2, 3]));
      server.transport.send(big);
      shuttle(client, server);
      assert.deepEqual(server.messages, [Buffer.from([Msg.SERVICE_REQUEST, 1, 2, 3])]);
      assert.equal(client.messages.length, 1);
      assert.ok(client.messages[0]!.equals(big));
      assert.equal(client.closed, undefined);
      assert.equal(server.closed, undefined);
    });
  }

  test('output that reaches 64 KiB while being sealed is offered at once (onOutputGrown), and nothing is lost or reordered', () => {
    const taken: Buffer[][] = [];
    let grown = 0;
    const pair = transportPair({
      serverHandler: {
        onOutputGrown: () => {
          grown++;
          taken.push(pair.server.transport.takeOutput());
        },
      },
    });
    const { client, server } = pair;
    shuttle(client, server);
    assert.equal(grown, 0, 'a handshake is not large');
    const sent: Buffer[] = [];
    for (let i = 0; i < 12; i++) {
      const m = Buffer.alloc(20_000, i);
      m[0] = Msg.CHANNEL_DATA;
      sent.push(m);
      server.transport.send(m);
    }
    // 12 packets of about 20 KiB: taken when the queue reaches 64 KiB, that is after every fourth.
    assert.equal(grown, 3);
    const size = (bufs: Buffer[]) => bufs.reduce((n, b) => n + b.length, 0);
    for (const batch of taken) assert.ok(size(batch) >= 64 * 1024 && size(batch) < 64 * 1024 + 20_100);
    assert.equal(size(server.transport.takeOutput()), 0, 'the last batch was taken by the handler');
    for (const batch of taken) for (const c of batch) client.transport.receive(c);
    assert.equal(client.closed, undefined);
    assert.deepEqual(client.messages, sent);
  });

  for (const hostKey of ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256']) {
    test(`verifies a ${hostKey} host key signature`, () => {
      const { client, server } = transportPair({ client: { publicKey: [hostKey] } });
      shuttle(client, server);
      assert.equal(client.hostKeyAlgorithm, hostKey);
      assert.deepEqual(client.kexDone, [true]);
    });
  }

  test('prepareAhead makes the ephemeral key before the peer speaks, and the kex uses it', () => {
    const kex = { kex: ['curve25519-sha256'] };
    const { client, server } = transportPair({ client: kex, server: kex });
    type Internals = { kex?: { premade?: { key: { publicValue: Buffer } } } };
    const premade = (t: unknown) => (t as Internals).kex?.premade?.key.publicValue;
    const clientFirst = client.transport.takeOutput();
    const serverFirst = server.transport.takeOutput();
    client.transport.prepareAhead();
    server.transport.prepareAhead();
    const qc = premade(client.transport);
    assert.ok(qc && qc.length === 32);
    client.transport.prepareAhead(); // a second call keeps the key it made
    assert.ok(premade(client.transport)?.equals(qc));
    for (const c of serverFirst) client.transport.receive(c);
    // The ECDH_INIT that follows the server's KEXINIT carries the key made ahead (it is still
    // unencrypted: uint32 length, padding length, message 30, string Q_C).
    const init = Buffer.concat(client.transport.takeOutput());
    assert.equal(init[5], Msg.KEX_ECDH_INIT);
    assert.equal(init.readUInt32BE(6), 32);
    assert.ok(init.subarray(10, 42).equals(qc));
    for (const c of [...clientFirst, init]) server.transport.receive(c);
    shuttle(client, server);
    assert.deepEqual(client.kexDone, [true]);
    assert.deepEqual(server.kexDone, [true]);
    assert.ok(client.transport.sessionId?.equals(server.transport.sessionId!));
  });

  test('mlkem768x25519: the server makes its X25519 half ahead and its KEX_ECDH_REPLY carries it', () => {
    const kex = { kex: ['mlkem768x25519-sha256'] };
    const { client, server } = transportPair({ client: kex, server: kex });
    type Internals = { kex?: { premade?: { key: { publicValue: Buffer } } } };
    const clientFirst = client.transport.takeOutput();
    const serverFirst = server.transport.takeOutput();
    server.transport.prepareAhead();
    const qs = (server.transport as unknown as Internals).kex?.premade?.key.publicValue;
    assert.ok(qs && qs.length === 32, 'an X25519 public value made before the client spoke');
    client.transport.prepareAhead();
    for (const c of serverFirst) client.transport.receive(c);
    for (const c of [...clientFirst, ...client.transport.takeOutput()]) server.transport.receive(c);
    // The reply: uint32 length, padding length, 31, string K_S, string S_REPLY (ciphertext || Q_S), ...
    const reply = Buffer.concat(server.transport.takeOutput());
    assert.equal(reply[5], Msg.KEX_ECDH_REPLY);
    const ksLength = reply.readUInt32BE(6);
    const at = 10 + ksLength;
    assert.equal(reply.readUInt32BE(at), 1088 + 32);
    assert.ok(reply.subarray(at + 4 + 1088, at + 4 + 1120).equals(qs));
    client.transport.receive(reply);
    shuttle(client, server);
    assert.deepEqual(client.kexDone, [true]);
    assert.deepEqual(server.kexDone, [true]);
  });

  test('re-keys on request and keeps the session id', () => {
    const { client, server } = transportPair();
    shuttle(client, server);
    const sid = client.transport.sessionId;
    client.transport.rekey();
    client.transport.send(Buffer.from([Msg.SERVICE_REQUEST, 9]));
    shuttle(client, server);
    assert.deepEqual(client.kexDone, [true, false]);
    assert.deepEqual(server.kexDone, [true, false]);
    assert.deepEqual(server.messages, [Buffer.from([Msg.SERVICE_REQUEST, 9])]);
    assert.ok(client.transport.sessionId?.equals(sid!));
  });

  test('keys older than rekeyMs are replaced when the next packet moves (no timer)', async () => {
    const { client, server } = transportPair({ clientRekey: { rekeyMs: 30 } });
    shuttle(client, server);
    client.transport.send(Buffer.from([Msg.SERVICE_REQUEST, 1]));
    shuttle(client, server);
    assert.deepEqual(client.kexDone, [true], 'young keys are kept');
    await new Promise((r) => setTimeout(r, 60));
    shuttle(client, server);
    assert.deepEqual(client.kexDone, [true], 'an idle connection does not re-key by itself');
    client.transport.send(Buffer.from([Msg.SERVICE_REQUEST, 2]));
    shuttle(client, server);
    assert.deepEqual(client.kexDone, [true, false]);
    assert.deepEqual(server.kexDone, [true, false]);
    assert.deepEqual(server.messages, [
      Buffer.from([Msg.SERVICE_REQUEST, 1]),
      Buffer.from([Msg.SERVICE_REQUEST, 2]),
    ]);
  });

  test('a byte limit starts a re-key by itself', () => {
    const { client, server } = transportPair({ clientRekey: { rekeyBytes: 64 * 1024 } });
    shuttle(client, server);
    for (let i = 0; i < 8; i++) {
      const p = Buffer.alloc(16 * 1024, i);
      p[0] = Msg.CHANNEL_DATA;
      client.transport.send(p);
      shuttle(client, server);
    }
    assert.ok(client.kexDone.length >= 2, `re-keyed: ${JSON.stringify(client.kexDone)}`);
    assert.equal(server.messages.length, 8, 'every message arrived across the re-keys');
  });

  test('a refused host key ends the handshake with HOST_KEY_NOT_VERIFIED', () => {
    const { client, server } = transportPair({ acceptHostKey: false });
    shuttle(client, server);
    assert.equal(client.closed?.error.code, 'HOST_KEY_NOT_VERIFIED');
    assert.equal(server.closed?.byPeer, true);
    assert.equal(server.closed?.error.reasonName, 'HOST_KEY_NOT_VERIFIABLE');
  });

  test('no common cipher fails with KEY_EXCHANGE_FAILED on both sides', () => {
    const { client, server } = transportPair({
      client: { cipher: ['aes128-gcm@openssh.com'] },
      server: { cipher: ['chacha20-poly1305@openssh.com'] },
    });
    shuttle(client, server);
    assert.equal(client.closed?.error.code, 'KEY_EXCHANGE_FAILED');
    assert.match(client.closed!.error.message, /no common client-to-server cipher/);
    assert.ok(server.closed);
  });
});

/** How a peer of a pair closed (a function, so that earlier asserts do not narrow the type). */
function closedCode(p: { closed?: { error: { code: string } } }): string | undefined {
  return p.closed?.error.code;
}

describe('transport: re-keys a peer may start (rekey-limit.ts)', () => {
  test('before authentication, a fourth re-key in a row drops the peer (FLOODED)', () => {
    const { client, server } = transportPair({ now: () => 0 });
    shuttle(client, server);
    for (let i = 0; i < 3; i++) {
      client.transport.rekey();
      shuttle(client, server);
    }
    assert.equal(server.kexDone.length, 4, 'the first exchange and three re-keys');
    assert.equal(server.closed, undefined);
    client.transport.rekey();
    shuttle(client, server);
    assert.equal(closedCode(server), 'FLOODED');
    assert.match(client.closed?.error.message ?? '', /re-keys faster than allowed/);
  });

  test("time earns re-keys too: the transport's clock is an input (one more per 20 s before authentication)", () => {
    let now = 1_000_000;
    const { client, server } = transportPair({ now: () => now });
    shuttle(client, server);
    for (let i = 0; i < 3; i++) {
      client.transport.rekey();
      shuttle(client, server);
    }
    now += 20_000; // one re-key earned, no more
    client.transport.rekey();
    shuttle(client, server);
    assert.equal(server.closed, undefined, 'the earned re-key is allowed');
    assert.equal(server.kexDone.length, 5);
    client.transport.rekey();
    shuttle(client, server);
    assert.equal(closedCode(server), 'FLOODED', 'and the next one, with no time passed, is not');
  });

  test('the re-key time limit follows the clock given (rekeyMs)', () => {
    let now = 5_000;
    const { client, server } = transportPair({ now: () => now, clientRekey: { rekeyMs: 60_000 } });
    shuttle(client, server);
    const data = () => {
      client.transport.send(encodeIgnore(Buffer.alloc(100)));
      shuttle(client, server);
    };
    data();
    assert.equal(client.kexDone.length, 1, 'keys younger than rekeyMs are kept');
    now += 60_000;
    data();
    assert.equal(client.kexDone.length, 2, 'once the clock passes rekeyMs, the next packet starts a re-key');
  });

  test('after authentication, traffic earns re-keys: one per 32 KiB goes on for ever (OpenSSH re-keys that often)', () => {
    const { client, server } = transportPair();
    shuttle(client, server);
    server.transport.authenticated = true;
    for (let i = 0; i < 10; i++) {
      client.transport.rekey();
      shuttle(client, server);
    }
    assert.equal(server.closed, undefined, 'a burst of 10');
    for (let i = 0; i < 30; i++) {
      for (let half = 0; half < 2; half++) {
        const p = Buffer.alloc(16 * 1024, i);
        p[0] = Msg.CHANNEL_DATA;
        client.transport.send(p);
      }
      client.transport.rekey();
      shuttle(client, server);
    }
    assert.equal(server.closed, undefined);
    assert.equal(server.kexDone.length, 41);
    client.transport.rekey();
    client.transport.rekey();
    shuttle(client, server);
    // The key exchanges' own bytes (a few KB each) leave a few credits over; re-keys without
    // traffic use them up within a handful.
    for (let i = 0; i < 6 && !server.closed; i++) {
      client.transport.rekey();
      shuttle(client, server);
    }
    assert.equal(closedCode(server), 'FLOODED');
  });

  test('channel messages the peer sends after its KEXINIT during a re-key are taken (OpenSSH does; asyncssh sends them)', () => {
    const { client, server } = transportPair();
    shuttle(client, server);
    client.transport.rekey();
    // Inject a channel message after the client's KEXINIT, as a peer breaking RFC 4253 §7.1 would:
    // under the old keys, straight from the client's framer.
    const framer = (client.transport as unknown as { framer: { frame(p: Buffer): Buffer[] | Buffer } })
      .framer;
    const late = Buffer.from([Msg.CHANNEL_EOF, 0, 0, 0, 1]);
    const out = client.transport.takeOutput();
    const extra = framer.frame(late);
    for (const c of out) server.transport.receive(c);
    for (const c of Array.isArray(extra) ? extra : [extra]) server.transport.receive(c);
    shuttle(client, server);
    assert.equal(server.closed, undefined);
    assert.deepEqual(server.kexDone, [true, false]);
    assert.ok(server.messages.some((m) => m.equals(late)));
  });
});
