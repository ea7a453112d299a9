/**
 * OpenSSH's ssh against the daemon's session rules: the seed's exec rules 1-4 (exec and shell
 * options), a custom subsystem through `ssh -s`, 'noCli', and a request answered later while
 * other requests are answered meanwhile.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ChannelMessage, ChannelUp, ServerChannelHandler } from '../../src/channel/behaviour.js';
import type { SessionChannel } from '../../src/channel/session-channel.js';
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

interface S {
  ch?: SessionChannel;
}

/** A handler skeleton: keeps the channel from channelUp, hands messages to `on`. */
function handler(
  on: (m: ChannelMessage, ch: SessionChannel, s: S) => Promise<boolean> | boolean,
): ServerChannelHandler<S> {
  return {
    init: () => ({ ok: {} }),
    handleMsg(m, s) {
      const up = m as ChannelUp;
      if (up?.type === 'channelUp') s.ch = up.channel;
      return { ok: s };
    },
    async handleSshMsg(m, s) {
      const stop = await on(m, s.ch!, s);
      return stop ? { stop: s.ch!.channelId, state: s } : { ok: s };
    },
  };
}

/** A custom shell: answers each line with `shell: <line>` and exits 0 at EOF. */
const customShell = handler(async (m, ch) => {
  if (m.type === 'data') await ch.send(`shell: ${m.data.toString()}`);
  if (m.type === 'eof') {
    await Promise.all([ch.sendEof(), ch.exitStatus(0)]);
    return true;
  }
  return false;
});

/** The `upper` subsystem: upper-cases what it gets; at EOF, exit status 0. */
const upper = handler(async (m, ch) => {
  if (m.type === 'data') await ch.send(m.data.toString().toUpperCase());
  if (m.type === 'eof') {
    await Promise.all([ch.sendEof(), ch.exitStatus(0)]);
    return true;
  }
  return false;
});

interopSuite(
  "OpenSSH's ssh against the daemon's shell, exec, sshCli and subsystems rules",
  (_openssh: OpenSsh) => {
    let dir: string;
    let systemDir: string;
    let userDir: string;
    let hostLines: string[];
    let identity: string;
    const daemons: ssh.Daemon[] = [];

    before(async () => {
      dir = await makeTempDir('session-rules-');
      systemDir = join(dir, 'system');
      userDir = join(dir, 'user');
      await mkdir(userDir);
      hostLines = await writeHostKeys(systemDir, ['ed25519']);
      const key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
      identity = key.privateKey;
      await writeFile(join(userDir, 'authorized_keys'), key.publicLine + '\n');
    });
    after(async () => {
      for (const d of daemons) await d.stop();
      await removeTempDir(dir);
    });

    async function argsFor(options: ssh.DaemonOptions): Promise<string[]> {
      const d = await ssh.daemon('127.0.0.1', 0, { systemDir, userDir, ...options });
      daemons.push(d);
      const { port } = await ssh.daemonInfo(d);
      const knownHostsFile = join(dir, `known_hosts_${port}`);
      await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, hostLines));
      return [...sshBaseArgs({ port, identityFile: identity, knownHostsFile, user: 'tester' }), '127.0.0.1'];
    }

    test('rule 1: the exec option runs, whatever the shell option (ok → stdout, error → stderr and 255)', async () => {
      const args = await argsFor({
        shell: () => customShell,
        exec: (cmd: string) => (cmd === 'fail' ? { error: 'it failed' } : { ok: `ran ${cmd}` }),
      });
      const ok = await runSsh([...args, 'hello']);
      assert.deepEqual([ok.stdout.toString(), ok.stderr, ok.code], ['ran hello', '', 0]);
      const bad = await runSsh([...args, 'fail']);
      assert.deepEqual([bad.stdout.toString(), bad.stderr, bad.code], ['', 'it failed\n', 255]);
    });

    test('rule 2: no exec option, the default shell named: the default evaluator', async () => {
      const r = await runSsh([...(await argsFor({ shell: ssh.defaultShell })), '6 * 7']);
      assert.deepEqual([r.stdout.toString(), r.stderr, r.code], ['42\n', '', 0]);
    });

    test('rule 3: no exec option, a custom shell: the command is not evaluated, an error and a failing status', async () => {
      const args = await argsFor({ shell: () => customShell });
      const r = await runSsh([...args, '6 * 7']);
      assert.equal(r.stdout.length, 0);
      assert.match(r.stderr, /exec is not enabled/);
      assert.equal(r.code, 255);
      // The custom shell itself serves shell requests.
      const s = await runSsh(['-T', ...args], { input: 'line one\n' });
      assert.equal(s.stdout.toString(), 'shell: line one\n');
      assert.equal(s.code, 0);
    });

    test('rule 4: neither option: the default evaluator', async () => {
      const r = await runSsh([...(await argsFor({})), '[1, 2].map((x) => x * 10)']);
      assert.deepEqual([r.stdout.toString(), r.stderr, r.code], ['[ 10, 20 ]\n', '', 0]);
    });

    test('shell_fun/2 gets the user and the peer address; [module, function, args] calls module[function](...args)', async () => {
      const seen: unknown[] = [];
      const two = await argsFor({
        shell: (user: string, peer: { address: string; port: number }) => {
          seen.push(user, peer.address);
          return customShell;
        },
      });
      const r = await runSsh(['-T', ...two], { input: 'x\n' });
      assert.equal(r.stdout.toString(), 'shell: x\n');
      assert.deepEqual(seen, ['tester', '127.0.0.1']);
      const module = { make: (tag: string) => [customShell, [tag]] };
      const mfa = await argsFor({ shell: [module, 'make', ['t']] });
      const m = await runSsh(['-T', ...mfa], { input: 'y\n' });
      assert.equal(m.stdout.toString(), 'shell: y\n');
    });

    test('a custom subsystem through ssh -s; an unknown one is refused', async () => {
      const args = await argsFor({ subsystems: [['upper', upper]] });
      const r = await runSsh(['-s', ...args, 'upper'], { input: 'quiet please\n' });
      assert.deepEqual([r.stdout.toString(), r.code], ['QUIET PLEASE\n', 0]);
      const bad = await runSsh(['-s', ...args, 'nonesuch'], { input: '' });
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /subsystem request failed/);
    });

    test("'noCli' refuses shells and commands and still serves subsystems", async () => {
      const args = await argsFor({ sshCli: 'noCli', subsystems: [['upper', upper]] });
      const shell = await runSsh(['-T', ...args], { input: '' });
      assert.notEqual(shell.code, 0);
      assert.match(shell.stderr, /shell request failed/);
      const exec = await runSsh([...args, '1 + 1']);
      assert.notEqual(exec.code, 0);
      assert.match(exec.stderr, /exec request failed/);
      const sub = await runSsh(['-s', ...args, 'upper'], { input: 'ok\n' });
      assert.equal(sub.stdout.toString(), 'OK\n');
    });

    test('an exec answered later while keepalives are answered meanwhile: ssh gets its replies in order', async () => {
      const slow = handler((m, ch, s) => {
        if (m.type === 'exec') {
          const answer = ch.deferReply();
          setTimeout(() => {
            answer('success');
            void Promise.all([ch.send('late but fine\n'), ch.sendEof(), ch.exitStatus(0)]).then(() =>
              ch.close(),
            );
          }, 2500);
          void s;
        }
        return false;
      });
      const args = await argsFor({ sshCli: slow });
      const r = await runSsh(['-o', 'ServerAliveInterval=1', ...args, 'anything']);
      assert.deepEqual([r.stdout.toString(), r.code], ['late but fine\n', 0], r.stderr);
    });
  },
);
