import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  TIMEOUT,
  type ChannelMessage,
  type ChannelUp,
  type HandlerResult,
  type ServerChannelHandler,
} from '../../src/channel/behaviour.js';
import type { SessionChannel as Channel } from '../../src/channel/session-channel.js';
import type { ConnectionRef as Connection } from '../../src/channel/link.js';
import { SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { collect, connectTo, makeEnv, startDaemon, waitFor, type Env } from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

interface CliState {
  args: unknown[];
  channel?: Channel;
  connection?: Connection;
  seen: number;
}

/**
 * A CLI that records every callback in `log`. Commands: `stop` writes "bye" and an exit status of 3
 * and returns {stop}; `upper` echoes data upper-cased until EOF; `tick` posts itself a message;
 * `timeout` asks for a timeout; `crash` throws; `info` prints the daemon side's connection info.
 */
function recordingCli(log: string[]): ServerChannelHandler<CliState> {
  return {
    init(args) {
      log.push(`init ${JSON.stringify(args)}`);
      return { ok: { args, seen: 0 } };
    },
    async handleMsg(message, state): Promise<HandlerResult<CliState>> {
      const m = message as ChannelUp | typeof TIMEOUT | string;
      if (typeof m === 'object' && m.type === 'channelUp') {
        log.push(`channelUp ${m.channelId}`);
        state.channel = m.channel;
        state.connection = m.connection;
        return { ok: state };
      }
      log.push(`msg ${String(m)}`);
      const ch = state.channel!;
      if (m === 'tick' || m === TIMEOUT) {
        // All of it is written before {stop} closes the channel: nothing may follow a CLOSE.
        await ch.send(`got ${String(m)}`);
        await Promise.all([ch.sendEof(), ch.exitStatus(0)]);
        return { stop: ch.channelId, state };
      }
      return { ok: state };
    },
    async handleSshMsg(m: ChannelMessage, state): Promise<HandlerResult<CliState>> {
      state.seen++;
      log.push(
        `ssh ${m.type}${m.type === 'exec' ? ` ${m.command}` : ''}${m.type === 'env' ? ` ${m.name}=${m.value}` : ''}`,
      );
      const ch = state.channel!;
      switch (m.type) {
        case 'env':
        case 'pty':
          ch.replyRequest(m.wantReply, 'success');
          return { ok: state };
        case 'exec':
          switch (m.command) {
            case 'stop':
              ch.replyRequest(m.wantReply, 'success');
              await ch.send('bye');
              await ch.sendEof();
              await ch.exitStatus(3);
              return { stop: m.channelId, state };
            case 'upper':
              ch.replyRequest(m.wantReply, 'success');
              return { ok: state };
            case 'tick':
              ch.replyRequest(m.wantReply, 'success');
              ch.post('tick');
              return { ok: state };
            case 'timeout':
              ch.replyRequest(m.wantReply, 'success');
              return { ok: state, timeout: 1 };
            case 'crash':
              throw new Error('handler crashed');
            case 'info': {
              ch.replyRequest(m.wantReply, 'success');
              const i = ssh.connectionInfo(state.connection!);
              await ch.send(
                JSON.stringify({ user: i.user, peer: i.peer, client: i.clientVersion.versionString }),
              );
              await ch.sendEof();
              return { stop: m.channelId, state };
            }
            default:
              ch.replyRequest(m.wantReply, 'failure');
              return { ok: state };
          }
        case 'data':
          await ch.send(m.data.toString().toUpperCase());
          return { ok: state };
        case 'eof':
          await ch.sendEof();
          await ch.exitStatus(0);
          return { stop: m.channelId, state };
        default:
          return { ok: state };
      }
    },
    terminate(reason, state) {
      log.push(
        `terminate ${reason instanceof Error ? `error: ${reason.message}` : String(reason)} after ${state?.seen}`,
      );
    },
  };
}

describe('sshCli: a custom CLI handler (the ssh_server_channel behaviour)', () => {
  test('init gets the args, channelUp comes first, requests follow in order, {stop} closes, terminate runs', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, { password: 'pw', sshCli: [recordingCli(log), ['alpha', 1]] });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    assert.equal(await ch.setenv('LANG', 'C'), 'success');
    assert.equal(await ch.ptyAlloc({ term: 'xterm', width: 100, height: 30 }), 'success');
    assert.equal(await ch.exec('stop'), 'success');
    const r = await collect(ch);
    assert.equal(r.stdout.toString(), 'bye');
    assert.equal(r.exitStatus, 3);
    assert.deepEqual(r.types.slice(-3), ['eof', 'exitStatus', 'closed'], '{stop} closed the channel');
    await waitFor(() => log.some((l) => l.startsWith('terminate')), 'terminate');
    assert.deepEqual(log, [
      'init ["alpha",1]',
      'channelUp 0',
      'ssh env LANG=C',
      'ssh pty',
      'ssh exec stop',
      'terminate normal after 3',
    ]);
    await ssh.stopDaemon(d);
  });

  test('a handler given without args gets init([]); each channel gets its own init and state', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, { password: 'pw', sshCli: recordingCli(log) });
    const conn = await connectTo(d, env, { password: 'pw' });
    const a = await conn.sessionChannel();
    const b = await conn.sessionChannel();
    await a.exec('upper');
    await b.exec('upper');
    await a.send('first');
    await b.send('second');
    await a.sendEof();
    await b.sendEof();
    const [ra, rb] = await Promise.all([collect(a), collect(b)]);
    assert.equal(ra.stdout.toString(), 'FIRST');
    assert.equal(rb.stdout.toString(), 'SECOND');
    assert.equal(log.filter((l) => l === 'init []').length, 2);
    await waitFor(() => log.filter((l) => l.startsWith('terminate')).length === 2, 'both terminates');
    assert.deepEqual(
      log.filter((l) => l.startsWith('terminate')),
      ['terminate normal after 3', 'terminate normal after 3'],
      'exec, data, eof on each channel',
    );
    await ssh.stopDaemon(d);
  });

  test('data and EOF reach handleSshMsg in order', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, { password: 'pw', sshCli: recordingCli(log) });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    await ch.exec('upper');
    for (const part of ['a', 'b', 'c', 'd']) await ch.send(part);
    await ch.sendEof();
    const r = await collect(ch);
    assert.equal(r.stdout.toString(), 'ABCD');
    assert.equal(r.exitStatus, 0);
    const sshEvents = log.filter((l) => l.startsWith('ssh '));
    assert.equal(sshEvents[0], 'ssh exec upper');
    assert.equal(sshEvents.at(-1), 'ssh eof');
    assert.ok(sshEvents.slice(1, -1).every((l) => l === 'ssh data'));
    await ssh.stopDaemon(d);
  });

  test('messages posted to the channel reach handleMsg; a timeout arrives as TIMEOUT', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, { password: 'pw', sshCli: recordingCli(log) });
    const conn = await connectTo(d, env, { password: 'pw' });
    const tick = await conn.sessionChannel();
    await tick.exec('tick');
    assert.equal((await collect(tick)).stdout.toString(), 'got tick');
    const timed = await conn.sessionChannel();
    await timed.exec('timeout');
    assert.equal((await collect(timed)).stdout.toString(), 'got timeout');
    assert.ok(log.includes('msg tick'));
    assert.ok(log.includes('msg timeout'));
    await ssh.stopDaemon(d);
  });

  test('the client closing the channel ends the handler with terminate(normal)', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, { password: 'pw', sshCli: recordingCli(log) });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    await ch.exec('upper');
    await ch.close();
    await waitFor(() => log.some((l) => l.startsWith('terminate')), 'terminate');
    assert.equal(log.at(-1), 'terminate normal after 1');
    await ssh.stopDaemon(d);
  });

  test('a handler that throws is terminated with the error and its channel closed', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, { password: 'pw', sshCli: recordingCli(log) });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    const status = ch.exec('crash').catch((e: unknown) => e);
    const r = await collect(ch);
    assert.equal(r.types.at(-1), 'closed');
    const s = await status;
    assert.ok(
      s === 'failure' || (s instanceof SshError && s.code === 'CLOSED'),
      `exec answered ${String(s)}`,
    );
    await waitFor(() => log.some((l) => l.startsWith('terminate')), 'terminate');
    assert.equal(log.at(-1), 'terminate error: handler crashed after 1');
    // The connection survives a crashed channel handler.
    const again = await conn.sessionChannel();
    await again.exec('stop');
    assert.equal((await collect(again)).stdout.toString(), 'bye');
    await ssh.stopDaemon(d);
  });

  test('an init that returns {stop} closes the channel', async () => {
    const stopper: ServerChannelHandler<unknown> = {
      init: () => ({ stop: 'not today' }),
      handleMsg: (_m, s) => ({ ok: s }),
      handleSshMsg: (_m, s) => ({ ok: s }),
    };
    const d = await startDaemon(env, { password: 'pw', sshCli: stopper });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    const status = ch.exec('x').catch((e: unknown) => e);
    const r = await collect(ch);
    assert.deepEqual(r.types, ['closed']);
    const s = await status;
    assert.ok(
      s === 'failure' || (s instanceof SshError && s.code === 'CLOSED'),
      `exec answered ${String(s)}`,
    );
    await ssh.stopDaemon(d);
  });

  test('the handler can read the daemon side of connectionInfo', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, { password: 'pw', sshCli: recordingCli(log) });
    const conn = await connectTo(d, env, { password: 'pw', user: 'ivy', idString: 'InfoClient_1' });
    const ch = await conn.sessionChannel();
    await ch.exec('info');
    const info = JSON.parse((await collect(ch)).stdout.toString());
    const me = ssh.connectionInfo(conn, 'sockname');
    assert.deepEqual(info, { user: 'ivy', peer: me, client: 'SSH-2.0-InfoClient_1' });
    await ssh.stopDaemon(d);
  });
});

interface EchoState {
  prefix: string;
  channel?: Channel;
}

/** A subsystem that answers each data message with `prefix` + the data, and ends at EOF. */
function echoSubsystem(log: string[]): ServerChannelHandler<EchoState> {
  return {
    init: (args) => {
      log.push(`init ${JSON.stringify(args)}`);
      return { ok: { prefix: String(args[0] ?? '') } };
    },
    handleMsg(m, s) {
      const up = m as ChannelUp;
      if (up?.type === 'channelUp') s.channel = up.channel;
      return { ok: s };
    },
    async handleSshMsg(m, s): Promise<HandlerResult<EchoState>> {
      log.push(`ssh ${m.type}`);
      if (m.type === 'data') await s.channel!.send(s.prefix + m.data.toString());
      if (m.type === 'eof') {
        await s.channel!.sendEof();
        return { stop: m.channelId, state: s };
      }
      return { ok: s };
    },
    terminate: () => void log.push('terminate'),
  };
}

describe('subsystems', () => {
  test('a subsystem request starts its handler, which gets the data', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, {
      password: 'pw',
      subsystems: [['echo', [echoSubsystem(log), ['> ']]]],
    });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    assert.equal(await ch.subsystem('echo'), 'success');
    await ch.send('ping');
    await ch.sendEof();
    const r = await collect(ch);
    assert.equal(r.stdout.toString(), '> ping');
    assert.equal(r.types.at(-1), 'closed');
    await waitFor(() => log.includes('terminate'), 'terminate');
    assert.deepEqual(log, ['init ["> "]', 'ssh data', 'ssh eof', 'terminate']);
    await ssh.stopDaemon(d);
  });

  test('a subsystem whose init stops is answered FAILURE before its channel closes', async () => {
    const refusing: ServerChannelHandler<unknown> = {
      init: () => ({ stop: 'no root' }),
      handleMsg: (_m, s) => ({ ok: s }),
      handleSshMsg: (_m, s) => ({ ok: s }),
    };
    const d = await startDaemon(env, { password: 'pw', subsystems: [['refusing', refusing]] });
    const conn = await connectTo(d, env, { password: 'pw' });
    for (let i = 0; i < 5; i++) {
      const ch = await conn.sessionChannel();
      assert.equal(await ch.subsystem('refusing'), 'failure', 'not CLOSED: the reply went out first');
      assert.deepEqual((await collect(ch)).types, ['closed']);
    }
    await ssh.stopDaemon(d);
  });

  test('an unknown subsystem is refused; the channel stays usable', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, {
      password: 'pw',
      subsystems: [['echo', echoSubsystem(log)]],
      exec: () => ({ ok: 'exec still works' }),
    });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    assert.equal(await ch.subsystem('nope'), 'failure');
    assert.equal(await ch.exec('x'), 'success');
    assert.equal((await collect(ch)).stdout.toString(), 'exec still works');
    assert.deepEqual(log, []);
    await ssh.stopDaemon(d);
  });

  test('a subsystem channel takes no session requests, and no second subsystem', async () => {
    const log: string[] = [];
    const d = await startDaemon(env, { password: 'pw', subsystems: [['echo', echoSubsystem(log)]] });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    assert.equal(await ch.subsystem('echo'), 'success');
    assert.equal(await ch.exec('1 + 1'), 'failure');
    assert.equal(await ch.subsystem('echo'), 'failure');
    assert.equal(await ch.setenv('A', 'b'), 'failure');
    await ch.close();
    await ssh.stopDaemon(d);
  });

  test("subsystems work with sshCli: 'noCli'", async () => {
    const log: string[] = [];
    const d = await startDaemon(env, {
      password: 'pw',
      sshCli: 'noCli',
      subsystems: [['echo', echoSubsystem(log)]],
    });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    assert.equal(await ch.exec('1 + 1'), 'failure');
    const sub = await conn.sessionChannel();
    assert.equal(await sub.subsystem('echo'), 'success');
    await sub.send('x');
    await sub.sendEof();
    assert.equal((await collect(sub)).stdout.toString(), 'x');
    await ssh.stopDaemon(d);
  });

  test('an empty subsystems list refuses every subsystem', async () => {
    const d = await startDaemon(env, { password: 'pw', subsystems: [] });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    assert.equal(await ch.subsystem('sftp'), 'failure');
    await ssh.stopDaemon(d);
  });

  test('without the subsystems option the daemon offers sftp (the seed: ssh_sftpd:subsystem_spec([]))', async () => {
    const d = await startDaemon(env, { password: 'pw' });
    try {
      const conn = await connectTo(d, env, { password: 'pw' });
      const ch = await conn.sessionChannel();
      assert.equal(await ch.subsystem('sftp'), 'success');
      // SSH_FXP_INIT version 3: the answer is SSH_FXP_VERSION 3 (draft-02 §4).
      await ch.send(Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3]));
      const reply = await new Promise<Buffer>((resolve) => ch.stream.once('data', resolve));
      assert.equal(reply[4], 2);
      assert.equal(reply.readUInt32BE(5), 3);
      await ch.sendEof();
    } finally {
      await ssh.stopDaemon(d);
    }
  });
});
