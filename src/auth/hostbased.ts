import type { ServerAuthMethod, Verdict } from './method.js';

/**
 * RFC 4252 §9 hostbased, server: the place for it. Not built: never offered, and a request for it
 * is a counted failure like any method not offered.
 */
export class HostbasedServer implements ServerAuthMethod {
  request(): Verdict {
    return { result: 'failure', why: 'hostbased authentication is not built' };
  }
}
