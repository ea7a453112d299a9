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

/** Passwords asked for on the terminal per connection (OpenSSH's NumberOfPasswordPrompts). */
const PROMPTS = 3;

/**
 * RFC 4252 §8, client: the `password` option, once; without it, a password asked for by
 * `askPassword` (the terminal) up to three times, once the server has said it takes passwords
 * (nobody is asked for one a server would not take). A PASSWD_CHANGEREQ is answered from the
 * `passwordChange` callback; without one, or when it declines, the method gives up and the next
 * one is tried.
 */
export class PasswordClient implements ClientAuthMethod {
  readonly name = 'password';
  private tries = 0;
  private changeAsked = false;
  /** The password last sent (the old one of a change request). */
  private sent: string | undefined;
  /** askPassword found nobody to ask. */
  private noOneToAsk = false;

  start(ctx: ClientMethodContext): boolean {
    const { password, askPassword } = ctx.config;
    if (password !== undefined) {
      if (this.tries++ > 0) return false;
      this.send(ctx, password);
      return true;
    }
    if (!askPassword || this.noOneToAsk || this.tries >= PROMPTS) return false;
    if (!ctx.serverMethods?.includes('password')) return false;
    this.tries++;
    this.changeAsked = false;
    askPassword().then(
      (pw) => {
        if (ctx.done) return;
        if (pw === undefined) {
          this.noOneToAsk = true;
          ctx.tried('password (no terminal to ask for it on, and no password option)');
          ctx.giveUp();
          return;
        }
        this.send(ctx, pw);
      },
      (e: unknown) => {
        if (ctx.done) return;
        this.noOneToAsk = true;
        ctx.tried(`password (asking for it failed: ${(e as Error)?.message ?? e})`);
        ctx.giveUp();
      },
    );
    return true;
  }

  private send(ctx: ClientMethodContext, pw: string): void {
    this.sent = pw;
    ctx.tried('password');
    ctx.send(encodeUserauthPassword(ctx.config.user, CONNECTION_SERVICE, pw));
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
          ctx.send(encodeUserauthPasswordChange(ctx.config.user, CONNECTION_SERVICE, this.sent ?? '', next));
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
