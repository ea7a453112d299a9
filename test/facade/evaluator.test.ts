/**
 * The default exec evaluator: each exec in a worker thread of its own (src/cli/evaluator.ts),
 * through the Seashell client and directly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { drainEvaluatorPool, evaluate } from '../../src/cli/evaluator.js';
import type { Connection } from '../../src/edge/connection.js';
import type { Daemon } from '../../src/daemon.js';
import { SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { connectTo, execute, makeEnv, startDaemon, type Env } from './helpers.js';

let env: Env;
let daemon: Daemon;
let conn: Connection;
before(async () => {
  env = await makeEnv();
  daemon = await startDaemon(env, { password: 'pw', evalTimeLimit: 3000, evalMemoryLimit: 64 });
  conn = await connectTo(daemon, env, { password: 'pw' });
});
after(async () => {
  await ssh.stop();
  await drainEvaluatorPool();
  await env.cleanup();
});

describe('the default evaluator through a channel', () => {
  test('console output and the value arrive in the order they were printed', async () => {
    const r = await execute(
      conn,
      'console.log(1); process.stdout.write("2\\n"); console.error("e"); console.log(3); 4',
    );
    assert.equal(r.stdout.toString(), '1\n2\n3\n4\n');
    assert.equal(r.stderr.toString(), 'e\n');
    assert.equal(r.exitStatus, 0);
    assert.deepEqual(
      r.types.filter((t) => t !== 'data'),
      ['eof', 'exitStatus', 'closed'],
    );
  });

  test('20 MiB of console output streams through in full', async () => {
    const r = await execute(conn, 'for (let i = 0; i < 20; i++) console.log("x".repeat(1 << 20)); "end"');
    assert.equal(r.stdout.length, 20 * ((1 << 20) + 1) + "'end'\n".length);
    assert.ok(r.stdout.subarray(-6).equals(Buffer.from("'end'\n")));
  });

  test('process.exit(n) ends that evaluation with exit status n; process.exit() with 0', async () => {
    const four = await execute(conn, 'console.log("before"); process.exit(4); console.log("never")');
    assert.equal(four.stdout.toString(), 'before\n');
    assert.equal(four.exitStatus, 4);
    assert.equal((await execute(conn, 'process.exit()')).exitStatus, 0);
    assert.equal((await execute(conn, '1')).stdout.toString(), '1\n', 'the daemon serves on');
  });

  test('an endless loop ends at evalTimeLimit while other connections are served', async () => {
    const other = await connectTo(daemon, env, { password: 'pw' });
    let loopDone = false;
    const loop = execute(conn, 'console.log("spinning"); for (;;) {}').then((r) => {
      loopDone = true;
      return r;
    });
    const r = await execute(other, '"served"');
    assert.equal(r.stdout.toString(), "'served'\n");
    assert.equal(loopDone, false);
    const l = await loop;
    assert.equal(l.stdout.toString(), 'spinning\n');
    assert.equal(l.stderr.toString(), 'evaluation stopped: it ran longer than the time limit of 3000 ms\n');
    assert.equal(l.exitStatus, 0xffffffff);
    await ssh.close(other);
  });

  test('running out of memory ends that evaluation only', async () => {
    const r = await execute(conn, 'const a = []; for (;;) a.push(new Array(1e5).fill(a.length))');
    assert.equal(r.stderr.toString(), 'evaluation stopped: it ran out of memory (the limit is 64 MiB)\n');
    assert.equal(r.exitStatus, 0xffffffff);
    assert.equal((await execute(conn, '2 + 2')).stdout.toString(), '4\n');
  });

  test('nothing one evaluation leaves behind reaches the next', async () => {
    await execute(
      conn,
      'globalThis.leftover = "secret"; Array.prototype.evil = 1; setInterval(() => {}, 1000)',
    );
    const r = await execute(conn, '[typeof leftover, [].evil]');
    assert.equal(r.stdout.toString(), "[ 'undefined', undefined ]\n");
  });

  test('an error thrown later by a callback ends the evaluation with it on stderr', async () => {
    const r = await execute(
      conn,
      'setTimeout(() => { throw new TypeError("late") }, 1); new Promise((r) => setTimeout(r, 1000))',
    );
    assert.equal(r.stderr.toString(), 'Uncaught TypeError: late\n');
    assert.equal(r.exitStatus, 0xffffffff);
  });

  test('require works, as in the REPL', async () => {
    const r = await execute(conn, 'require("node:path").join("a", "b")');
    assert.equal(r.stdout.toString(), "'a/b'\n");
  });
});

describe('evaluate() on its own', () => {
  test('collects the output when nothing streams it; a throw of a non-Error is formatted', async () => {
    assert.deepEqual(await evaluate('console.log("hi"); [1, "two"]'), {
      stdout: Buffer.from("hi\n[ 1, 'two' ]\n"),
      stderr: Buffer.alloc(0),
      exitStatus: 0,
    });
    const thrown = await evaluate('throw 7');
    assert.equal(thrown.stderr.toString(), '7\n');
    assert.equal(thrown.exitStatus, -1);
  });

  test('an abort signal stops the evaluation', async () => {
    const ac = new AbortController();
    const p = evaluate('for (;;) {}', { signal: ac.signal });
    ac.abort();
    const r = await p;
    assert.equal(r.stderr.toString(), 'evaluation stopped: the session ended\n');
    assert.equal(r.exitStatus, -1);
  });
});

describe('evalTimeLimit and evalMemoryLimit are checked', () => {
  for (const [name, value] of [
    ['evalTimeLimit', 0],
    ['evalTimeLimit', -5],
    ['evalTimeLimit', 1.5],
    ['evalTimeLimit', '100'],
    ['evalTimeLimit', 2 ** 31],
    ['evalMemoryLimit', 8],
    ['evalMemoryLimit', 100.5],
    ['evalMemoryLimit', Infinity],
  ] as const) {
    test(`${name}: ${String(value)} is refused by name`, async () => {
      await assert.rejects(
        startDaemon(env, { [name]: value }),
        (e: unknown) => e instanceof SshError && e.code === 'BAD_OPTION' && e.message.includes(name),
      );
    });
  }
  test('evalTimeLimit: Infinity is accepted', async () => {
    const d = await startDaemon(env, { evalTimeLimit: Infinity, evalMemoryLimit: 128 });
    await ssh.stopDaemon(d);
  });
});
