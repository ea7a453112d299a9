import { protocolError } from '../errors.js';
import { parsePublicKeyBlob } from '../keys/public-key.js';
import { signatureAlgorithmFits, signData, verifySignature } from '../keys/signature.js';
import type { PrivateKey, PublicKey, SignatureAlgorithm } from '../keys/types.js';
import {
  decodeUserauthPkOk,
  encodeUserauthPkOk,
  encodeUserauthPublickey,
  publickeySignedData,
  type UserauthRequest,
} from '../wire/auth-messages.js';
import {
  CONNECTION_SERVICE,
  type ClientAuthMethod,
  type ClientMethodContext,
  type ServerAuthMethod,
  type UserKey,
  type ServerMethodContext,
  type Verdict,
} from './method.js';

/** The smallest RSA key the daemon accepts for user authentication (NIST SP 800-131A). */
export const MIN_USER_RSA_BITS = 2048;

/**
 * RFC 4252 §7, client: each key in turn. A key whose private half is here goes signed at once, as
 * §7 allows and Erlang's ssh does: it saves the query's round trip on every login (one ed25519
 * signature costs ~50 µs; a round trip costs that on loopback and milliseconds on a network). A key
 * signed elsewhere (an agent, a key callback) is first offered as a query and signed only after
 * PK_OK, so that an agent is not asked, nor its user prompted, for a key the server refuses. The
 * signature algorithm is the first of the key's that the server's server-sig-algs accepts.
 */
export class PublickeyClient implements ClientAuthMethod {
  readonly name = 'publickey';
  private nextKey = 0;
  private current: { key: UserKey; algorithm: SignatureAlgorithm; signed: boolean } | undefined;

  start(ctx: ClientMethodContext): boolean {
    const pick = this.nextPublicKey(ctx);
    if (!pick) {
      this.current = undefined;
      return false;
    }
    const cur = (this.current = { ...pick, signed: false });
    ctx.tried(`publickey (${cur.algorithm})`);
    if (!cur.key.sign) {
      this.sendSigned(cur, ctx);
      return true;
    }
    ctx.send(
      encodeUserauthPublickey(ctx.config.user, CONNECTION_SERVICE, cur.algorithm, cur.key.key.publicKey.blob),
    );
    return true;
  }

  /** SSH_MSG_USERAUTH_PK_OK: sign the request for the key offered. */
  message(payload: Buffer, ctx: ClientMethodContext): void {
    const a = this.current;
    if (payload[0] !== 60 || !a || a.signed)
      throw protocolError('unexpected message 60 during authentication');
    const ok = decodeUserauthPkOk(payload);
    if (ok.algorithm !== a.algorithm || !ok.keyBlob.equals(a.key.key.publicKey.blob)) {
      throw protocolError('USERAUTH_PK_OK for a key that was not offered');
    }
    this.sendSigned(a, ctx);
  }

  /** The request for the key, signed here or by its signer (which may answer later, or fail). */
  private sendSigned(
    a: { key: UserKey; algorithm: SignatureAlgorithm; signed: boolean },
    ctx: ClientMethodContext,
  ): void {
    const blob = a.key.key.publicKey.blob;
    const user = ctx.config.user;
    const data = publickeySignedData(ctx.link.sessionId(), user, CONNECTION_SERVICE, a.algorithm, blob);
    a.signed = true;
    const send = (signature: Buffer) =>
      ctx.send(encodeUserauthPublickey(user, CONNECTION_SERVICE, a.algorithm, blob, signature));
    const agentSign = a.key.sign;
    if (!agentSign) {
      send(signData(a.key.key as PrivateKey, a.algorithm, data));
      return;
    }
    // The server waits for this request and sends nothing meanwhile; should the signer fail (an
    // agent that refuses, a confirmation declined), the next key or method is tried instead.
    agentSign(a.algorithm, data).then(
      (signature) => {
        if (!ctx.done && this.current === a) send(signature);
      },
      (e: unknown) => {
        if (ctx.done || this.current !== a) return;
        ctx.tried(`publickey (${a.algorithm}) not signed: ${(e as Error)?.message ?? e}`);
        ctx.giveUp();
      },
    );
  }

  /** The next untried key, with the first of its algorithms the server accepts (server-sig-algs when known). */
  private nextPublicKey(
    ctx: ClientMethodContext,
  ): { key: UserKey; algorithm: SignatureAlgorithm } | undefined {
    const accepted = ctx.link.serverSigAlgs();
    const keys = ctx.config.keys;
    while (this.nextKey < keys.length) {
      const entry = keys[this.nextKey++]!;
      const algorithm = entry.algorithms.find(
        (alg) =>
          signatureAlgorithmFits(entry.key.type, alg) && (accepted === undefined || accepted.includes(alg)),
      );
      if (algorithm) return { key: entry, algorithm };
    }
    return undefined;
  }
}

/**
 * RFC 4252 §7, server: PK_OK to a query for an authorized key, success for a signed request whose
 * signature over the session id verifies.
 */
export class PublickeyServer implements ServerAuthMethod {
  /** The key of the last query answered with PK_OK, for the signed request that follows it. */
  private approvedQuery: { user: string; blob: Buffer } | undefined;

  abandon(): void {
    this.approvedQuery = undefined;
  }

  async request(req: UserauthRequest, ctx: ServerMethodContext): Promise<Verdict> {
    if (req.method !== 'publickey') return { result: 'failure', why: 'malformed publickey request' };
    const alg = req.algorithm;
    let key: PublicKey;
    try {
      key = parsePublicKeyBlob(req.keyBlob);
    } catch {
      return { result: 'failure', why: 'unreadable public key' };
    }
    if (!ctx.config.publicKeyAlgorithms.includes(alg) || !signatureAlgorithmFits(key.type, alg)) {
      return { result: 'failure', why: `algorithm ${alg.slice(0, 64)} not accepted for a ${key.type} key` };
    }
    // RSA under 2048 bits is refused before any lookup (NIST SP 800-131A; the parser already
    // refuses moduli over 16384 bits before any arithmetic).
    const bits = key.type === 'ssh-rsa' ? key.keyObject.asymmetricKeyDetails?.modulusLength : undefined;
    if (bits !== undefined && bits < MIN_USER_RSA_BITS) {
      return {
        result: 'failure',
        why: `RSA key of ${bits} bits is below the minimum of ${MIN_USER_RSA_BITS}`,
      };
    }
    // The key is looked up before its signature is checked: a key that is not authorized costs
    // no public-key operation (a junk signature with a 16384-bit RSA key cost 6.6 ms of CPU).
    // The signed request that follows a query this connection's key passed needs no second
    // lookup (RFC 4252 §7's usual pair of messages, a round trip apart).
    const approved = this.approvedQuery;
    this.approvedQuery = undefined;
    const preApproved =
      req.signature !== undefined && approved?.user === req.user && approved.blob.equals(req.keyBlob);
    if (!preApproved && !(await ctx.link.isAuthorizedKey(req.user, key))) {
      return { result: 'failure', why: 'key not authorized' };
    }
    if (!req.signature) {
      this.approvedQuery = { user: req.user, blob: Buffer.from(req.keyBlob) };
      ctx.send(encodeUserauthPkOk(alg, req.keyBlob));
      // The signed request that follows comes to this method again; any other request abandons it.
      return { result: 'continue' };
    }
    const data = publickeySignedData(ctx.link.sessionId(), req.user, req.service, alg, req.keyBlob);
    if (!verifySignature(key, alg as SignatureAlgorithm, req.signature, data)) {
      return { result: 'failure', why: 'signature does not verify' };
    }
    return { result: 'success' };
  }
}
