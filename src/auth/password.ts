import { protocolError } from '../errors.js';
import { encodeUserauthPassword, type UserauthRequest } from '../wire/auth-messages.js';
import {
  decodePasswdChangeReq,
  encodePasswdChangeReq,
  encodeUserauthPasswordChange,
} from '../wire/kbdint-messages.js';
import {
  CONNECTION_SERVICE,
  type ClientAuthMethod,
  type ClientMethodContext,
  type ServerAuthMethod,
  type ServerMethodContext,
  type Verdict,
} from './method.js';

/** Bytes of a new password from the `passwordChange` callback beyond this are refused. */
const MAX_PASSWORD = 1024;

/**
 * RFC 4252 §8, client: the `password` option, once. A PASSWD_CHANGEREQ is answered from the
 * `passwordChange` callback; without one, or when it declines, the method gives up and the next
 * one is tried.
 */
export class PasswordClient implements ClientAuthMethod {
  readonly name = 'password';
  private tried = false;
  private changeAsked = false;

  start(ctx: ClientMethodContext): boolean {
    const pw = ctx.config.password;
    if (pw === undefined || this.tried) return false;
    this.tried = true;
    ctx.tried('password');
    ctx.send(encodeUserauthPassword(ctx.config.user, CONNECTION_SERVICE, pw));
    return true;
  }

  message(payload: Buffer, ctx: ClientMethodContext): void {
    if (payload[0] !== 60 || this.changeAsked)
      throw protocolError(`unexpected message ${payload[0]} for password`);
    this.changeAsked = true;
    const prompt = decodePasswdChangeReq(payload);
    const changer = ctx.config.passwordChange;
    if (!changer) {
      ctx.tried('password (the server asked for a password change; pass passwordChange to answer)');
      ctx.giveUp();
      return;
    }
    Promise.resolve()
      .then(() => changer(prompt))
      .then(
        (next) => {
          if (ctx.done) return;
          if (typeof next !== 'string' || Buffer.byteLength(next) > MAX_PASSWORD) {
            ctx.tried('password (change declined)');
            ctx.giveUp();
            return;
          }
          ctx.tried('password change');
          ctx.send(
            encodeUserauthPasswordChange(
              ctx.config.user,
              CONNECTION_SERVICE,
              ctx.config.password ?? '',
              next,
            ),
          );
        },
        (e: unknown) => {
          if (ctx.done) return;
          ctx.tried(`password (passwordChange failed: ${(e as Error)?.message ?? e})`);
          ctx.giveUp();
        },
      );
  }
}

/** RFC 4252 §8, server: the password check, and a change where the daemon offers one. */
export class PasswordServer implements ServerAuthMethod {
  async request(req: UserauthRequest, ctx: ServerMethodContext): Promise<Verdict> {
    if (req.method !== 'password') return { result: 'failure', why: 'malformed password request' };
    const v =
      req.newPassword === undefined
        ? await ctx.link.checkPassword(req.user, req.password)
        : ctx.link.changePassword
          ? await ctx.link.changePassword(req.user, req.password, req.newPassword)
          : undefined;
    if (v === undefined) return { result: 'failure', why: 'password change is not supported' };
    if (v === 'disconnect') return { result: 'disconnect', why: 'disconnected by the password check' };
    if (v === 'expired') {
      if (!ctx.link.changePassword) return { result: 'failure', why: 'password expired' };
      ctx.send(encodePasswdChangeReq('Your password has expired; enter a new one.'));
      return { result: 'continue' };
    }
    return v ? { result: 'success' } : { result: 'failure', why: 'wrong password' };
  }
}
