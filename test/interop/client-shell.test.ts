/**
 * `ssh.shell()` against OpenSSH's sshd, run in a real terminal (tmux): the pty follows the local
 * terminal's size and its resizes, the remote exit status comes back, and the local terminal
 * leaves raw mode afterwards, also when the connection dies under the shell; without a terminal
 * it runs with no pty on piped stdin.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import type * as ssh from '../../src/index.js';
import {
  interopSuite,
  makeTempDir,
  removeTempDir,
  runCommand,
  sshKeygen,
  startSshd,
  type SshdHandle,
} from './openssh.js';
import { requireTmux, Terminal } from './tmux.js';

const driver = fileURLToPath(new URL('./shell-driver.js', import.meta.url));

interopSuite('ssh.shell() against OpenSSH sshd in a real terminal', () => {
  let dir: string;
  let sshd: SshdHandle;
  let options: ssh.ClientOptions;
  const terminals: Terminal[] = [];

  before(async () => {
    dir = await makeTempDir('client-shell-');
    const userDir = join(dir, 'user');
    await mkdir(userDir);
    const key = await sshKeygen('ed25519', join(userDir, 'id_ed25519'));
    sshd = await startSshd({ authorizedKeys: key.publicLine, logLevel: 'VERBOSE' });
    await writeFile(join(userDir, 'known_hosts'), sshd.knownHostsLine());
    options = { user: sshd.user, userDir };
  });

  after(async () => {
    for (const t of terminals) await t.stop();
    await sshd?.stop();
    await removeTempDir(dir);
  });

  async function shellIn(tmux: string): Promise<Terminal> {
    const term = await Terminal.start(
      tmux,
      dir,
      [process.execPath, driver, sshd.host, String(sshd.port), JSON.stringify(options)],
      // A plain prompt, so that the screen is easy to read.
      { width: 80, height: 24, env: { PS1: '$ ', ENV: '/dev/null' } },
    );
    terminals.push(term);
    return term;
  }

  /** Runs `stty size` remotely and returns what it printed. */
  async function remoteSize(term: Terminal, tag: string): Promise<string> {
    await term.type(`echo ${tag}=$(stty size)`);
    await term.keys('Enter');
    const screen = await term.waitFor(
      new RegExp(`^${tag}=\\d+ \\d+$`, 'm'),
      `the output of stty size (${tag})`,
    );
    return new RegExp(`^${tag}=(\\d+ \\d+)$`, 'm').exec(screen)![1]!;
  }

  test("a pty of the terminal's size, a resize followed by stty size, and the exit status", async (t) => {
    const tmux = requireTmux(t);
    if (!tmux) return;
    const term = await shellIn(tmux);
    assert.equal(await remoteSize(term, 'FIRST'), '24 80');
    await term.resize(100, 30);
    assert.equal(await remoteSize(term, 'SECOND'), '30 100');
    await term.type('echo "$TERM"; exit 3');
    await term.keys('Enter');
    const screen = await term.waitFor(/SHELL-EXIT=/, 'the shell to end');
    assert.match(screen, /^SHELL-EXIT=3 RAW-AFTER=false$/m);
    assert.match(screen, /^(screen|tmux)[\w-]*$/m, "TERM is the local terminal's");
  });

  test('the terminal leaves raw mode when the connection dies under the shell', async (t) => {
    const tmux = requireTmux(t);
    if (!tmux) return;
    const term = await shellIn(tmux);
    await remoteSize(term, 'UP');
    // The session's sshd process is the shell's parent: killing it drops the connection.
    await term.type('kill -9 $PPID');
    await term.keys('Enter');
    const screen = await term.waitFor(/SHELL-EXIT=/, 'the shell to end');
    assert.match(screen, /^SHELL-EXIT=(255|error .*) RAW-AFTER=false$/m);
  });

  test('without a terminal: no pty, stdin piped to the shell, its output and exit status back', async () => {
    const r = await runCommand(
      process.execPath,
      [driver, sshd.host, String(sshd.port), JSON.stringify(options)],
      {
        input: 'tty -s && echo has-a-tty || echo no-tty\necho "from $((6 * 7))"\nexit 4\n',
      },
    );
    const out = r.stdout.toString();
    assert.match(out, /^no-tty$/m);
    assert.match(out, /^from 42$/m);
    assert.match(out, /^SHELL-EXIT=4 RAW-AFTER=no-terminal$/m);
  });
});
