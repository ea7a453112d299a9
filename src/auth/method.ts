import type { SshError } from '../errors.js';
import type { PrivateKey, PublicKey, SignatureAlgorithm } from '../keys/types.js';
import type { UserauthRequest } from '../wire/auth-messages.js';
import type { KbdIntPrompt } from '../wire/kbdint-messages.js';

/*
 * The seam between the authentication cores (client.ts, server.ts) and the methods. A core keeps
 * what RFC 4252 §5 makes common to every method: the service request, the method order, partial
 * success (§5.1), banners (§5.4), failure counting and the gate to the connection layer. A method
 * owns its requests and its own messages 60-79, whose meaning depends on the method (RFC 4252 §7
 * PK_OK, §8 PASSWD_CHANGEREQ, RFC 4256 §3.2 INFO_REQUEST): the core hands them to the method
 * whose exchange is under way and to no other.
 */

export const USERAUTH_SERVICE = 'ssh-userauth';
export const CONNECTION_SERVICE = 'ssh-connection';

// ---- client side ------------------------------------------------------------------------------

/** The `keyboardInteractive` client option: answers for one INFO_REQUEST (RFC 4256 §3.3). */
export type KbdIntAnswerer = (
  name: string,
  instruction: string,
  prompts: KbdIntPrompt[],
) => string[] | undefined | Promise<string[] | undefined>;

/** The `passwordChange` client option: a new password, or undefined to refuse (RFC 4252 §8). */
export type PasswordChanger = (prompt: string) => string | undefined | Promise<string | undefined>;

export interface ClientAuthConfig {
  user: string;
  /** The `authMethods` option: methods to try, in order. */
  methods: readonly string[];
  password?: string;
  /**
   * The user's keys, with the signature algorithms to try for each, in preference order. A key
   * held elsewhere (an ssh-agent) has no private half here and comes with its own `sign`.
   */
  keys: readonly UserKey[];
  /** Key files found but not usable, as `path: why`: named in AUTH_FAILED (never sent). */
  skipped?: readonly string[];
  keyboardInteractive?: KbdIntAnswerer;
  passwordChange?: PasswordChanger;
  /**
   * Asks the user for a password (on the terminal, without echo) when `password` is not given;
   * undefined: nobody could be asked. Tried once the server has said it takes passwords.
   */
  askPassword?: () => Promise<string | undefined>;
  /**
   * Answers an INFO_REQUEST that neither `keyboardInteractive` nor `password` can (on the
   * terminal); undefined: nobody could be asked, and keyboard-interactive is not tried again.
   */
  askKbdInt?: KbdIntAnswerer;
  /** Why nobody is asked for a password (no terminal, userInteraction false): named in AUTH_FAILED. */
  unasked?: string;
}

export interface UserKey {
  key: Pick<PrivateKey, 'type' | 'publicKey'> & Partial<PrivateKey>;
  algorithms: readonly SignatureAlgorithm[];
  /** Makes the signature blob when the private key is not here (an agent); may be slow. */
  sign?: (algorithm: SignatureAlgorithm, data: Buffer) => Promise<Buffer>;
}

export interface ClientAuthLink {
  send(payload: Buffer): void;
  sessionId(): Buffer;
  /** `server-sig-algs` from the server's EXT_INFO (RFC 8308 §3.1), if it sent one. */
  serverSigAlgs(): readonly string[] | undefined;
  onBanner(message: string): void;
  onSuccess(method: string): void;
  /** No method is left: the caller disconnects and fails the connect with this error. */
  onExhausted(error: SshError): void;
}

/** What a client method may do: send, and hand the turn back to the core. */
export interface ClientMethodContext {
  readonly config: ClientAuthConfig;
  readonly link: ClientAuthLink;
  send(payload: Buffer): void;
  /** Records an attempt for the AUTH_FAILED message. */
  tried(what: string): void;
  /** The method gives up its exchange (it cannot answer): the core tries the next method. */
  giveUp(): void;
  /** Whether authentication is over (an asynchronous answer arriving late sends nothing). */
  readonly done: boolean;
  /** The methods the server takes, once a USERAUTH_FAILURE has said; undefined before. */
  readonly serverMethods: readonly string[] | undefined;
}

/** One client authentication method. One instance per connection. */
export interface ClientAuthMethod {
  readonly name: string;
  /** Sends this method's next request and returns true, or returns false if it has nothing (left) to try. */
  start(ctx: ClientMethodContext): boolean;
  /** A message 60-79 while this method's request is the current one. */
  message?(payload: Buffer, ctx: ClientMethodContext): void;
}

// ---- server side ------------------------------------------------------------------------------

/** `'expired'`: right, but it must be changed first (the server sends PASSWD_CHANGEREQ, RFC 4252 §8). */
export type PasswordVerdict = boolean | 'disconnect' | 'expired';

/** The daemon's keyboard-interactive text (the seed's kb_int_tuple()). */
export interface KbdIntData {
  name: string;
  instruction: string;
  prompt: string;
  echo: boolean;
}

export interface ServerAuthConfig {
  /** Methods offered, in order (USERAUTH_FAILURE lists them). */
  methods: readonly string[];
  /** Public key algorithms accepted for user keys (also sent as server-sig-algs). */
  publicKeyAlgorithms: readonly string[];
  maxFailures?: number;
  /**
   * Method chains, as OpenSSH's AuthenticationMethods: a login is complete once every method of
   * one chain has succeeded; a success that completes no chain is a partial success (RFC 4252
   * §5.1). Default: any one method.
   */
  chains?: readonly (readonly string[])[];
  /** Sent as USERAUTH_BANNER (RFC 4252 §5.4) once the service is accepted. */
  banner?: string;
}

export interface ServerAuthLink {
  send(payload: Buffer): void;
  sessionId(): Buffer;
  /** Input stays paused while a decision is pending, so messages are handled strictly in order. */
  pauseInput(): void;
  resumeInput(): void;
  disconnect(reason: number, description: string): void;
  isAuthorizedKey(user: string, key: PublicKey): Promise<boolean>;
  checkPassword(user: string, password: string): Promise<PasswordVerdict>;
  /** Keyboard-interactive's text for this user; keyboard-interactive is refused without it. */
  kbdIntData?(user: string, service: string): KbdIntData | Promise<KbdIntData>;
  /** A password change (RFC 4252 §8); refused without it. */
  changePassword?(user: string, oldPassword: string, newPassword: string): Promise<PasswordVerdict>;
  onSuccess(user: string, method: string): void;
  onFailure(user: string, method: string, why: string): void;
}

/** A method's answer to a request or to one of its messages. */
export type Verdict =
  | { result: 'success' }
  /** `free`: not counted and not reported (the first `none`, RFC 4252 §5.2). */
  | { result: 'failure'; why: string; free?: boolean }
  /** The method answered with a message of its own and waits for the client's next move. */
  | { result: 'continue' }
  | { result: 'disconnect'; why: string };

export interface ServerMethodContext {
  readonly config: ServerAuthConfig;
  readonly link: ServerAuthLink;
  send(payload: Buffer): void;
}

/** One server authentication method. One instance per connection, made when first asked for. */
export interface ServerAuthMethod {
  /** A USERAUTH_REQUEST for this method. */
  request(req: UserauthRequest, ctx: ServerMethodContext): Verdict | Promise<Verdict>;
  /** A message 60-79 while this method's exchange is under way (it answered `continue`). */
  message?(payload: Buffer, ctx: ServerMethodContext): Verdict | Promise<Verdict>;
  /** Another request ended this method's exchange. */
  abandon?(): void;
}
