/**
 * asyncssh and paramiko (Debian python3-asyncssh, python3-paramiko) as peers, both ways: their
 * clients against our daemon and our client against their servers, each with an exec, 8
 * concurrent channels, a 16 MiB round trip and a forced re-key. paramiko's 8 concurrent channels
 * run 20 times over (each on a new connection): a close/WINDOW_ADJUST race once failed 4 runs in 20.
 *
 * Peer quirks met here: asyncssh 2.10 goes on sending channel data after its own KEXINIT when it
 * re-keys (RFC 4253 §7.1 says it must not; OpenSSH takes it and so do we), and paramiko sends
 * WINDOW_ADJUST for channels it has just closed (ignored for recently closed channels).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { catCli, writeHostKeys } from './fixtures.js';
import { formatKnownHosts, isCi, makeTempDir, removeTempDir, sshKeygen, type KeyPair } from './openssh.js';

const PYTHON = '/usr/bin/python3';
const MiB = 1024 * 1024;
// The scripts are not compiled: from dist/test/interop, go back to the source tree.
const PEERS = join(dirname(fileURLToPath(import.meta.url)), '../../../test/interop/peers');

function hasModule(name: string): boolean {
  return spawnSync(PYTHON, ['-c', `import ${name}`], { stdio: 'ignore' }).status === 0;
}

interface Scenario {
  exec: { stdout: string; exit: number };
  concurrent: { sent: number; received: number; same: boolean; exit: number; error?: string }[];
  big: { sent: number; received: number; same: boolean; exit: number };
  rekeys: number;
}

/** Runs a peer script to completion and parses the JSON line it prints last. */
function runPeer<T>(script: string, args: string[], limitMs = 150_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, ['-W', 'ignore', join(PEERS, script), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), limitMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(line) as T);
      } catch (e) {
        reject(
          new Error(`${script} ${args[0]} failed (${(e as Error).message}): ${out}\n${err.slice(-4000)}`),
        );
      }
    });
  });
}

/** Starts a peer's server; resolves with its port once it listens. Stopped by closing its stdin. */
async function startPeerServer(
  script: string,
  args: string[],
): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(PYTHON, ['-W', 'ignore', join(PEERS, script), 'server', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (l) => {
      const m = /^PORT (\d+)$/.exec(l);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${script} server exited ${code}: ${err}`)));
  });
  return { port, child };
}

async function stopPeerServer(s: { child: ChildProcess } | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.stdin!.end();
  const t = setTimeout(() => s.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

function checkScenario(who: string, r: Scenario, greeting: string): void {
  assert.deepEqual(r.exec, { stdout: `${greeting}\n`, exit: 0 }, `${who}: exec`);
  assert.equal(r.concurrent.length, 8);
  for (const [i, c] of r.concurrent.entries()) {
    assert.deepEqual(
      c,
      { sent: 512 * 1024, received: 512 * 1024, same: true, exit: 0 },
      `${who}: channel ${i}`,
    );
  }
  assert.deepEqual(r.big, { sent: 16 * MiB, received: 16 * MiB, same: true, exit: 0 }, `${who}: 16 MiB`);
  assert.ok(r.rekeys >= 1, `${who}: re-keyed ${r.rekeys} times`);
}

/** Our client: exec, 8 concurrent cat channels, 16 MiB through cat with a re-key we start midway. */
async function ourClientScenario(conn: ssh.Connection, greeting: string): Promise<void> {
  const ch = await conn.sessionChannel();
  assert.equal(await ch.exec(`echo ${greeting}`), 'success');
  const chunks: Buffer[] = [];
  for await (const c of ch.stdout) chunks.push(c as Buffer);
  assert.equal(Buffer.concat(chunks).toString(), `${greeting}\n`);

  const cat = async (total: number, seed: string, midway?: () => Promise<void>) => {
    const c = await conn.sessionChannel();
    assert.equal(await c.exec('cat'), 'success');
    const block = Buffer.concat(Array(MiB / 32).fill(createHash('sha256').update(seed).digest()));
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let received = 0;
    const reading = (async () => {
      for await (const x of c.stdout) {
        got.update(x as Buffer);
        received += (x as Buffer).length;
      }
    })();
    let midwayDone: Promise<void> | undefined;
    for (let left = total; left > 0;) {
      const piece = block.subarray(0, Math.min(left, block.length));
      sent.update(piece);
      left -= piece.length;
      if (!c.stdin.write(piece)) await new Promise((r) => c.stdin.once('drain', r));
      if (midway && !midwayDone && left <= total / 2) midwayDone = midway();
    }
    c.stdin.end();
    await reading;
    await midwayDone;
    assert.equal(received, total, `${seed}: bytes back`);
    assert.equal(got.digest('hex'), sent.digest('hex'), `${seed}: sha256`);
  };
  await Promise.all(Array.from({ length: 8 }, (_, i) => cat(512 * 1024, `ch${i}`)));
  const before = ssh.connectionInfo(conn, 'rekeys') as number;
  await cat(16 * MiB, 'big', () => conn.rekey());
  assert.ok((ssh.connectionInfo(conn, 'rekeys') as number) > before, 'the forced re-key happened');
}

for (const [peer, module, script] of [
  ['asyncssh', 'asyncssh', 'asyncssh_peer.py'],
  ['paramiko', 'paramiko', 'paramiko_peer.py'],
] as const) {
  const available = hasModule(module);
  const missing = `${peer} is not installed (Debian package python3-${module}; .ci/run installs it)`;
  describe(`${peer} as a peer`, () => {
    if (!available) {
      if (isCi()) test(`${peer} is installed (required when CI=true)`, () => assert.fail(missing));
      else test(`${peer} is installed`, { skip: missing }, () => {});
      return;
    }
    let dir: string;
    let key: KeyPair;
    let hostLines: string[];
    let systemDir: string;
    let daemon: ssh.Daemon;
    let port: number;
    let knownHosts: string;

    before(async () => {
      dir = await makeTempDir(`${peer}-`);
      systemDir = join(dir, 'system');
      hostLines = await writeHostKeys(systemDir, ['ed25519']);
      const userDir = join(dir, 'daemon-user');
      await mkdir(userDir);
      key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
      await writeFile(join(userDir, 'authorized_keys'), key.publicLine + '\n');
      daemon = await ssh.daemon('127.0.0.1', 0, {
        systemDir,
        userDir,
        sshCli: catCli,
        exec: undefined,
        // asyncssh 2.10 prefers zlib@openssh.com, and once it is on its client stops re-keying by
        // rekey_bytes (0 re-keys in 16 MiB, 7 without compression): these scenarios are about re-keys.
        preferredAlgorithms: { compression: ['none'] },
      });
      port = (await ssh.daemonInfo(daemon)).port;
      knownHosts = join(dir, 'known_hosts');
      await writeFile(knownHosts, formatKnownHosts('127.0.0.1', port, hostLines));
    });
    after(async () => {
      await ssh.stopDaemon(daemon);
      await removeTempDir(dir);
    });

    test(`${peer}'s client against our daemon: exec, 8 channels, 16 MiB, a re-key`, async () => {
      // asyncssh re-keys by its rekey_bytes (1 MiB here); paramiko's client calls renegotiate_keys.
      const extra = peer === 'asyncssh' ? [String(MiB)] : [];
      const r = await runPeer<Scenario>(script, [
        'client',
        String(port),
        key.privateKey,
        knownHosts,
        ...extra,
      ]);
      checkScenario(peer, r, `hello from ${peer}`);
      if (peer === 'asyncssh') assert.ok(r.rekeys >= 3, `asyncssh re-keyed ${r.rekeys} times at 1 MiB`);
    });

    if (peer === 'paramiko') {
      test("paramiko's 8 concurrent channels, 20 connections in a row, none failing", async () => {
        const r = await runPeer<{ rounds: number; failures: unknown[] }>(script, [
          'client',
          String(port),
          key.privateKey,
          knownHosts,
          '20',
        ]);
        assert.equal(r.rounds, 20);
        assert.deepEqual(r.failures, []);
      });
    }

    test(`our client against ${peer}'s server: exec, 8 channels, 16 MiB, a re-key`, async () => {
      const serverDir = join(dir, 'peer-server');
      await mkdir(serverDir, { recursive: true });
      const host = await sshKeygen('ed25519', join(serverDir, 'host_ed25519'));
      const authorized = join(serverDir, 'authorized_keys');
      await writeFile(authorized, key.publicLine + '\n');
      const server = await startPeerServer(script, [host.privateKey, authorized]);
      try {
        const clientDir = join(dir, 'client-user');
        await mkdir(clientDir, { recursive: true });
        await copyFile(key.privateKey, join(clientDir, 'id_ed25519'));
        await writeFile(
          join(clientDir, 'known_hosts'),
          formatKnownHosts('127.0.0.1', server.port, [host.publicLine]),
        );
        const conn = await ssh.connect('127.0.0.1', server.port, { user: 'tester', userDir: clientDir });
        try {
          await ourClientScenario(conn, `hello to ${peer}`);
        } finally {
          await ssh.close(conn);
        }
      } finally {
        await stopPeerServer(server);
      }
    });
  });
}
