import { ClientAuth, type ClientAuthConfig, type ClientAuthLink } from '../auth/client.js';
import { defaultKbdIntData } from '../auth/keyboard-interactive.js';
import {
  ServerAuth,
  type KbdIntData,
  type PasswordVerdict,
  type ServerAuthConfig,
  type ServerAuthLink,
} from '../auth/server.js';
import { DisconnectReason, SshError, protocolError } from '../errors.js';
import type { PublicKey } from '../keys/types.js';
import type { OpenPacket } from '../transport/packet.js';
import { Transport, type TransportConfig, type TransportHandler } from '../transport/transport.js';
import type { ChannelOpen, GlobalRequest } from '../wire/connection-messages.js';
import { isAuthMessage, isConnectionMessage, Msg } from '../wire/numbers.js';
import type { Debug } from '../wire/transport-messages.js';
import type { Reply } from './replies.js';
import {
  MuxCore,
  type ChannelParams,
  type ChannelSink,
  type MuxChannel,
  type MuxHandler,
  type MuxLink,
} from './mux.js';

/** Callbacks from one connection's protocol core to its I/O edge (ssh.ts). */
export interface ConnectionEvents {
  /** Bytes are waiting in `takeOutput()`. */
  onOutput(): void;
  /**
   * What waits has grown large (`TransportHandler.onOutputGrown`): the edge may write what
   * `takeSealed()` returns now, from inside the core's call. It must not call back into the core.
   */
  onOutputGrown?(): void;
  /** The socket's write side is backed up (asked before queueing bulk data). */
  outputFull(): boolean;
  /** Input processing stopped or started again (see `TransportHandler.onInputPaused`). */
  onInputPaused?(paused: boolean): void;
  /** Client: decide on the host key and answer with `hostKeyVerdict`. */
  verifyHostKey?(key: PublicKey, algorithm: string): void;
  onDebug?(message: Debug): void;
  onBanner?(message: string): void;
  /** A key exchange finished (`first`: the initial one); its algorithms are in `transport.negotiated`. */
  onKexDone?(first: boolean): void;
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
  /** A global request from the peer; `reply` (when it wants one) must be called exactly once. */
  onGlobalRequest?(request: GlobalRequest, reply: Reply | undefined): void;
  /** Server decisions that may need I/O. */
  isAuthorizedKey?(user: string, key: PublicKey): Promise<boolean>;
  checkPassword?(user: string, password: string): Promise<PasswordVerdict>;
  /** A message nothing here handles arrived; it is answered UNIMPLEMENTED (the seed's unexpectedfun). */
  onUnexpected?(payload: Buffer): void;
  /** Keyboard-interactive's text for a user (default: the seed's). */
  kbdIntData?(user: string, service: string): KbdIntData | Promise<KbdIntData>;
  /** Call `wake` in about `ms` milliseconds (see `MuxLink.wakeIn`). */
  wakeIn(ms: number): void;
}

export interface ConnectionCoreConfig {
  transport: TransportConfig;
  channelDefaults: ChannelParams;
  clientAuth?: ClientAuthConfig;
  serverAuth?: ServerAuthConfig;
  maxChannels?: number;
  minRemoteMaxPacket?: number;
  /** Replies the peer may have us owe at once before its input pauses (see MuxLimits). */
  pendingRequests?: number;
  /** Receive windows plus unconsumed data across channels (see MuxLimits). */
  windowBudget?: number;
  /**
   * Milliseconds a peer may leave our output unread while it is over the high-water mark before
   * it is disconnected (default DEFAULT_OUTPUT_STALL_MS; Infinity never).
   */
  outputStallMs?: number;
  /** The seed's idle_time: an authenticated connection with no channel for this long is closed. */
  idleTimeMs?: number;
}

/**
 * One SSH connection's protocol, without I/O: the transport, then authentication, then the
 * connection protocol. It enforces the order: nothing but transport messages before the first
 * NEWKEYS (transport.ts) and nothing of the connection layer before authentication succeeds
 * (RFC 4252 §6; the lesson of CVE-2025-32433).
 */
export class ConnectionCore implements TransportHandler, MuxLink, MuxHandler {
  readonly transport: Transport;
  readonly mux: MuxCore;
  private clientAuth: ClientAuth | undefined;
  private serverAuth: ServerAuth | undefined;
  private authenticated = false;
  serverSigAlgs: string[] | undefined;
  user: string | undefined;
  closeError: SshError | undefined;

  constructor(
    config: ConnectionCoreConfig,
    private readonly events: ConnectionEvents,
  ) {
    // The core itself is the transport's handler and the mux's link: methods on the prototype,
    // not closures per connection (an idle daemon connection is mostly such bookkeeping).
    this.transport = new Transport(config.transport, this);
    this.mux = new MuxCore(
      this,
      this,
      config.channelDefaults,
      {
        maxChannels: config.maxChannels,
        minRemoteMaxPacket: config.minRemoteMaxPacket,
        pendingRequests: config.pendingRequests,
        windowBudget: config.windowBudget,
      },
      config.transport.now,
    );
    if (config.transport.role === 'client') {
      if (!config.clientAuth) throw new Error('client connection without authentication config');
      this.user = config.clientAuth.user;
      this.clientAuth = new ClientAuth(config.clientAuth, new ClientAuthAdapter(this, events));
    } else {
      if (!config.serverAuth) throw new Error('server connection without authentication config');
      this.serverAuth = new ServerAuth(config.serverAuth, new ServerAuthAdapter(this, events));
    }
  }

  // ---- TransportHandler ---------------------------------------------------------------------

  onScatteredMessage(pieces: Buffer[]): boolean {
    const type = pieces[0]![0];
    // Channel data before authentication takes the joined path, which refuses it.
    if (!this.authenticated || (type !== Msg.CHANNEL_DATA && type !== Msg.CHANNEL_EXTENDED_DATA))
      return false;
    this.mux.handleData(pieces);
    return true;
  }

  verifyHostKey(key: PublicKey, algorithm: string): void {
    // Never accept a host key silently: without a verifier the answer is no.
    if (this.events.verifyHostKey) this.events.verifyHostKey(key, algorithm);
    else this.transport.hostKeyVerdict(false, 'no host key verifier is configured');
  }

  onExtInfo(ext: Map<string, Buffer>): void {
    const sigs = ext.get('server-sig-algs');
    if (sigs && this.clientAuth) this.serverSigAlgs = sigs.toString('latin1').split(',').filter(Boolean);
  }

  onDebug(d: Debug): void {
    this.events.onDebug?.(d);
  }

  onOutput(): void {
    this.events.onOutput();
  }

  onOutputGrown(): void {
    this.events.onOutputGrown?.();
  }

  onInputPaused(paused: boolean): void {
    this.events.onInputPaused?.(paused);
  }

  onClose(error: SshError, byPeer: boolean): void {
    const err = this.closeError ?? error;
    this.closeError = err;
    this.mux.closeAll(
      () => new SshError('CLOSED', `connection closed: ${err.message}`, { reason: err.reason, cause: err }),
    );
    this.events.onClose(err, byPeer);
  }

  // ---- MuxLink and MuxHandler ---------------------------------------------------------------

  send(payload: Buffer): void {
    this.transport.send(payload);
  }

  openPacket(headLength: number, body: Buffer): OpenPacket {
    return this.transport.openPacket(headLength, body);
  }

  sealPacket(p: OpenPacket): void {
    this.transport.sealPacket(p);
  }

  get sendBlocked(): boolean {
    return this.transport.sendBlocked;
  }

  outputFull(): boolean {
    return this.events.outputFull();
  }

  onHeld(): void {
    // The output is taken at the next write, which releases what is held.
    this.events.onOutput();
  }

  wakeIn(ms: number): void {
    this.events.wakeIn(ms);
  }

  /** The time asked for with `ConnectionEvents.wakeIn` has come. */
  wake(): void {
    this.mux.wake();
  }

  onChannelOpen(
    open: ChannelOpen,
    accept: (sink: ChannelSink, params?: Partial<ChannelParams>) => MuxChannel,
    reject: (reason: number, description: string) => void,
  ): void {
    this.events.onChannelOpen(open, accept, reject);
  }

  onGlobalRequest(request: GlobalRequest, reply: Reply | undefined): void {
    if (this.events.onGlobalRequest) this.events.onGlobalRequest(request, reply);
    else reply?.(false);
  }

  pauseInput(): void {
    this.transport.pauseInput();
  }

  resumeInput(): void {
    this.transport.resumeInput();
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
    this.mux.releaseHeld();
    return this.transport.takeOutput();
  }

  /**
   * What is sealed so far, for `onOutputGrown`: unlike `takeOutput` it sends nothing held back,
   * so it is safe while the core is in the middle of sending (`releaseHeld` would re-enter the
   * channel loop that is sealing). Held pieces go with the next `takeOutput`.
   */
  takeSealed(): Buffer[] {
    return this.transport.takeOutput();
  }

  /** Call after writing what `takeOutput` returned (see `Transport.prepareAhead`). */
  prepareAhead(): void {
    this.transport.prepareAhead();
  }

  /** The socket drained: send what waited for it. */
  resume(): void {
    this.mux.resume();
  }

  /** Output was written and is not backed up: send the channel data that waited for room. */
  resumeStalled(): void {
    this.mux.resumeStalled();
  }

  disconnect(
    reason: number = DisconnectReason.BY_APPLICATION,
    description = 'closed by the application',
  ): void {
    this.transport.disconnect(reason, description);
  }

  onKexDone(first: boolean): void {
    if (first) this.clientAuth?.start();
    else this.mux.resume();
    this.events.onKexDone?.(first);
  }

  /** Called by the auth adapters. */
  onAuthenticated(user: string, method: string): void {
    this.authenticated = true;
    this.transport.authenticated = true;
    this.user = user;
    this.events.onAuthenticated(user, method);
  }

  onMessage(payload: Buffer, seq: number): void {
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
      if (!this.mux.handle(payload)) this.unexpected(payload, seq);
      return;
    }
    this.unexpected(payload, seq);
  }

  /** RFC 4253 §11.4: UNIMPLEMENTED, and the application hears of it. */
  private unexpected(payload: Buffer, seq: number): void {
    this.transport.sendUnimplemented(seq);
    this.events.onUnexpected?.(payload);
  }
}

/** What both authentication links share: one object per connection, forwarding to the core. */
abstract class AuthAdapter {
  constructor(
    protected readonly core: ConnectionCore,
    protected readonly events: ConnectionEvents,
  ) {}
  send(payload: Buffer): void {
    this.core.transport.send(payload);
  }
  sessionId(): Buffer {
    return this.core.transport.sessionId!;
  }
}

/** ClientAuth's link. */
class ClientAuthAdapter extends AuthAdapter implements ClientAuthLink {
  serverSigAlgs(): readonly string[] | undefined {
    return this.core.serverSigAlgs;
  }
  onBanner(message: string): void {
    this.events.onBanner?.(message);
  }
  onSuccess(method: string): void {
    this.core.onAuthenticated(this.core.user!, method);
  }
  onExhausted(error: SshError): void {
    // Set first: disconnect() reports the close synchronously, and this is the reason to report.
    this.core.closeError = error;
    this.core.transport.disconnect(
      DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE,
      'no more authentication methods to try',
    );
  }
}

/** ServerAuth's link, which also reaches the edge's decisions. */
class ServerAuthAdapter extends AuthAdapter implements ServerAuthLink {
  pauseInput(): void {
    this.core.transport.pauseInput();
  }
  resumeInput(): void {
    this.core.transport.resumeInput();
  }
  disconnect(reason: number, description: string): void {
    this.core.transport.disconnect(reason, description);
  }
  isAuthorizedKey(user: string, key: PublicKey): Promise<boolean> {
    return this.events.isAuthorizedKey?.(user, key) ?? Promise.resolve(false);
  }
  checkPassword(user: string, password: string): Promise<PasswordVerdict> {
    return this.events.checkPassword?.(user, password) ?? Promise.resolve(false);
  }
  kbdIntData(user: string, service: string): KbdIntData | Promise<KbdIntData> {
    return this.events.kbdIntData?.(user, service) ?? defaultKbdIntData(user);
  }
  onSuccess(user: string, method: string): void {
    this.core.onAuthenticated(user, method);
  }
  onFailure(user: string, method: string, why: string): void {
    this.events.onAuthFailure?.(user, method, why);
  }
}
