/** RFC 4253 §11.1 disconnect reason codes. */
export const DisconnectReason = {
  /** This host may not connect (1). */
  HOST_NOT_ALLOWED_TO_CONNECT: 1,
  /** The peer broke the protocol (2). */
  PROTOCOL_ERROR: 2,
  /** Key exchange failed, e.g. no algorithm in common (3). */
  KEY_EXCHANGE_FAILED: 3,
  /** Reserved by RFC 4253 (4). */
  RESERVED: 4,
  /** A packet's message authentication code was wrong (5). */
  MAC_ERROR: 5,
  /** Compressed data could not be inflated (6). */
  COMPRESSION_ERROR: 6,
  /** The service asked for is not offered (7). */
  SERVICE_NOT_AVAILABLE: 7,
  /** The peer's SSH protocol version is not supported (8). */
  PROTOCOL_VERSION_NOT_SUPPORTED: 8,
  /** The server's host key was not accepted (9). */
  HOST_KEY_NOT_VERIFIABLE: 9,
  /** The connection was lost (10). */
  CONNECTION_LOST: 10,
  /** The application closed the connection (11). */
  BY_APPLICATION: 11,
  /** The server has too many connections (12). */
  TOO_MANY_CONNECTIONS: 12,
  /** The user cancelled authentication (13). */
  AUTH_CANCELLED_BY_USER: 13,
  /** No authentication method is left to try (14). */
  NO_MORE_AUTH_METHODS_AVAILABLE: 14,
  /** The user name is not acceptable (15). */
  ILLEGAL_USER_NAME: 15,
} as const;
export type DisconnectReasonCode = (typeof DisconnectReason)[keyof typeof DisconnectReason];

const reasonNames = new Map<number, string>(Object.entries(DisconnectReason).map(([k, v]) => [v, k]));

/** The name of a disconnect reason code, or `UNKNOWN_<n>` for codes outside RFC 4253 §11.1. */
export function disconnectReasonName(code: number): string {
  return reasonNames.get(code) ?? `UNKNOWN_${code}`;
}

/** What went wrong, as a code a program can switch on; docs/errors.md says when each happens and what to do. */
export type SshErrorCode =
  /** The server's host key is neither in known_hosts nor accepted by `silentlyAcceptHosts`. */
  | 'HOST_KEY_NOT_VERIFIED'
  /** The server's host key differs from the one known_hosts records for it. */
  | 'HOST_KEY_MISMATCH'
  /** The server's host key is marked `@revoked` in known_hosts. */
  | 'HOST_KEY_REVOKED'
  /** Every authentication method the client could try was refused. */
  | 'AUTH_FAILED'
  /** A negotiation, request or connect timeout expired. */
  | 'TIMEOUT'
  /** The peer sent SSH_MSG_DISCONNECT, or we disconnected; `reason` holds the RFC 4253 §11.1 code. */
  | 'DISCONNECTED'
  /** The TCP connection closed without a disconnect message. */
  | 'CONNECTION_LOST'
  /** The peer broke the protocol: malformed packet, bad length, message out of order. */
  | 'PROTOCOL_ERROR'
  /** No common algorithm, or the key exchange itself failed. */
  | 'KEY_EXCHANGE_FAILED'
  /** A packet failed its integrity check. */
  | 'MAC_ERROR'
  /** An option has an unknown name or a value of the wrong type. */
  | 'BAD_OPTION'
  /** A key or key file could not be read or is not in a supported format. */
  | 'BAD_KEY'
  /** The channel or connection is closed. */
  | 'CLOSED'
  /** The peer refused to open a channel. */
  | 'CHANNEL_OPEN_FAILED'
  /** The peer refused a channel request (e.g. `ssh.shell()`'s shell request). */
  | 'REQUEST_FAILED'
  /** The ssh-agent could not be reached, refused a request or answered nonsense. */
  | 'AGENT_ERROR'
  /** The peer went past a rate limit (re-keys) and was disconnected. */
  | 'FLOODED'
  /** The daemon could not listen, or no daemon matches the reference. */
  | 'NOT_FOUND'
  /** A listen or connect at the socket level failed. */
  | 'SOCKET_ERROR'
  /** An SFTP request was answered with a status other than OK (see SftpError's `status`). */
  | 'SFTP_STATUS';

/**
 * The one error type Seashell rejects with. `code` says what happened; `reason` carries the
 * RFC 4253 disconnect reason when the connection ended with (or because of) a disconnect.
 */
export class SshError extends Error {
  /** Always 'SshError' (SftpError and TransferError keep it, being SshErrors). */
  override readonly name = 'SshError';
  /** What happened (see `SshErrorCode`). */
  readonly code: SshErrorCode;
  /** The RFC 4253 §11.1 disconnect reason (see `DisconnectReason`), when there was a disconnect. */
  readonly reason: number | undefined;

  constructor(code: SshErrorCode, message: string, options?: { reason?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options?.reason;
  }

  /** The RFC 4253 reason name (`PROTOCOL_ERROR`, `BY_APPLICATION`, …) when `reason` is set. */
  get reasonName(): string | undefined {
    return this.reason === undefined ? undefined : disconnectReasonName(this.reason);
  }
}

/** A protocol violation that must end the connection with a DISCONNECT carrying `reason`. */
export function protocolError(message: string, reason: number = DisconnectReason.PROTOCOL_ERROR): SshError {
  const code: SshErrorCode =
    reason === DisconnectReason.MAC_ERROR
      ? 'MAC_ERROR'
      : reason === DisconnectReason.KEY_EXCHANGE_FAILED
        ? 'KEY_EXCHANGE_FAILED'
        : 'PROTOCOL_ERROR';
  return new SshError(code, message, { reason });
}
