import { DisconnectReason, SshError, protocolError } from '../errors.js';
import { decodeUserauthBanner, decodeUserauthFailure } from '../wire/auth-messages.js';
import { Msg } from '../wire/numbers.js';
import { decodeServiceName, encodeServiceRequest } from '../wire/transport-messages.js';
import { KbdIntClient } from './keyboard-interactive.js';
import {
  USERAUTH_SERVICE,
  type ClientAuthConfig,
  type ClientAuthLink,
  type ClientAuthMethod,
  type ClientMethodContext,
} from './method.js';
import { NoneClient } from './none.js';
import { PasswordClient } from './password.js';
import { PublickeyClient } from './publickey.js';

export { CONNECTION_SERVICE, USERAUTH_SERVICE } from './method.js';
export type { ClientAuthConfig, ClientAuthLink, KbdIntAnswerer, PasswordChanger, UserKey } from './method.js';

/** The methods this client implements, in the seed's default order. */
export const CLIENT_AUTH_METHODS = ['publickey', 'keyboard-interactive', 'password'] as const;

/** Each method's client piece; a new method joins here. */
const METHODS: Record<string, () => ClientAuthMethod> = {
  publickey: () => new PublickeyClient(),
  'keyboard-interactive': () => new KbdIntClient(),
  password: () => new PasswordClient(),
};

/**
 * RFC 4252 client core: asks for the ssh-userauth service, then tries the methods of
 * `authMethods` in order (each method's piece sends its requests and reads its own messages
 * 60-79), skipping those the server does not list, following partial success (§5.1), until
 * success or nothing is left. When nothing can be tried first, `none` asks for the list.
 */
export class ClientAuth implements ClientMethodContext {
  private readonly methods: ClientAuthMethod[];
  private readonly none = new NoneClient();
  /** The method whose request is outstanding. */
  private current: ClientAuthMethod | undefined;
  private serviceAccepted = false;
  private finished = false;
  private partial = false;
  private readonly attempts: string[] = [];
  /** The server's methods, once a USERAUTH_FAILURE told them; before that every method may be tried. */
  private allowed: string[] | undefined;

  constructor(
    readonly config: ClientAuthConfig,
    readonly link: ClientAuthLink,
  ) {
    this.methods = config.methods.flatMap((m) => {
      const make = METHODS[m];
      return make ? [make()] : [];
    });
  }

  get done(): boolean {
    return this.finished;
  }

  get serverMethods(): readonly string[] | undefined {
    return this.allowed;
  }

  send(payload: Buffer): void {
    if (!this.finished) this.link.send(payload);
  }

  tried(what: string): void {
    if (this.attempts.length < 64) this.attempts.push(what);
  }

  giveUp(): void {
    if (!this.finished) this.next();
  }

  /**
   * Asks for ssh-userauth and, without waiting for SERVICE_ACCEPT (the server handles messages in
   * order, RFC 4253 §10), sends the first authentication request: a round trip saved. It goes
   * out after the rest of the received chunk is processed, which normally holds the server's
   * EXT_INFO (server-sig-algs decides the RSA signature algorithm).
   */
  start(): void {
    this.link.send(encodeServiceRequest(USERAUTH_SERVICE));
    queueMicrotask(() => {
      if (!this.finished && !this.current) this.next();
    });
  }

  /** Handles SERVICE_ACCEPT and messages 50-79. */
  handle(payload: Buffer): void {
    if (this.finished) return;
    const type = payload[0]!;
    if (type === Msg.SERVICE_ACCEPT) {
      const name = decodeServiceName(payload);
      if (name !== USERAUTH_SERVICE || this.serviceAccepted)
        throw protocolError(`unexpected SERVICE_ACCEPT for ${name}`);
      this.serviceAccepted = true;
      return;
    }
    if (!this.serviceAccepted)
      throw protocolError(`authentication message ${type} before the service was accepted`);
    switch (type) {
      case Msg.USERAUTH_BANNER:
        this.link.onBanner(decodeUserauthBanner(payload));
        return;
      case Msg.USERAUTH_SUCCESS:
        if (!this.current) throw protocolError('USERAUTH_SUCCESS without a request');
        this.finished = true;
        this.link.onSuccess(this.current.name);
        return;
      case Msg.USERAUTH_FAILURE: {
        if (!this.current) throw protocolError('USERAUTH_FAILURE without a request');
        const f = decodeUserauthFailure(payload);
        this.allowed = f.methods;
        if (f.partialSuccess) {
          // §5.1: that method worked; the server wants another one as well.
          this.partial = true;
          this.tried(`${this.current.name} (partial success)`);
        }
        this.next();
        return;
      }
      default:
        if (type >= 60 && type <= 79 && this.current?.message) {
          this.current.message(payload, this);
          return;
        }
        throw protocolError(`unexpected authentication message ${type}`);
    }
  }

  /** Sends the next request: the first method in order, allowed by the server, with something left to try. */
  private next(): void {
    for (const m of this.methods) {
      if (this.allowed && !this.allowed.includes(m.name)) continue;
      if (m.start(this)) {
        this.current = m;
        return;
      }
    }
    if (!this.current && this.none.start(this)) {
      // Nothing of ours to offer: the `none` request (RFC 4252 §5.2) may still succeed, and
      // otherwise tells which methods the server takes.
      this.current = this.none;
      return;
    }
    this.finished = true;
    this.link.onExhausted(
      new SshError(
        'AUTH_FAILED',
        `authentication failed for user '${this.config.user}': server accepts ${this.allowed?.join(', ') || 'nothing'}` +
          `${this.partial ? ' (after a partial success)' : ''}; ` +
          `tried ${this.attempts.join(', ') || 'nothing (no usable key or password)'}` +
          (this.config.skipped?.length ? `; skipped key files: ${this.config.skipped.join('; ')}` : '') +
          (this.config.unasked ? `; ${this.config.unasked}` : ''),
        { reason: DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE },
      ),
    );
  }
}
