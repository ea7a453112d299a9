/**
 * Every SshError code docs/errors.md lists can actually happen: one scenario per code, through
 * the public API against a daemon or a misbehaving raw TCP peer on 127.0.0.1, each rejecting with
 * that code (a code that reaches the program only as the cause of a CLOSED, because the
 * connection died under a pending call, is found in the cause chain). A code added to the
 * documentation without a scenario here fails the first test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Daemon } from '../src/daemon.js';
import { SshError, type SshErrorCode } from '../src/errors.js';
import { AgentClient } from '../src/keys/agent.js';
import { readPrivateKeyFile } from '../src/keys/key-file-check.js';
import { generatePrivateKey } from '../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../src/keys/public-key.js';
import * as ssh from '../src/ssh.js';
import * as sftp from '../src/sftp-api.js';
import { clientOptions, makeEnv, portOf, startDaemon, type Env } from './facade/helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The codes in docs/errors.md's table. */
function documentedCodes(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  return [...doc.matchAll(/^\| `([A-Z_]+)`/gm)].map((m) => m[1]!).sort();
}

/** The SshError in `e`'s cause chain that has `code`, if any. */
function withCode(e: unknown, code: SshErrorCode): SshError | undefined {
  for (let x: unknown = e, n = 0; x instanceof Error && n < 8; x = x.cause, n++) {
    if (x instanceof SshError && x.code === code) return x;
  }
  return undefined;
}

/** A TCP peer on 127.0.0.1 that runs `behave` on each connection; closed by `close()`. */
async function rawPeer(behave: (s: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    behave(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * A proxy to `target` that flips one bit in the first packet the server sends after its NEWKEYS
 * (the first encrypted one), reading the server's plaintext framing until then.
 */
async function tamperingProxy(target: number): Promise<{ port: number; close(): Promise<void> }> {
  return rawPeer((client) => {
    const server = netConnect(target, '127.0.0.1');
    server.on('error', () => client.destroy());
    client.on('error', () => server.destroy());
    client.pipe(server);
    let pending = Buffer.alloc(0);
    let versionSeen = false;
    let encrypted = false;
    let flipped = false;
    server.on('data', (chunk: Buffer) => {
      if (flipped) return void client.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      let at = 0;
      if (!versionSeen) {
        const nl = pending.indexOf('\n');
        if (nl < 0) return;
        versionSeen = true;
        at = nl + 1;
      }
      while (!encrypted && pending.length - at >= 5) {
        const len = pending.readUInt32BE(at);
        if (pending.length - at < 4 + len) break;
        encrypted = pending[at + 5] === 21; // SSH_MSG_NEWKEYS
        at += 4 + len;
      }
      if (encrypted && pending.length - at > 12) {
        pending[at + 12]! ^= 0x01; // inside the ciphertext of the first encrypted packet
        flipped = true;
        at = pending.length;
      }
      if (flipped || !encrypted) {
        client.write(pending.subarray(0, flipped ? pending.length : at));
        pending = pending.subarray(flipped ? pending.length : at);
      }
    });
    server.on('close', () => client.destroy());
    client.on('close', () => server.destroy());
  });
}

describe('every SshError code in docs/errors.md can be produced', () => {
  let env: Env;
  let daemon: Daemon;
  let port: number;
  const opts = (extra = {}) => clientOptions(env, { password: 'pw', userInteraction: false, ...extra });

  before(async () => {
    env = await makeEnv();
    daemon = await startDaemon(env, { password: 'pw', exec: (c) => ({ ok: c }) });
    port = await portOf(daemon);
  });
  after(async () => {
    await daemon?.stop();
    await env?.cleanup();
  });

  /** Each scenario rejects with the error that carries its code (directly or as a cause). */
  const scenarios: Record<string, () => Promise<unknown>> = {
    HOST_KEY_NOT_VERIFIED: () => ssh.connect('127.0.0.1', port, { ...opts(), silentlyAcceptHosts: false }),
    HOST_KEY_MISMATCH: async () => {
      const other = generatePrivateKey('ed25519');
      const dir = join(env.dir, 'mismatch');
      await import('node:fs/promises').then((f) => f.mkdir(dir, { recursive: true }));
      await writeFile(
        join(dir, 'known_hosts'),
        `[127.0.0.1]:${port} ${formatPublicKeyLine(other.publicKey)}\n`,
      );
      return ssh.connect('127.0.0.1', port, { ...opts(), userDir: dir });
    },
    HOST_KEY_REVOKED: async () => {
      const dir = join(env.dir, 'revoked');
      await import('node:fs/promises').then((f) => f.mkdir(dir, { recursive: true }));
      const line = formatPublicKeyLine(env.hostKey.publicKey);
      await writeFile(join(dir, 'known_hosts'), `@revoked [127.0.0.1]:${port} ${line}\n`);
      return ssh.connect('127.0.0.1', port, { ...opts(), userDir: dir });
    },
    AUTH_FAILED: () => ssh.connect('127.0.0.1', port, opts({ password: 'wrong' })),
    TIMEOUT: async () => {
      const silent = await rawPeer(() => {}); // accepts, never speaks
      try {
        return await ssh.connect('127.0.0.1', silent.port, opts(), 300);
      } finally {
        await silent.close();
      }
    },
    DISCONNECTED: async () => {
      const d = await startDaemon(env, { password: 'pw', maxSessions: 1 });
      const holder = netConnect(await portOf(d), '127.0.0.1');
      holder.on('error', () => {});
      try {
        await new Promise((r) => holder.once('data', r)); // the daemon took it: its version line
        return await ssh.connect('127.0.0.1', await portOf(d), opts());
      } finally {
        holder.destroy();
        await d.stop();
      }
    },
    CONNECTION_LOST: async () => {
      const peer = await rawPeer((s) => s.end('SSH-2.0-closes\r\n'));
      try {
        return await ssh.connect('127.0.0.1', peer.port, opts());
      } finally {
        await peer.close();
      }
    },
    PROTOCOL_ERROR: async () => {
      // A valid version line, then a packet length of 2^31.
      const peer = await rawPeer((s) =>
        s.write(Buffer.concat([Buffer.from('SSH-2.0-bad\r\n'), Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0])])),
      );
      try {
        return await ssh.connect('127.0.0.1', peer.port, opts());
      } finally {
        await peer.close();
      }
    },
    KEY_EXCHANGE_FAILED: () =>
      // group14-sha1 is supported but not offered by the daemon's defaults: nothing in common.
      ssh.connect('127.0.0.1', port, opts({ preferredAlgorithms: { kex: ['diffie-hellman-group14-sha1'] } })),
    MAC_ERROR: async () => {
      const proxy = await tamperingProxy(port);
      try {
        return await ssh.connect(
          '127.0.0.1',
          proxy.port,
          opts({ preferredAlgorithms: { kex: ['curve25519-sha256'], cipher: ['aes128-gcm@openssh.com'] } }),
        );
      } finally {
        await proxy.close();
      }
    },
    BAD_OPTION: () => ssh.connect('127.0.0.1', port, { ...opts(), noSuchOption: true } as never),
    BAD_KEY: async () => {
      const file = join(env.dir, 'not-a-key');
      await writeFile(file, 'this is not a key\n', { mode: 0o600 });
      return readPrivateKeyFile(file);
    },
    CLOSED: async () => {
      const conn = await ssh.connect('127.0.0.1', port, opts());
      const ch = await conn.sessionChannel();
      await ch.close();
      return ch.send('too late');
    },
    CHANNEL_OPEN_FAILED: async () => {
      const conn = await ssh.connect('127.0.0.1', port, opts());
      try {
        return await conn.openChannel('no-such-channel-type@example.org');
      } finally {
        await ssh.close(conn);
      }
    },
    REQUEST_FAILED: async () => {
      const d = await startDaemon(env, { password: 'pw', subsystems: [] });
      try {
        const conn = await ssh.connect('127.0.0.1', await portOf(d), opts());
        try {
          return await sftp.startChannel(conn);
        } finally {
          await ssh.close(conn);
        }
      } finally {
        await d.stop();
      }
    },
    AGENT_ERROR: async () => {
      return AgentClient.connect(join(env.dir, 'no-agent-here.sock'));
    },
    FLOODED: async () => {
      // A daemon that re-keys after every 4 KiB: past its burst, the client drops it for
      // re-keying faster than one per 32 KiB moved (data in 1 KiB packets). Its pending exec then ends with CLOSED,
      // caused by FLOODED.
      const d = await startDaemon(env, {
        password: 'pw',
        rekeyLimit: 4096,
        exec: () => ({ ok: 'x'.repeat(4 << 20) }),
      });
      try {
        const conn = await ssh.connect('127.0.0.1', await portOf(d), opts());
        try {
          // Small packets, so that 4 KiB is a few packets and each re-key earns little allowance.
          const ch = await conn.sessionChannel({ maxPacketSize: 1024 });
          await ch.exec('big');
          for await (const m of ch) void m;
          return await conn.sessionChannel(); // the connection is gone by now
        } finally {
          await ssh.close(conn);
        }
      } finally {
        await d.stop();
      }
    },
    NOT_FOUND: () => ssh.stopDaemon('127.0.0.1', 1),
    SOCKET_ERROR: async () => {
      // A port nothing listens on: the connect is refused.
      const peer = await rawPeer(() => {});
      const closed = peer.port;
      await peer.close();
      return ssh.connect('127.0.0.1', closed, opts());
    },
    SFTP_STATUS: async () => {
      const conn = await ssh.connect('127.0.0.1', port, opts());
      try {
        const s = await sftp.startChannel(conn);
        return await s.stat(join(env.dir, 'does-not-exist'));
      } finally {
        await ssh.close(conn);
      }
    },
  };

  test('each documented code has a scenario, and each scenario a documented code', () => {
    assert.deepEqual(Object.keys(scenarios).sort(), documentedCodes());
  });

  for (const [code, run] of Object.entries(scenarios)) {
    test(code, async () => {
      let error: unknown;
      try {
        await run();
      } catch (e) {
        error = e;
      }
      assert.ok(error !== undefined, `${code}: the scenario did not fail`);
      const found = withCode(error, code as SshErrorCode);
      assert.ok(found, `${code}: got ${(error as SshError).code ?? ''} ${(error as Error).message}`);
      assert.ok(found.message.length > 0, 'a message says what happened');
    });
  }
});
