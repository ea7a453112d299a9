import { DisconnectReason, SshError, protocolError } from '../errors.js';
import { signatureAlgorithmFits, signData } from '../keys/signature.js';
import type { PrivateKey, SignatureAlgorithm } from '../keys/types.js';
import {
  decodeUserauthBanner,
  decodeUserauthFailure,
  decodeUserauthPkOk,
  encodeUserauthNone,
  encodeUserauthPassword,
  encodeUserauthPublickey,
  publickeySignedData,
} from '../wire/auth-messages.js';
import { Msg } from '../wire/numbers.js';
import { decodeServiceName, encodeServiceRequest } from '../wire/transport-messages.js';

export const USERAUTH_SERVICE = 'ssh-userauth';
export const CONNECTION_SERVICE = 'ssh-connection';

/** The methods this client implements, in the seed's default order. */
export const CLIENT_AUTH_METHODS = ['publickey', 'password'] as const;

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

type Attempt =
  | { method: 'none' }
  | { method: 'password' }
  | { method: 'publickey'; key: UserKey; algorithm: SignatureAlgorithm; signed: boolean };

/**
 * RFC 4252 client: asks for the ssh-userauth service, learns the server's methods with a `none`
 * request, then tries publickey (query first, sign on PK_OK, §7) and password (§8) in the order
 * of `authMethods`, until success or nothing is left.
 */
export class ClientAuth {
  private attempt: Attempt | undefined;
  private serviceAccepted = false;
  private nextKey = 0;
  private passwordTried = false;
  private done = false;
  private readonly tried: string[] = [];
  /** The server's methods, once a USERAUTH_FAILURE told them; before that every method may be tried. */
  private allowed: string[] | undefined;

  constructor(
    private readonly config: ClientAuthConfig,
    private readonly link: ClientAuthLink,
  ) {}

  /**
   * Asks for ssh-userauth and, without waiting for SERVICE_ACCEPT (the server handles messages in
   * order, RFC 4253 §10), sends the first authentication request: a round trip saved. It goes
   * out after the rest of the received chunk is processed, which normally holds the server's
   * EXT_INFO (server-sig-algs decides the RSA signature algorithm).
   */
  start(): void {
    this.link.send(encodeServiceRequest(USERAUTH_SERVICE));
    queueMicrotask(() => {
      if (!this.done && !this.attempt) this.next();
    });
  }

  /** Handles SERVICE_ACCEPT and messages 50-79. */
  handle(payload: Buffer): void {
    if (this.done) return;
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
        if (!this.attempt) throw protocolError('USERAUTH_SUCCESS without a request');
        this.done = true;
        this.link.onSuccess(this.attempt.method);
        return;
      case Msg.USERAUTH_FAILURE: {
        if (!this.attempt) throw protocolError('USERAUTH_FAILURE without a request');
        this.allowed = decodeUserauthFailure(payload).methods;
        this.next();
        return;
      }
      case 60: {
        const a = this.attempt;
        if (a?.method === 'publickey' && !a.signed) {
          const ok = decodeUserauthPkOk(payload);
          if (ok.algorithm !== a.algorithm || !ok.keyBlob.equals(a.key.key.publicKey.blob)) {
            throw protocolError('USERAUTH_PK_OK for a key that was not offered');
          }
          this.sign(a);
          return;
        }
        if (a?.method === 'password') {
          // SSH_MSG_USERAUTH_PASSWD_CHANGEREQ: we cannot change it; count it as a failure.
          this.next();
          return;
        }
        throw protocolError('unexpected message 60 during authentication');
      }
      default:
        throw protocolError(`unexpected authentication message ${type}`);
    }
  }

  private sign(a: Extract<Attempt, { method: 'publickey' }>): void {
    const blob = a.key.key.publicKey.blob;
    const data = publickeySignedData(
      this.link.sessionId(),
      this.config.user,
      CONNECTION_SERVICE,
      a.algorithm,
      blob,
    );
    a.signed = true;
    const send = (signature: Buffer) =>
      this.link.send(
        encodeUserauthPublickey(this.config.user, CONNECTION_SERVICE, a.algorithm, blob, signature),
      );
    const agentSign = a.key.sign;
    if (!agentSign) {
      send(signData(a.key.key as PrivateKey, a.algorithm, data));
      return;
    }
    // The server waits for this request and sends nothing meanwhile; should the signer fail (an
    // agent that refuses, a confirmation declined), the next key or method is tried instead.
    agentSign(a.algorithm, data).then(
      (signature) => {
        if (!this.done && this.attempt === a) send(signature);
      },
      (e: unknown) => {
        if (this.done || this.attempt !== a) return;
        this.tried[this.tried.length - 1] += ` (not signed: ${(e as Error)?.message ?? e})`;
        this.next();
      },
    );
  }

  private next(): void {
    for (const method of this.config.methods) {
      if (this.allowed && !this.allowed.includes(method)) continue;
      if (method === 'publickey') {
        const pick = this.nextPublicKey();
        if (pick) {
          this.attempt = { method, key: pick.key, algorithm: pick.algorithm, signed: false };
          this.tried.push(`publickey (${pick.algorithm})`);
          this.link.send(
            encodeUserauthPublickey(
              this.config.user,
              CONNECTION_SERVICE,
              pick.algorithm,
              pick.key.key.publicKey.blob,
            ),
          );
          return;
        }
      } else if (method === 'password' && this.config.password !== undefined && !this.passwordTried) {
        this.passwordTried = true;
        this.attempt = { method };
        this.tried.push('password');
        this.link.send(encodeUserauthPassword(this.config.user, CONNECTION_SERVICE, this.config.password));
        return;
      }
    }
    if (!this.attempt) {
      // Nothing of ours to offer: the `none` request (RFC 4252 §5.2) may still succeed, and
      // otherwise tells which methods the server takes.
      this.attempt = { method: 'none' };
      this.link.send(encodeUserauthNone(this.config.user, CONNECTION_SERVICE));
      return;
    }
    this.done = true;
    this.link.onExhausted(
      new SshError(
        'AUTH_FAILED',
        `authentication failed for user '${this.config.user}': server accepts ${this.allowed?.join(', ') || 'nothing'}; ` +
          `tried ${this.tried.join(', ') || 'nothing (no usable key or password)'}` +
          (this.config.skipped?.length ? `; skipped key files: ${this.config.skipped.join('; ')}` : ''),
        { reason: DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE },
      ),
    );
  }

  /** The next untried key, with the first of its algorithms the server accepts (server-sig-algs when known). */
  private nextPublicKey(): { key: UserKey; algorithm: SignatureAlgorithm } | undefined {
    const accepted = this.link.serverSigAlgs();
    while (this.nextKey < this.config.keys.length) {
      const entry = this.config.keys[this.nextKey++]!;
      const algorithm = entry.algorithms.find(
        (alg) =>
          signatureAlgorithmFits(entry.key.type, alg) && (accepted === undefined || accepted.includes(alg)),
      );
      if (algorithm) return { key: entry, algorithm };
    }
    return undefined;
  }
}
