/**
 * OpenSSH's ssh against the daemon's default shell (the Node REPL, one worker thread per
 * session) and its default exec evaluator (one worker thread per exec). The interactive tests run
 * `ssh -tt` inside a real terminal (tmux) and read the screen.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { writeHostKeys } from './fixtures.js';
import {
  formatKnownHosts,
  interopSuite,
  makeTempDir,
  removeTempDir,
  runSsh,
  sshBaseArgs,
  sshKeygen,
  type OpenSsh,
} from './openssh.js';
import { requireTmux, Terminal } from './tmux.js';

interopSuite("OpenSSH's ssh against the daemon's REPL shell and evaluator", (openssh: OpenSsh) => {
  let dir: string;
  let daemon: ssh.Daemon;
  let args: string[];
  const terminals: Terminal[] = [];

  before(async () => {
    dir = await makeTempDir('repl-openssh-');
    const systemDir = join(dir, 'system');
    const userDir = join(dir, 'user');
    await mkdir(userDir);
    const hostLines = await writeHostKeys(systemDir, ['ed25519']);
    const key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
    await writeFile(join(userDir, 'authorized_keys'), key.publicLine + '\n');
    // A short time limit, so that the endless exec below ends within the test.
    daemon = await ssh.daemon('127.0.0.1', 0, { systemDir, userDir, evalTimeLimit: 6000 });
    const { port } = await ssh.daemonInfo(daemon);
    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, hostLines));
    args = sshBaseArgs({ port, identityFile: key.privateKey, knownHostsFile, user: 'tester' });
  });

  after(async () => {
    for (const t of terminals) await t.stop();
    await daemon?.stop();
    await removeTempDir(dir);
  });

  /** `ssh -tt` into the REPL in a fresh terminal, once its prompt shows. */
  async function repl(tmux: string, width = 80, height = 24): Promise<Terminal> {
    const term = await Terminal.start(tmux, dir, [openssh.ssh, '-tt', ...args, '127.0.0.1'], {
      width,
      height,
    });
    terminals.push(term);
    await term.waitFor(/^> $/m, 'the REPL prompt');
    return term;
  }

  /** Types a line and waits for the screen to show `expect` as a line of its own. */
  async function enter(term: Terminal, line: string, expect: string): Promise<string> {
    await term.type(line);
    await term.keys('Enter');
    const escaped = expect.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return term.waitFor(new RegExp(`^${escaped}$`, 'm'), `${JSON.stringify(expect)} after ${line}`);
  }

  test('a pty session: a value, Tab completion and history', async (t) => {
    const tmux = requireTmux(t);
    if (!tmux) return;
    const term = await repl(tmux);
    await enter(term, '6 * 7', '42');
    await enter(term, 'let seashellAnswer = 1234', 'undefined');
    await term.type('seashellAns');
    await term.keys('Tab');
    await term.waitFor(/^> seashellAnswer$/m, 'the completed name');
    await term.type(' + 1');
    await term.keys('Enter');
    await term.waitFor(/^1235$/m, 'the completed expression evaluated');
    // Up arrow brings back the line before; edit it and run it again.
    await term.keys('Up');
    await term.waitFor(/^> seashellAnswer \+ 1$/m, 'the last line from history');
    await term.keys('BSpace');
    await term.type('2');
    await term.keys('Enter');
    await term.waitFor(/^1236$/m, 'the edited line from history evaluated');
  });

  test("the pty's size and a window-change reach process.stdout", async (t) => {
    const tmux = requireTmux(t);
    if (!tmux) return;
    const term = await repl(tmux, 80, 24);
    await enter(term, '[process.stdout.columns, process.stdout.rows].join("x")', "'80x24'");
    await term.resize(132, 40);
    await enter(term, '[process.stdout.columns, process.stdout.rows].join("y")', "'132y40'");
  });

  test('Ctrl-C interrupts an endless loop and the session keeps its variables; Ctrl-D ends it with 0', async (t) => {
    const tmux = requireTmux(t);
    if (!tmux) return;
    const term = await repl(tmux);
    await enter(term, 'let kept = "still here"', 'undefined');
    await term.type('for (;;) {}');
    await term.keys('Enter');
    await term.keys('C-c');
    await term.waitFor(/Uncaught Error: Script execution was interrupted/, 'the interruption');
    await enter(term, 'kept', "'still here'");
    // An await that never settles is abandoned by Ctrl-C too.
    await term.type('await new Promise(() => {})');
    await term.keys('Enter');
    await term.keys('C-c');
    await term.waitFor(
      (s) => (s.match(/Script execution was interrupted/g) ?? []).length >= 2,
      'the second interruption',
    );
    await enter(term, 'kept.length', '10');
    await term.keys('C-d');
    assert.equal(await term.exitStatus(), 0);
  });

  test('process.exit(3) in the REPL ends that session with status 3; the daemon serves on', async (t) => {
    const tmux = requireTmux(t);
    if (!tmux) return;
    const term = await repl(tmux);
    await term.type('process.exit(3)');
    await term.keys('Enter');
    assert.equal(await term.exitStatus(), 3);
    const r = await runSsh([...args, '127.0.0.1', '"alive"']);
    assert.equal(r.stdout.toString(), "'alive'\n");
  });

  test('without a pty the REPL reads plain lines; console.log reaches the client; EOF ends it with 0', async () => {
    const r = await runSsh([...args, '-T', '127.0.0.1'], {
      input: 'let a = [1, 2]\nconsole.log("logged", a.length)\na.map((x) => x * 10)\n',
    });
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.toString();
    assert.match(out, /logged 2\n/);
    assert.match(out, /\[ 10, 20 \]/);
    assert.doesNotMatch(out, /\r/, 'no pty, no CR-LF translation');
  });

  test('exec: console.log and the value reach stdout in order, console.error reaches stderr', async () => {
    const r = await runSsh([...args, '127.0.0.1', 'console.log("first"); console.error("oops"); 40 + 2']);
    assert.equal(r.stdout.toString(), 'first\n42\n');
    assert.equal(r.stderr, 'oops\n');
    assert.equal(r.code, 0);
  });

  test('exec: long values print in full, as the REPL prints them', async () => {
    const s = await runSsh([...args, '127.0.0.1', '"x".repeat(50000)']);
    assert.equal(s.stdout.toString(), `'${'x'.repeat(50000)}'\n`);
    const a = await runSsh([...args, '127.0.0.1', 'Array.from({ length: 1000 }, (_, i) => i)']);
    const printed = a.stdout.toString();
    assert.match(printed, /\b999\s*\]\n$/);
    assert.doesNotMatch(printed, /more item/);
  });

  test('exec: for(;;){} ends at the time limit, and only that exec; others log in and run meanwhile', async () => {
    // Our own spawn, to see the exec start looping before using the daemon meanwhile.
    const child = spawn(openssh.ssh, [...args, '127.0.0.1', 'console.log("looping"); for (;;) {}'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let loopDone = false;
    void exited.then(() => (loopDone = true));
    try {
      while (!stdout.includes('looping') && !loopDone) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 2; i++) {
        const r = await runSsh([...args, '127.0.0.1', `${i} + 100`]);
        assert.equal(r.stdout.toString(), `${i + 100}\n`);
        assert.equal(r.code, 0);
      }
      assert.equal(loopDone, false, 'the endless exec was still running while the others were served');
      assert.equal(await exited, 255, 'exit status -1');
      assert.equal(stdout, 'looping\n');
      assert.match(stderr, /evaluation stopped: it ran longer than the time limit of 6000 ms/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('exec: process.exit(0) ends only that exec (status 0), process.exit(5) gives 5', async () => {
    const zero = await runSsh([...args, '127.0.0.1', 'console.log("bye"); process.exit(0)']);
    assert.equal(zero.stdout.toString(), 'bye\n');
    assert.equal(zero.code, 0);
    const five = await runSsh([...args, '127.0.0.1', 'process.exit(5)']);
    assert.equal(five.code, 5);
    const after = await runSsh([...args, '127.0.0.1', '"still serving"']);
    assert.equal(after.stdout.toString(), "'still serving'\n");
  });
});
