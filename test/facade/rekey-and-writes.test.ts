import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ServerChannelHandler } from '../../src/channel/behaviour.js';
import type { SessionChannel as Channel } from '../../src/channel/session-channel.js';
import type { RekeyEvent } from '../../src/channel/link.js';
import type { Connection } from '../../src/edge/connection.js';
import type { Daemon } from '../../src/daemon.js';
import * as ssh from '../../src/ssh.js';
import { connectTo, makeEnv, startDaemon, waitFor, type Env } from './helpers.js';

/** A CLI that remembers the daemon-side connection and echoes what it gets until EOF. */
function recordingCli(seen: { conn?: Connection; eof: number }): ServerChannelHandler<{ ch?: Channel }> {
  return {
    init: () => ({ ok: {} }),
    handleMsg: (m, s) => {
      const up = m as { type?: string; channel?: Channel; connection?: Connection };
      if (up.type === 'channelUp') {
        s.ch = up.channel;
        seen.conn = up.connection;
      }
      return { ok: s };
    },
    handleSshMsg: async (m, s) => {
      if (m.type === 'exec' || m.type === 'shell') s.ch!.replyRequest(m.wantReply, 'success');
      if (m.type === 'eof') {
        seen.eof++;
        await Promise.all([s.ch!.sendEof(), s.ch!.exitStatus(0)]);
        return { stop: m.channelId, state: s };
      }
      return { ok: s };
    },
  };
}

describe('re-keying on request, and writes that resolve once with the socket', () => {
  let env: Env;
  let d: Daemon;
  const seen: { conn?: Connection; eof: number } = { eof: 0 };

  before(async () => {
    env = await makeEnv();
    d = await startDaemon(env, { password: 'pw', sshCli: recordingCli(seen) });
  });
  after(async () => {
    await ssh.stopDaemon(d);
    await env.cleanup();
  });

  test('conn.rekey() runs a key exchange; both sides count it and the client gets a rekey event', async () => {
    const conn = await connectTo(d, env, { password: 'pw' });
    try {
      const ch = await conn.sessionChannel();
      await ch.exec('x');
      await waitFor(() => seen.conn !== undefined, 'the daemon channel');
      const events: RekeyEvent[] = [];
      conn.on('rekey', (e) => events.push(e));
      assert.equal(ssh.connectionInfo(conn, 'rekeys'), 0);
      await conn.rekey();
      await conn.rekey();
      assert.equal(ssh.connectionInfo(conn, 'rekeys'), 2);
      assert.deepEqual(
        events.map((e) => e.rekeys),
        [1, 2],
      );
      assert.equal(events[0]!.algorithms.kex, ssh.connectionInfo(conn, 'algorithms')!.kex);
      await waitFor(() => seen.conn!.info().rekeys === 2, 'the daemon to count both re-keys');
      // The channel still works under the new keys.
      await ch.sendEof();
      const msgs = [];
      for await (const m of ch) msgs.push(m.type);
      assert.deepEqual(msgs, ['eof', 'exitStatus', 'closed']);
    } finally {
      await ssh.close(conn);
    }
  });

  test('connectionInfo hands out copies: changing one changes nothing inside', async () => {
    const conn = await connectTo(d, env, { password: 'pw' });
    try {
      const a = ssh.connectionInfo(conn, 'algorithms')!;
      const cipher = a.cipherC2S;
      a.cipherC2S = 'changed';
      assert.equal(ssh.connectionInfo(conn, 'algorithms')!.cipherC2S, cipher);
    } finally {
      await ssh.close(conn);
    }
  });

  test('sendEof() resolves only after the EOF was written to the socket, also when a re-key held it back', async () => {
    const conn = await connectTo(d, env, { password: 'pw' });
    try {
      const ch = await conn.sessionChannel();
      await ch.exec('x');
      const writes: number[] = [];
      const socket = conn.socket as unknown as { write: (...a: unknown[]) => boolean };
      const write = socket.write.bind(socket);
      socket.write = (...a: unknown[]) => {
        writes.push(Date.now());
        return write(...a);
      };
      const rekeyed = conn.rekey(); // our KEXINIT goes out; the EOF must wait for our NEWKEYS
      let resolved = false;
      const eof = ch.sendEof().then(() => (resolved = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(resolved, false, 'not resolved while the key exchange holds the EOF back');
      await eof;
      await rekeyed;
      assert.ok(writes.length >= 2, 'KEXINIT, then NEWKEYS with the EOF, were written before it resolved');
      for await (const m of ch) if (m.type === 'closed') break;
      assert.ok(seen.eof >= 1);
    } finally {
      await ssh.close(conn);
    }
  });

  test('rekey() and sendEof() reject with CLOSED once the connection is gone', async () => {
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    await ssh.close(conn);
    await assert.rejects(conn.rekey(), (e: Error & { code?: string }) => e.code === 'CLOSED');
    await assert.rejects(ch.sendEof(), (e: Error & { code?: string }) => e.code === 'CLOSED');
  });
});
