import { DisconnectReason, protocolError } from '../errors.js';
import { decodeUserauthRequest, encodeUserauthBanner, encodeUserauthFailure } from '../wire/auth-messages.js';
import { Msg } from '../wire/numbers.js';
import { decodeServiceName, encodeServiceAccept } from '../wire/transport-messages.js';
import { HostbasedServer } from './hostbased.js';
import { KbdIntServer } from './keyboard-interactive.js';
import {
  CONNECTION_SERVICE,
  USERAUTH_SERVICE,
  type ServerAuthConfig,
  type ServerAuthLink,
  type ServerAuthMethod,
  type ServerMethodContext,
  type Verdict,
} from './method.js';
import { NoneServer } from './none.js';
import { PasswordServer } from './password.js';
import { PublickeyServer } from './publickey.js';

export { MIN_USER_RSA_BITS } from './publickey.js';
export type { KbdIntData, PasswordVerdict, ServerAuthConfig, ServerAuthLink } from './method.js';

/** The methods this daemon implements. */
export const SERVER_AUTH_METHODS = ['publickey', 'keyboard-interactive', 'password'] as const;

/** Each method's server piece; a new method joins here. */
const METHODS: Record<string, () => ServerAuthMethod> = {
  none: () => new NoneServer(),
  password: () => new PasswordServer(),
  publickey: () => new PublickeyServer(),
  'keyboard-interactive': () => new KbdIntServer(),
  hostbased: () => new HostbasedServer(),
};

/** Failed attempts before the daemon disconnects (OpenSSH's MaxAuthTries default). */
export const MAX_AUTH_FAILURES = 6;

/**
 * RFC 4252 server core: accepts the ssh-userauth service, hands each request to its method's
 * piece and the messages 60-79 to the method whose exchange is under way, counts failures and
 * disconnects after too many, and reports success once a chain of methods is complete (partial
 * success otherwise, §5.1). One decision at a time: input stays paused while one is pending.
 */
export class ServerAuth implements ServerMethodContext {
  private serviceAccepted = false;
  private failures = 0;
  private authenticated = false;
  private busy = false;
  /**
   * The methods used so far (made on first use), dropped at success: an empty Map costs ~240 bytes
   * and an authenticated connection needs none.
   */
  private methodsByName: Map<string, ServerAuthMethod> | undefined;
  /** The method whose exchange is under way (it answered `continue`), and for whom. */
  private current: { name: string; method: ServerAuthMethod; user: string } | undefined;
  /** Methods that succeeded so far, for partial success, and the user they were for. */
  private passed: { user: string; methods: Set<string> } | undefined;

  constructor(
    readonly config: ServerAuthConfig,
    readonly link: ServerAuthLink,
  ) {}

  get isAuthenticated(): boolean {
    return this.authenticated;
  }

  send(payload: Buffer): void {
    this.link.send(payload);
  }

  /** Handles SERVICE_REQUEST and messages 50-79. */
  handle(payload: Buffer): void {
    const type = payload[0]!;
    if (type === Msg.SERVICE_REQUEST) {
      const name = decodeServiceName(payload);
      if (name !== USERAUTH_SERVICE || this.serviceAccepted) {
        this.link.disconnect(
          DisconnectReason.SERVICE_NOT_AVAILABLE,
          `service not available: ${name.slice(0, 64)}`,
        );
        return;
      }
      this.serviceAccepted = true;
      this.link.send(encodeServiceAccept(name));
      if (this.config.banner !== undefined) this.link.send(encodeUserauthBanner(this.config.banner));
      return;
    }
    if (!this.serviceAccepted)
      throw protocolError(`authentication message ${type} before the ssh-userauth service was accepted`);
    // RFC 4252 §5.1: requests after success are ignored.
    if (this.authenticated) return;
    if (this.busy) throw protocolError('authentication message while another is being decided');
    if (type !== Msg.USERAUTH_REQUEST) {
      const c = this.current;
      if (!c?.method.message)
        throw protocolError(`unexpected authentication message ${type} from the client`);
      this.decide(c.name, c.user, () => c.method.message!(payload, this));
      return;
    }
    const req = decodeUserauthRequest(payload);
    if (req.service !== CONNECTION_SERVICE) {
      this.link.disconnect(
        DisconnectReason.SERVICE_NOT_AVAILABLE,
        `service not available: ${req.service.slice(0, 64)}`,
      );
      return;
    }
    const name = req.method === 'other' ? req.name : req.method;
    // A new request ends the exchange under way with another method (RFC 4256 §3.1 says so for
    // keyboard-interactive; a publickey query's PK_OK stays good for its signed request).
    if (this.current && this.current.name !== name) this.current.method.abandon?.();
    this.current = undefined;
    if (name !== 'none' && !this.config.methods.includes(name)) {
      this.fail(req.user, name, 'method not offered');
      return;
    }
    const method = this.method(name)!;
    this.decide(name, req.user, () => method.request(req, this));
  }

  private method(name: string): ServerAuthMethod | undefined {
    const methods = (this.methodsByName ??= new Map());
    let m = methods.get(name);
    if (!m) {
      const make = METHODS[name];
      if (!make) return undefined;
      methods.set(name, (m = make()));
    }
    return m;
  }

  /** Runs one decision with input paused, then acts on its verdict. */
  private decide(name: string, user: string, run: () => Verdict | Promise<Verdict>): void {
    const verdict = run(); // throws on a malformed message: a protocol error
    if (!(verdict instanceof Promise)) {
      this.act(name, user, verdict);
      return;
    }
    this.busy = true;
    this.link.pauseInput();
    verdict
      .then(
        (v) => this.act(name, user, v),
        (e: unknown) => {
          // A key store or password check that fails is a failed attempt: the client must hear
          // USERAUTH_FAILURE (and the attempt counts), or it would wait for an answer forever.
          this.current = undefined;
          this.fail(user, name, `internal error: ${(e as Error)?.message ?? e}`);
        },
      )
      .finally(() => {
        this.busy = false;
        this.link.resumeInput();
      });
  }

  private act(name: string, user: string, v: Verdict): void {
    const method = this.methodsByName?.get(name);
    this.current = v.result === 'continue' && method ? { name, method, user } : undefined;
    switch (v.result) {
      case 'continue':
        return;
      case 'success':
        this.succeed(user, name);
        return;
      case 'disconnect':
        this.link.onFailure(user, name, v.why);
        this.link.disconnect(DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE, 'authentication refused');
        return;
      case 'failure':
        if (v.free) this.sendFailure();
        else this.fail(user, name, v.why);
        return;
    }
  }

  /** A method succeeded: the login is complete if a chain is, else a partial success (§5.1). */
  private succeed(user: string, method: string): void {
    const chains = this.config.chains;
    if (chains?.length) {
      if (this.passed?.user !== user) this.passed = { user, methods: new Set() };
      this.passed.methods.add(method);
      const done = this.passed.methods;
      if (!chains.some((c) => c.every((m) => done.has(m)))) {
        this.link.send(encodeUserauthFailure(this.canContinue(), true));
        return;
      }
    }
    this.authenticated = true;
    this.methodsByName = undefined;
    this.current = undefined;
    this.link.send(Buffer.from([Msg.USERAUTH_SUCCESS]));
    this.link.onSuccess(user, method);
  }

  private fail(user: string, method: string, why: string): void {
    this.link.onFailure(user, method, why);
    this.failures++;
    if (this.failures >= (this.config.maxFailures ?? MAX_AUTH_FAILURES)) {
      this.link.disconnect(
        DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE,
        'too many authentication failures',
      );
      return;
    }
    this.sendFailure();
  }

  /** USERAUTH_FAILURE with the methods that can continue (after a partial success, the rest of its chains). */
  private sendFailure(): void {
    this.link.send(encodeUserauthFailure(this.canContinue(), false));
  }

  /** The methods offered, less those passed and those no chain still open needs (RFC 4252 §5.1). */
  private canContinue(): readonly string[] {
    const done = this.passed?.methods;
    const chains = this.config.chains;
    if (!done || !chains) return this.config.methods;
    return this.config.methods.filter(
      (m) => !done.has(m) && chains.some((c) => c.includes(m) && [...done].every((d) => c.includes(d))),
    );
  }
}
