/**
 * Helpers for the facade tests (Seashell client against Seashell daemon on 127.0.0.1). Not a test
 * file: its name must never end in `.test.ts`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChannelMessage } from '../../src/channel/behaviour.js';
import type { SessionChannel as Channel } from '../../src/channel/session-channel.js';
import type { Connection } from '../../src/edge/connection.js';
import type { Daemon } from '../../src/daemon.js';
import type { SshError } from '../../src/errors.js';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import type { PrivateKey } from '../../src/keys/types.js';
import type { ClientOptions, DaemonOptions } from '../../src/options.js';
import * as ssh from '../../src/ssh.js';
import { resolveAlgorithms } from '../../src/transport/algorithms.js';
import { loadPoly1305 } from '../../src/transport/cipher/chacha20-poly1305.js';
import { Transport } from '../../src/transport/transport.js';

export interface Env {
  dir: string;
  /** The daemon's host keys. */
  systemDir: string;
  /** The daemon's user dir (authorized_keys). */
  daemonUserDir: string;
  /** The client's user dir (known_hosts, id_*). */
  clientDir: string;
  hostKey: PrivateKey;
  cleanup(): Promise<void>;
}

/** A temp dir with an ed25519 host key for a daemon and empty user dirs for both sides. */
export async function makeEnv(): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 'seashell-facade-'));
  const systemDir = join(dir, 'system');
  const daemonUserDir = join(dir, 'daemon-user');
  const clientDir = join(dir, 'client-user');
  await Promise.all([mkdir(systemDir), mkdir(daemonUserDir), mkdir(clientDir)]);
  const hostKey = generatePrivateKey('ed25519');
  await writeFile(join(systemDir, 'ssh_host_ed25519_key'), formatOpenSshPrivateKey(hostKey), { mode: 0o600 });
  await writeFile(join(systemDir, 'ssh_host_ed25519_key.pub'), formatPublicKeyLine(hostKey.publicKey) + '\n');
  return {
    dir,
    systemDir,
    daemonUserDir,
    clientDir,
    hostKey,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Starts a daemon on 127.0.0.1, port 0, with the env's host key. */
export function startDaemon(env: Env, options: DaemonOptions = {}): Promise<Daemon> {
  return ssh.daemon('127.0.0.1', 0, { systemDir: env.systemDir, userDir: env.daemonUserDir, ...options });
}

export async function portOf(d: Daemon): Promise<number> {
  return (await ssh.daemonInfo(d)).port;
}

/** Client options that trust any host key without saving it, as user `tester`. */
export function clientOptions(env: Env, extra: ClientOptions = {}): ClientOptions {
  return {
    userDir: env.clientDir,
    silentlyAcceptHosts: true,
    saveAcceptedHost: false,
    user: 'tester',
    ...extra,
  };
}

export async function connectTo(d: Daemon, env: Env, extra: ClientOptions = {}): Promise<Connection> {
  return ssh.connect('127.0.0.1', await portOf(d), clientOptions(env, extra));
}

export interface Collected {
  stdout: Buffer;
  stderr: Buffer;
  exitStatus?: number;
  eof: boolean;
  types: ChannelMessage['type'][];
}

/** Every message of a channel until it closes. */
export async function collect(ch: Channel): Promise<Collected> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const types: ChannelMessage['type'][] = [];
  let exitStatus: number | undefined;
  let eof = false;
  for await (const m of ch) {
    types.push(m.type);
    if (m.type === 'data') (m.dataType === 1 ? err : out).push(m.data);
    else if (m.type === 'exitStatus') exitStatus = m.status;
    else if (m.type === 'eof') eof = true;
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), exitStatus, eof, types };
}

/** Opens a session channel, runs `command` and collects what comes back. */
export async function execute(conn: Connection, command: string): Promise<Collected & { status: string }> {
  const ch = await conn.sessionChannel();
  const status = await ch.exec(command);
  return { status, ...(await collect(ch)) };
}

/**
 * Waits until `condition` holds, checking after each turn of the event loop (with a short pause
 * so the loop does not spin). The limit is only a safety net so a broken test fails instead of
 * hanging; nothing is asserted about how long it took.
 */
export async function waitFor(condition: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves when the socket closes. */
export function socketClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

/**
 * A bare SSH client: Seashell's transport over a TCP socket, with nothing above it, so a test can
 * send exactly the authentication messages it wants (or none at all).
 */
export class RawClient {
  private readonly inbox: Buffer[] = [];
  private waiter: (() => void) | undefined;
  closed: { error: SshError; byPeer: boolean } | undefined;
  readonly done: Promise<void>;
  private constructor(
    readonly socket: Socket,
    readonly transport: Transport,
    done: Promise<void>,
  ) {
    this.done = done;
  }

  static async open(port: number, identification = 'SSH-2.0-RawTestClient'): Promise<RawClient> {
    await loadPoly1305();
    const socket = netConnect({ host: '127.0.0.1', port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    let kexDone!: () => void;
    let finished!: () => void;
    const kex = new Promise<void>((r) => (kexDone = r));
    const done = new Promise<void>((r) => (finished = r));
    let scheduled = false;
    const transport: Transport = new Transport(
      {
        role: 'client',
        identification,
        // curve25519: the tests with this client time logins in a few hundred ms, and a
        // process's first ML-KEM key (pure JavaScript on Node 20) takes tens of ms to warm up.
        algorithms: resolveAlgorithms({ kex: ['curve25519-sha256'] }),
        extInfo: true,
      },
      {
        onMessage: (p) => {
          client.inbox.push(Buffer.from(p));
          const w = client.waiter;
          client.waiter = undefined;
          w?.();
        },
        onKexDone: (first) => {
          if (first) kexDone();
        },
        verifyHostKey: () => transport.hostKeyVerdict(true),
        onOutput: () => {
          if (scheduled) return;
          scheduled = true;
          queueMicrotask(() => {
            scheduled = false;
            for (const b of transport.takeOutput()) if (!socket.destroyed) socket.write(b);
          });
        },
        onClose: (error, byPeer) => {
          client.closed = { error, byPeer };
          queueMicrotask(() => socket.end());
          const w = client.waiter;
          client.waiter = undefined;
          w?.();
          finished();
        },
      },
    );
    const client = new RawClient(socket, transport, done);
    socket.on('data', (c: Buffer) => transport.receive(c));
    socket.on('close', () => {
      if (!client.closed) client.closed = { error: undefined as unknown as SshError, byPeer: true };
      const w = client.waiter;
      client.waiter = undefined;
      w?.();
      finished();
    });
    socket.on('error', () => {});
    transport.start();
    await Promise.race([kex, done]);
    return client;
  }

  send(payload: Buffer): void {
    this.transport.send(payload);
  }

  /** The next message from the server; rejects once the connection is over. */
  async next(): Promise<Buffer> {
    for (;;) {
      const m = this.inbox.shift();
      if (m) return m;
      if (this.closed) throw new Error(`connection closed: ${this.closed.error?.message ?? 'socket closed'}`);
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.done;
  }
}
