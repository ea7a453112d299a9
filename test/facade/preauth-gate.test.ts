/**
 * The pre-authentication gate (RFC 4252 §6; the lesson of CVE-2025-32433): every message number
 * 0-255, sent after the key exchange and before authentication, followed by a channel open and an
 * exec. Only transport and authentication messages are acted on; nothing of the connection layer
 * ever runs; afterwards the daemon still serves a fresh honest client, its memory is back within
 * 10% of where it started, and stopping it closes every socket it opened.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as ssh from '../../src/ssh.js';
import { encodeChannelOpen, encodeChannelRequest } from '../../src/wire/connection-messages.js';
import { Msg } from '../../src/wire/numbers.js';
import { encodeServiceRequest } from '../../src/wire/transport-messages.js';
import { ChildDaemon } from '../hostile/child-daemon.js';
import { clientOptions, execute, makeEnv, RawClient, type Env } from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

describe('the pre-authentication gate', () => {
  test('messages 0-255 before authentication: no channel, no exec, no login; an honest client still served', async () => {
    // The daemon in a process of its own: its memory and sockets are its own.
    const d = await ChildDaemon.start({
      systemDir: env.systemDir,
      userDir: env.daemonUserDir,
      options: {
        password: 'right',
        perSourcePenalties: false,
        maxStartups: 1000,
        perSourceMaxStartups: 1000,
      },
      preset: 'recordExec',
    });
    try {
      const port = d.port;
      const honest = async (command: string) => {
        const conn = await ssh.connect(
          '127.0.0.1',
          port,
          clientOptions(env, { password: 'right', authMethods: 'password' }),
        );
        assert.equal((await execute(conn, command)).stdout.toString(), `ran ${command}`);
        await ssh.close(conn);
      };
      await honest('honest-before');
      const base = await d.memory();
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
      assert.deepEqual(
        (await d.ran()).map((r) => r.command),
        ['honest-before'],
        'no exec ran but the honest one',
      );
      assert.deepEqual(await d.logins(), ['tester'], 'nobody logged in but the honest client');
      // Every connection ended before authentication (the channel open is a protocol error there).
      assert.equal(outcomes.get('service accepted'), undefined, JSON.stringify([...outcomes]));
      // Afterwards: the daemon lets go of every raw client, serves a fresh honest one, and its
      // memory is back within 10% of where it started.
      await d.dropsTo(0, 'after the 256 raw clients');
      await honest('honest-after');
      await d.memoryBackTo(base, 'after messages 0-255 before authentication');
    } finally {
      // Stopping it closes every socket it opened (asserted by stop()).
      await d.stop();
    }
  });
});
