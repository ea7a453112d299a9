/**
 * The seed's user_interaction: an unknown host key with nothing else deciding is asked about on
 * the terminal, as OpenSSH asks ("Are you sure you want to continue connecting
 * (yes/no/[fingerprint])?"), driven here through a real terminal (tmux). Yes saves the key to
 * known_hosts; no refuses with HOST_KEY_NOT_VERIFIED; other answers are asked again.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as ssh from '../../src/index.js';
import { makeEnv, type Env } from '../facade/helpers.js';
import { Terminal, requireTmux } from './tmux.js';

const INDEX = fileURLToPath(new URL('../../src/index.js', import.meta.url));

describe('asking about an unknown host key on the terminal', () => {
  let env: Env;
  let d: ssh.Daemon;
  let port: number;
  before(async () => {
    env = await makeEnv();
    d = await ssh.daemon('127.0.0.1', 0, {
      systemDir: env.systemDir,
      userDir: env.daemonUserDir,
      password: 'pw',
    });
    port = (await ssh.daemonInfo(d)).port;
  });
  after(async () => {
    await ssh.stopDaemon(d);
    await env.cleanup();
  });

  async function run(
    t: Parameters<typeof requireTmux>[0],
    answers: string[],
    extra: ssh.ClientOptions = {},
  ): Promise<string> {
    const tmux = requireTmux(t);
    if (!tmux) return '';
    const script = join(env.dir, 'prompt.mjs');
    await writeFile(
      script,
      `import * as ssh from ${JSON.stringify(INDEX)};\n` +
        `try {\n` +
        `  const c = await ssh.connect('127.0.0.1', ${port}, { user: 'u', password: 'pw', userDir: ${JSON.stringify(env.clientDir)}, ...${JSON.stringify(extra)} });\n` +
        `  console.log('CONNECTED'); await ssh.close(c);\n` +
        `} catch (e) { console.log('REFUSED ' + e.code); }\n`,
    );
    const term = await Terminal.start(tmux, env.dir, [process.execPath, script], { width: 160, height: 30 });
    try {
      await term.waitFor(
        /Are you sure you want to continue connecting \(yes\/no\/\[fingerprint\]\)\?/,
        'the question',
      );
      const screen = await term.screen();
      assert.ok(screen.includes(ssh.fingerprint(env.hostKey.publicKey, 'sha256')), screen);
      assert.match(screen, /ED25519 key fingerprint is/);
      for (const a of answers.slice(0, -1)) {
        await term.type(a);
        await term.keys('Enter');
        await term.waitFor(/Please type 'yes', 'no' or the fingerprint/, 'the question again');
      }
      await term.type(answers.at(-1)!);
      await term.keys('Enter');
      await term.waitFor(/CONNECTED|REFUSED \w+/, 'the outcome');
      return (await term.screen()).match(/CONNECTED|REFUSED \w+/)![0];
    } finally {
      await term.stop();
    }
  }

  test("'no' refuses with HOST_KEY_NOT_VERIFIED and saves nothing", async (t) => {
    const outcome = await run(t, ['maybe', 'no']);
    if (!outcome) return;
    assert.equal(outcome, 'REFUSED HOST_KEY_NOT_VERIFIED');
    assert.equal(await readFile(join(env.clientDir, 'known_hosts'), 'utf8').catch(() => ''), '');
  });

  test("'yes' connects and saves the key to known_hosts", async (t) => {
    const outcome = await run(t, ['yes']);
    if (!outcome) return;
    assert.equal(outcome, 'CONNECTED');
    const known = await readFile(join(env.clientDir, 'known_hosts'), 'utf8');
    assert.ok(known.includes(env.hostKey.publicKey.blob.toString('base64')));
  });

  test("silentlyAcceptHosts: false asks as well (the seed: false keeps the default question); 'yes' saves the key", async (t) => {
    await writeFile(join(env.clientDir, 'known_hosts'), '');
    const outcome = await run(t, ['yes'], { silentlyAcceptHosts: false });
    if (!outcome) return;
    assert.equal(outcome, 'CONNECTED');
    const known = await readFile(join(env.clientDir, 'known_hosts'), 'utf8');
    assert.ok(known.includes(env.hostKey.publicKey.blob.toString('base64')));
  });

  test('without a terminal nobody is asked: the key is refused', async (t) => {
    // This test process has no controlling terminal on CI; where it has one, say so and stop.
    const { open } = await import('node:fs/promises');
    const tty = await open('/dev/tty', 'r').catch(() => undefined);
    if (tty) {
      await tty.close();
      t.skip('this process has a terminal: it would be asked');
      return;
    }
    await assert.rejects(
      ssh.connect('127.0.0.1', port, { user: 'u', password: 'pw', userDir: env.dir }),
      (e: ssh.SshError) => e.code === 'HOST_KEY_NOT_VERIFIED',
    );
  });
});
