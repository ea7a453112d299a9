import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { defaultKbdIntData } from './auth/keyboard-interactive.js';
import { SERVER_AUTH_METHODS, type KbdIntData, type PasswordVerdict } from './auth/server.js';
import type { Channel } from './channel/channel.js';
import { subsystemSpec } from './sftp/sftpd.js';
import { attachSession, type EnvPolicy, type SubsystemCount } from './channel/session.js';
import type { SessionChannel } from './channel/session-channel.js';
import { Connection, DEFAULT_MAX_PACKET, DEFAULT_MAX_WINDOW, DEFAULT_WINDOW } from './edge/connection.js';
import type { ConnectionCoreConfig } from './connection/connection-core.js';
import type { ChannelParams } from './connection/mux.js';
import type { PublicKey } from './keys/types.js';
import type { ChannelOpen } from './wire/connection-messages.js';
import type { Debug } from './wire/transport-messages.js';
import { defaultCli } from './cli/default-cli.js';
import { Startups } from './daemon/max-startups.js';
import { PenaltyBox, type PenaltyKind } from './daemon/penalties.js';
import { debug } from './log.js';
import { DisconnectReason, SshError } from './errors.js';
import { fileKeyApi, hostKeyFileProblems, type KeyApiContext, type ServerKeyApi } from './keys/key-api.js';
import { isSignatureAlgorithm } from './keys/public-key.js';
import { fromAllows, type KeyRestrictions } from './keys/key-restrictions.js';
import type { PrivateKey } from './keys/types.js';
import {
  LIMIT_DEFAULTS,
  resolveDaemonOptions,
  type DaemonOptions,
  type HandlerSpec,
  type PwdFunVerdict,
} from './options.js';
import { loadPoly1305 } from './transport/cipher/chacha20-poly1305.js';
import { identification } from './transport/version.js';
import { ChannelOpenFailure } from './wire/numbers.js';
import { VERSION } from './version.js';

function peerOf(c: Connection): { address: string; port: number } {
  return { address: c.socket.remoteAddress ?? '', port: c.socket.remotePort ?? 0 };
}

/** What `ssh.daemonInfo` returns (the seed's daemon_info/1). */
export interface DaemonInfo {
  /** The address listened on. */
  ip: string;
  /** The port listened on (the one the system chose, for port 0). */
  port: number;
  /** The daemon's `profile` option (default 'default'). */
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
    const unusable = await hostKeyFileProblems(ctx);
    throw new SshError(
      'BAD_KEY',
      `no usable host key in ${ctx.systemDir} (looked for ssh_host_{ed25519,ed448,ecdsa,rsa,dsa}_key ` +
        `for the algorithms ${o.algorithms.publicKey.join(', ')})` +
        (unusable.length > 0 ? `; found but not usable: ${unusable.join('; ')}` : ''),
    );
  }
  return keys;
}

/** What the key callbacks are given: the directories, keyCb's private options and the options. */
function keyContext(o: Resolved): KeyApiContext {
  return {
    userDir: o.userDir,
    systemDir: o.systemDir ?? '/etc/ssh',
    keyCbPrivate: o.keyCbPrivate,
    options: o.userOptions,
  };
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
  /** The daemon's `profile` option (default 'default'). */
  readonly profile: string;
  /** The address listened on. */
  ip = '';
  /** The port listened on. */
  port = 0;
  private readonly coreConfig: ConnectionCoreConfig;
  private readonly env: EnvPolicy;
  /** Open subsystem channels per connection (the seed's max_channels counts them). */
  private readonly subsystemCounts = new WeakMap<Connection, SubsystemCount>();
  /** MaxStartups and the per-source cap on unauthenticated connections. */
  private readonly startups: Startups;
  /** Per-source penalties; undefined when turned off. */
  private readonly penalties: PenaltyBox | undefined;
  /** Connections not yet authenticated: their source, and whether they tried to authenticate. */
  private readonly unauthenticated = new Map<Connection, { address: string; tried: boolean }>();
  /** What the authorized_keys line of the key a connection logged in with allows. */
  private readonly keyRestrictions = new WeakMap<Connection, KeyRestrictions>();
  /** Keys the per-user failure delay. */
  private readonly delaySecret = randomBytes(32);
  /** parallelLogin false: the tail of the queue of authentication decisions, run one at a time. */
  private loginTurn: Promise<unknown> = Promise.resolve();
  /** Called when the daemon has stopped (the facade's registry listens). */
  onStopped: (() => void) | undefined;

  private constructor(
    private readonly o: Resolved,
    hostKeys: Map<string, PrivateKey>,
  ) {
    this.profile = o.profile ?? 'default';
    this.startups = new Startups(o.maxStartups, o.perSourceMaxStartups);
    const p = o.perSourcePenalties ?? true;
    this.penalties = p === false ? undefined : new PenaltyBox(p === true ? {} : p);
    // The seed: without the subsystems option, ssh_sftpd:subsystem_spec([]) is used.
    this.subsystems = new Map(o.subsystems ?? [subsystemSpec()]);
    this.env = envPolicy(o.acceptEnv ?? ['LANG', 'LC_*'], o.limits);
    this.keyApi = {
      ...fileKeyApi,
      // userDir: false: no authorized_keys; publickey only through keyCb.
      ...(o.noUserDir ? { isAuthKey: () => Promise.resolve(false) } : {}),
      ...(o.keyCb as Partial<ServerKeyApi>),
    };
    this.ctx = keyContext(o);
    const usePassword = o.pwdfun !== undefined || o.password !== undefined || o.userPasswords !== undefined;
    this.coreConfig = {
      transport: {
        role: 'server',
        identification: identification(o.idString, `Seashell_${VERSION}`),
        algorithms: o.algorithms,
        hostKeys,
        extInfo: o.sendExtInfo ?? true,
        serverSigAlgs: o.algorithms.publicKey,
        rekeyBytes: o.rekeyBytes,
        rekeyMs: o.rekeyMinutes * 60_000,
        now: Date.now,
      },
      channelDefaults: {
        initialWindow: DEFAULT_WINDOW,
        maxWindow: DEFAULT_MAX_WINDOW,
        maxPacket: DEFAULT_MAX_PACKET,
      },
      serverAuth: {
        methods: o.authMethodList.filter(
          (m) => (SERVER_AUTH_METHODS as readonly string[]).includes(m) && (m === 'publickey' || usePassword),
        ),
        publicKeyAlgorithms: o.algorithms.publicKey,
      },
      maxChannels: o.limits?.channels ?? LIMIT_DEFAULTS.channels,
      pendingRequests: o.limits?.pendingRequests,
      windowBudget: o.limits?.windowBudget,
      outputStallMs: o.limits?.outputStallTimeout,
      minRemoteMaxPacket: o.minimalRemoteMaxPacketSize,
      idleTimeMs: o.idleTime,
    };
  }

  /** Starts listening and serving (what `ssh.daemon` calls). */
  static async start(
    host: string | undefined,
    portOrSocket: number | Socket,
    options?: DaemonOptions,
  ): Promise<Daemon> {
    const o = resolveDaemonOptions(options);
    const keyApi = { ...fileKeyApi, ...(o.keyCb as Partial<ServerKeyApi>) };
    const ctx = keyContext(o);
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
    const address = listenAddress(host, this.o.inet);
    // The seed's fd option: listen on a socket already open (host and port are not used).
    const where =
      this.o.fd !== undefined
        ? { fd: this.o.fd }
        : { port, host: address, ...(address === '::' && this.o.inet === 'inet6' ? { ipv6Only: true } : {}) };
    return new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(
          new SshError('SOCKET_ERROR', `cannot listen on ${address ?? '*'}:${port}: ${e.message}`, {
            cause: e,
          }),
        ),
      );
      server.listen(where, () => {
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

  /** Address, port and profile (the seed's daemon_info/1). */
  info(): DaemonInfo {
    return { ip: this.ip, port: this.port, profile: this.profile };
  }

  /** Connections being served now, authenticated or not. */
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
    // The daemon is every connection's hooks object, and the configuration is shared: an idle
    // connection then holds no closures or copies of its own (only a random idString differs).
    const config =
      typeof o.idString === 'object' || o.idString === 'random'
        ? {
            ...this.coreConfig,
            transport: { ...this.coreConfig.transport, identification: identification(o.idString, '') },
          }
        : this.coreConfig;
    const conn = new Connection(socket, config, this);
    this.connections.add(conn);
    conn.start();
    const address = socket.remoteAddress ?? '';
    const penalised = this.penalties?.refusedFor(address, Date.now()) ?? 0;
    if (penalised > 0) {
      // OpenSSH drops such sockets silently; a reason tells an honest user what happened.
      const s = Math.ceil(penalised / 1000);
      conn.core.disconnect(
        DisconnectReason.HOST_NOT_ALLOWED_TO_CONNECT,
        `too many failed or abandoned connections from this address: try again in ${s} s`,
      );
      return;
    }
    if (o.maxSessions !== undefined && this.connections.size > o.maxSessions) {
      conn.core.disconnect(
        DisconnectReason.TOO_MANY_CONNECTIONS,
        `too many sessions (max_sessions is ${o.maxSessions})`,
      );
      return;
    }
    const admitted = this.startups.admit(address, Math.random());
    if (admitted !== true) {
      conn.core.disconnect(DisconnectReason.TOO_MANY_CONNECTIONS, admitted);
      return;
    }
    this.unauthenticated.set(conn, { address, tried: false });
    conn.negotiationDeadline(o.negotiationTimeout ?? 120_000, 'login');
  }

  /**
   * An admitted connection stopped counting as a startup: it logged in, or it ended first, which
   * earns its source a penalty by how it ended.
   */
  private startupDone(c: Connection, ended?: SshError): void {
    const u = this.unauthenticated.get(c);
    if (!u) return;
    this.unauthenticated.delete(c);
    this.startups.done(u.address);
    if (!ended || !this.penalties) return;
    const kind: PenaltyKind = c.loginTimedOut
      ? 'graceExceeded'
      : c.droppedForFlooding || ended.code === 'FLOODED'
        ? 'flood'
        : u.tried
          ? 'authfail'
          : 'noauth';
    this.penalties.record(u.address, kind, Date.now());
  }

  // ---- ConnectionHooks (internal): one object serves every connection of the daemon ---------

  /**
   * The seed's parallel_login: when false (the default) one login is decided at a time across the
   * daemon: each authentication decision (key lookup, password check) waits its turn, its
   * connection's input paused meanwhile, nobody dropped. A connection that closed while waiting
   * gets `closed` without the decision being made. True: decisions run in parallel.
   */
  private inTurn<T>(c: Connection, decide: () => Promise<T>, closed: T): Promise<T> {
    if (this.o.parallelLogin) return decide();
    const turn = this.loginTurn.then(() => (c.isClosed ? closed : decide()));
    // The next turn comes when this decision is made, or when its connection ends (a check that
    // never answers holds the others no longer than negotiationTimeout).
    const ended = c.authenticated.then(
      () => undefined,
      () => undefined,
    );
    this.loginTurn = Promise.race([turn.catch(() => undefined), ended]);
    return turn;
  }

  /** @internal */
  isAuthorizedKey(c: Connection, user: string, key: PublicKey): Promise<boolean> {
    return this.inTurn(c, () => this.lookupKey(c, user, key), false);
  }

  /**
   * The key files of `user`: the one userDir (the seed's: the same for every user name), the
   * user's own when userDir is a function, or undefined when there are none for this user.
   */
  private async userCtx(user: string): Promise<KeyApiContext | undefined> {
    const dirFor = this.o.userDirFor;
    if (!dirFor) return this.o.noUserDir ? undefined : this.ctx;
    const dir = await dirFor(user);
    return typeof dir === 'string' && dir !== '' ? { ...this.ctx, userDir: dir } : undefined;
  }

  private async lookupKey(c: Connection, user: string, key: PublicKey): Promise<boolean> {
    const ctx = await this.userCtx(user);
    if (this.o.keyCb?.isAuthKey) return this.keyApi.isAuthKey(key, user, ctx ?? this.ctx);
    // userDir: false (for everyone or for this user): no authorized_keys file.
    if (!ctx) return false;
    // The default key files: the line's options decide too (from=, expiry-time=), and what they
    // allow the session is kept for it (command=, no-pty, restrict).
    const r = await fileKeyApi.authorizedKeyRestrictions(key, user, ctx);
    if (!r) return false;
    const why =
      r.from && !fromAllows(r.from, c.socket.remoteAddress ?? '')
        ? `from= does not allow ${c.socket.remoteAddress}`
        : r.expires !== undefined && Date.now() >= r.expires
          ? 'the key has expired (expiry-time)'
          : undefined;
    if (why) {
      debug('publickey for %s refused: %s', user, why);
      return false;
    }
    // The last key approved is the one a publickey success is for: the signed request follows
    // its own query, or is looked up again (ServerAuth.approvedQuery).
    this.keyRestrictions.set(c, r);
    return true;
  }

  /** @internal */
  onAuthenticated(c: Connection, user: string, method: string): void {
    this.startupDone(c);
    if (method !== 'publickey') this.keyRestrictions.delete(c);
    this.o.connectfun?.(user, peerOf(c), method);
  }

  /** @internal */
  onAuthFailure(c: Connection, user: string, _method: string, why: string): void {
    const u = this.unauthenticated.get(c);
    if (u) u.tried = true;
    this.o.failfun?.(user, peerOf(c), why);
  }

  /** @internal */
  onChannelOpen(
    c: Connection,
    open: ChannelOpen,
    accept: (params?: Partial<ChannelParams>) => Channel,
    reject: (reason: number, description: string) => void,
  ): void {
    if (open.channelType !== 'session') {
      reject(
        ChannelOpenFailure.UNKNOWN_CHANNEL_TYPE,
        `channel type ${open.channelType.slice(0, 64)} is not supported`,
      );
      return;
    }
    let count = this.subsystemCounts.get(c);
    if (!count) this.subsystemCounts.set(c, (count = { open: 0 }));
    const o = this.o;
    attachSession(accept() as SessionChannel, {
      cli: o.sshCli ?? [
        defaultCli,
        [
          {
            exec: o.exec,
            shell: o.shell,
            user: c.core.user ?? '',
            peer: peerOf(c),
            evalLimits: { timeLimit: o.evalTimeLimit, memoryLimitMb: o.evalMemoryLimit },
          },
        ],
      ],
      subsystems: this.subsystems,
      maxSubsystemChannels: o.maxChannels,
      subsystemCount: count,
      env: this.env,
      restrictions: this.keyRestrictions.get(c),
      userEnvironment: o.permitUserEnvironment === true,
      onError: (id, e) => debug('channel %d: handler failed: %s', id, (e as Error)?.stack ?? e),
    });
  }

  /** @internal */
  onDebug(c: Connection, d: Debug): void {
    this.o.sshMsgDebugFun?.(c, d.alwaysDisplay, d.message, d.language);
  }

  /** @internal */
  onClose(c: Connection, error: SshError, _byPeer: boolean): void {
    this.connections.delete(c);
    this.startupDone(c, error);
    this.o.disconnectfun?.(error.message);
  }

  /** @internal */
  onUnexpected(c: Connection, payload: Buffer): void {
    reportUnexpected(this.o.unexpectedfun, payload, peerOf(c));
  }

  /** @internal The seed's auth_method_kb_interactive_data, or its default. */
  async kbdIntData(c: Connection, user: string, service: string): Promise<KbdIntData> {
    const opt = this.o.authMethodKbInteractiveData;
    const t = typeof opt === 'function' ? await opt(peerOf(c), user, service) : opt;
    if (!t) return defaultKbdIntData(user);
    return { name: String(t[0]), instruction: String(t[1]), prompt: String(t[2]), echo: t[3] === true };
  }

  /** @internal */
  async checkPassword(c: Connection, user: string, password: string): Promise<PasswordVerdict> {
    const start = performance.now();
    const verdict = await this.inTurn(c, () => this.verifyPassword(c, user, password, peerOf(c)), false);
    if (verdict === false) await this.failureDelay(user, performance.now() - start);
    return verdict;
  }

  /**
   * A failed password answers no sooner than a delay fixed per user name (5-10 ms, from a secret
   * of this daemon), doubled until it exceeds the time the check took, as OpenSSH does: how long
   * a failure takes then says nothing about whether the user exists, and one connection's
   * guesses are paced.
   */
  private failureDelay(user: string, elapsed: number): Promise<void> {
    const h = createHmac('sha256', this.delaySecret).update(user).digest();
    let delay = 5 + (h.readUInt16BE(0) / 65536) * 5;
    while (delay < elapsed) delay *= 2;
    return new Promise((resolve) => setTimeout(resolve, delay - elapsed));
  }

  private async verifyPassword(
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

/**
 * Where a daemon listens: an IP as given, 'loopback' as 127.0.0.1, and 'any' (or no host) as every
 * address of the `inet` option's family (0.0.0.0 or ::), or Node's dual-stack default without it.
 */
export function listenAddress(
  host: string | undefined,
  inet: 'inet' | 'inet6' | undefined,
): string | undefined {
  if (host === undefined || host === 'any')
    return inet === 'inet' ? '0.0.0.0' : inet === 'inet6' ? '::' : undefined;
  return host === 'loopback' ? '127.0.0.1' : host;
}

/** The seed's unexpectedfun: 'skip' keeps quiet, anything else is reported (at debug level). */
export function reportUnexpected(
  fun: DaemonOptions['unexpectedfun'],
  payload: Buffer,
  peer: { address: string; port: number },
): void {
  let verdict: string = 'report';
  try {
    verdict = fun?.({ type: payload[0]!, payload }, peer) ?? 'report';
  } catch (e) {
    debug('unexpectedfun threw: %s', (e as Error)?.message ?? e);
  }
  if (verdict !== 'skip')
    debug(
      'unexpected message %d (%d bytes) from %s:%d, answered UNIMPLEMENTED',
      payload[0],
      payload.length,
      peer.address,
      peer.port,
    );
}

/** OpenSSH's AcceptEnv patterns (`*` any run, `?` one character) and the env limits. */
function envPolicy(patterns: string[], limits: DaemonOptions['limits']): EnvPolicy {
  const res = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      ),
  );
  return {
    accept: (name) => res.some((r) => r.test(name)),
    maxCount: limits?.envCount ?? LIMIT_DEFAULTS.envCount,
    maxBytes: limits?.envBytes ?? LIMIT_DEFAULTS.envBytes,
  };
}
