import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Connection } from '../../src/edge/connection.js';
import type { Daemon } from '../../src/daemon.js';
import type { ExecFun } from '../../src/options.js';
import * as ssh from '../../src/ssh.js';
import { connectTo, execute, makeEnv, startDaemon, type Env } from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

/** A daemon with the given exec option and one logged-in client. */
async function withExec(exec: ExecFun | undefined, f: (conn: Connection, d: Daemon) => Promise<void>) {
  const d = await startDaemon(env, { password: 'pw', ...(exec ? { exec } : {}) });
  const conn = await connectTo(d, env, { user: 'uma', password: 'pw' });
  try {
    await f(conn, d);
  } finally {
    await ssh.stopDaemon(d);
  }
}

describe('the exec option (exec_fun/1,2,3)', () => {
  test('exec_fun/1 gets the command; {ok} goes to stdout without a trailing newline, exit status 0', async () => {
    const seen: unknown[][] = [];
    await withExec(
      (cmd: string) => {
        seen.push([cmd]);
        return { ok: cmd.toUpperCase() };
      },
      async (conn) => {
        const r = await execute(conn, 'shout this');
        assert.equal(r.status, 'success');
        assert.equal(r.stdout.toString(), 'SHOUT THIS');
        assert.equal(r.stderr.length, 0);
        assert.equal(r.exitStatus, 0);
        assert.equal(r.eof, true);
        assert.deepEqual(seen, [['shout this']]);
      },
    );
  });

  test('exec_fun/2 gets the command and the user', async () => {
    await withExec(
      (cmd: string, user: string) => ({ ok: `${user} ran ${cmd}` }),
      async (conn) => {
        const r = await execute(conn, 'ls');
        assert.equal(r.stdout.toString(), 'uma ran ls');
      },
    );
  });

  test("exec_fun/3 gets the command, the user and the client's address", async () => {
    let got: unknown;
    await withExec(
      (cmd: string, user: string, client: { address: string; port: number }) => {
        got = [cmd, user, client];
        return { ok: 'three' };
      },
      async (conn) => {
        const r = await execute(conn, 'whoami');
        assert.equal(r.stdout.toString(), 'three');
        const me = ssh.connectionInfo(conn, 'sockname');
        assert.deepEqual(got, ['whoami', 'uma', { address: me.address, port: me.port }]);
      },
    );
  });

  test('{error} goes to stderr with a trailing newline, exit status -1 (0xFFFFFFFF on the wire)', async () => {
    await withExec(
      () => ({ error: 'no such command' }),
      async (conn) => {
        const r = await execute(conn, 'frobnicate');
        assert.equal(r.status, 'success');
        assert.equal(r.stdout.length, 0);
        assert.equal(r.stderr.toString(), 'no such command\n');
        assert.equal(r.exitStatus, 0xffffffff);
      },
    );
  });

  test('non-string results are formatted to text; strings and buffers are sent as they are', async () => {
    const results: Record<string, unknown> = {
      number: { ok: 42 },
      list: { ok: [1, 'two', { three: 3 }] },
      buffer: { ok: Buffer.from([0x68, 0x69]) },
      nl: { ok: 'line\n' },
      errnum: { error: 7 },
      errobj: { error: new RangeError('too far') },
    };
    await withExec(
      (cmd: string) => results[cmd] as { ok: unknown },
      async (conn) => {
        assert.equal((await execute(conn, 'number')).stdout.toString(), '42');
        assert.equal((await execute(conn, 'list')).stdout.toString(), "[ 1, 'two', { three: 3 } ]");
        assert.equal((await execute(conn, 'buffer')).stdout.toString(), 'hi');
        assert.equal((await execute(conn, 'nl')).stdout.toString(), 'line\n', 'nothing added, nothing taken');
        const errnum = await execute(conn, 'errnum');
        assert.equal(errnum.stderr.toString(), '7\n');
        assert.equal(errnum.exitStatus, 0xffffffff);
        assert.equal((await execute(conn, 'errobj')).stderr.toString(), 'RangeError: too far\n');
      },
    );
  });

  test('an async exec fun is awaited; one that throws or returns garbage is an error', async () => {
    await withExec(
      async (cmd: string) => {
        if (cmd === 'throw') throw new Error('kaboom');
        if (cmd === 'garbage') return 'plain string' as unknown as { ok: unknown };
        await new Promise((r) => setImmediate(r));
        return { ok: `later ${cmd}` };
      },
      async (conn) => {
        assert.equal((await execute(conn, 'x')).stdout.toString(), 'later x');
        const thrown = await execute(conn, 'throw');
        assert.equal(thrown.stderr.toString(), 'Error: kaboom\n');
        assert.equal(thrown.exitStatus, 0xffffffff);
        const garbage = await execute(conn, 'garbage');
        assert.match(garbage.stderr.toString(), /neither \{ok\} nor \{error\}/);
        assert.equal(garbage.exitStatus, 0xffffffff);
      },
    );
  });

  test('the output comes in order: data, EOF, exit status, then close', async () => {
    await withExec(
      () => ({ ok: 'x'.repeat(100_000) }),
      async (conn) => {
        const r = await execute(conn, 'big');
        assert.equal(r.stdout.length, 100_000);
        const tail = r.types.filter((t) => t !== 'data');
        assert.deepEqual(tail, ['eof', 'exitStatus', 'closed']);
      },
    );
  });

  test('every exec gets its own channel and the connection stays usable', async () => {
    let n = 0;
    await withExec(
      () => ({ ok: String(++n) }),
      async (conn) => {
        const outs = await Promise.all([1, 2, 3, 4].map(() => execute(conn, 'count')));
        assert.deepEqual(outs.map((o) => o.stdout.toString()).sort(), ['1', '2', '3', '4']);
      },
    );
  });
});

describe('the default evaluator (no exec, no sshCli: rule 4)', () => {
  test('evaluates a JavaScript expression and prints its value as the REPL does', async () => {
    await withExec(undefined, async (conn) => {
      const sum = await execute(conn, '1 + 2');
      assert.equal(sum.status, 'success');
      assert.equal(sum.stdout.toString(), '3\n');
      assert.equal(sum.exitStatus, 0);
      assert.equal((await execute(conn, "'a' + 'b'")).stdout.toString(), "'ab'\n");
      assert.equal((await execute(conn, 'Promise.resolve([1, 2])')).stdout.toString(), '[ 1, 2 ]\n');
    });
  });

  test('a thrown error goes to stderr with exit status -1', async () => {
    await withExec(undefined, async (conn) => {
      const r = await execute(conn, 'null.x');
      assert.equal(r.stdout.length, 0);
      assert.match(r.stderr.toString(), /^TypeError: .*null.*\n$/);
      assert.equal(r.exitStatus, 0xffffffff);
      const syntax = await execute(conn, '1 +');
      assert.match(syntax.stderr.toString(), /^SyntaxError: /);
      assert.equal(syntax.exitStatus, 0xffffffff);
    });
  });
});

describe("sshCli: 'noCli'", () => {
  test('refuses exec, shell and pty; the channel stays open for other requests', async () => {
    const d = await startDaemon(env, { password: 'pw', sshCli: 'noCli', exec: () => ({ ok: 'never' }) });
    const conn = await connectTo(d, env, { password: 'pw' });
    const ch = await conn.sessionChannel();
    assert.equal(await ch.exec('1 + 1'), 'failure');
    assert.equal(await ch.shell(), 'failure');
    assert.equal(await ch.ptyAlloc(), 'failure');
    assert.equal(await ch.setenv('A', 'b'), 'failure');
    assert.equal(ch.isClosed, false);
    await ch.close();
    await ssh.stopDaemon(d);
  });
});
