/**
 * The seed's ssh_sftp start/stop functions: `ssh.sftp.startChannel(...)` opens a session channel,
 * starts the `sftp` subsystem on it and resolves with an SftpClient.
 */
import type { Socket } from 'node:net';
import type { ChannelOptions, ConnectionRef } from './channel/link.js';
import { DEFAULT_MAX_WINDOW } from './edge/connection.js';
import { SshError } from './errors.js';
import type { ClientOptions } from './options.js';
import { SftpClient } from './sftp/client.js';
import { SftpSession } from './sftp/session.js';
import { connect } from './ssh.js';

export { SftpClient, SftpError, TransferError } from './sftp/client.js';
export type {
  Attrs,
  FileStat,
  Handle,
  NameEntry,
  OpenFlags,
  OpenMode,
  ProgressCallback,
  SftpLimits,
  StatVfs,
  TransferOptions,
} from './sftp/client.js';

/** Options of startChannel beside the connection's: the channel's and a timeout for the start. */
export interface SftpChannelOptions extends ChannelOptions {
  /** Milliseconds for the channel, the subsystem and the version exchange (default Infinity). */
  timeout?: number;
}

function isConnection(v: unknown): v is ConnectionRef {
  return typeof v === 'object' && v !== null && typeof (v as ConnectionRef).sessionChannel === 'function';
}

/**
 * Starts an SFTP client: on an existing connection (`startChannel(connection, options?)`), or on a
 * new one (`startChannel(host, port?, options?)`, `startChannel(socket, options?)`), which
 * `stopChannel` then closes too. Channel options are `initialWindowSize`, `maxWindowSize`,
 * `maxPacketSize` and `timeout`; the other options are the connection's (the seed's
 * ssh_sftp:start_channel/1,2,3).
 */
export function startChannel(connection: ConnectionRef, options?: SftpChannelOptions): Promise<SftpClient>;
export function startChannel(
  host: string,
  port?: number,
  options?: ClientOptions & SftpChannelOptions,
): Promise<SftpClient>;
export function startChannel(
  socket: Socket,
  options?: ClientOptions & SftpChannelOptions,
): Promise<SftpClient>;
export async function startChannel(
  a: ConnectionRef | string | Socket,
  b?: number | (ClientOptions & SftpChannelOptions),
  c?: ClientOptions & SftpChannelOptions,
): Promise<SftpClient> {
  const all = (typeof b === 'object' ? b : c) ?? {};
  const { initialWindowSize, maxWindowSize, maxPacketSize, timeout, ...connOptions } = all;
  const channelOptions: ChannelOptions = { initialWindowSize, maxWindowSize, maxPacketSize, timeout };
  if (isConnection(a)) {
    // On an existing connection only the channel's options mean anything: refuse the others by
    // name rather than drop them.
    const stray = Object.keys(connOptions).filter(
      (k) => (connOptions as Record<string, unknown>)[k] !== undefined,
    );
    if (stray.length > 0)
      throw new SshError(
        'BAD_OPTION',
        `unknown sftp channel option '${stray[0]}' (on a connection: initialWindowSize, maxWindowSize, maxPacketSize, timeout)`,
      );
    return open(a, channelOptions, timeout, false);
  }
  const conn =
    typeof a === 'string'
      ? await connect(a, typeof b === 'number' ? b : 22, connOptions)
      : await connect(a, connOptions);
  try {
    return await open(conn, channelOptions, timeout, true);
  } catch (e) {
    await conn.close();
    throw e;
  }
}

async function open(
  conn: ConnectionRef,
  channelOptions: ChannelOptions,
  timeout: number | undefined,
  owns: boolean,
): Promise<SftpClient> {
  const session = await openSession(conn, channelOptions, timeout);
  const client = new SftpClient(session);
  // More sessions on the same connection and server, for uploads spread over channels.
  client.sibling = (first) => openSession(conn, channelOptions, timeout, session, first);
  if (owns) client.ownsConnection = () => conn.close();
  return client;
}

/**
 * A session channel with the sftp subsystem started and INIT done. `like`: a session of the same
 * server, whose limits hold; `first` sends the session's first requests right behind INIT.
 */
async function openSession(
  conn: ConnectionRef,
  channelOptions: ChannelOptions,
  timeout: number | undefined,
  like?: SftpSession,
  first?: (session: SftpSession) => void,
): Promise<SftpSession> {
  // Unless the caller chose a window: 8 MiB to start (READ replies in flight), growing to 16 MiB
  // while the round trip holds the server back.
  const chosen = strip(channelOptions);
  const ch = await conn.sessionChannel(
    chosen.initialWindowSize !== undefined
      ? chosen
      : { initialWindowSize: 8 * 1024 * 1024, maxWindowSize: DEFAULT_MAX_WINDOW, ...chosen },
  );
  if ((await ch.subsystem('sftp', timeout)) !== 'success') {
    await ch.close();
    throw new SshError('REQUEST_FAILED', 'the server refused the sftp subsystem');
  }
  const session = new SftpSession(ch);
  try {
    const ready = session.init(timeout, like?.limits);
    first?.(session);
    await ready;
  } catch (e) {
    await ch.close();
    throw e;
  }
  return session;
}

function strip(o: ChannelOptions): ChannelOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as ChannelOptions;
}

/** Closes the client's channel, and the connection when startChannel made it (the seed's ssh_sftp:stop_channel/1). */
export async function stopChannel(client: SftpClient): Promise<void> {
  await client.channel.close();
  await client.ownsConnection?.();
}
