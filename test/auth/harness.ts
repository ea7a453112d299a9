import { randomBytes } from 'node:crypto';
import { ClientAuth, type ClientAuthConfig } from '../../src/auth/client.js';
import {
  ServerAuth,
  type KbdIntData,
  type PasswordVerdict,
  type ServerAuthConfig,
} from '../../src/auth/server.js';
import type { SshError } from '../../src/errors.js';
import type { PublicKey } from '../../src/keys/types.js';
import { Msg } from '../../src/wire/numbers.js';

const NAMES: Record<number, string> = {
  [Msg.SERVICE_REQUEST]: 'SERVICE_REQUEST',
  [Msg.SERVICE_ACCEPT]: 'SERVICE_ACCEPT',
  [Msg.USERAUTH_REQUEST]: 'REQUEST',
  [Msg.USERAUTH_FAILURE]: 'FAILURE',
  [Msg.USERAUTH_SUCCESS]: 'SUCCESS',
  [Msg.USERAUTH_BANNER]: 'BANNER',
  60: 'PK_OK', // or PASSWD_CHANGEREQ or INFO_REQUEST: the method decides
  61: 'INFO_RESPONSE',
};

export function messageName(p: Buffer): string {
  return NAMES[p[0]!] ?? `msg${p[0]}`;
}

export interface ServerSide {
  isAuthorizedKey?(user: string, key: PublicKey): Promise<boolean>;
  checkPassword?(user: string, password: string): Promise<PasswordVerdict>;
  kbdIntData?(user: string, service: string): KbdIntData | Promise<KbdIntData>;
  changePassword?(user: string, oldPassword: string, newPassword: string): Promise<PasswordVerdict>;
}

/**
 * A ClientAuth and a ServerAuth joined by two in-memory queues, with the server's input pausing
 * honoured the way the transport honours it: nothing reaches the server while it decides.
 */
export class AuthPair {
  readonly sessionId = randomBytes(32);
  readonly toServer: Buffer[] = [];
  readonly toClient: Buffer[] = [];
  /** Every message delivered, in order: `C>S REQUEST`, `S>C FAILURE`, ... */
  readonly trace: string[] = [];
  /** Every payload the client sent, in order. */
  readonly clientSent: Buffer[] = [];
  /** Every payload the server sent, in order. */
  readonly serverSent: Buffer[] = [];
  readonly banners: string[] = [];
  readonly serverFailures: { user: string; method: string; why: string }[] = [];
  readonly authorizedQueries: { user: string; key: PublicKey }[] = [];
  readonly passwordChecks: { user: string; password: string }[] = [];
  clientSuccess: string | undefined;
  serverSuccess: { user: string; method: string } | undefined;
  exhausted: SshError | undefined;
  disconnected: { reason: number; description: string } | undefined;
  serverSigAlgs: string[] | undefined;
  readonly client: ClientAuth;
  readonly server: ServerAuth;
  private paused = 0;
  private wake: (() => void) | undefined;

  constructor(clientConfig: ClientAuthConfig, serverConfig: ServerAuthConfig, serverSide: ServerSide = {}) {
    this.client = new ClientAuth(clientConfig, {
      send: (p) => {
        this.clientSent.push(Buffer.from(p));
        this.toServer.push(Buffer.from(p));
      },
      sessionId: () => this.sessionId,
      serverSigAlgs: () => this.serverSigAlgs,
      onBanner: (m) => this.banners.push(m),
      onSuccess: (method) => (this.clientSuccess = method),
      onExhausted: (e) => (this.exhausted = e),
    });
    this.server = new ServerAuth(serverConfig, {
      send: (p) => {
        this.serverSent.push(Buffer.from(p));
        this.toClient.push(Buffer.from(p));
      },
      sessionId: () => this.sessionId,
      pauseInput: () => this.paused++,
      resumeInput: () => {
        this.paused--;
        const w = this.wake;
        this.wake = undefined;
        w?.();
      },
      disconnect: (reason, description) => (this.disconnected ??= { reason, description }),
      isAuthorizedKey: (user, key) => {
        this.authorizedQueries.push({ user, key });
        return serverSide.isAuthorizedKey?.(user, key) ?? Promise.resolve(false);
      },
      checkPassword: (user, password) => {
        this.passwordChecks.push({ user, password });
        return serverSide.checkPassword?.(user, password) ?? Promise.resolve(false);
      },
      ...(serverSide.kbdIntData ? { kbdIntData: serverSide.kbdIntData } : {}),
      ...(serverSide.changePassword ? { changePassword: serverSide.changePassword } : {}),
      onSuccess: (user, method) => (this.serverSuccess = { user, method }),
      onFailure: (user, method, why) => this.serverFailures.push({ user, method, why }),
    });
  }

  /** Sends a raw message to the server as if the client had. */
  inject(payload: Buffer): void {
    this.toServer.push(payload);
  }

  /** Delivers messages both ways until both queues are empty and the server is not deciding. */
  async run(): Promise<void> {
    for (let steps = 0; steps < 10_000; steps++) {
      if (this.disconnected) return;
      const toClient = this.toClient.shift();
      if (toClient) {
        this.trace.push(`S>C ${messageName(toClient)}`);
        this.client.handle(toClient);
        continue;
      }
      if (this.paused > 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const toServer = this.toServer.shift();
      if (toServer) {
        this.trace.push(`C>S ${messageName(toServer)}`);
        this.server.handle(toServer);
        continue;
      }
      // Idle only once pending microtasks (the client's pipelined first request) have run too.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.toClient.length || this.toServer.length || this.paused > 0) continue;
      return;
    }
    throw new Error('the authentication exchange did not settle');
  }
}
