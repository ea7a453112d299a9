import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { DisconnectReason, type SshError } from '../../src/errors.js';
import { PayloadCompressor, PayloadDecompressor } from '../../src/transport/compression.js';
import { defaultAlgorithms } from '../../src/transport/algorithms.js';
import { Msg } from '../../src/wire/numbers.js';
import { shuttle, transportPair } from './pair.js';

interface T {
  transport: { takeOutput(): Buffer[]; receive(b: Buffer): void };
}
/** Bytes on the wire from `from` during `f`, delivered to `to`. */
function wireBytes(from: T, to: T, f: () => void): number {
  f();
  const out = from.transport.takeOutput();
  for (const b of out) to.transport.receive(b);
  return out.reduce((n, b) => n + b.length, 0);
}

describe('compression (RFC 4253 §6.2, OpenSSH PROTOCOL §2.2)', () => {
  test('defaults offer none and zlib@openssh.com, never pre-authentication zlib', () => {
    const d = defaultAlgorithms();
    assert.deepEqual(d.compression.clientToServer, ['none', 'zlib@openssh.com']);
    assert.deepEqual(d.compression.serverToClient, ['none', 'zlib@openssh.com']);
  });

  test('zlib compresses from NEWKEYS on, both ways; the dictionary carries across packets, and each re-key starts new streams (RFC 4253 §6.2)', () => {
    const zlib = { compression: ['zlib'] };
    const { client, server } = transportPair({ client: zlib, server: zlib });
    shuttle(client, server);
    assert.equal(client.transport.negotiated?.compressionC2S, 'zlib');
    const text = Buffer.concat([Buffer.from([Msg.SERVICE_REQUEST]), Buffer.alloc(20000, 'x')]);
    const first = wireBytes(client, server, () => client.transport.send(text));
    assert.ok(first < 2000, `20 KB of one letter went out as ${first} bytes`);
    // Feed it across, then again after a re-key: the peer inflates both.
    client.transport.send(text);
    shuttle(client, server);
    type Streams = { compressOut?: object; decompressIn?: object };
    const streams = (t: unknown) => ({ ...(t as Streams) });
    const [cBefore, sBefore] = [streams(client.transport), streams(server.transport)];
    assert.ok(cBefore.compressOut && sBefore.decompressIn);
    client.transport.rekey();
    shuttle(client, server);
    // "The compression context is initialized after each key exchange": new streams both ways.
    const [cAfter, sAfter] = [streams(client.transport), streams(server.transport)];
    assert.ok(cAfter.compressOut && cAfter.compressOut !== cBefore.compressOut);
    assert.ok(cAfter.decompressIn && cAfter.decompressIn !== cBefore.decompressIn);
    assert.ok(sAfter.decompressIn && sAfter.decompressIn !== sBefore.decompressIn);
    client.transport.send(text);
    server.transport.send(Buffer.concat([Buffer.from([Msg.SERVICE_ACCEPT]), randomBytes(5000)]));
    shuttle(client, server);
    assert.equal(server.messages.length, 3);
    for (const m of server.messages) assert.ok(m.equals(text));
    assert.equal(client.messages.length, 1);
    assert.equal(client.messages[0]!.length, 5001);
    assert.equal(server.closed, undefined);
  });

  test('zlib@openssh.com waits for USERAUTH_SUCCESS, then compresses both ways', () => {
    const delayed = { compression: ['zlib@openssh.com'] };
    const { client, server } = transportPair({ client: delayed, server: delayed });
    shuttle(client, server);
    const big = Buffer.concat([Buffer.from([Msg.USERAUTH_REQUEST]), Buffer.alloc(20000, 'a')]);
    const before = wireBytes(client, server, () => client.transport.send(big));
    assert.ok(before > 20000, 'not compressed before authentication');
    server.transport.send(Buffer.from([Msg.USERAUTH_SUCCESS]));
    shuttle(client, server);
    const after = wireBytes(client, server, () => client.transport.send(big));
    assert.ok(after < 2000, `compressed after USERAUTH_SUCCESS: ${after} bytes`);
    client.transport.send(big);
    server.transport.send(Buffer.concat([Buffer.from([Msg.GLOBAL_REQUEST]), Buffer.alloc(9000, 'b')]));
    shuttle(client, server);
    assert.equal(server.closed, undefined, server.closed?.error.message);
    assert.ok(server.messages.at(-1)!.equals(big));
    assert.equal(client.messages.at(-1)!.length, 9001);
  });

  test('a zlib bomb: a packet that inflates past the packet limit is a COMPRESSION_ERROR disconnect', () => {
    const c = new PayloadCompressor();
    const d = new PayloadDecompressor();
    assert.ok(d.decompress([c.compress(Buffer.alloc(1000, 7))]).equals(Buffer.alloc(1000, 7)));
    const bomb = c.compress(Buffer.alloc(4 * 1024 * 1024));
    assert.ok(bomb.length < 8192, `4 MiB of zeros deflate to ${bomb.length} bytes`);
    assert.throws(
      () => d.decompress([bomb]),
      (e: SshError) =>
        e.reason === DisconnectReason.COMPRESSION_ERROR && /inflates past 262144 bytes/.test(e.message),
    );
    // Through a transport: the server drops the client with the reason.
    const zlib = { compression: ['zlib'] };
    const { client, server } = transportPair({ client: zlib, server: zlib });
    shuttle(client, server);
    client.transport.send(Buffer.concat([Buffer.from([Msg.IGNORE]), Buffer.alloc(1024 * 1024)]));
    shuttle(client, server);
    assert.equal(server.closed?.error.reason, DisconnectReason.COMPRESSION_ERROR);
    assert.equal(client.closed?.error.reason, DisconnectReason.COMPRESSION_ERROR, 'told with a DISCONNECT');
  });

  test('garbage where compressed data should be is a COMPRESSION_ERROR', () => {
    assert.throws(
      () => new PayloadDecompressor().decompress([Buffer.from('not zlib at all')]),
      (e: SshError) => e.reason === DisconnectReason.COMPRESSION_ERROR,
    );
  });
});
