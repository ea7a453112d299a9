import { connect as netConnect, isIP, Socket } from 'node:net';
import { join } from 'node:path';
import { CLIENT_AUTH_METHODS, type KbdIntAnswerer, type UserKey } from './auth/client.js';
import type { KbdIntPrompt } from './wire/kbdint-messages.js';
import { AgentClient, type AgentIdentity } from './keys/agent.js';
import { signatureAlgorithmFits } from './keys/signature.js';
import type { ConnectionInfo, ConnectionRef } from './channel/link.js';
import { Connection, DEFAULT_MAX_PACKET, DEFAULT_MAX_WINDOW, DEFAULT_WINDOW } from './edge/connection.js';
import { Daemon, reportUnexpected, type DaemonInfo } from './daemon.js';
import { SshError } from './errors.js';
import { fingerprint } from './keys/fingerprint.js';
import { fileKeyApi, userKeyFileProblems, type ClientKeyApi, type KeyApiContext } from './keys/key-api.js';
import { debug } from './log.js';
import { lockedKeyFileUserKeys } from './key-passphrase-prompt.js';
import { askTerminal, askTerminalPrompts, hasTerminal, printable } from './tty-prompt.js';
import { loadParsedFile } from './keys/key-file-cache.js';
import { checkKnownHosts, hostPattern, knownKeyTypesFor, mismatchedEntry } from './keys/known-hosts.js';
import type { HostKeyRefusal } from './edge/connection.js';
import { isSignatureAlgorithm, keyTypeForSignatureAlgorithm } from './keys/public-key.js';
import type { PublicKey, SignatureAlgorithm } from './keys/types.js';
import {
  defaultUser,
  resolveClientOptions,
  type ClientOptions,
  type DaemonOptions,
  type FingerprintHash,
} from './options.js';
import { defaultAlgorithms as registryDefaults, type AlgorithmSet } from './transport/algorithms.js';
import { loadPoly1305 } from './transport/cipher/chacha20-poly1305.js';
import { identification } from './transport/version.js';
import { VERSION } from './version.js';

const daemons = new Set<Daemon>();
const connections = new Set<Connection>();

type ResolvedClient = ReturnType<typeof resolveClientOptions>;

/** `userDir: false`: no user key files, no known_hosts written (it is not read either). */
const NO_USER_DIR: Partial<ClientKeyApi> = {
  userKey: () => Promise.resolve(undefined),
  addHostKey: () => Promise.resolve(),
};

/** Loads libsodium's Poly1305 when chacha20-poly1305 may be negotiated. */
async function cryptoReady(algorithms: AlgorithmSet): Promise<void> {
  const lists = [...algorithms.cipher.clientToServer, ...algorithms.cipher.serverToClient];
  if (lists.includes('chacha20-poly1305@openssh.com')) await loadPoly1305();
}

/**
 * The user's keys, each with the algorithms (in preference order) it can sign with: the agent's
 * first (as OpenSSH), then the key files that hold keys the agent does not.
 */
async function loadUserKeys(o: ResolvedClient, api: ClientKeyApi, ctx: KeyApiContext, agent?: AgentClient) {
  const prefs = (o.prefPublicKeyAlgs ?? o.algorithms.publicKey).filter(isSignatureAlgorithm);
  const out: UserKey[] = [];
  if (agent) {
    let identities: AgentIdentity[] = [];
    try {
      identities = await agent.list();
    } catch (e) {
      debug('agent: cannot list keys: %s', (e as Error).message);
    }
    for (const id of identities) {
      const pub = id.publicKey;
      if (!pub) continue;
      const algorithms = prefs.filter((alg) => signatureAlgorithmFits(pub.type, alg));
      if (algorithms.length === 0) continue;
      out.push({
        key: { type: pub.type, publicKey: pub, comment: id.comment },
        algorithms,
        sign: (alg, data) => agent.sign(pub, alg, data),
      });
    }
  }
  // The default files: say which exist and cannot be used, here and in AUTH_FAILED.
  const skipped =
    (o.keyCb as Partial<ClientKeyApi> | undefined)?.userKey || o.noUserDir
      ? []
      : await userKeyFileProblems(prefs, ctx);
  for (const s of skipped) debug('user key skipped: %s', s);
  for (const alg of prefs) {
    const key = await api.userKey(alg, ctx);
    if (!key) continue;
    const known = out.find((k) => k.key.publicKey.blob.equals(key.publicKey.blob));
    if (known) {
      if (!known.sign) (known.algorithms as SignatureAlgorithm[]).push(alg);
    } else out.push({ key, algorithms: [alg] });
  }
  // Encrypted key files without a passphrase option: offered, their passphrase asked on the
  // terminal once the server accepts the key (user_interaction).
  if (skipped.length > 0 && o.userInteraction !== false && hasTerminal())
    out.push(...(await lockedKeyFileUserKeys(prefs, ctx, out)));
  return { keys: out, skipped };
}

/** The agent to ask for keys: the `agent` option's socket, else SSH_AUTH_SOCK; none if unreachable. */
async function openAgent(o: ResolvedClient): Promise<AgentClient | undefined> {
  if (o.agent === false) return undefined;
  const path = typeof o.agent === 'string' ? o.agent : process.env.SSH_AUTH_SOCK;
  if (!path) return undefined;
  try {
    return await AgentClient.connect(path);
  } catch (e) {
    // As OpenSSH: an agent that cannot be reached is skipped, the key files still tried.
    debug('agent: %s', (e as Error).message);
    return undefined;
  }
}

/** known_hosts, read again only when it changed (a stat per connect instead of a read). */
async function readKnownHosts(ctx: KeyApiContext): Promise<string> {
  return (
    (await loadParsedFile(join(ctx.userDir, 'known_hosts'), 'known-hosts', (d) => d.toString('utf8'))) ?? ''
  );
}

function fingerprints(key: PublicKey, spec: FingerprintHash | FingerprintHash[]): string | string[] {
  return Array.isArray(spec) ? spec.map((h) => fingerprint(key, h)) : fingerprint(key, spec);
}

/**
 * The client's host key decision: known_hosts first; an unknown key only if `silentlyAcceptHosts`
 * says so (then saved unless `saveAcceptedHost` is false). A changed or revoked key is refused
 * whatever the options say. Returns true, or the reason for refusing.
 */
async function hostKeyDecision(
  o: ResolvedClient,
  api: ClientKeyApi,
  ctx: KeyApiContext,
  knownHosts: string,
  host: string,
  port: number,
  key: PublicKey,
  algorithm: string,
): Promise<true | HostKeyRefusal> {
  const where = hostPattern(host, port);
  const fp = fingerprint(key, 'sha256');
  const custom = (o.keyCb as Partial<ClientKeyApi> | undefined)?.isHostKey;
  let status: 'match' | 'mismatch' | 'revoked' | 'unknown';
  if (custom) {
    status = (await custom(key, host, port, algorithm as SignatureAlgorithm, ctx)) ? 'match' : 'unknown';
  } else {
    status = checkKnownHosts(knownHosts, host, port, key);
  }
  if (status === 'match') return true;
  const file = join(ctx.userDir, 'known_hosts');
  if (status === 'revoked') {
    return {
      code: 'HOST_KEY_REVOKED',
      message: `the host key of ${where} (${key.type} ${fp}) is marked @revoked in ${file}`,
    };
  }
  if (status === 'mismatch') {
    // As OpenSSH's warning: both fingerprints, and the file and line to edit.
    const old = mismatchedEntry(knownHosts, host, port, key);
    const was = old
      ? `${fingerprint(old.key, 'sha256')}, recorded at ${file}:${old.line}`
      : `the key in ${file}`;
    return {
      code: 'HOST_KEY_MISMATCH',
      message:
        `HOST KEY MISMATCH for ${where}: the server offered ${key.type} ${fp}, not ${was}; someone may be ` +
        `intercepting the connection. If the host key really changed, remove that line ` +
        `(ssh-keygen -R '${where}' -f ${file}) and connect again`,
    };
  }
  const accept = o.silentlyAcceptHosts;
  let accepted = false;
  if (accept === true) accepted = true;
  else if (typeof accept === 'function') accepted = (await accept(host, fp)) === true;
  else if (Array.isArray(accept)) accepted = (await accept[1](host, fingerprints(key, accept[0]))) === true;
  else if ((accept === undefined || accept === false) && o.userInteraction !== false) {
    // The seed's user_interaction: nothing else decided (false "preserves the default behaviour of
    // asking the user"), so ask on the terminal as OpenSSH does.
    const name = key.type.startsWith('ecdsa') ? 'ECDSA' : key.type.replace(/^ssh-/, '').toUpperCase();
    const answer = await askTerminal(
      `The authenticity of host '${where}' can't be established.\r\n` +
        `${name} key fingerprint is ${fp}.\r\n` +
        `Are you sure you want to continue connecting (yes/no/[fingerprint])? `,
      `Please type 'yes', 'no' or the fingerprint: `,
      (line) => (line === 'yes' || line === fp ? true : line === 'no' ? false : undefined),
    );
    accepted = answer === true;
  }
  if (!accepted) {
    return {
      code: 'HOST_KEY_NOT_VERIFIED',
      message:
        `the host key of ${where} (${key.type} ${fp}) is not in ${file}` +
        (accept === undefined || accept === false
          ? '; add it there, or pass silentlyAcceptHosts'
          : ' and was not accepted'),
    };
  }
  if (o.saveAcceptedHost !== false) await api.addHostKey(host, port, key, ctx);
  return true;
}

/**
 * The seed's user_interaction for authentication: without the `password` option, a password is
 * asked for on the terminal without echo (`user@host's password: `, as OpenSSH asks); without a
 * `keyboardInteractive` callback, prompts the `password` option cannot answer are shown on the
 * terminal, echoed as the server says. Nothing when userInteraction is false.
 */
function terminalPrompts(
  o: ClientOptions,
  user: string,
  host: string,
): { askPassword?: () => Promise<string | undefined>; askKbdInt?: KbdIntAnswerer; unasked?: string } {
  if (o.password !== undefined && o.keyboardInteractive !== undefined) return {};
  // Without a terminal nothing is offered, so that no request is made only to find nobody to ask.
  if (o.userInteraction === false)
    return { unasked: 'nobody was asked for a password (userInteraction is false)' };
  if (!hasTerminal())
    return { unasked: 'nobody was asked for a password (no terminal; pass password or keyboardInteractive)' };
  return {
    ...(o.password === undefined && {
      askPassword: async () =>
        (
          await askTerminalPrompts('', [
            { prompt: `${printable(user)}@${printable(host)}'s password: `, echo: false },
          ])
        )?.[0],
    }),
    ...(o.keyboardInteractive === undefined && {
      askKbdInt: (name: string, instruction: string, prompts: KbdIntPrompt[]) =>
        askTerminalPrompts(
          [name, instruction]
            .filter((t) => t !== '')
            .map((t) => `${printable(t)}\n`)
            .join(''),
          prompts.map((p) => ({ prompt: printable(p.prompt), echo: p.echo })),
        ),
    }),
  };
}

/** OpenSSH's habit: put the host key algorithms known_hosts has keys for first. */
function preferKnownHostKeyTypes(algorithms: AlgorithmSet, knownTypes: string[]): AlgorithmSet {
  if (knownTypes.length === 0) return algorithms;
  const known = algorithms.publicKey.filter((a) =>
    knownTypes.includes(keyTypeForSignatureAlgorithm(a) ?? ''),
  );
  return { ...algorithms, publicKey: [...known, ...algorithms.publicKey.filter((a) => !known.includes(a))] };
}

function openSocket(
  host: string,
  port: number,
  timeout: number | undefined,
  inet: 'inet' | 'inet6' | undefined,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const family = inet === 'inet' ? 4 : inet === 'inet6' ? 6 : 0;
    const socket = netConnect({ host, port, noDelay: true, family });
    let timer: NodeJS.Timeout | undefined;
    if (timeout !== undefined && timeout !== Infinity) {
      timer = setTimeout(() => {
        socket.destroy();
        reject(new SshError('TIMEOUT', `TCP connect to ${host}:${port} timed out after ${timeout} ms`));
      }, timeout);
    }
    socket.once('connect', () => {
      if (timer) clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new SshError('SOCKET_ERROR', `cannot connect to ${host}:${port}: ${e.message}`, { cause: e }));
    });
  });
}

/**
 * Connects to an SSH server and authenticates (the seed's connect/3,4): resolves with the
 * connection once authentication succeeded. No channel is opened.
 */
export function connect(
  host: string,
  port: number,
  options?: ClientOptions,
  negotiationTimeout?: number,
): Promise<Connection>;
/** Runs SSH over an already connected socket (the seed's connect/2,3). */
export function connect(
  socket: Socket,
  options?: ClientOptions,
  negotiationTimeout?: number,
): Promise<Connection>;
export async function connect(
  a: string | Socket,
  b?: number | ClientOptions,
  c?: ClientOptions | number,
  d?: number,
): Promise<Connection> {
  let host: string;
  let port: number;
  let socket: Socket | undefined;
  let options: ClientOptions | undefined;
  let timeout: number | undefined;
  if (a instanceof Socket) {
    socket = a;
    host = socket.remoteAddress ?? '';
    port = socket.remotePort ?? 22;
    options = b as ClientOptions | undefined;
    timeout = c as number | undefined;
  } else {
    if (typeof a !== 'string' || typeof b !== 'number') {
      throw new SshError(
        'BAD_OPTION',
        'connect takes (host, port, options?, timeout?) or (socket, options?, timeout?)',
      );
    }
    host = a === 'loopback' ? '127.0.0.1' : a;
    port = b;
    options = c as ClientOptions | undefined;
    timeout = d;
  }
  if (timeout !== undefined && timeout !== Infinity && !(Number.isInteger(timeout) && timeout >= 0)) {
    throw new SshError('BAD_OPTION', `negotiation timeout must be milliseconds or Infinity, got ${timeout}`);
  }
  const o = resolveClientOptions(options);
  const api: ClientKeyApi = {
    ...fileKeyApi,
    ...(o.noUserDir ? NO_USER_DIR : {}),
    ...(o.keyCb as Partial<ClientKeyApi>),
  };
  const ctx: KeyApiContext = {
    userDir: o.userDir,
    systemDir: '/etc/ssh',
    passphrases: {
      rsa: o.rsaPassPhrase,
      ecdsa: o.ecdsaPassPhrase,
      ed25519: o.ed25519PassPhrase,
      dsa: o.dsaPassPhrase,
      ed448: o.ed448PassPhrase,
    },
    hashKnownHosts: o.hashKnownHosts,
    keyCbPrivate: o.keyCbPrivate,
    options: o.userOptions,
  };
  await cryptoReady(o.algorithms);
  const agent = await openAgent(o);
  const { keys, skipped } = await loadUserKeys(o, api, ctx, agent).catch((e: unknown) => {
    agent?.close();
    throw e;
  });
  // known_hosts is read once per connect: to order the host key algorithms and to check the key.
  const knownHosts = o.keyCb?.isHostKey || o.noUserDir ? '' : await readKnownHosts(ctx);
  const knownTypes = knownKeyTypesFor(knownHosts, host, port);
  const algorithms = preferKnownHostKeyTypes(o.algorithms, knownTypes);
  // The seed's fd option: a connected socket's file descriptor, used as it is.
  if (!socket && o.fd !== undefined) socket = new Socket({ fd: o.fd, readable: true, writable: true });
  socket ??= await openSocket(host, port, o.connectTimeout, o.inet);
  const user = o.user ?? defaultUser();
  const conn = new Connection(
    socket,
    {
      transport: {
        role: 'client',
        identification: identification(o.idString, `Seashell_${VERSION}`),
        algorithms,
        extInfo: o.recvExtInfo ?? true,
        rekeyBytes: o.rekeyBytes,
        rekeyMs: o.rekeyMinutes * 60_000,
        now: Date.now,
        gex: o.dhGex && { request: o.dhGex },
      },
      channelDefaults: {
        initialWindow: DEFAULT_WINDOW,
        maxWindow: DEFAULT_MAX_WINDOW,
        maxPacket: DEFAULT_MAX_PACKET,
      },
      outputStallMs: o.limits?.outputStallTimeout,
      maxChannels: o.limits?.channels,
      pendingRequests: o.limits?.pendingRequests,
      windowBudget: o.limits?.windowBudget,
      idleTimeMs: o.idleTime,
      clientAuth: {
        user,
        methods: o.authMethodList.filter((m) => (CLIENT_AUTH_METHODS as readonly string[]).includes(m)),
        password: o.password,
        keyboardInteractive: o.keyboardInteractive,
        passwordChange: o.passwordChange,
        ...terminalPrompts(o, user, host),
        keys,
        skipped,
      },
    },
    {
      verifyHostKey: (_c, key, alg) => hostKeyDecision(o, api, ctx, knownHosts, host, port, key, alg),
      onDebug: (c, m) => o.sshMsgDebugFun?.(c, m.alwaysDisplay, m.message, m.language),
      onBanner: (_c, m) => {
        if (!o.quietMode) process.stderr.write(m);
      },
      onClose: (c, error) => {
        connections.delete(c);
        // Every disconnect, whoever started it.
        o.disconnectfun?.(error.message);
      },
      onUnexpected: (c, payload) => reportUnexpected(o.unexpectedfun, payload, c.info().peer),
    },
  );
  conn.start();
  conn.negotiationDeadline(timeout, 'connection negotiation');
  try {
    await conn.authenticated;
  } catch (e) {
    agent?.close();
    // Not destroy(): the DISCONNECT saying why (e.g. HOST_KEY_NOT_VERIFIABLE) must go out first,
    // and the rejection waits until it is with the operating system, so that a program exiting
    // right after it still tells the server why.
    await conn.close();
    throw e instanceof SshError ? namingPeer(e, host, port) : e;
  }
  agent?.close(); // only authentication uses it (agent forwarding is not built)
  connections.add(conn);
  return conn;
}

/**
 * A failed connect's error, its message prefixed with `host:port` unless it already names the
 * host: a program connecting to many hosts learns from the message which one failed.
 */
function namingPeer(e: SshError, host: string, port: number): SshError {
  if (!e.message.includes(host)) e.message = `${host}:${port}: ${e.message}`;
  return e;
}

/** Starts a daemon listening on every address (the seed's daemon/1,2); port 0 picks a free port. */
export function daemon(port: number, options?: DaemonOptions): Promise<Daemon>;
/** Starts a daemon on an address: an IP, 'loopback' or 'any' (the seed's daemon/3). */
export function daemon(host: string, port: number, options?: DaemonOptions): Promise<Daemon>;
/** Serves one already connected socket (the seed's daemon(Socket, Opts)). */
export function daemon(socket: Socket, options?: DaemonOptions): Promise<Daemon>;
export async function daemon(
  a: number | string | Socket,
  b?: number | DaemonOptions,
  c?: DaemonOptions,
): Promise<Daemon> {
  let d: Daemon;
  if (a instanceof Socket) d = await Daemon.start(undefined, a, b as DaemonOptions | undefined);
  else if (typeof a === 'number') d = await Daemon.start(undefined, a, b as DaemonOptions | undefined);
  else if (typeof a === 'string' && typeof b === 'number') {
    if (a !== 'any' && a !== 'loopback' && isIP(a) === 0 && a !== 'localhost') {
      throw new SshError(
        'BAD_OPTION',
        `daemon host must be an IP address, 'loopback' or 'any', got ${JSON.stringify(a)}`,
      );
    }
    d = await Daemon.start(a, b, c);
  } else {
    throw new SshError(
      'BAD_OPTION',
      'daemon takes (port, options?), (host, port, options?) or (socket, options?)',
    );
  }
  daemons.add(d);
  d.onStopped = () => daemons.delete(d);
  return d;
}

/** Closes a connection (the seed's close/1). */
export function close(connection: ConnectionRef): Promise<void> {
  return connection.close();
}

export type ConnectionInfoKey = keyof ConnectionInfo;

/** Information about a connection (the seed's connection_info/2): all of it, some keys, or one key's value. */
export function connectionInfo(connection: ConnectionRef): ConnectionInfo;
export function connectionInfo<K extends ConnectionInfoKey>(
  connection: ConnectionRef,
  keys: K[],
): Pick<ConnectionInfo, K>;
export function connectionInfo<K extends ConnectionInfoKey>(
  connection: ConnectionRef,
  key: K,
): ConnectionInfo[K];
export function connectionInfo(
  connection: ConnectionRef,
  keys?: ConnectionInfoKey | ConnectionInfoKey[],
): unknown {
  const all = connection.info();
  if (keys === undefined) return all;
  if (typeof keys === 'string') {
    if (!(keys in all)) throw new SshError('BAD_OPTION', `unknown connection info key '${keys}'`);
    return all[keys];
  }
  const out: Partial<ConnectionInfo> = {};
  for (const k of keys) {
    if (!(k in all)) throw new SshError('BAD_OPTION', `unknown connection info key '${k}'`);
    (out as Record<string, unknown>)[k] = all[k];
  }
  return out;
}

/** The daemon's address, port and profile (the seed's daemon_info/1). */
export async function daemonInfo(d: Daemon): Promise<DaemonInfo> {
  return d.info();
}

/** Every algorithm Seashell negotiates, in default order (the seed's default_algorithms/0). */
export function defaultAlgorithms(): AlgorithmSet {
  return registryDefaults();
}

/**
 * Whether a daemon listening on `listening` (what Node reports: '0.0.0.0', '::', an IP) is the one
 * `address` names in stopDaemon/stopListener: 'any', '0.0.0.0' and '::' name the wildcard listener,
 * 'loopback' and 'localhost' mean 127.0.0.1, and an IPv4 address also matches its IPv6-mapped form.
 */
export function listenAddressMatches(address: string, listening: string): boolean {
  const wildcard = (a: string) => a === 'any' || a === '0.0.0.0' || a === '::' || a === '';
  if (wildcard(address)) return wildcard(listening);
  const want = address === 'loopback' || address === 'localhost' ? '127.0.0.1' : address;
  return listening === want || listening === `::ffff:${want}`;
}

function findDaemons(address: string, port: number, profile?: string): Daemon[] {
  const found = [...daemons].filter((d) => {
    const i = d.info();
    return (
      listenAddressMatches(address, i.ip) &&
      i.port === port &&
      (profile === undefined || i.profile === profile)
    );
  });
  if (found.length === 0) {
    throw new SshError(
      'NOT_FOUND',
      `no daemon on ${address}:${port}${profile ? ` with profile ${profile}` : ''}`,
    );
  }
  return found;
}

/** Stops a daemon and all its connections (the seed's stop_daemon/1,2,3). */
export function stopDaemon(d: Daemon): Promise<void>;
export function stopDaemon(address: string, port: number, profile?: string): Promise<void>;
export async function stopDaemon(a: Daemon | string, port?: number, profile?: string): Promise<void> {
  const list = a instanceof Daemon ? [a] : findDaemons(a, port ?? -1, profile);
  await Promise.all(list.map((d) => d.stop()));
}

/** Stops a daemon's listener; its connections stay up (the seed's stop_listener/1,2,3). */
export function stopListener(d: Daemon): Promise<void>;
export function stopListener(address: string, port: number, profile?: string): Promise<void>;
export async function stopListener(a: Daemon | string, port?: number, profile?: string): Promise<void> {
  const list = a instanceof Daemon ? [a] : findDaemons(a, port ?? -1, profile);
  await Promise.all(list.map((d) => d.stopListener()));
}

/** Prepares the crypto that needs loading (the seed's start/0,1; there is no application to start in Node). */
export async function start(): Promise<void> {
  await loadPoly1305();
}

/** Stops every daemon and closes every client connection of this process (the seed's stop/0). */
export async function stop(): Promise<void> {
  await Promise.all([...daemons].map((d) => d.stop()));
  await Promise.all([...connections].map((c) => c.close()));
}

export { Daemon };
export { shell } from './client-shell.js';
