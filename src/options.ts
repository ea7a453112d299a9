import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ServerChannelHandler } from './channel/behaviour.js';
import type { ConnectionRef } from './channel/link.js';
import type { HandlerSpec } from './channel/session.js';
import { maxStartupsProblem, type MaxStartups } from './daemon/max-startups.js';
import { penaltyOptionProblem, type PenaltyOptions } from './daemon/penalties.js';
import { SshError } from './errors.js';
import { resolveKeyCb, type KeyCbModule, type KeyCbOption } from './keys/key-api.js';
import {
  resolveAlgorithms,
  withGexSettings,
  type AlgorithmSet,
  type AlgorithmsOption,
  type ModifyAlgorithmsOption,
} from './transport/algorithms.js';
import {
  checkDhGex,
  checkDhGexGroups,
  checkDhGexLimits,
  resolveDaemonGex,
  type DhGexGroupsOption,
  type DhGexOption,
} from './transport/kex/gex-options.js';
import { validateIdString, type IdStringOption } from './transport/version.js';

/** Fingerprint hashes for `silentlyAcceptHosts` (the seed's fp_digest_alg). */
export type FingerprintHash = 'md5' | 'sha' | 'sha224' | 'sha256' | 'sha384' | 'sha512';
/** Decides on an unknown host key: the peer's name and its fingerprint (one per hash asked for); true accepts (the seed's accept_callback()). */
export type AcceptCallback = (peerName: string, fingerprint: string | string[]) => boolean | Promise<boolean>;
/** The seed's accept_hosts(): a boolean, a callback, or [hash(es), callback]. */
export type AcceptHosts = boolean | AcceptCallback | [FingerprintHash | FingerprintHash[], AcceptCallback];

/** What an `exec` function returns: `{ ok: value }` prints the value, `{ error: reason }` reports a failure (the seed's exec_result()). */
export type ExecResult =
  | {
      /** The result: a string or Buffer is sent to stdout as is, anything else formatted; exit status 0. */
      ok: unknown;
    }
  | {
      /** The failure: formatted, sent to stderr with a newline; exit status -1. */
      error: unknown;
    };
/**
 * The seed's exec_fun/1,2,3. A function declaring one, two or three parameters is called with
 * that many (command; command and user; command, user and client address).
 */
export type ExecFun = (
  command: string,
  user: string,
  clientAddress: { address: string; port: number },
) => ExecResult | Promise<ExecResult>;

export type { HandlerSpec, MaxStartups, PenaltyOptions };

/**
 * The seed's shell_fun/1,2: given the user (and the client's address), the handler that serves
 * the shell (a ServerChannelHandler, or [handler, initArgs]).
 */
export type ShellFun =
  | ((user: string) => HandlerSpec | Promise<HandlerSpec>)
  | ((user: string, peer: { address: string; port: number }) => HandlerSpec | Promise<HandlerSpec>);

/**
 * The `shell` daemon option: a ShellFun, or the seed's mod_fun_args() as
 * `[module, functionName, args]` (`module[functionName](...args)` returns the handler). Pass
 * `defaultShell` to name the default shell, the Node REPL.
 */
export type ShellOption = ShellFun | [module: Record<string, unknown>, functionName: string, args: unknown[]];

/** A 4-argument pwdfun's answer: true/false, `'disconnect'`, or `[ok, newState]` to keep state across attempts (the seed's pwdfun_4()). */
export type PwdFunVerdict = boolean | 'disconnect' | [boolean, unknown];
/** The seed's pwdfun: checks a password, `(user, password)` or `(user, password, peer, state)`; may be async. */
export type PwdFun =
  | ((user: string, password: string) => boolean | Promise<boolean>)
  | ((
      user: string,
      password: string,
      peer: { address: string; port: number },
      state: unknown,
    ) => PwdFunVerdict | Promise<PwdFunVerdict>);

/** The seed's kb_int_tuple(): [name, instruction, prompt, echo]. */
export type KbdIntTuple = [name: string, instruction: string, prompt: string, echo: boolean];
/** The seed's prompt_texts(): a tuple, or kb_int_fun_3() called at each keyboard-interactive request. */
export type KbdIntDataOption =
  | KbdIntTuple
  | ((
      peer: { address: string; port: number },
      user: string,
      service: string,
    ) => KbdIntTuple | Promise<KbdIntTuple>);

/** When to re-key: a byte count, or `{ minutes, bytes }` (the seed's rekey_limit). */
export type RekeyLimit =
  | number
  | {
      /** Re-key after this many minutes (default 60; `Infinity` never by time). */
      minutes?: number;
      /** Re-key after this many bytes (default 1 GiB; `Infinity` never by volume). */
      bytes?: number;
    };

/**
 * Resource limits beyond the seed's options (Seashell's own; both sides): what one peer can make
 * this end hold. Every field has a finite default; see README's security section.
 */
export interface Limits {
  /**
   * Milliseconds a peer may leave our output unread, while more than 1 MiB of it waits, before it
   * is disconnected (default 60000; any progress restarts the clock, so slow readers are not cut).
   */
  outputStallTimeout?: number;
  /** Channels open at once on one connection, of every type (default 64); more are refused. */
  channels?: number;
  /**
   * Requests (channel and global) that may wait for our answer at once; beyond it the peer's
   * messages are not read until answers go out (default 64).
   */
  pendingRequests?: number;
  /** Environment variables one session channel may set (default 32). */
  envCount?: number;
  /** Bytes of one environment variable, name and value together (default 8192). */
  envBytes?: number;
  /**
   * Bytes the peer may have in flight to us or parked unread across all channels of a connection:
   * the receive windows we advertise plus data not yet consumed (default 32 MiB, eight full
   * windows). Channels past it open with a smaller window and get more as others free it.
   */
  windowBudget?: number;
}

/** Defaults of `Limits`. */
export const LIMIT_DEFAULTS = {
  outputStallTimeout: 60_000,
  channels: 64,
  pendingRequests: 64,
  envCount: 32,
  envBytes: 8192,
  windowBudget: 32 * 1024 * 1024,
} as const;

/** Options both `connect` and `daemon` take (the seed's common_options()). */
export interface CommonOptions {
  /**
   * Directory of known_hosts, id_* keys and authorized_keys (default `~/.ssh`); `false`: none, no
   * such file is read or written (keys and host keys then come only from `keyCb`).
   */
  userDir?: string | false;
  /** Close an authenticated connection that has had no channel open for this many ms (default Infinity). */
  idleTime?: number;
  /** The IP version for the host `'any'` (daemon) or a host name (client): `'inet'` or `'inet6'`. */
  inet?: 'inet' | 'inet6';
  /**
   * A file descriptor to use instead of opening a socket: a listening socket for a daemon, a
   * connected one for a client (the host and port arguments are then not used to connect).
   */
  fd?: number;
  /** The software-version part of our identification line. */
  idString?: IdStringOption;
  /** Algorithms to offer, in order, per category (the seed's preferred_algorithms); a missing category keeps the default. */
  preferredAlgorithms?: AlgorithmsOption;
  /** Changes to the offered algorithms: append, prepend, rm, applied in order after preferredAlgorithms (the seed's modify_algorithms). */
  modifyAlgorithms?: ModifyAlgorithmsOption;
  /** Comma-separated methods, in order (default "publickey,keyboard-interactive,password"). */
  authMethods?: string;
  /**
   * Key handling callbacks (the seed's key_cb): a module-like object (or class instance) with
   * some of `ClientKeyApi` / `ServerKeyApi`, or `[module, opts]`, opts then reaching each callback
   * as `ctx.keyCbPrivate` beside the options given (`ctx.options`). The default reads OpenSSH
   * files (`sshFile`); callbacks the module lacks come from there.
   */
  keyCb?: KeyCbOption;
  /** Re-key after this many bytes, or {minutes, bytes} (default 1 hour and 1 GiB). */
  rekeyLimit?: RekeyLimit;
  /** Called with every SSH_MSG_DEBUG (RFC 4253 §11.3). */
  sshMsgDebugFun?: (
    connection: ConnectionRef,
    alwaysDisplay: boolean,
    message: string,
    language: string,
  ) => void;
  /** Called once when the connection ends, whoever ended it (the peer, this side, a lost socket). */
  disconnectfun?: (reason: string) => void;
  /**
   * Called with a message nothing handles (answered SSH_MSG_UNIMPLEMENTED, RFC 4253 §11.4) and the
   * peer's address; `'report'` (or anything but `'skip'`) logs it at debug level (NODE_DEBUG=seashell).
   */
  unexpectedfun?: (
    message: { type: number; payload: Buffer },
    peer: { address: string; port: number },
  ) => 'report' | 'skip';
  /** A name that, with the address and port, tells daemons apart (the seed's profile; `daemonInfo` reports it). */
  profile?: string;
  /** Resource limits beyond the seed's options (see `Limits`). */
  limits?: Limits;
}

/** Options of `connect` (the seed's client_options()). */
export interface ClientOptions extends CommonOptions {
  /** The user name to log in as (the seed's user; default the local user). */
  user?: string;
  /** The password for password and single-prompt keyboard-interactive authentication (the seed's password). */
  password?: string;
  /**
   * The ssh-agent whose keys to try before the key files: a Unix socket path, true for
   * `SSH_AUTH_SOCK` (the default), false for none.
   */
  agent?: boolean | string;
  /** Passphrase of an encrypted `id_rsa` (the seed's rsa_pass_phrase). */
  rsaPassPhrase?: string;
  /** Passphrase of an encrypted `id_ecdsa` (the seed's ecdsa_pass_phrase). */
  ecdsaPassPhrase?: string;
  /** Passphrase of an encrypted `id_dsa` (the seed's dsa_pass_phrase). */
  dsaPassPhrase?: string;
  /** Passphrase of an encrypted `id_ed25519` (Seashell's, beside the seed's three). */
  ed25519PassPhrase?: string;
  /** Passphrase of an encrypted `id_ed448` (Seashell's). */
  ed448PassPhrase?: string;
  /**
   * Accept unknown host keys without asking: true, a callback, or `[hash(es), callback]` (the
   * seed's silently_accept_hosts). `false` is the default: ask on the terminal (`userInteraction`).
   */
  silentlyAcceptHosts?: AcceptHosts;
  /**
   * Ask on the terminal (/dev/tty) when nothing else decides (default true): whether to trust an
   * unknown host key when `silentlyAcceptHosts` is not given, a password (without echo, as
   * OpenSSH asks `user@host's password: `) when `password` is not given, and keyboard-interactive
   * prompts that neither `keyboardInteractive` nor `password` answers (echoed as the server says).
   * Without a terminal nobody is asked: the key is refused, and AUTH_FAILED says no one was asked.
   */
  userInteraction?: boolean;
  /** Append an accepted host key to known_hosts (the seed's save_accepted_host; default true). */
  saveAcceptedHost?: boolean;
  /** Save accepted host keys with hashed host names, as OpenSSH's HashKnownHosts (default false). */
  hashKnownHosts?: boolean;
  /** Print nothing during login, such as the server's banner (the seed's quiet_mode; default false). */
  quietMode?: boolean;
  /** User key algorithms to try, in order (the seed's pref_public_key_algs). */
  prefPublicKeyAlgs?: string[];
  /** TCP connect timeout in ms (default Infinity). */
  connectTimeout?: number;
  /** Offer ext-info-c (RFC 8308; default true). */
  recvExtInfo?: boolean;
  /** Group sizes asked for in diffie-hellman-group-exchange, [min, n, max] (default [1024, 6144, 8192]). */
  dhGex?: DhGexOption;
  /**
   * Answers keyboard-interactive prompts (RFC 4256): called with each INFO_REQUEST's name,
   * instruction and prompts, returns one answer per prompt (undefined gives up the method). A
   * request with no prompts (sshd's PAM sends one once the password is checked) is answered with
   * an empty response whatever array it returns. Without it, a single prompt that does not echo is
   * answered with `password`.
   */
  keyboardInteractive?: (
    name: string,
    instruction: string,
    prompts: { prompt: string; echo: boolean }[],
  ) => string[] | undefined | Promise<string[] | undefined>;
  /**
   * Answers the server's password change request (RFC 4252 §8) with a new password; undefined
   * (or no callback) refuses, and the next method is tried.
   */
  passwordChange?: (prompt: string) => string | undefined | Promise<string | undefined>;
}

/**
 * A daemon's `userDir` given per user: the directory whose `authorized_keys` may authenticate
 * `user`, or false for none (the user then logs in by password or `keyCb` only). The name is
 * what the client sent, unchecked: never build a path from it without checking it first.
 */
export type UserDirFun = (user: string) => string | false | Promise<string | false>;

/** Options of `daemon` (the seed's daemon_options()). */
export interface DaemonOptions extends Omit<CommonOptions, 'userDir'> {
  /**
   * The seed's user_dir: one directory (default `~/.ssh`) whose `authorized_keys` authorize a
   * key for every user name, as the seed has it; `false`: none (keys only through `keyCb`). A
   * function (Seashell's, `UserDirFun`) tells users apart: each user name gets its own directory,
   * or none.
   */
  userDir?: string | false | UserDirFun;
  /** Directory of the host keys (default `/etc/ssh`). */
  systemDir?: string;
  /** Users and their passwords (the seed's user_passwords). */
  userPasswords?: [user: string, password: string][];
  /** One password any user name may log in with (the seed's password; for tests and demos). */
  password?: string;
  /** Checks passwords itself, instead of userPasswords (the seed's pwdfun). */
  pwdfun?: PwdFun;
  /**
   * Keyboard-interactive's text (the seed's auth_method_kb_interactive_data): default
   * `['SSH server', 'Enter password for "<user>"', 'password: ', false]`. The answer is checked
   * as a password (pwdfun, userPasswords, password).
   */
  authMethodKbInteractiveData?: KbdIntDataOption;
  /** Serves exec requests with a function of the command (the seed's exec option with direct exec_fun); default: JavaScript evaluated in a worker. */
  exec?: ExecFun;
  /**
   * Milliseconds the default evaluator lets one exec run before stopping it (default 60000;
   * Infinity for none). Seashell's own option: each evaluation runs in a worker thread.
   */
  evalTimeLimit?: number;
  /** Heap limit in MiB of the worker of each default evaluation and default shell (default 256). */
  evalMemoryLimit?: number;
  /** The shell's handler (the seed's shell option; default: the Node REPL). */
  shell?: ShellOption;
  /** A ServerChannelHandler that serves shell and exec itself (the seed's ssh_cli), or 'noCli' for neither. */
  sshCli?: HandlerSpec | 'noCli';
  /** Subsystems served, by name (the seed's subsystems; default: sftp). */
  subsystems?: [name: string, spec: HandlerSpec][];
  /** Offer ext-info-s and send server-sig-algs (RFC 8308; default true). */
  sendExtInfo?: boolean;
  /** Groups offered in diffie-hellman-group-exchange (default: RFC 3526's 2048-8192-bit groups). */
  dhGexGroups?: DhGexGroupsOption;
  /** Group sizes a client may get, [min, max] (default [1024, 8192]). */
  dhGexLimits?: [number, number];
  /**
   * Environment variables a session accepts, by name or `*` / `?` pattern, as OpenSSH's AcceptEnv
   * (default `['LANG', 'LC_*']`); others are refused. `limits.envCount`/`envBytes` bound them.
   */
  acceptEnv?: string[];
  /**
   * Give a session the `environment="NAME=value"` options of the authorized_keys line its key
   * logged in with, as OpenSSH's PermitUserEnvironment (default false: they are ignored, since a
   * user who can write authorized_keys could otherwise set LD_PRELOAD and the like for whatever
   * the daemon runs). They reach the CLI as env messages, after the client's and not limited by
   * `acceptEnv`.
   */
  permitUserEnvironment?: boolean;
  /** Milliseconds a client has to log in (default 120000). */
  negotiationTimeout?: number;
  /**
   * The most connections at once, authenticated or not (the seed's max_sessions). Unlike
   * `maxStartups`, it counts logged-in users too: idle unauthenticated sockets can fill it.
   */
  maxSessions?: number;
  /**
   * Unauthenticated connections allowed at once, as OpenSSH's MaxStartups: a number, or
   * `[start, rate, full]` (default `[10, 30, 100]`: from 10 on, new ones are refused with
   * probability 30% rising to 100% at 100). Refused connections get a DISCONNECT
   * TOO_MANY_CONNECTIONS.
   */
  maxStartups?: MaxStartups;
  /** Unauthenticated connections one source address may hold at once (default 10; Infinity for no cap). */
  perSourceMaxStartups?: number;
  /**
   * Penalties per source address, as OpenSSH's PerSourcePenalties (default true: on with the
   * defaults of `PenaltyOptions`); false turns them off. A penalised source's new connections
   * get a DISCONNECT HOST_NOT_ALLOWED_TO_CONNECT until its penalty runs out.
   */
  perSourcePenalties?: boolean | PenaltyOptions;
  /**
   * The seed's parallel_login. False (the default): one login is decided at a time across the
   * daemon (each key lookup or password check waits its turn; nobody is dropped). True: in
   * parallel, bounded by maxSessions, maxStartups and perSourceMaxStartups.
   */
  parallelLogin?: boolean;
  /** The most channels with a running subsystem per connection (the seed's max_channels; default Infinity). */
  maxChannels?: number;
  /** The least maximum packet size a client may give in a channel open; smaller is refused (the seed's minimal_remote_max_packet_size). */
  minimalRemoteMaxPacketSize?: number;
  /** Called after a user logs in: user, peer address and method (the seed's connectfun). */
  connectfun?: (user: string, peer: { address: string; port: number }, method: string) => void;
  /** Called after each failed login attempt: user, peer address and reason (the seed's failfun). */
  failfun?: (user: string, peer: { address: string; port: number }, reason: string) => void;
}

type Check = (value: unknown, name: string) => void;

const fail = (name: string, want: string, value: unknown): never => {
  const shown = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  throw new SshError('BAD_OPTION', `option ${name} must be ${want}, got ${shown}`);
};

const isString: Check = (v, n) => void (typeof v === 'string' || fail(n, 'a string', v));
const isBoolean: Check = (v, n) => void (typeof v === 'boolean' || fail(n, 'a boolean', v));
const isFunction: Check = (v, n) => void (typeof v === 'function' || fail(n, 'a function', v));
const isObject: Check = (v, n) => void ((typeof v === 'object' && v !== null) || fail(n, 'an object', v));
const isArray: Check = (v, n) => void (Array.isArray(v) || fail(n, 'an array', v));
const isTimeout: Check = (v, n) =>
  void (
    v === Infinity ||
    (typeof v === 'number' && Number.isInteger(v) && v >= 0) ||
    fail(n, 'a non-negative integer of milliseconds or Infinity', v)
  );
const isPositiveInt: Check = (v, n) =>
  void ((typeof v === 'number' && Number.isInteger(v) && v >= 1) || fail(n, 'a positive integer', v));
const isIdString: Check = (v) => void validateIdString(v);
const isAuthMethods: Check = (v, n) => {
  isString(v, n);
  const known = ['publickey', 'keyboard-interactive', 'password'];
  for (const m of (v as string).split(',')) {
    if (!known.includes(m)) fail(n, `a comma-separated list of ${known.join(', ')}`, v);
  }
};
const isAcceptHosts: Check = (v, n) => {
  if (typeof v === 'boolean' || typeof v === 'function') return;
  const hashes = ['md5', 'sha', 'sha224', 'sha256', 'sha384', 'sha512'];
  if (Array.isArray(v) && v.length === 2 && typeof v[1] === 'function') {
    const h = v[0];
    if (
      (typeof h === 'string' && hashes.includes(h)) ||
      (Array.isArray(h) && h.every((x) => hashes.includes(x)))
    )
      return;
  }
  fail(n, 'a boolean, a function (peerName, fingerprint) => boolean, or [hash, function]', v);
};
const isRekeyLimit: Check = (v, n) => {
  const ok = (x: unknown) =>
    x === undefined || x === Infinity || (typeof x === 'number' && Number.isInteger(x) && x >= 0);
  if (
    typeof v === 'number'
      ? ok(v)
      : typeof v === 'object' &&
        v !== null &&
        ok((v as { bytes?: unknown }).bytes) &&
        ok((v as { minutes?: unknown }).minutes)
  )
    return;
  fail(n, 'a byte count or { minutes, bytes }', v);
};
const isHandlerSpec = (v: unknown, n: string): void => {
  const isHandler = (h: unknown) =>
    typeof h === 'object' &&
    h !== null &&
    typeof (h as ServerChannelHandler<unknown>).handleSshMsg === 'function';
  if (isHandler(v) || (Array.isArray(v) && v.length === 2 && isHandler(v[0]) && Array.isArray(v[1]))) return;
  fail(n, 'a channel handler ({init, handleSshMsg, handleMsg, terminate}) or [handler, args]', v);
};
const isSshCli: Check = (v, n) => (v === 'noCli' ? undefined : isHandlerSpec(v, n));
const isShell: Check = (v, n) => {
  if (typeof v === 'function') return;
  if (
    Array.isArray(v) &&
    v.length === 3 &&
    typeof v[0] === 'object' &&
    v[0] !== null &&
    typeof v[1] === 'string' &&
    typeof (v[0] as Record<string, unknown>)[v[1]] === 'function' &&
    Array.isArray(v[2])
  )
    return;
  fail(n, 'a function (user[, peer]) => handler, or [module, functionName, args]', v);
};
const isSubsystems: Check = (v, n) => {
  isArray(v, n);
  for (const e of v as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string')
      fail(n, 'an array of [name, handler]', v);
    isHandlerSpec((e as unknown[])[1], `${n}[${String((e as unknown[])[0])}]`);
  }
};
const isUserPasswords: Check = (v, n) => {
  isArray(v, n);
  for (const e of v as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'string') {
      fail(n, 'an array of [user, password] pairs', v);
    }
  }
};
const isStringArray: Check = (v, n) => {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(n, 'an array of strings', v);
};
const accept: Check = () => {};
const isLimits: Check = (v, n) => {
  isObject(v, n);
  const fields: Record<string, Check> = {
    outputStallTimeout: isTimeout,
    channels: isPositiveInt,
    pendingRequests: isPositiveInt,
    envCount: isPositiveInt,
    envBytes: isPositiveInt,
    windowBudget: isPositiveInt,
  };
  for (const [k, x] of Object.entries(v as object)) {
    if (x === undefined) continue;
    const check = fields[k];
    if (!check) fail(`${n}.${k}`, `one of the limits ${Object.keys(fields).join(', ')}`, x);
    check!(x, `${n}.${k}`);
  }
};

const COMMON: Record<string, Check> = {
  userDir: (v, n) => void (v === false || isString(v, n)),
  idleTime: isTimeout,
  inet: (v, n) => void (v === 'inet' || v === 'inet6' || fail(n, "'inet' or 'inet6'", v)),
  fd: (v, n) =>
    void ((typeof v === 'number' && Number.isInteger(v) && v >= 0) || fail(n, 'a file descriptor number', v)),
  idString: isIdString,
  preferredAlgorithms: accept, // checked by resolveAlgorithms
  modifyAlgorithms: accept,
  authMethods: isAuthMethods,
  keyCb: (v, n) => {
    const isModule = (m: unknown): boolean =>
      (typeof m === 'object' && m !== null) || typeof m === 'function';
    if (Array.isArray(v) ? v.length !== 2 || !isModule(v[0]) : !isModule(v))
      fail(n, 'a key API object, or [object, private options]', v);
  },
  rekeyLimit: isRekeyLimit,
  sshMsgDebugFun: isFunction,
  disconnectfun: isFunction,
  unexpectedfun: isFunction,
  profile: isString,
  limits: isLimits,
};

const CLIENT: Record<string, Check> = {
  ...COMMON,
  user: isString,
  password: isString,
  silentlyAcceptHosts: isAcceptHosts,
  userInteraction: isBoolean,
  saveAcceptedHost: isBoolean,
  hashKnownHosts: isBoolean,
  quietMode: isBoolean,
  prefPublicKeyAlgs: isStringArray,
  agent: (v, n) =>
    void (typeof v === 'boolean' || typeof v === 'string' || fail(n, 'a boolean or a socket path', v)),
  rsaPassPhrase: isString,
  ecdsaPassPhrase: isString,
  ed25519PassPhrase: isString,
  dsaPassPhrase: isString,
  ed448PassPhrase: isString,
  connectTimeout: isTimeout,
  recvExtInfo: isBoolean,
  dhGex: checkDhGex,
  keyboardInteractive: isFunction,
  passwordChange: isFunction,
};

const DAEMON: Record<string, Check> = {
  ...COMMON,
  userDir: (v, n) => void (v === false || typeof v === 'function' || isString(v, n)),
  systemDir: isString,
  userPasswords: isUserPasswords,
  password: isString,
  pwdfun: isFunction,
  authMethodKbInteractiveData: (v, n) => {
    if (typeof v === 'function') return;
    if (
      Array.isArray(v) &&
      v.length === 4 &&
      v.slice(0, 3).every((x) => typeof x === 'string') &&
      typeof v[3] === 'boolean'
    )
      return;
    fail(n, 'a [name, instruction, prompt, echo] tuple or a function (peer, user, service) returning one', v);
  },
  exec: isFunction,
  shell: isShell,
  acceptEnv: isStringArray,
  permitUserEnvironment: isBoolean,
  evalTimeLimit: (v, n) =>
    void (
      v === Infinity ||
      (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 2 ** 31 - 1) ||
      fail(n, 'a positive integer of milliseconds (at most 2147483647) or Infinity', v)
    ),
  evalMemoryLimit: (v, n) =>
    void (
      (typeof v === 'number' && Number.isInteger(v) && v >= 16 && v <= 65536) ||
      fail(n, 'an integer number of MiB from 16 to 65536', v)
    ),
  sshCli: isSshCli,
  subsystems: isSubsystems,
  sendExtInfo: isBoolean,
  dhGexGroups: checkDhGexGroups,
  dhGexLimits: checkDhGexLimits,
  negotiationTimeout: isTimeout,
  maxSessions: isPositiveInt,
  maxStartups: (v, n) => {
    const why = maxStartupsProblem(v);
    if (why) fail(n, why, v);
  },
  perSourceMaxStartups: (v, n) => void (v === Infinity || isPositiveInt(v, n)),
  perSourcePenalties: (v, n) => {
    const why = penaltyOptionProblem(v);
    if (why) fail(n, why, v);
  },
  parallelLogin: isBoolean,
  maxChannels: isPositiveInt,
  minimalRemoteMaxPacketSize: isPositiveInt,
  connectfun: isFunction,
  failfun: isFunction,
};

/** Seed options that Seashell does not build yet: refused by name rather than silently ignored. */
const NOT_BUILT: Record<string, string> = {};

function validate(kind: string, schema: Record<string, Check>, opts: unknown): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new SshError('BAD_OPTION', `${kind} options must be an object`);
  }
  for (const [name, value] of Object.entries(opts)) {
    if (value === undefined) continue;
    const check = schema[name];
    if (!check) {
      const why = NOT_BUILT[name];
      throw new SshError(
        'BAD_OPTION',
        why ? `option ${name} is not supported yet: ${why}` : `unknown ${kind} option '${name}'`,
      );
    }
    check(value, name);
  }
}

let account: string | undefined;

/** The process's account name from the password database: a getpwuid per call, so kept. */
function accountName(): string {
  account ??= userInfo().username;
  return account;
}

export function defaultUser(): string {
  return process.env.LOGNAME || process.env.USER || process.env.USERNAME || accountName();
}

export function defaultUserDir(): string {
  return join(homedir(), '.ssh');
}

export interface ResolvedCommon {
  algorithms: AlgorithmSet;
  /** The user directory ('' when `userDir` is false: see `noUserDir`). */
  userDir: string;
  /** `userDir: false`: no file of the user directory is read or written. */
  noUserDir: boolean;
  authMethodList: string[];
  rekeyBytes: number;
  rekeyMinutes: number;
  /** The keyCb module's callbacks, bound (see resolveKeyCb). */
  keyCb: KeyCbModule | undefined;
  /** `keyCb: [module, opts]`: the opts (the seed's key_cb_private). */
  keyCbPrivate: unknown;
  /** The options as given, for the key callbacks' context. */
  userOptions: Readonly<Record<string, unknown>>;
}

function resolveCommon(o: CommonOptions): ResolvedCommon {
  const limit = o.rekeyLimit;
  // The seed: Bytes alone means "or at latest after one hour"; defaults are one hour and 1 GiB.
  const rekeyBytes = typeof limit === 'number' ? limit : (limit?.bytes ?? 1024 ** 3);
  const rekeyMinutes = typeof limit === 'number' ? 60 : (limit?.minutes ?? 60);
  const keyCb = resolveKeyCb(o.keyCb);
  return {
    algorithms: resolveAlgorithms(o.preferredAlgorithms, o.modifyAlgorithms),
    userDir: o.userDir === false ? '' : (o.userDir ?? defaultUserDir()),
    noUserDir: o.userDir === false,
    authMethodList: (o.authMethods ?? 'publickey,keyboard-interactive,password').split(','),
    rekeyBytes,
    rekeyMinutes,
    keyCb: keyCb.module,
    keyCbPrivate: keyCb.keyCbPrivate,
    userOptions: o as Readonly<Record<string, unknown>>,
  };
}

export function resolveClientOptions(
  opts: ClientOptions | undefined,
): Omit<ClientOptions, 'keyCb'> & ResolvedCommon {
  validate('client', CLIENT, opts);
  const o = opts ?? {};
  return { ...o, ...resolveCommon(o) };
}

export function resolveDaemonOptions(
  opts: DaemonOptions | undefined,
): Omit<DaemonOptions, 'userDir' | 'keyCb'> & ResolvedCommon & { userDirFor?: UserDirFun } {
  validate('daemon', DAEMON, opts);
  const o = opts ?? {};
  const userDirFor = typeof o.userDir === 'function' ? o.userDir : undefined;
  // A per-user userDir: no one directory ('' as with false), each user's asked for when needed.
  const r = {
    ...resolveCommon({ ...o, userDir: typeof o.userDir === 'function' ? false : o.userDir }),
    ...(userDirFor ? { noUserDir: false, userDirFor } : {}),
    userOptions: o as Readonly<Record<string, unknown>>,
  };
  // The groups reach the transport with the algorithm lists (see gexSettingsOf).
  const gex = resolveDaemonGex(o.dhGexGroups, o.dhGexLimits, (f) => readFileSync(f, 'utf8'));
  if (gex) withGexSettings(r.algorithms, gex);
  return { ...o, ...r };
}
