import { ClientAuth, type ClientAuthConfig } from '../auth/client.js';
import { ServerAuth, type PasswordVerdict, type ServerAuthConfig } from '../auth/server.js';
import { DisconnectReason, SshError, protocolError } from '../errors.js';
import type { PublicKey } from '../keys/types.js';
import { Transport, type TransportConfig } from '../transport/transport.js';
import type { ChannelOpen, GlobalRequest } from '../wire/connection-messages.js';
import { isAuthMessage, isConnectionMessage, Msg } from '../wire/numbers.js';
import type { Debug } from '../wire/transport-messages.js';
import { MuxCore, type ChannelParams, type ChannelSink, type MuxChannel } from './mux.js';

/** Callbacks from one connection's protocol core to its I/O edge (ssh.ts). */
export interface ConnectionEvents {
  /** Bytes are waiting in `takeOutput()`. */
  onOutput(): void;
  /** The socket's write side is backed up (asked before queueing bulk data). */
  outputFull(): boolean;
  /** Client: decide on the host key and answer with `hostKeyVerdict`. */
  verifyHostKey?(key: PublicKey, algorithm: string): void;
  onDebug?(message: Debug): void;
  onBanner?(message: string): void;
  /** Authentication succeeded: channels may be opened now. */
  onAuthenticated(user: string, method: string): void;
  /** Server: an authentication attempt failed (the seed's `failfun`). */
  onAuthFailure?(user: string, method: string, why: string): void;
  /** The connection is over. `byPeer` when the peer sent DISCONNECT. */
  onClose(error: SshError, byPeer: boolean): void;
  onChannelOpen(
    open: ChannelOpen,
    accept: (sink: ChannelSink, params?: Partial<ChannelParams>) => MuxChannel,
    reject: (reason: number, description: string) => void,
  ): void;
  onGlobalRequest?(request: GlobalRequest): boolean;
  /** Server decisions that may need I/O. */
  isAuthorizedKey?(user: string, key: PublicKey): Promise<boolean>;
  checkPassword?(user: string, password: string): Promise<PasswordVerdict>;
}

export interface ConnectionCoreConfig {
  transport: TransportConfig;
  channelDefaults: ChannelParams;
  clientAuth?: ClientAuthConfig;
  serverAuth?: ServerAuthConfig;
  maxChannels?: number;
  minRemoteMaxPacket?: number;
}

/**
 * One SSH connection's protocol, without I/O: the transport, then authentication, then the
 * connection protocol. It enforces the order: nothing but transport messages before the first
 * NEWKEYS (transport.ts) and nothing of the connection layer before authentication succeeds
 * (RFC 4252 §6; the lesson of CVE-2025-32433).
 */
export class ConnectionCore {
  readonly transport: Transport;
  readonly mux: MuxCore;
  private clientAuth: ClientAuth | undefined;
  private serverAuth: ServerAuth | undefined;
  private authenticated = false;
  private serverSigAlgs: string[] | undefined;
  user: string | undefined;
  closeError: SshError | undefined;

  constructor(
    config: ConnectionCoreConfig,
    private readonly events: ConnectionEvents,
  ) {
    const role = config.transport.role;
    this.transport = new Transport(config.transport, {
      onMessage: (payload, seq) => this.onMessage(payload, seq),
      onScatteredMessage: (pieces) => {
        const type = pieces[0]![0];
        // Channel data before authentication takes the joined path, which refuses it.
        if (!this.authenticated || (type !== Msg.CHANNEL_DATA && type !== Msg.CHANNEL_EXTENDED_DATA))
          return false;
        this.mux.handleData(pieces);
        return true;
      },
      onKexDone: (first) => this.onKexDone(first),
      verifyHostKey: events.verifyHostKey ? (k, a) => events.verifyHostKey!(k, a) : undefined,
      onExtInfo: (ext) => {
        const sigs = ext.get('server-sig-algs');
        if (sigs && role === 'client')
          this.serverSigAlgs = sigs.toString('latin1').split(',').filter(Boolean);
      },
      onDebug: (d) => events.onDebug?.(d),
      onOutput: () => events.onOutput(),
      onClose: (error, byPeer) => this.onTransportClose(error, byPeer),
    });
    const transport = this.transport;
    this.mux = new MuxCore(
      {
        send: (p) => transport.send(p),
        openPacket: (n, body) => transport.openPacket(n, body),
        sealPacket: (p) => transport.sealPacket(p),
        get sendBlocked() {
          return transport.sendBlocked;
        },
        outputFull: () => events.outputFull(),
      },
      {
        onChannelOpen: (open, accept, reject) => events.onChannelOpen(open, accept, reject),
        onGlobalRequest: (req) => events.onGlobalRequest?.(req) ?? false,
      },
      config.channelDefaults,
      { maxChannels: config.maxChannels, minRemoteMaxPacket: config.minRemoteMaxPacket },
    );
    if (role === 'client') {
      if (!config.clientAuth) throw new Error('client connection without authentication config');
      this.user = config.clientAuth.user;
      this.clientAuth = new ClientAuth(config.clientAuth, {
        send: (p) => transport.send(p),
        sessionId: () => transport.sessionId!,
        serverSigAlgs: () => this.serverSigAlgs,
        onBanner: (m) => events.onBanner?.(m),
        onSuccess: (method) => this.onAuthenticated(config.clientAuth!.user, method),
        onExhausted: (error) => {
          // Set first: disconnect() reports the close synchronously, and this is the reason to report.
          this.closeError = error;
          transport.disconnect(
            DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE,
            'no more authentication methods to try',
          );
        },
      });
    } else {
      if (!config.serverAuth) throw new Error('server connection without authentication config');
      this.serverAuth = new ServerAuth(config.serverAuth, {
        send: (p) => transport.send(p),
        sessionId: () => transport.sessionId!,
        pauseInput: () => transport.pauseInput(),
        resumeInput: () => transport.resumeInput(),
        disconnect: (reason, description) => transport.disconnect(reason, description),
        isAuthorizedKey: (user, key) => events.isAuthorizedKey?.(user, key) ?? Promise.resolve(false),
        checkPassword: (user, password) => events.checkPassword?.(user, password) ?? Promise.resolve(false),
        onSuccess: (user, method) => this.onAuthenticated(user, method),
        onFailure: (user, method, why) => events.onAuthFailure?.(user, method, why),
      });
    }
  }

  get isAuthenticated(): boolean {
    return this.authenticated;
  }

  start(): void {
    this.transport.start();
  }

  receive(chunk: Buffer): void {
    this.transport.receive(chunk);
  }

  takeOutput(): Buffer[] {
    return this.transport.takeOutput();
  }

  /** The socket drained: send what waited for it. */
  resume(): void {
    this.mux.resume();
  }

  disconnect(
    reason: number = DisconnectReason.BY_APPLICATION,
    description = 'closed by the application',
  ): void {
    this.transport.disconnect(reason, description);
  }

  private onKexDone(first: boolean): void {
    if (first) this.clientAuth?.start();
    else this.mux.resume();
  }

  private onAuthenticated(user: string, method: string): void {
    this.authenticated = true;
    this.user = user;
    this.events.onAuthenticated(user, method);
  }

  private onMessage(payload: Buffer, seq: number): void {
    const type = payload[0]!;
    if (type === Msg.SERVICE_REQUEST || type === Msg.SERVICE_ACCEPT || isAuthMessage(type)) {
      if (this.authenticated) {
        // RFC 4252 §5.1: authentication requests after success are ignored.
        if (type === Msg.USERAUTH_REQUEST) return;
        throw protocolError(`authentication message ${type} after authentication`);
      }
      if (this.serverAuth) this.serverAuth.handle(payload);
      else this.clientAuth!.handle(payload);
      return;
    }
    if (isConnectionMessage(type)) {
      if (!this.authenticated) {
        throw protocolError(`connection protocol message ${type} before authentication`);
      }
      if (!this.mux.handle(payload)) this.transport.sendUnimplemented(seq);
      return;
    }
    this.transport.sendUnimplemented(seq);
  }

  private onTransportClose(error: SshError, byPeer: boolean): void {
    const err = this.closeError ?? error;
    this.closeError = err;
    this.mux.closeAll(
      () => new SshError('CLOSED', `connection closed: ${err.message}`, { reason: err.reason, cause: err }),
    );
    this.events.onClose(err, byPeer);
  }
}
