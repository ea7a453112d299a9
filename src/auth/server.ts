import { DisconnectReason, protocolError } from '../errors.js';
import { parsePublicKeyBlob } from '../keys/public-key.js';
import { signatureAlgorithmFits, verifySignature } from '../keys/signature.js';
import type { PublicKey, SignatureAlgorithm } from '../keys/types.js';
import {
  decodeUserauthRequest,
  encodeUserauthFailure,
  encodeUserauthPkOk,
  publickeySignedData,
  type UserauthRequest,
} from '../wire/auth-messages.js';
import { Msg } from '../wire/numbers.js';
import { decodeServiceName, encodeServiceAccept } from '../wire/transport-messages.js';
import { CONNECTION_SERVICE, USERAUTH_SERVICE } from './client.js';

/** The methods this daemon implements. */
export const SERVER_AUTH_METHODS = ['publickey', 'password'] as const;

/** Failed attempts before the daemon disconnects (OpenSSH's MaxAuthTries default). */
export const MAX_AUTH_FAILURES = 6;
/** The smallest RSA key the daemon accepts for user authentication (NIST SP 800-131A). */
export const MIN_USER_RSA_BITS = 2048;

export type PasswordVerdict = boolean | 'disconnect';

export interface ServerAuthConfig {
  /** Methods offered, in order (USERAUTH_FAILURE lists them). */
  methods: readonly string[];
  /** Public key algorithms accepted for user keys (also sent as server-sig-algs). */
  publicKeyAlgorithms: readonly string[];
  maxFailures?: number;
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
  onSuccess(user: string, method: string): void;
  onFailure(user: string, method: string, why: string): void;
}

/**
 * RFC 4252 server: accepts the ssh-userauth service, answers `none` with the method list, checks
 * publickey (PK_OK to a query, signature over the session id, §7) and password (§8), and
 * disconnects after too many failures.
 */
export class ServerAuth {
  private serviceAccepted = false;
  private failures = 0;
  private authenticated = false;
  private busy = false;
  private noneSeen = false;
  /** The key of the last query answered with PK_OK, for the signed request that follows it. */
  private approvedQuery: { user: string; blob: Buffer } | undefined;

  constructor(
    private readonly config: ServerAuthConfig,
    private readonly link: ServerAuthLink,
  ) {}

  get isAuthenticated(): boolean {
    return this.authenticated;
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
      return;
    }
    if (type !== Msg.USERAUTH_REQUEST)
      throw protocolError(`unexpected authentication message ${type} from the client`);
    if (!this.serviceAccepted)
      throw protocolError('USERAUTH_REQUEST before the ssh-userauth service was accepted');
    // RFC 4252 §5.1: requests after success are ignored.
    if (this.authenticated) return;
    const req = decodeUserauthRequest(payload);
    if (req.service !== CONNECTION_SERVICE) {
      this.link.disconnect(
        DisconnectReason.SERVICE_NOT_AVAILABLE,
        `service not available: ${req.service.slice(0, 64)}`,
      );
      return;
    }
    if (req.method === 'none') {
      // The first `none` asks for the method list (RFC 4252 §5.2) and is free; as in OpenSSH,
      // any later one counts as a failure, so `none` cannot be looped until the login timeout.
      if (this.noneSeen) this.fail(req.user, 'none', 'none is not a method here');
      else this.sendFailure();
      this.noneSeen = true;
      return;
    }
    if (!this.config.methods.includes(req.method === 'other' ? req.name : req.method)) {
      this.fail(req.user, req.method === 'other' ? req.name : req.method, 'method not offered');
      return;
    }
    this.decide(req);
  }

  private decide(req: UserauthRequest): void {
    if (req.method !== 'publickey') this.approvedQuery = undefined;
    if (this.busy) throw protocolError('authentication request while another is being decided');
    this.busy = true;
    this.link.pauseInput();
    const verdict =
      req.method === 'password'
        ? this.password(req)
        : req.method === 'publickey'
          ? this.publickey(req)
          : undefined;
    (verdict ?? Promise.resolve(undefined))
      .catch((e: unknown) => {
        // A key store or password check that fails is a failed attempt: the client must hear
        // USERAUTH_FAILURE (and the attempt counts), or it would wait for an answer forever.
        this.fail(req.user, req.method, `internal error: ${(e as Error)?.message ?? e}`);
      })
      .then(() => {
        this.busy = false;
        this.link.resumeInput();
      });
  }

  private async password(req: Extract<UserauthRequest, { method: 'password' }>): Promise<void> {
    if (req.newPassword !== undefined) {
      this.fail(req.user, 'password', 'password change is not supported');
      return;
    }
    const v = await this.link.checkPassword(req.user, req.password);
    if (v === 'disconnect') {
      this.link.onFailure(req.user, 'password', 'disconnected by the password check');
      this.link.disconnect(DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE, 'authentication refused');
      return;
    }
    if (v) this.succeed(req.user, 'password');
    else this.fail(req.user, 'password', 'wrong password');
  }

  private async publickey(req: Extract<UserauthRequest, { method: 'publickey' }>): Promise<void> {
    const alg = req.algorithm;
    let key: PublicKey;
    try {
      key = parsePublicKeyBlob(req.keyBlob);
    } catch {
      this.fail(req.user, 'publickey', 'unreadable public key');
      return;
    }
    if (!this.config.publicKeyAlgorithms.includes(alg) || !signatureAlgorithmFits(key.type, alg)) {
      this.fail(req.user, 'publickey', `algorithm ${alg.slice(0, 64)} not accepted for a ${key.type} key`);
      return;
    }
    // RSA under 2048 bits is refused before any lookup (NIST SP 800-131A; the parser already
    // refuses moduli over 16384 bits before any arithmetic).
    const bits = key.type === 'ssh-rsa' ? key.keyObject.asymmetricKeyDetails?.modulusLength : undefined;
    if (bits !== undefined && bits < MIN_USER_RSA_BITS) {
      this.fail(
        req.user,
        'publickey',
        `RSA key of ${bits} bits is below the minimum of ${MIN_USER_RSA_BITS}`,
      );
      return;
    }
    // The key is looked up before its signature is checked: a key that is not authorized costs
    // no public-key operation (a junk signature with a 16384-bit RSA key cost 6.6 ms of CPU).
    // The signed request that follows a query this connection's key passed needs no second
    // lookup (RFC 4252 §7's usual pair of messages, a round trip apart).
    const approved = this.approvedQuery;
    this.approvedQuery = undefined;
    const preApproved =
      req.signature !== undefined && approved?.user === req.user && approved.blob.equals(req.keyBlob);
    if (!preApproved && !(await this.link.isAuthorizedKey(req.user, key))) {
      this.fail(req.user, 'publickey', 'key not authorized');
      return;
    }
    if (req.signature) {
      const data = publickeySignedData(this.link.sessionId(), req.user, req.service, alg, req.keyBlob);
      if (!verifySignature(key, alg as SignatureAlgorithm, req.signature, data)) {
        this.fail(req.user, 'publickey', 'signature does not verify');
        return;
      }
      this.succeed(req.user, 'publickey');
    } else {
      this.approvedQuery = { user: req.user, blob: req.keyBlob };
      this.link.send(encodeUserauthPkOk(alg, req.keyBlob));
    }
  }

  private succeed(user: string, method: string): void {
    this.authenticated = true;
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

  private sendFailure(): void {
    this.link.send(encodeUserauthFailure(this.config.methods));
  }
}
