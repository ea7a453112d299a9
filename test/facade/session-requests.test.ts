/**
 * Session requests at the daemon: replies in request order whatever order handlers finish in,
 * every want-reply request answered, and bad requests refused without disturbing the connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChannelUp, ServerChannelHandler } from '../../src/channel/behaviour.js';
import type { SessionChannel } from '../../src/channel/session-channel.js';
import type { Daemon } from '../../src/daemon.js';
import type { Connection } from '../../src/edge/connection.js';
import { SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { encodeTerminalModes, type TerminalMode } from '../../src/wire/terminal-modes.js';
import { ChannelOpenFailure } from '../../src/wire/numbers.js';
import { connectTo, execute, makeEnv, startDaemon, waitFor, type Env } from './helpers.js';

interface S {
  ch?: SessionChannel;
}

/**
 * A CLI whose `exec slow` answers 300 ms later (deferReply) while `signal` requests are answered
 * at once with FAILURE, and whose `exec stay` keeps the channel open.
 */
const deferringCli: ServerChannelHandler<S> = {
  init: () => ({ ok: {} }),
  handleMsg(m, s) {
    if ((m as ChannelUp)?.type === 'channelUp') s.ch = (m as ChannelUp).channel;
    return { ok: s };
  },
  async handleSshMsg(m, s) {
    const ch = s.ch!;
    if (m.type === 'exec' && (m.command === 'racing' || m.command === 'vanish')) {
      // Closes without replying, as a server that ran the command before answering may.
      ch.deferReply();
      if (m.command === 'racing') await ch.exitStatus(0);
      return { stop: m.channelId, state: s };
    }
    if (m.type === 'exec' && m.command === 'slow') {
      const answer = ch.deferReply();
      setTimeout(() => answer('success'), 300);
    } else if (m.type === 'exec') ch.replyRequest(m.wantReply, 'success');
    else if (m.type === 'signal') ch.replyRequest(m.wantReply, 'failure');
    return { ok: s };
  },
};

/** Records the types of the messages its handleSshMsg gets. */
function recordingCli(seen: string[]): ServerChannelHandler<S> {
  return {
    init: () => ({ ok: {} }),
    handleMsg(m, s) {
      if ((m as ChannelUp)?.type === 'channelUp') s.ch = (m as ChannelUp).channel;
      return { ok: s };
    },
    handleSshMsg(m, s) {
      seen.push(m.type);
      if (m.type === 'exec') s.ch!.replyRequest(m.wantReply, 'success');
      return { ok: s };
    },
  };
}

describe('session requests at the daemon', () => {
  let env: Env;
  let d: Daemon;
  let defaultDaemon: Daemon;
  let conn: Connection;
  let plain: Connection;

  before(async () => {
    env = await makeEnv();
    d = await startDaemon(env, { password: 'pw', sshCli: deferringCli });
    // `first` takes a moment, so that requests that follow it find it running.
    defaultDaemon = await startDaemon(env, {
      password: 'pw',
      exec: async (c: string) => {
        if (c === 'first') await new Promise((r) => setTimeout(r, 300));
        return { ok: `ran ${c}` };
      },
    });
    conn = await connectTo(d, env, { password: 'pw' });
    plain = await connectTo(defaultDaemon, env, { password: 'pw' });
  });
  after(async () => {
    await ssh.close(conn);
    await ssh.close(plain);
    await ssh.stopDaemon(d);
    await ssh.stopDaemon(defaultDaemon);
    await env.cleanup();
  });

  test('replies go out in the order the requests came, though the first finishes last (RFC 4254 §5.4)', async () => {
    const ch = await conn.sessionChannel();
    const order: string[] = [];
    const exec = ch.exec('slow').then((r) => (order.push(`exec ${r}`), r));
    const signal = ch
      .sendRequest({ type: 'signal', wantReply: true, signal: 'INT' })
      .then((r) => (order.push(`signal ${r}`), r));
    assert.equal(await exec, 'success', 'had the signal reply overtaken it, the exec would read FAILURE');
    assert.equal(await signal, 'failure');
    assert.deepEqual(order, ['exec success', 'signal failure']);
    await ch.close();
  });

  test('a channel closed before its exec reply: success if an exit status came, else CLOSED', async () => {
    const racing = await conn.sessionChannel();
    assert.equal(await racing.exec('racing'), 'success');
    const vanish = await conn.sessionChannel();
    await assert.rejects(vanish.exec('vanish'), (e: SshError) => e.code === 'CLOSED');
  });

  test('signal and window-change that want a reply get one; so does an unknown request', async () => {
    const ch = await plain.sessionChannel();
    assert.equal(await ch.ptyAlloc(), 'success');
    assert.equal(
      await ch.sendRequest({
        type: 'window-change',
        wantReply: true,
        cols: 100,
        rows: 30,
        width: 0,
        height: 0,
      }),
      'success',
    );
    assert.equal(
      await ch.sendRequest({ type: 'signal', wantReply: true, signal: 'INT' }),
      'failure',
      'nothing runs yet',
    );
    assert.equal(
      await ch.sendRequest({
        type: 'other',
        name: 'keepalive@openssh.com',
        wantReply: true,
        data: Buffer.alloc(0),
      }),
      'failure',
    );
    await ch.close();
  });

  test('a second exec or shell on one channel is refused; the first carries on', async () => {
    const ch = await plain.sessionChannel();
    assert.equal(await ch.exec('first'), 'success');
    assert.equal(await ch.exec('second'), 'failure');
    assert.equal(await ch.shell(), 'failure');
    const out: Buffer[] = [];
    for await (const m of ch) if (m.type === 'data') out.push(m.data);
    assert.equal(Buffer.concat(out).toString(), 'ran first');
  });

  test('a pty no terminal has, or with 10,000 terminal modes, is refused; the channel goes on', async () => {
    const ch = await plain.sessionChannel();
    assert.equal(await ch.ptyAlloc({ width: 1_000_000, height: 24 }), 'failure');
    const modes: TerminalMode[] = Array.from({ length: 10_000 }, (_, i) => [1 + (i % 90), i]);
    assert.ok(encodeTerminalModes(modes).length < 64 * 1024);
    assert.equal(await ch.ptyAlloc({ modes }), 'failure');
    assert.equal(await ch.ptyAlloc({ width: 132, height: 43 }), 'success');
    assert.equal(await ch.exec('after'), 'success');
    for await (const m of ch) if (m.type === 'closed') break;
  });

  test('env: too large for a packet is refused before sending; over the size limit, or not accepted, is refused by the daemon', async () => {
    const ch = await plain.sessionChannel();
    await assert.rejects(ch.setenv('LANG', 'x'.repeat(1024 * 1024)), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.code, 'BAD_OPTION');
      assert.match(e.message, /larger than a packet/);
      return true;
    });
    assert.equal(await ch.setenv('LANG', 'x'.repeat(100 * 1024)), 'failure', 'over limits.envBytes');
    assert.equal(await ch.setenv('SECRET_TOKEN', 'x'), 'failure', 'not in acceptEnv');
    assert.equal(await ch.setenv('LC_ALL', 'C.UTF-8'), 'success');
    assert.equal(await ch.exec('env'), 'success');
    for await (const m of ch) if (m.type === 'closed') break;
    assert.equal(plain.isClosed, false);
  });

  test("the peer's exit-status and exit-signal reach a server handler too (the seed lists them)", async () => {
    const seen: string[] = [];
    const rd = await startDaemon(env, { password: 'pw', sshCli: recordingCli(seen) });
    const c = await connectTo(rd, env, { password: 'pw' });
    const ch = await c.sessionChannel();
    await ch.exec('x');
    await ch.sendRequest({ type: 'exit-status', wantReply: false, status: 3 });
    await ch.sendRequest({
      type: 'exit-signal',
      wantReply: false,
      signal: 'TERM',
      coreDumped: false,
      errorMessage: '',
      language: '',
    });
    await waitFor(() => seen.includes('exitSignal'), 'the exit reports to arrive');
    assert.deepEqual(seen, ['exec', 'exitStatus', 'exitSignal']);
    await ssh.close(c);
    await ssh.stopDaemon(rd);
  });

  test('a channel type the daemon does not serve is refused with UNKNOWN_CHANNEL_TYPE; the connection goes on', async () => {
    await assert.rejects(
      plain.openChannel('x11', Buffer.alloc(0)),
      (e: unknown) =>
        e instanceof SshError &&
        e.code === 'CHANNEL_OPEN_FAILED' &&
        e.message.includes(`code ${ChannelOpenFailure.UNKNOWN_CHANNEL_TYPE}`),
    );
    assert.equal((await execute(plain, 'still here')).stdout.toString(), 'ran still here');
  });
});
