/**
 * The seed's user_interaction for authentication, driven through a real terminal (tmux): without
 * the password option the client asks `user@host's password: ` without echo, as OpenSSH asks;
 * keyboard-interactive prompts show the server's name and instruction and echo as the server
 * says. Without a terminal, nobody is asked and the login fails with AUTH_FAILED.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ssh from '../../src/index.js';
import { makeEnv, type Env } from '../facade/helpers.js';
import { Terminal, requireTmux } from './tmux.js';

const INDEX = fileURLToPath(new URL('../../src/index.js', import.meta.url));

describe('asking for passwords and keyboard-interactive answers on the terminal', () => {
  let env: Env;
  const daemons: ssh.Daemon[] = [];
  before(async () => (env = await makeEnv()));
  after(async () => {
    for (const d of daemons) await ssh.stopDaemon(d);
    await env.cleanup();
  });

  async function daemon(options: ssh.DaemonOptions): Promise<number> {
    const d = await ssh.daemon('127.0.0.1', 0, {
      systemDir: env.systemDir,
      userDir: env.daemonUserDir,
      ...options,
    });
    daemons.push(d);
    return (await ssh.daemonInfo(d)).port;
  }

  /** Runs a client with no password option in a terminal; `drive` answers; returns the screen at the end. */
  async function inTerminal(
    t: TestContext,
    port: number,
    drive: (term: Terminal) => Promise<void>,
  ): Promise<string | undefined> {
    const tmux = requireTmux(t);
    if (!tmux) return undefined;
    const script = join(env.dir, `client-${port}.mjs`);
    await writeFile(
      script,
      `import * as ssh from ${JSON.stringify(INDEX)};\n` +
        `try {\n` +
        `  const c = await ssh.connect('127.0.0.1', ${port}, { user: 'alice', silentlyAcceptHosts: true, saveAcceptedHost: false, userDir: ${JSON.stringify(env.clientDir)} });\n` +
        `  console.log('CONNECTED'); await ssh.close(c);\n` +
        `} catch (e) { console.log('REFUSED ' + e.code); }\n`,
    );
    const term = await Terminal.start(tmux, env.dir, [process.execPath, script], { width: 120, height: 30 });
    try {
      await drive(term);
      await term.waitFor(/CONNECTED|REFUSED \w+/, 'the outcome');
      return await term.screen();
    } finally {
      await term.stop();
    }
  }

  test('the password is asked for as OpenSSH asks, without echo; a wrong one is asked again', async (t) => {
    const port = await daemon({ password: 'open sesame', authMethods: 'password' });
    const screen = await inTerminal(t, port, async (term) => {
      await term.waitFor(/alice@127\.0\.0\.1's password: $/m, 'the password prompt');
      await term.type('wrong guess');
      await term.keys('Enter');
      await term.waitFor((s) => s.split(`alice@127.0.0.1's password:`).length === 3, 'the prompt again');
      // Backspace edits what was typed: "open sesamx" less one character, then "e".
      await term.type('open sesamx');
      await term.keys('BSpace');
      await term.type('e');
      await term.keys('Enter');
    });
    if (screen === undefined) return;
    assert.match(screen, /CONNECTED/);
    assert.ok(!screen.includes('wrong guess') && !screen.includes('sesam'), `echoed:\n${screen}`);
  });

  test('keyboard-interactive shows name, instruction and prompt and echoes when the server says so', async (t) => {
    const port = await daemon({
      password: 'open sesame',
      authMethods: 'keyboard-interactive',
      authMethodKbInteractiveData: ['Door', 'Say the words', 'words: ', true],
    });
    const screen = await inTerminal(t, port, async (term) => {
      await term.waitFor(/^words: $/m, 'the prompt');
      await term.type('open sesame');
      await term.keys('Enter');
    });
    if (screen === undefined) return;
    assert.match(screen, /^Door$/m);
    assert.match(screen, /^Say the words$/m);
    assert.match(screen, /^words: open sesame$/m);
    assert.match(screen, /CONNECTED/);
  });

  test("keyboard-interactive with the seed's default text does not echo", async (t) => {
    const port = await daemon({ password: 'open sesame', authMethods: 'keyboard-interactive' });
    const screen = await inTerminal(t, port, async (term) => {
      await term.waitFor(/^password: $/m, 'the prompt');
      await term.type('open sesame');
      await term.keys('Enter');
    });
    if (screen === undefined) return;
    assert.match(screen, /^SSH server$/m);
    assert.match(screen, /^Enter password for "alice"$/m);
    assert.ok(!screen.includes('sesame'), `echoed:\n${screen}`);
    assert.match(screen, /CONNECTED/);
  });

  test('Ctrl-C at the prompt gives the method up: AUTH_FAILED', async (t) => {
    const port = await daemon({ password: 'open sesame', authMethods: 'password' });
    const screen = await inTerminal(t, port, async (term) => {
      await term.waitFor(/alice@127\.0\.0\.1's password: $/m, 'the password prompt');
      await term.keys('C-c');
    });
    if (screen === undefined) return;
    assert.match(screen, /REFUSED AUTH_FAILED/);
  });

  test('without a terminal nobody is asked: AUTH_FAILED says why', async (t) => {
    const { open } = await import('node:fs/promises');
    const tty = await open('/dev/tty', 'r').catch(() => undefined);
    if (tty) {
      await tty.close();
      t.skip('this process has a terminal: it would be asked');
      return;
    }
    for (const authMethods of ['password', 'keyboard-interactive']) {
      const port = await daemon({ password: 'open sesame', authMethods });
      await assert.rejects(
        ssh.connect('127.0.0.1', port, {
          user: 'alice',
          silentlyAcceptHosts: true,
          saveAcceptedHost: false,
          userDir: env.clientDir,
        }),
        (e: ssh.SshError) =>
          e.code === 'AUTH_FAILED' && /nobody was asked for a password \(no terminal/.test(e.message),
      );
    }
  });

  test('userInteraction false asks nobody even with a terminal', async (t) => {
    const port = await daemon({ password: 'open sesame', authMethods: 'password' });
    const tmux = requireTmux(t);
    if (!tmux) return;
    const script = join(env.dir, 'quiet.mjs');
    await writeFile(
      script,
      `import * as ssh from ${JSON.stringify(INDEX)};\n` +
        `try {\n` +
        `  await ssh.connect('127.0.0.1', ${port}, { user: 'alice', userInteraction: false, silentlyAcceptHosts: true, saveAcceptedHost: false, userDir: ${JSON.stringify(env.clientDir)} });\n` +
        `  console.log('CONNECTED');\n` +
        `} catch (e) { console.log('REFUSED ' + e.code + ' ' + e.message); }\n`,
    );
    const term = await Terminal.start(tmux, env.dir, [process.execPath, script], { width: 120, height: 30 });
    try {
      const screen = await term.waitFor(/CONNECTED|REFUSED \w+/, 'the outcome');
      assert.match(screen, /REFUSED AUTH_FAILED .*userInteraction is false/);
      assert.ok(!screen.includes('password:'), screen);
    } finally {
      await term.stop();
    }
  });
});
