import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type {
  ChannelMessage,
  ChannelUp,
  HandlerResult,
  ServerChannelHandler,
} from '../../src/channel/behaviour.js';
import type { SessionChannel as Channel } from '../../src/channel/session-channel.js';
import type { Connection } from '../../src/edge/connection.js';
import type { Daemon } from '../../src/daemon.js';
import { SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { packetPlaintext } from '../../src/transport/packet.js';
import { freeArrayBuffer } from '../../src/wire/detach.js';
import { collect, connectTo, makeEnv, startDaemon, waitFor, type Env } from './helpers.js';

/** What the daemon side of the last channel did, for the test to look at. */
interface ServerView {
  channel?: Channel;
  floodSent: boolean;
  messages: ChannelMessage[];
  /** `sink`: bytes taken, and how many of the chunks had their memory freed. */
  sunk: number;
  freed: number;
}

interface State {
  channel?: Channel;
  view: ServerView;
}

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

/**
 * The test CLI. Commands: `cat` echoes data until EOF; `flood N` writes N bytes of a pattern;
 * `both` writes to stdout and stderr; `signal` ends with an exit signal; `stay` keeps the channel
 * open; `hang` never answers the exec request; `block` takes data but never finishes handling it;
 * `sink` counts the data and frees the memory of each chunk that is a packet's plaintext alone,
 * as the SFTP server does; `flood-on-data N` is `flood N` once the client has sent something.
 */
function testCli(view: ServerView): ServerChannelHandler<State> {
  return {
    init: () => ({ ok: { view } }),
    handleMsg(m, s) {
      const up = m as ChannelUp;
      if (up?.type === 'channelUp') {
        s.channel = up.channel;
        view.channel = up.channel;
      }
      return { ok: s };
    },
    async handleSshMsg(m, s): Promise<HandlerResult<State>> {
      view.messages.push(m);
      const ch = s.channel!;
      if (m.type === 'exec') {
        const [cmd, arg] = m.command.split(' ');
        if (cmd === 'hang') {
          ch.deferReply(); // taken for later, and never given: the client waits
          return { ok: s };
        }
        ch.replyRequest(m.wantReply, 'success');
        if (cmd === 'flood') {
          await ch.send(pattern(Number(arg)));
          view.floodSent = true;
          await ch.sendEof();
          await ch.exitStatus(0);
          return { stop: m.channelId, state: s };
        }
        if (cmd === 'both') {
          await ch.send('to stdout');
          await ch.send('to stderr', { dataType: 1 });
          await ch.sendEof();
          await ch.exitStatus(5);
          return { stop: m.channelId, state: s };
        }
        if (cmd === 'signal') {
          await ch.exitSignal('TERM', 'terminated by test', true);
          return { stop: m.channelId, state: s };
        }
        return { ok: s };
      }
      if (m.type === 'pty' || m.type === 'env') ch.replyRequest(m.wantReply, 'success');
      if (m.type === 'data') {
        const cmd = (view.messages.find((x) => x.type === 'exec') as { command?: string } | undefined)
          ?.command;
        if (cmd === 'block') await new Promise(() => {});
        if (cmd?.startsWith('flood-on-data ')) {
          await ch.send(pattern(Number(cmd.split(' ')[1])));
          view.floodSent = true;
          await ch.sendEof();
          await ch.exitStatus(0);
          return { stop: m.channelId, state: s };
        }
        if (cmd === 'sink') {
          view.sunk += m.data.length;
          if (packetPlaintext.has(m.data.buffer)) {
            freeArrayBuffer(m.data.buffer);
            view.freed++;
          }
          return { ok: s };
        }
        await ch.send(m.data);
      }
      if (m.type === 'eof') {
        await ch.sendEof();
        await ch.exitStatus(0);
        return { stop: m.channelId, state: s };
      }
      return { ok: s };
    },
  };
}

let env: Env;
let daemon: Daemon;
let conn: Connection;
let view: ServerView;

before(async () => {
  env = await makeEnv();
  view = { floodSent: false, messages: [], sunk: 0, freed: 0 };
  daemon = await startDaemon(env, { password: 'pw', sshCli: testCli(view) });
  conn = await connectTo(daemon, env, { password: 'pw' });
});

after(async () => {
  await ssh.stopDaemon(daemon);
  await env.cleanup();
});

function fresh(): void {
  view.channel = undefined;
  view.floodSent = false;
  view.messages.length = 0;
  view.sunk = 0;
  view.freed = 0;
}

function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

function closedError(e: unknown): boolean {
  assert.ok(e instanceof SshError, String(e));
  assert.equal(e.code, 'CLOSED');
  return true;
}

describe('Channel: send, sendEof, close and iteration', () => {
  test('send and sendEof reach the daemon; its answer, EOF, exit status and close come back in order', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    assert.equal(await ch.exec('cat'), 'success');
    await ch.send('hello ');
    await ch.send(Buffer.from('wor'));
    await ch.send(new Uint8Array([0x6c, 0x64]));
    await ch.sendEof();
    const r = await collect(ch);
    assert.equal(r.stdout.toString(), 'hello world');
    assert.equal(r.exitStatus, 0);
    assert.deepEqual(r.types.slice(-3), ['eof', 'exitStatus', 'closed']);
    assert.deepEqual(
      view.messages.map((m) => m.type),
      ['exec', 'data', 'data', 'data', 'eof'],
    );
  });

  test('iteration ends right after the closed message, and a finished channel yields nothing more', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    await ch.exec('both');
    const seen: string[] = [];
    for await (const m of ch) seen.push(m.type);
    assert.equal(seen.at(-1), 'closed');
    assert.equal(seen.filter((t) => t === 'closed').length, 1);
    const again: string[] = [];
    for await (const m of ch) again.push(m.type);
    assert.deepEqual(again, []);
    assert.equal(ch.isClosed, true);
  });

  test('close() from the client ends the channel on both sides; then send, sendEof and requests are CLOSED', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    await ch.exec('stay');
    const iterated = collect(ch);
    await ch.close();
    assert.deepEqual((await iterated).types, ['closed']);
    assert.equal(ch.isClosed, true);
    await assert.rejects(ch.send('too late'), closedError);
    await assert.rejects(ch.sendEof(), closedError);
    await assert.rejects(ch.exec('cat'), closedError);
    await ch.close(); // closing again is harmless
  });

  test('send rejects with CLOSED once the daemon has closed the channel', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    await ch.exec('both');
    await collect(ch);
    await assert.rejects(ch.send('anyone there?'), closedError);
  });

  test('an exit signal arrives as an exitSignal message', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    await ch.exec('signal');
    const messages: ChannelMessage[] = [];
    for await (const m of ch) messages.push(m);
    const sig = messages.find((m) => m.type === 'exitSignal');
    assert.deepEqual(sig, {
      type: 'exitSignal',
      channelId: ch.channelId,
      signal: 'TERM',
      errorMessage: 'terminated by test',
      language: '',
      coreDumped: true,
    });
  });

  test('pty, env, window-change and signal reach the daemon as messages', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    assert.equal(
      await ch.ptyAlloc({
        term: 'xterm-256color',
        width: 120,
        height: 40,
        modes: [
          ['echo', 0],
          ['icanon', 1],
        ],
      }),
      'success',
    );
    assert.equal(await ch.setenv('LC_ALL', 'C.UTF-8'), 'success');
    await ch.exec('stay');
    await ch.windowChange(100, 30, 800, 600);
    await ch.signal('INT');
    await waitFor(() => view.messages.some((m) => m.type === 'signal'), 'the signal to arrive');
    const byType = Object.fromEntries(view.messages.map((m) => [m.type, m]));
    // The session router answered pty and env before the CLI existed; the CLI sees them after.
    assert.deepEqual(byType.pty, {
      type: 'pty',
      channelId: view.channel!.channelId,
      wantReply: false,
      terminal: 'xterm-256color',
      cols: 120,
      rows: 40,
      width: 0,
      height: 0,
      modes: [
        ['echo', 0],
        ['icanon', 1],
      ],
    });
    assert.equal((byType.env as { value: string }).value, 'C.UTF-8');
    assert.deepEqual(byType.windowChange, {
      type: 'windowChange',
      channelId: view.channel!.channelId,
      wantReply: false,
      cols: 100,
      rows: 30,
      width: 800,
      height: 600,
    });
    assert.equal((byType.signal as { signal: string }).signal, 'INT');
    assert.deepEqual(
      view.messages.map((m) => m.type),
      ['pty', 'env', 'exec', 'windowChange', 'signal'],
    );
    await ch.close();
  });
});

describe('Channel: Node streams', () => {
  test('stdin goes to the daemon and stdout comes back; ending stdin sends EOF', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    await ch.exec('cat');
    const out = readAll(ch.stdout);
    ch.stdin.write('streamed ');
    ch.stdin.end('data');
    assert.equal((await out).toString(), 'streamed data');
    const rest = await collect(ch);
    assert.equal(rest.exitStatus, 0);
    assert.deepEqual(
      rest.types,
      ['eof', 'exitStatus', 'closed'],
      'data goes to the stream, the rest to the iterator',
    );
  });

  test('stdout and stderr are separate streams', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    const out = readAll(ch.stdout);
    const err = readAll(ch.stderr);
    await ch.exec('both');
    assert.equal((await out).toString(), 'to stdout');
    assert.equal((await err).toString(), 'to stderr');
    assert.equal((await collect(ch)).exitStatus, 5);
  });

  test('8 MiB through stdin and back through stdout arrive intact', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    await ch.exec('cat');
    const data = pattern(8 * 1024 * 1024);
    const out = readAll(ch.stdout);
    ch.stdin.end(data);
    const got = await out;
    assert.equal(got.length, data.length);
    assert.equal(
      createHash('sha256').update(got).digest('hex'),
      createHash('sha256').update(data).digest('hex'),
    );
  });

  test('a slow reader holds the daemon to the window: it sends no more until the reader reads', async () => {
    fresh();
    const WINDOW = 64 * 1024;
    const TOTAL = 1024 * 1024;
    const ch = await conn.sessionChannel({ initialWindowSize: WINDOW, maxPacketSize: 16 * 1024 });
    const stdout = ch.stdout; // created now, and not read yet
    await ch.exec(`flood ${TOTAL}`);
    await waitFor(
      () => view.channel !== undefined && view.channel.sendWindow === 0,
      'the daemon to use up the window',
    );
    await waitFor(() => stdout.readableLength === WINDOW, 'the window’s worth of data to arrive');
    assert.equal(ch.receiveWindow, 0);
    assert.equal(view.floodSent, false, 'the rest of the data waits in the daemon');
    assert.equal(
      conn.isClosed,
      false,
      'the daemon did not overrun the window (that would be a protocol error)',
    );
    assert.equal(
      (view.channel!.connection as Connection).socket.writableLength,
      0,
      'and it is not queued on its socket either',
    );

    const got = await readAll(stdout);
    assert.equal(got.length, TOTAL);
    assert.ok(got.equals(pattern(TOTAL)));
    assert.equal(view.floodSent, true);
    assert.equal((await collect(ch)).exitStatus, 0);
  });

  test('a large window does not let one send take the event loop: about 1 MiB is sealed per turn', async () => {
    fresh();
    const TOTAL = 32 * 1024 * 1024;
    const ch = await conn.sessionChannel({ initialWindowSize: 64 * 1024 * 1024 });
    const received = readAll(ch.stdout);
    await ch.exec(`flood-on-data ${TOTAL}`);
    // What the daemon hands its socket, counted per turn of the event loop (client and daemon
    // share this process, so the client reads only between the daemon's turns).
    const socket = (view.channel!.connection as Connection).socket;
    const write = socket.write.bind(socket) as (...a: unknown[]) => boolean;
    let turn = 0;
    let most = 0;
    let turns = 0;
    let counting = true;
    socket.write = ((chunk: Buffer, ...rest: unknown[]) => {
      turn += chunk.length;
      return write(chunk, ...rest);
    }) as typeof socket.write;
    const tick = () => {
      most = Math.max(most, turn);
      turn = 0;
      turns++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    try {
      await ch.send('go');
      const got = await received;
      assert.equal(got.length, TOTAL);
      assert.ok(got.equals(pattern(TOTAL)));
    } finally {
      counting = false;
      delete (socket as { write?: unknown }).write;
    }
    assert.ok(turns > 16, `${turns} turns of the event loop`);
    assert.ok(most <= 1.5 * 1024 * 1024, `${most} bytes went to the socket in one turn`);
  });

  test('an EOF written early by another channel’s data settles its sendEof before the turn ends', async () => {
    // OpenSSH's multiplexed sessions: channel A's EOF is sealed, then channel B's data passes the
    // early-write mark in the same turn and takes A's EOF to the socket with it. The peer may
    // answer that EOF with CLOSE before the turn's flush; A's handler, awaiting sendEof() to send
    // its exit status, must go on now, or the exit status comes too late (CLOSED).
    fresh();
    const a = await conn.sessionChannel();
    await a.exec('stay');
    const serverA = view.channel!;
    const b = await conn.sessionChannel();
    await b.exec('stay');
    const serverB = view.channel!;
    assert.notEqual(serverA, serverB);
    const received = readAll(b.stdout);
    const BIG = 512 * 1024;

    let eofWritten = false;
    let turnEnded = false;
    const eof = serverA.sendEof().then(() => {
      eofWritten = true;
    });
    const data = serverB.send(pattern(BIG));
    setImmediate(() => (turnEnded = true));
    // Microtasks only: nothing here lets the event loop turn.
    for (let i = 0; i < 10 && !eofWritten; i++) await Promise.resolve();
    assert.equal(eofWritten, true, 'sendEof settled once its EOF was with the socket');
    assert.equal(turnEnded, false, 'and before the turn’s flush');
    await Promise.all([eof, data]);
    await serverB.sendEof();
    assert.equal((await received).length, BIG);
    await Promise.all([a.close(), b.close()]);
  });

  test('a handler that frees the memory of the data it took still gives the window back', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    await ch.exec('sink');
    const n = 24 * 1024 * 1024; // several windows: each must come back
    await ch.send(Buffer.alloc(n, 1), { timeout: 30_000 });
    await ch.sendEof();
    await collect(ch);
    assert.equal(view.sunk, n);
    assert.ok(view.freed > 0, 'some chunks were freed under the runner');
  });

  test('maxWindowSize outside [0, 2^32 - 1] or not an integer is refused with BAD_OPTION', async () => {
    fresh();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 32])
      await assert.rejects(
        conn.sessionChannel({ maxWindowSize: bad }),
        (e: SshError) => e.code === 'BAD_OPTION' && /maxWindowSize/.test(e.message),
      );
    // A valid one opens, and the window starts where initialWindowSize says.
    const ch = await conn.sessionChannel({ initialWindowSize: 65536, maxWindowSize: 2 ** 32 - 1 });
    assert.equal(ch.receiveWindow, 65536);
    await ch.close();
  });

  test('an iterator that is not read holds the daemon to the window as well', async () => {
    fresh();
    const WINDOW = 32 * 1024;
    const ch = await conn.sessionChannel({ initialWindowSize: WINDOW, maxPacketSize: 8 * 1024 });
    await ch.exec('flood 200000');
    await waitFor(
      () => view.channel !== undefined && view.channel.sendWindow === 0,
      'the window to be used up',
    );
    await waitFor(() => ch.receiveWindow === 0, 'the data to arrive');
    assert.equal(view.floodSent, false);
    const r = await collect(ch);
    assert.equal(r.stdout.length, 200000);
    assert.ok(r.stdout.equals(pattern(200000)));
  });
});

describe('Channel: timeouts', () => {
  test('exec with a timeout rejects with TIMEOUT when the daemon never answers', async () => {
    fresh();
    const ch = await conn.sessionChannel();
    await assert.rejects(ch.exec('hang', 50), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.code, 'TIMEOUT');
      assert.match(e.message, /exec request timed out/);
      return true;
    });
    await ch.close();
  });

  test('send with a timeout rejects with TIMEOUT when the window never opens', async () => {
    fresh();
    const c = await connectTo(daemon, env, { password: 'pw' });
    const ch = await c.sessionChannel();
    await ch.exec('block');
    // The daemon's first data callback never returns, so it never gives window back: once this
    // send has used the window up (it resolves when all of it is sent), nothing more can go.
    await ch.send(Buffer.alloc(ch.sendWindow));
    assert.equal(ch.sendWindow, 0);
    await assert.rejects(ch.send(Buffer.alloc(64 * 1024), { timeout: 50 }), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.code, 'TIMEOUT');
      assert.match(e.message, /send timed out/);
      return true;
    });
    assert.equal(ch.sendWindow, 0);
    await ssh.close(c);
  });

  test('close() after a send that timed out still closes the channel', async () => {
    fresh();
    const c = await connectTo(daemon, env, { password: 'pw' });
    try {
      const ch = await c.sessionChannel();
      await ch.exec('block');
      await assert.rejects(ch.send(Buffer.alloc(8 * 1024 * 1024), { timeout: 50 }));
      void ch.close();
      // A full exchange on another channel of the same connection: had the CLOSE gone out, the
      // daemon's CLOSE would have come back before this exchange ends.
      fresh();
      const other = await c.sessionChannel();
      await other.exec('both');
      await collect(other);
      assert.equal(ch.isClosed, true);
    } finally {
      await ssh.close(c);
    }
  });
});

describe('closing the connection', () => {
  test('ssh.close ends every channel, and no new channel can be opened', async () => {
    const c = await connectTo(daemon, env, { password: 'pw' });
    const ch = await c.sessionChannel();
    await ch.exec('stay');
    const iterated = collect(ch);
    await ssh.close(c);
    assert.deepEqual((await iterated).types, ['closed']);
    assert.equal(c.isClosed, true);
    await assert.rejects(c.sessionChannel(), closedError);
    await assert.rejects(ch.send('x'), closedError);
  });
});
