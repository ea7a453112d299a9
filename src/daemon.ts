import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { SERVER_AUTH_METHODS, type PasswordVerdict } from './auth/server.js';
import { Connection, DEFAULT_MAX_PACKET, DEFAULT_WINDOW } from './channel/connection.js';
import { attachSession } from './cli/session.js';
import { DisconnectReason, SshError } from './errors.js';
import { fileKeyApi, type KeyApiContext, type ServerKeyApi } from './keys/key-api.js';
import { isSignatureAlgorithm } from './keys/public-key.js';
import type { PrivateKey } from './keys/types.js';
import { resolveDaemonOptions, type DaemonOptions, type HandlerSpec, type PwdFunVerdict } from './options.js';
import { loadPoly1305 } from './transport/cipher/chacha20-poly1305.js';
import { identification } from './transport/version.js';
import { ChannelOpenFailure } from './wire/numbers.js';
import { VERSION } from './version.js';

export interface DaemonInfo {
  ip: string;
  port: number;
  profile: string;
}

type Resolved = ReturnType<typeof resolveDaemonOptions>;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Loads the host keys the algorithm list can use (an RSA key serves both rsa-sha2 algorithms). */
async function loadHostKeys(
  o: Resolved,
  api: ServerKeyApi,
  ctx: KeyApiContext,
): Promise<Map<string, PrivateKey>> {
  const keys = new Map<string, PrivateKey>();
  for (const alg of o.algorithms.publicKey) {
    if (!isSignatureAlgorithm(alg)) continue;
    const key = await api.hostKey(alg, ctx);
    if (key) keys.set(alg, key);
  }
  if (keys.size === 0) {
    throw new SshError(
      'BAD_KEY',
      `no usable host key in ${ctx.systemDir} (looked for ssh_host_ed25519_key, ssh_host_ecdsa_key, ssh_host_rsa_key ` +
        `for the algorithms ${o.algorithms.publicKey.join(', ')})`,
    );
  }
  return keys;
}

/** A running daemon (the seed's daemon_ref): a listener, or one pre-connected socket, and its connections. */
export class Daemon {
  private readonly connections = new Set<Connection>();
  private server: Server | undefined;
  private listening = false;
  /** Resolves once the listening server has closed and every socket it accepted has ended. */
  private serverClosed: Promise<void> | undefined;
  private readonly subsystems: Map<string, HandlerSpec>;
  private readonly keyApi: ServerKeyApi;
  private readonly ctx: KeyApiContext;
  readonly profile: string;
  ip = '';
  port = 0;
  /** Called when the daemon has stopped (the facade's registry listens). */
  onStopped: (() => void) | undefined;

  private constructor(
    private readonly o: Resolved,
    private readonly hostKeys: Map<string, PrivateKey>,
  ) {
    this.profile = o.profile ?? 'default';
    this.subsystems = new Map(o.subsystems ?? []);
    this.keyApi = { ...fileKeyApi, ...(o.keyCb as Partial<ServerKeyApi>) };
    this.ctx = { userDir: o.userDir, systemDir: o.systemDir ?? '/etc/ssh' };
  }

  static async start(
    host: string | undefined,
    portOrSocket: number | Socket,
    options?: DaemonOptions,
  ): Promise<Daemon> {
    const o = resolveDaemonOptions(options);
    const keyApi = { ...fileKeyApi, ...(o.keyCb as Partial<ServerKeyApi>) };
    const ctx = { userDir: o.userDir, systemDir: o.systemDir ?? '/etc/ssh' };
    const usesChaCha = [...o.algorithms.cipher.clientToServer, ...o.algorithms.cipher.serverToClient].some(
      (c) => c === 'chacha20-poly1305@openssh.com',
    );
    if (usesChaCha) await loadPoly1305();
    const d = new Daemon(o, await loadHostKeys(o, keyApi, ctx));
    if (typeof portOrSocket === 'number') await d.listen(host, portOrSocket);
    else {
      d.ip = portOrSocket.localAddress ?? '';
      d.port = portOrSocket.localPort ?? 0;
      d.accept(portOrSocket);
    }
    return d;
  }

  private listen(host: string | undefined, port: number): Promise<void> {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return Promise.reject(new SshError('BAD_OPTION', `port must be an integer 0-65535, got ${port}`));
    }
    const server = createServer({ noDelay: true }, (s) => this.accept(s));
    this.server = server;
    const address =
      host === undefined || host === 'any' ? undefined : host === 'loopback' ? '127.0.0.1' : host;
    return new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(
          new SshError('SOCKET_ERROR', `cannot listen on ${address ?? '*'}:${port}: ${e.message}`, {
            cause: e,
          }),
        ),
      );
      server.listen({ port, host: address }, () => {
        const a = server.address();
        if (a && typeof a === 'object') {
          this.ip = a.address;
          this.port = a.port;
        }
        this.listening = true;
        server.on('error', () => {}); // later accept errors must not crash the process
        resolve();
      });
    });
  }

  info(): DaemonInfo {
    return { ip: this.ip, port: this.port, profile: this.profile };
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops listening; live connections go on (the seed's stop_listener). */
  stopListener(): Promise<void> {
    const server = this.server;
    if (!server || !this.listening) return Promise.resolve();
    this.listening = false;
    // close() stops accepting at once, but its callback only runs once every accepted socket has
    // ended: waiting for it here would hang for as long as the live connections last.
    this.serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    return Promise.resolve();
  }

  /** Stops listening and closes every connection (the seed's stop_daemon). */
  async stop(): Promise<void> {
    await this.stopListener();
    await Promise.all([...this.connections].map((c) => c.close()));
    await this.serverClosed;
    this.onStopped?.();
  }

  private accept(socket: Socket): void {
    const o = this.o;
    const peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const usePassword = o.pwdfun !== undefined || o.password !== undefined || o.userPasswords !== undefined;
    const methods = o.authMethodList.filter(
      (m) => (SERVER_AUTH_METHODS as readonly string[]).includes(m) && (m !== 'password' || usePassword),
    );
    const conn: Connection = new Connection(
      socket,
      {
        transport: {
          role: 'server',
          identification: identification(o.idString, `Seashell_${VERSION}`),
          algorithms: o.algorithms,
          hostKeys: this.hostKeys,
          extInfo: o.sendExtInfo ?? true,
          serverSigAlgs: o.algorithms.publicKey,
          rekeyBytes: o.rekeyBytes,
        },
        channelDefaults: { initialWindow: DEFAULT_WINDOW, maxPacket: DEFAULT_MAX_PACKET },
        serverAuth: { methods, publicKeyAlgorithms: o.algorithms.publicKey },
        maxChannels: o.maxChannels,
        minRemoteMaxPacket: o.minimalRemoteMaxPacketSize,
      },
      {
        isAuthorizedKey: (user, key) => this.keyApi.isAuthKey(key, user, this.ctx),
        checkPassword: (user, password): Promise<PasswordVerdict> =>
          this.checkPassword(conn, user, password, peer),
        onAuthenticated: (_c, user, method) => o.connectfun?.(user, peer, method),
        onAuthFailure: (_c, user, _method, why) => o.failfun?.(user, peer, why),
        onChannelOpen: (c, open, accept, reject) => {
          if (open.channelType !== 'session') {
            reject(
              ChannelOpenFailure.UNKNOWN_CHANNEL_TYPE,
              `channel type ${open.channelType.slice(0, 64)} is not supported`,
            );
            return;
          }
          const ch = accept();
          attachSession(ch, {
            sshCli: o.sshCli,
            subsystems: this.subsystems,
            exec: o.exec,
            user: c.core.user ?? '',
            peer,
          });
        },
        onDebug: (c, d) => o.sshMsgDebugFun?.(c, d.alwaysDisplay, d.message, d.language),
        onClose: (c, error, byPeer) => {
          this.connections.delete(c);
          if (byPeer) o.disconnectfun?.(error.message);
        },
      },
    );
    this.connections.add(conn);
    conn.start();
    if (o.maxSessions !== undefined && this.connections.size > o.maxSessions) {
      conn.core.disconnect(
        DisconnectReason.TOO_MANY_CONNECTIONS,
        `too many sessions (max_sessions is ${o.maxSessions})`,
      );
      return;
    }
    conn.negotiationDeadline(o.negotiationTimeout ?? 120_000, 'login');
    conn.rekeyEvery(o.rekeyMinutes);
  }

  private async checkPassword(
    conn: Connection,
    user: string,
    password: string,
    peer: { address: string; port: number },
  ): Promise<PasswordVerdict> {
    const o = this.o;
    if (o.pwdfun) {
      if (o.pwdfun.length >= 4) {
        const f = o.pwdfun as (
          u: string,
          p: string,
          a: typeof peer,
          s: unknown,
        ) => PwdFunVerdict | Promise<PwdFunVerdict>;
        const v = await f(user, password, peer, conn.data.get('pwdfunState'));
        if (Array.isArray(v)) {
          conn.data.set('pwdfunState', v[1]);
          return v[0] === true;
        }
        return v === 'disconnect' ? 'disconnect' : v === true;
      }
      return (
        (await (o.pwdfun as (u: string, p: string) => boolean | Promise<boolean>)(user, password)) === true
      );
    }
    if (o.userPasswords?.some(([u, p]) => u === user && sameSecret(p, password))) return true;
    return o.password !== undefined && sameSecret(o.password, password);
  }
}
