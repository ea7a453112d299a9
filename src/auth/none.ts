import { encodeUserauthNone } from '../wire/auth-messages.js';
import {
  CONNECTION_SERVICE,
  type ClientAuthMethod,
  type ClientMethodContext,
  type ServerAuthMethod,
  type Verdict,
} from './method.js';

/**
 * RFC 4252 §5.2, client: sent when nothing else can be tried first. It may succeed, and
 * otherwise the FAILURE tells which methods the server takes.
 */
export class NoneClient implements ClientAuthMethod {
  readonly name = 'none';
  private sent = false;

  start(ctx: ClientMethodContext): boolean {
    if (this.sent) return false;
    this.sent = true;
    ctx.send(encodeUserauthNone(ctx.config.user, CONNECTION_SERVICE));
    return true;
  }
}

/**
 * RFC 4252 §5.2, server: the first `none` asks for the method list and is free; as in OpenSSH,
 * any later one counts as a failure, so `none` cannot be looped until the login timeout.
 */
export class NoneServer implements ServerAuthMethod {
  private seen = false;

  request(): Verdict {
    const first = !this.seen;
    this.seen = true;
    return { result: 'failure', why: 'none is not a method here', free: first };
  }
}
