/**
 * Seashell: an SSH client and daemon for Node.js with the API of Erlang/OTP's `ssh` application.
 * `import * as ssh from 'seashell-ssh'`, then `ssh.connect(...)`, `ssh.daemon(...)`.
 */
export {
  close,
  connect,
  connectionInfo,
  daemon,
  daemonInfo,
  defaultAlgorithms,
  shell,
  start,
  stop,
  stopDaemon,
  stopListener,
  Daemon,
  type ConnectionInfoKey,
} from './ssh.js';
export type { DaemonInfo } from './daemon.js';
export {
  Connection,
  type ChannelOpenHandler,
  type GlobalRequestHandler,
  type SessionChannelOptions,
} from './edge/connection.js';
export type { ChannelOptions, ConnectionInfo, ConnectionRef, RekeyEvent } from './channel/link.js';
export { Channel, type RequestStatus } from './channel/channel.js';
export { SessionChannel, type PtyOptions } from './channel/session-channel.js';
export type { ChannelDuplex } from './channel/streams.js';
export {
  TIMEOUT,
  type CallResult,
  type CastResult,
  type ChannelMessage,
  type ChannelUp,
  type ClientChannelHandler,
  type From,
  type HandlerResult,
  type InitResult,
  type MaybePromise,
  type RequestMessage,
  type ServerChannelHandler,
} from './channel/behaviour.js';
export * as clientChannel from './channel/client.js';
export { ChannelRef } from './channel/client.js';
export { defaultShell } from './cli/default-cli.js';
export * as sftpd from './sftp/sftpd.js';
export * as sftp from './sftp-api.js';
export type { Reply } from './connection/replies.js';
export type { ChannelOpen, GlobalRequest, ChannelRequest } from './wire/connection-messages.js';
export { SshError, DisconnectReason, disconnectReasonName, type SshErrorCode } from './errors.js';
export type {
  AcceptCallback,
  AcceptHosts,
  ClientOptions,
  CommonOptions,
  DaemonOptions,
  ExecFun,
  ExecResult,
  FingerprintHash,
  HandlerSpec,
  KbdIntDataOption,
  KbdIntTuple,
  Limits,
  MaxStartups,
  PenaltyOptions,
  PwdFun,
  PwdFunVerdict,
  ShellFun,
  ShellOption,
  RekeyLimit,
  UserDirFun,
} from './options.js';
export type {
  AlgorithmListOption,
  AlgorithmSet,
  AlgorithmsOption,
  Directional,
  ModifyAlgorithmsOption,
} from './transport/algorithms.js';
export type { DhGexGroupsOption, DhGexOption, ExplicitGroup } from './transport/kex/gex-options.js';
export type { EcdsaCurveName } from './keys/curves.js';
export type { KeyRestrictions } from './keys/key-restrictions.js';
export type { Negotiated } from './transport/negotiate.js';
export type { IdStringOption } from './transport/version.js';
export type { TerminalMode } from './wire/terminal-modes.js';
export type {
  ClientKeyApi,
  FileKeyApi,
  KeyApiContext,
  KeyCbModule,
  KeyCbOption,
  KeyFileStem,
  ServerKeyApi,
} from './keys/key-api.js';
export { fileKeyApi as sshFile } from './keys/key-api.js';
export type { KeyType, PrivateKey, PublicKey, SignatureAlgorithm } from './keys/types.js';
export {
  fingerprint,
  fingerprintLine,
  opensshFingerprint,
  randomart,
  type FingerprintHash as FingerprintDigest,
} from './keys/fingerprint.js';
export { AgentClient, type AgentIdentity, type AddOptions as AgentAddOptions } from './keys/agent.js';
export {
  parsePrivateKey,
  formatOpenSshPrivateKey,
  generatePrivateKey,
  type GenerateKeyOptions,
} from './keys/openssh-format.js';
export type { KeyEncryption } from './keys/openssh-private.js';
export { generateKeyFile, writeKeyPair, type WriteKeyOptions } from './keys/key-files.js';
export { formatPemPrivateKey, formatPemPublicKey, type PemWriteOptions } from './keys/pem.js';
export { authorizedKeysProblems, knownHostsProblems, readPrivateKeyFile } from './keys/key-file-check.js';
export { parsePublicKeyLine, formatPublicKeyLine } from './keys/public-key.js';
export { parsePublicKeyFile, formatRfc4716PublicKey } from './keys/rfc4716.js';
export { VERSION } from './version.js';
