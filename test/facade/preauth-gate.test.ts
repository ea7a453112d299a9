/**
 * The pre-authentication gate (RFC 4252 §6; the lesson of CVE-2025-32433): every message number
 * 0-255, sent after the key exchange and before authentication, followed by a channel open and an
 * exec. Only transport and authentication messages are acted on; nothing of the connection layer
 * ever runs, and afterwards the daemon still serves an honest client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as ssh from '../../src/ssh.js';
import { encodeChannelOpen, encodeChannelRequest } from '../../src/wire/connection-messages.js';
import { Msg } from '../../src/wire/numbers.js';
import { encodeServiceRequest } from '../../src/wire/transport-messages.js';
import { connectTo, execute, makeEnv, portOf, RawClient, startDaemon, type Env } from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

describe('the pre-authentication gate', () => {
  test('messages 0-255 before authentication: no channel, no exec, no login; an honest client still served', async () => {
    const ran: string[] = [];
    const logins: string[] = [];
    const d = await startDaemon(env, {
      password: 'right',
      perSourcePenalties: false,
      maxStartups: 1000,
      perSourceMaxStartups: Infinity,
      exec: (cmd: string) => {
        ran.push(cmd);
        return { ok: 'ran' };
      },
      connectfun: (user) => logins.push(user),
    });
    const port = await portOf(d);
    const outcomes = new Map<string, number[]>();
    for (let n = 0; n < 256; n++) {
      const raw = await RawClient.open(port);
      raw.send(Buffer.concat([Buffer.from([n]), Buffer.alloc(40)]));
      raw.send(
        encodeChannelOpen({
          channelType: 'session',
          senderChannel: 0,
          initialWindow: 1 << 20,
          maxPacket: 32768,
          data: Buffer.alloc(0),
        }),
      );
      raw.send(encodeChannelRequest(0, { type: 'exec', wantReply: true, command: `GATE-${n}` }));
      raw.send(encodeServiceRequest('ssh-userauth'));
      const seen: number[] = [];
      for (;;) {
        const m = await raw.next().catch(() => undefined);
        if (!m) break;
        seen.push(m[0]!);
        assert.ok(
          m[0]! < 80 || m[0]! > 127,
          `message ${n}: the daemon answered with connection message ${m[0]}`,
        );
      }
      await raw.close();
      const kind = seen.includes(Msg.SERVICE_ACCEPT) ? 'service accepted' : 'disconnected';
      outcomes.set(kind, [...(outcomes.get(kind) ?? []), n]);
    }
    assert.deepEqual(ran, [], 'no exec ran');
    assert.deepEqual(logins, [], 'nobody logged in');
    // Every connection ended before authentication (the channel open is a protocol error there).
    assert.equal(outcomes.get('service accepted'), undefined, JSON.stringify([...outcomes]));
    const conn = await connectTo(d, env, { password: 'right', authMethods: 'password' });
    assert.equal((await execute(conn, 'x')).stdout.toString(), 'ran');
    await ssh.close(conn);
    await ssh.stopDaemon(d);
  });
});
