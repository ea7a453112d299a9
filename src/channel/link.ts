import type { Negotiated } from '../transport/negotiate.js';
import type { Channel } from './channel.js';
import type { SessionChannel } from './session-channel.js';

/** What `ssh.connectionInfo` returns (the seed's connection_info keys, plus the negotiated algorithms). */
export interface ConnectionInfo {
  /** The client's identification: protocol version and software version string. */
  clientVersion: {
    /** The SSH protocol version from the line, `[2, 0]`. */
    protocolVersion: [number, number];
    /** The whole identification line, such as `SSH-2.0-OpenSSH_9.2p1 Debian-2`. */
    versionString: string;
  };
  /** The server's identification: protocol version and software version string. */
  serverVersion: {
    /** The SSH protocol version from the line, `[2, 0]`. */
    protocolVersion: [number, number];
    /** The whole identification line, such as `SSH-2.0-OpenSSH_9.2p1 Debian-2`. */
    versionString: string;
  };
  /** The user name of the login (empty before authentication). */
  user: string;
  /** The other side's address and port. */
  peer: {
    /** The peer's IP address. */
    address: string;
    /** The peer's TCP port. */
    port: number;
  };
  /** This side's address and port. */
  sockname: {
    /** This side's IP address. */
    address: string;
    /** This side's TCP port. */
    port: number;
  };
  /** The algorithms in use (a copy), once the first key exchange has finished. */
  algorithms: Negotiated | undefined;
  /** Channels open now. */
  channels: number;
  /** Key exchanges completed after the first one (re-keys, started by either side). */
  rekeys: number;
}

/** What a `'rekey'` event carries: the algorithms the new keys use and the re-key count so far. */
export interface RekeyEvent {
  /** The algorithms the new keys use. */
  algorithms: Negotiated;
  /** Key exchanges completed after the first one. */
  rekeys: number;
}

/** Options of `sessionChannel` and `openChannel` (the seed's session_channel/4 arguments). */
export interface ChannelOptions {
  /** Our receive window in bytes (default 4 MiB). */
  initialWindowSize?: number;
  /**
   * How far the receive window may grow, in bytes (an integer up to 2^32 - 1), while the peer is
   * held back by the round trip of our window adjustments and not by the receiver: the window
   * doubles each time a window's worth of data arrives within two round trips with at most a
   * quarter of it waiting to be read (default 16 MiB; `initialWindowSize` when that is given, so a
   * chosen window stays as chosen). The connection's `limits.windowBudget` bounds the sum over its
   * channels whatever this says.
   */
  maxWindowSize?: number;
  /** Largest data packet we accept (default 255 KiB). */
  maxPacketSize?: number;
  /** Milliseconds to wait for the open to be confirmed (default Infinity). */
  timeout?: number;
}

/**
 * The connection a channel belongs to, as channels and their handlers see it (the seed's
 * ssh_connection_ref()). The socket edge's `Connection` implements it; `ssh.connectionInfo` and
 * `ssh.close` take it.
 */
export interface ConnectionRef {
  /** Which side of the connection this is. */
  readonly role: 'client' | 'server';
  /** Arbitrary per-connection data for option callbacks and handlers. */
  readonly data: Map<string, unknown>;
  /** Whether the connection has ended. */
  readonly isClosed: boolean;
  /** What `ssh.connectionInfo` reports: versions, user, addresses, algorithms, channels. */
  info(): ConnectionInfo;
  /** Sends DISCONNECT BY_APPLICATION and closes; resolves once the socket is closed. */
  close(): Promise<void>;
  /** Opens a session channel (RFC 4254 §6.1). */
  sessionChannel(options?: ChannelOptions): Promise<SessionChannel>;
  /** Opens a channel of any type with its type-specific data (RFC 4254 §5.1). */
  openChannel(type: string, extraData?: Buffer, options?: ChannelOptions): Promise<Channel>;
  /** The open channel with this local id. */
  channel(id: number): Channel | undefined;
  /** Resolves once everything queued for the peer so far is with the socket. */
  whenWritten(): Promise<void>;
  /** @internal A channel is closed: the connection forgets it. */
  forgetChannel(id: number): void;
}
