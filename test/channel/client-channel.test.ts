/**
 * The ssh_client_channel behaviour (start, startLink, call, cast, reply, init/enterLoop) and the
 * result forms of its callbacks, run on channels to a Seashell daemon whose CLI echoes (`cat`).
 * The same behaviour against OpenSSH's sshd is in test/interop/client-channel-sshd.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as clientChannel from '../../src/channel/client.js';
import type { Connection } from '../../src/edge/connection.js';
import type { Daemon } from '../../src/daemon.js';
import { SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { connectTo, makeEnv, startDaemon, waitFor, type Env } from '../facade/helpers.js';
import { catCli } from '../interop/fixtures.js';
import { echoClient } from './client-behaviour.js';

const isCode = (code: string) => (e: unknown) => e instanceof SshError && e.code === code;

describe('ssh_client_channel: start, call, cast, reply', () => {
  let env: Env;
  let d: Daemon;
  let conn: Connection;

  before(async () => {
    env = await makeEnv();
    d = await startDaemon(env, { password: 'pw', sshCli: catCli });
    conn = await connectTo(d, env, { password: 'pw' });
  });
  after(async () => {
    await ssh.close(conn);
    await ssh.stopDaemon(d);
    await env.cleanup();
  });

  async function catChannel() {
    const ch = await conn.sessionChannel();
    assert.equal(await ch.exec('cat'), 'success');
    return ch;
  }

  test('init gets the args, channelUp comes first, data reaches handleSshMsg, call replies, cast sends', async () => {
    const log: string[] = [];
    const ch = await catChannel();
    const ref = await clientChannel.start(conn, ch.channelId, echoClient(log), ['a', 1]);
    clientChannel.cast(ref, 'send hello');
    await waitFor(() => log.includes('ssh data'), 'the echo to come back');
    assert.equal(await clientChannel.call(ref, 'get'), 'hello');
    clientChannel.cast(ref, 'eof');
    await waitFor(() => log.some((l) => l.startsWith('terminate')), 'the channel to end');
    assert.deepEqual(log.slice(0, 3), ['init ["a",1]', 'channelUp', 'cast send hello']);
    assert.ok(log.includes('ssh eof') && log.includes('ssh exitStatus'), log.join(', '));
    assert.equal(log.at(-1), 'terminate normal with state', 'the peer closed: terminate(normal)');
    assert.equal(await ref.terminated, 'normal');
    await assert.rejects(clientChannel.call(ref, 'get'), isCode('CLOSED'), 'a call to a closed channel');
  });

  test('a call queued behind one that stops the channel is answered CLOSED, not left to time out', async () => {
    const ch = await catChannel();
    const ref = await clientChannel.start(conn, ch.channelId, echoClient([]));
    const quit = clientChannel.call(ref, 'quit', 2000);
    const queued = clientChannel.call(ref, 'get', 2000);
    await assert.rejects(quit, isCode('CLOSED'));
    await assert.rejects(queued, isCode('CLOSED'));
  });

  test('{noreply} then reply(from, value) answers the call later; a call that times out rejects with TIMEOUT', async () => {
    const log: string[] = [];
    const ch = await catChannel();
    const ref = await clientChannel.start(conn, ch.channelId, echoClient(log));
    const later = clientChannel.call(ref, 'later');
    clientChannel.cast(ref, 'answer forty-two');
    assert.equal(await later, 'forty-two');
    await assert.rejects(clientChannel.call(ref, 'later', 50), isCode('TIMEOUT'));
    await ch.close();
    await ref.terminated;
  });

  test('a returned timeout delivers TIMEOUT to handleMsg when no message comes in time; any message cancels it', async () => {
    const log: string[] = [];
    const ch = await catChannel();
    const ref = await clientChannel.start(conn, ch.channelId, echoClient(log));
    assert.equal(await clientChannel.call(ref, 'wait 30'), 'waiting');
    await waitFor(() => log.includes('msg timeout'), 'the timeout');
    const before = log.filter((l) => l === 'msg timeout').length;
    assert.equal(await clientChannel.call(ref, 'wait 10000'), 'waiting');
    assert.equal(
      await clientChannel.call(ref, 'get'),
      '',
      'a message arrived: the long timeout is cancelled',
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(log.filter((l) => l === 'msg timeout').length, before);
    await ch.close();
  });

  test('{stop, reason, reply} replies then stops; {stop, reason} without a reply fails the call with CLOSED', async () => {
    const log: string[] = [];
    const ch = await catChannel();
    const ref = await clientChannel.start(conn, ch.channelId, echoClient(log));
    assert.equal(await clientChannel.call(ref, 'bye'), 'bye');
    assert.equal(await ref.terminated, 'normal');
    await waitFor(() => ch.isClosed, 'the channel to close');

    const ch2 = await catChannel();
    const ref2 = await clientChannel.start(conn, ch2.channelId, echoClient(log));
    await assert.rejects(clientChannel.call(ref2, 'quit'), isCode('CLOSED'));
    assert.equal(await ref2.terminated, 'quit');
    assert.ok(log.includes('terminate quit with state'));
  });

  test('a callback that throws: the call rejects, terminate gets the error, the channel closes, the connection lives on', async () => {
    const log: string[] = [];
    const ch = await catChannel();
    const ref = await clientChannel.start(conn, ch.channelId, echoClient(log));
    await assert.rejects(clientChannel.call(ref, 'boom'), /call crashed/);
    const reason = await ref.terminated;
    assert.match(String(reason), /call crashed/);
    assert.ok(log.includes('terminate call crashed with state'));
    await waitFor(() => ch.isClosed, 'the channel to close');
    const other = await catChannel();
    assert.equal(other.isClosed, false, 'the connection still opens channels');
    await other.close();
  });

  test('an init that returns {stop} fails start with CLOSED and closes the channel; terminate still runs', async () => {
    const log: string[] = [];
    const ch = await catChannel();
    await assert.rejects(clientChannel.start(conn, ch.channelId, echoClient(log, true)), isCode('CLOSED'));
    await waitFor(() => ch.isClosed, 'the channel to close');
    assert.deepEqual(log, ['init []', 'terminate not today without state']);
  });

  test('startLink: the channel stops when the owner aborts; an abnormal end rejects `terminated`', async () => {
    const log: string[] = [];
    const ch = await catChannel();
    const owner = new AbortController();
    const ref = await clientChannel.startLink(conn, ch.channelId, echoClient(log), [], {
      signal: owner.signal,
    });
    owner.abort();
    assert.equal(await ref.terminated, 'shutdown');
    await waitFor(() => ch.isClosed, 'the channel to close');

    const ch2 = await catChannel();
    const ref2 = await clientChannel.startLink(conn, ch2.channelId, echoClient(log));
    await assert.rejects(clientChannel.call(ref2, 'boom'), /call crashed/);
    await assert.rejects(ref2.terminated, /call crashed/, 'linked: the crash reaches the owner');
  });

  test('init/1 then enterLoop/1: a channel set up by hand joins the loop without a second init', async () => {
    const log: string[] = [];
    const ch = await catChannel();
    const r = await clientChannel.init({
      channelCb: echoClient(log),
      initArgs: ['x'],
      cm: conn,
      channelId: ch.channelId,
    });
    assert.ok('ok' in r);
    const ref = clientChannel.enterLoop(r.ok);
    clientChannel.cast(ref, 'send ping');
    await waitFor(() => log.includes('ssh data'), 'the echo');
    assert.equal(await clientChannel.call(ref, 'get'), 'ping');
    assert.equal(log.filter((l) => l.startsWith('init')).length, 1);
    await ch.close();
    assert.equal(await ref.terminated, 'normal');
  });

  test('start on a channel id that is not open is refused with CLOSED', async () => {
    await assert.rejects(async () => clientChannel.start(conn, 999_999, echoClient([])), isCode('CLOSED'));
  });
});
