/**
 * Every SshError code docs/errors.md lists can actually happen: one scenario per code, through
 * the public API (src/index.ts) against a daemon or a misbehaving raw TCP peer on 127.0.0.1, each
 * rejecting with an SshError of that code whose message names what the doc says it names (the
 * host, user, file, option, fingerprints, the peer's reason) and, where the doc promises one, the
 * disconnect reason. FLOODED reaches the program only as the cause of a CLOSED (the connection
 * died under a pending call), and is looked for there. A code added to the documentation without
 * a scenario here fails the first test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AgentClient,
  fingerprint,
  formatOpenSshPrivateKey,
  formatPublicKeyLine,
  generatePrivateKey,
  readPrivateKeyFile,
  sftp,
  SshError,
  type Daemon,
  type SshErrorCode,
} from '../src/index.js';
import * as ssh from '../src/index.js';
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

/** What a scenario's error must show, filled in by the scenario as it learns ports and paths. */
interface Want {
  /** Strings (or patterns) the message must contain: the host, user, file, option involved. */
  names: (string | RegExp)[];
  /** The RFC 4253 reason name the error must carry, where the doc promises one. */
  reasonName?: string;
  /** The code the program sees, when the scenario's code arrives as its cause. */
  via?: SshErrorCode;
  /** Further checks on the error. */
  check?: (e: SshError) => void;
}

describe('every SshError code in docs/errors.md can be produced', () => {
  let env: Env;
  let daemon: Daemon;
  let port: number;
  const opts = (extra = {}) => clientOptions(env, { password: 'pw', userInteraction: false, ...extra });
  /** How known_hosts names our daemon. */
  const hostName = () => `[127.0.0.1]:${port}`;

  before(async () => {
    env = await makeEnv();
    daemon = await startDaemon(env, { password: 'pw', exec: (c) => ({ ok: c }) });
    port = await portOf(daemon);
  });
  after(async () => {
    await daemon?.stop();
    await env?.cleanup();
  });

  /** A connect through `peer`'s port, the peer closed afterwards. */
  async function connectVia(peer: { port: number; close(): Promise<void> }, extra = {}): Promise<unknown> {
    try {
      return await ssh.connect('127.0.0.1', peer.port, opts(extra), 5000);
    } finally {
      await peer.close();
    }
  }

  /** Each scenario fills in `want` and returns a promise that rejects with its code. */
  const scenarios: Record<string, (want: Want) => Promise<unknown>> = {
    HOST_KEY_NOT_VERIFIED: async (want) => {
      want.names = [hostName(), fingerprint(env.hostKey.publicKey), join(env.clientDir, 'known_hosts')];
      want.names.push('silentlyAcceptHosts');
      want.reasonName = 'HOST_KEY_NOT_VERIFIABLE';
      return ssh.connect('127.0.0.1', port, { ...opts(), silentlyAcceptHosts: false });
    },
    HOST_KEY_MISMATCH: async (want) => {
      const other = generatePrivateKey('ed25519');
      const dir = join(env.dir, 'mismatch');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'known_hosts'), `${hostName()} ${formatPublicKeyLine(other.publicKey)}\n`);
      // Both fingerprints, and the file and line.
      want.names = [
        hostName(),
        fingerprint(env.hostKey.publicKey),
        fingerprint(other.publicKey),
        `${join(dir, 'known_hosts')}:1`,
      ];
      return ssh.connect('127.0.0.1', port, { ...opts(), userDir: dir });
    },
    HOST_KEY_REVOKED: async (want) => {
      const dir = join(env.dir, 'revoked');
      await mkdir(dir, { recursive: true });
      const line = formatPublicKeyLine(env.hostKey.publicKey);
      await writeFile(join(dir, 'known_hosts'), `@revoked ${hostName()} ${line}\n`);
      want.names = [hostName(), fingerprint(env.hostKey.publicKey), join(dir, 'known_hosts')];
      return ssh.connect('127.0.0.1', port, { ...opts(), userDir: dir });
    },
    AUTH_FAILED: async (want) => {
      // A key file others may read is skipped; the message says so, beside what was tried.
      const dir = join(env.dir, 'auth');
      await mkdir(dir, { recursive: true });
      await writeFile(
        join(dir, 'known_hosts'),
        `${hostName()} ${formatPublicKeyLine(env.hostKey.publicKey)}\n`,
      );
      const idFile = join(dir, 'id_ed25519');
      await writeFile(idFile, formatOpenSshPrivateKey(generatePrivateKey('ed25519')), { mode: 0o644 });
      want.names = ['127.0.0.1', "'tester'", /accepts [^;]*password/, /tried [^;]*password/, idFile];
      return ssh.connect('127.0.0.1', port, opts({ password: 'wrong', userDir: dir }));
    },
    TIMEOUT: async (want) => {
      const silent = await rawPeer(() => {}); // accepts, never speaks
      want.names = [`127.0.0.1:${silent.port}`, '300 ms'];
      try {
        return await ssh.connect('127.0.0.1', silent.port, opts(), 300);
      } finally {
        await silent.close();
      }
    },
    DISCONNECTED: async (want) => {
      const d = await startDaemon(env, { password: 'pw', maxSessions: 1 });
      const dPort = await portOf(d);
      const holder = netConnect(dPort, '127.0.0.1');
      holder.on('error', () => {});
      want.names = [`127.0.0.1:${dPort}`, 'TOO_MANY_CONNECTIONS'];
      want.reasonName = 'TOO_MANY_CONNECTIONS';
      try {
        await new Promise((r) => holder.once('data', r)); // the daemon took it: its version line
        return await ssh.connect('127.0.0.1', dPort, opts());
      } finally {
        holder.destroy();
        await d.stop();
      }
    },
    CONNECTION_LOST: async (want) => {
      const peer = await rawPeer((s) => s.end('SSH-2.0-closes\r\n'));
      want.names = [`127.0.0.1:${peer.port}`];
      return connectVia(peer);
    },
    PROTOCOL_ERROR: async (want) => {
      // A valid version line, then a packet length of 2^31.
      const peer = await rawPeer((s) =>
        s.write(Buffer.concat([Buffer.from('SSH-2.0-bad\r\n'), Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0])])),
      );
      want.names = [`127.0.0.1:${peer.port}`, '2147483648'];
      want.reasonName = 'PROTOCOL_ERROR';
      return connectVia(peer);
    },
    KEY_EXCHANGE_FAILED: async (want) => {
      // group14-sha1 is supported but not offered by the daemon's defaults: nothing in common.
      want.names = [`127.0.0.1:${port}`, 'key exchange', 'diffie-hellman-group14-sha1'];
      want.reasonName = 'KEY_EXCHANGE_FAILED';
      return ssh.connect(
        '127.0.0.1',
        port,
        opts({ preferredAlgorithms: { kex: ['diffie-hellman-group14-sha1'] } }),
      );
    },
    MAC_ERROR: async (want) => {
      const proxy = await tamperingProxy(port);
      want.names = [`127.0.0.1:${proxy.port}`];
      want.reasonName = 'MAC_ERROR';
      return connectVia(proxy, {
        preferredAlgorithms: { kex: ['curve25519-sha256'], cipher: ['aes128-gcm@openssh.com'] },
      });
    },
    BAD_OPTION: async (want) => {
      want.names = ["'noSuchOption'"];
      return ssh.connect('127.0.0.1', port, { ...opts(), noSuchOption: true } as never);
    },
    BAD_KEY: async (want) => {
      const file = join(env.dir, 'not-a-key');
      await writeFile(file, 'this is not a key\n', { mode: 0o600 });
      want.names = [file];
      return readPrivateKeyFile(file);
    },
    CLOSED: async (want) => {
      const conn = await ssh.connect('127.0.0.1', port, opts());
      try {
        const ch = await conn.sessionChannel();
        await ch.close();
        want.names = [/channel \d+ is closed/];
        return await ch.send('too late');
      } finally {
        await ssh.close(conn);
      }
    },
    CHANNEL_OPEN_FAILED: async (want) => {
      const type = 'no-such-channel-type@example.org';
      const conn = await ssh.connect('127.0.0.1', port, opts());
      // The channel type, and the peer's reason.
      want.names = [type, 'not supported'];
      try {
        return await conn.openChannel(type);
      } finally {
        await ssh.close(conn);
      }
    },
    REQUEST_FAILED: async (want) => {
      const d = await startDaemon(env, { password: 'pw', subsystems: [] });
      want.names = ['sftp'];
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
    AGENT_ERROR: async (want) => {
      const socket = join(env.dir, 'no-agent-here.sock');
      want.names = [socket];
      return AgentClient.connect(socket);
    },
    FLOODED: async (want) => {
      // A daemon that re-keys after every 4 KiB: past its burst, the client drops it for
      // re-keying faster than one per 32 KiB moved (data in 1 KiB packets). The program learns
      // it from the next call on the connection: CLOSED, caused by FLOODED.
      const d = await startDaemon(env, {
        password: 'pw',
        rekeyLimit: 4096,
        exec: () => ({ ok: 'x'.repeat(4 << 20) }),
      });
      want.names = ['re-keys faster than allowed'];
      want.via = 'CLOSED';
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
    NOT_FOUND: async (want) => {
      want.names = ['127.0.0.1:1'];
      return ssh.stopDaemon('127.0.0.1', 1);
    },
    SOCKET_ERROR: async (want) => {
      // A port nothing listens on: the connect is refused; the system's reason is in the message.
      const peer = await rawPeer(() => {});
      const closed = peer.port;
      await peer.close();
      want.names = [`127.0.0.1:${closed}`, 'ECONNREFUSED'];
      return ssh.connect('127.0.0.1', closed, opts());
    },
    SFTP_STATUS: async (want) => {
      const missing = join(env.dir, 'does-not-exist');
      want.names = [missing];
      want.check = (e) => {
        assert.ok(e instanceof sftp.SftpError, 'an SftpError');
        assert.equal(e.status, 2);
        assert.equal(e.statusName, 'NO_SUCH_FILE');
      };
      const conn = await ssh.connect('127.0.0.1', port, opts());
      try {
        const s = await sftp.startChannel(conn);
        return await s.stat(missing);
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
      const want: Want = { names: [] };
      let error: unknown;
      try {
        await run(want);
      } catch (e) {
        error = e;
      }
      assert.ok(error !== undefined, `${code}: the scenario did not fail`);
      assert.ok(error instanceof SshError, `${code}: not an SshError: ${String(error)}`);
      assert.equal(error.name, 'SshError');
      assert.equal(error.code, want.via ?? code, error.message);
      const found = want.via ? withCode(error.cause, code as SshErrorCode) : error;
      assert.ok(found, `${code}: not the cause of ${error.code}: ${error.message}`);
      assert.ok(want.names.length > 0, `${code}: the scenario says what the message names`);
      for (const name of want.names) {
        if (typeof name === 'string')
          assert.ok(found.message.includes(name), `'${name}' not in: ${found.message}`);
        else assert.match(found.message, name);
      }
      if (want.reasonName) assert.equal(found.reasonName, want.reasonName, found.message);
      want.check?.(found);
    });
  }
});
