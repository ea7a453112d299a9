import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { connectTo, makeEnv, startDaemon, type Env } from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

describe('keyboard-interactive, our client against our daemon', () => {
  test('the password option answers the seed default prompt; the daemon reports the method', async () => {
    const methods: string[] = [];
    const d = await startDaemon(env, {
      userPasswords: [['lee', 'lee-pw']],
      connectfun: (_u, _p, m) => methods.push(m),
    });
    const conn = await connectTo(d, env, {
      user: 'lee',
      password: 'lee-pw',
      authMethods: 'keyboard-interactive',
    });
    assert.equal(ssh.connectionInfo(conn, 'user'), 'lee');
    await ssh.close(conn);
    assert.deepEqual(methods, ['keyboard-interactive']);
    await ssh.stopDaemon(d);
  });

  test('the keyboardInteractive callback sees the daemon text and answers a prompt that echoes', async () => {
    const seen: unknown[] = [];
    const d = await startDaemon(env, {
      password: 'blue',
      authMethodKbInteractiveData: ['Quiz', 'Answer the question', 'Favourite colour? ', true],
    });
    const conn = await connectTo(d, env, {
      authMethods: 'keyboard-interactive',
      keyboardInteractive: (name, instruction, prompts) => {
        seen.push({ name, instruction, prompts });
        return ['blue'];
      },
    });
    await ssh.close(conn);
    assert.deepEqual(seen, [
      {
        name: 'Quiz',
        instruction: 'Answer the question',
        prompts: [{ prompt: 'Favourite colour? ', echo: true }],
      },
    ]);
    await ssh.stopDaemon(d);
  });

  test('a wrong answer pays the failure delay and ends in AUTH_FAILED naming the method', async () => {
    const d = await startDaemon(env, { password: 'right' });
    const t0 = performance.now();
    await assert.rejects(
      connectTo(d, env, { password: 'wrong', authMethods: 'keyboard-interactive' }),
      (e: unknown) => {
        assert.ok(e instanceof SshError);
        assert.equal(e.code, 'AUTH_FAILED');
        assert.match(e.message, /tried keyboard-interactive/);
        return true;
      },
    );
    assert.ok(performance.now() - t0 >= 5, 'the failed answer was delayed at least 5 ms');
    await ssh.stopDaemon(d);
  });

  test('option checks: a malformed authMethodKbInteractiveData is BAD_OPTION naming it', async () => {
    await assert.rejects(
      startDaemon(env, { authMethodKbInteractiveData: ['a', 'b', 'c'] as never }),
      (e: unknown) =>
        e instanceof SshError && e.code === 'BAD_OPTION' && /authMethodKbInteractiveData/.test(e.message),
    );
  });
});
