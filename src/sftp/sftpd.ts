/**
 * The seed's ssh_sftpd: an SFTP server as a subsystem handler. `subsystemSpec(options)` gives the
 * `[name, handler spec]` pair for the daemon's `subsystems` option; the daemon uses
 * `subsystemSpec()` when that option is absent.
 */
import type { ChannelMessage, HandlerResult, ServerChannelHandler } from '../channel/behaviour.js';
import type { Channel } from '../channel/channel.js';
import type { SessionChannel } from '../channel/session-channel.js';
import { SshError } from '../errors.js';
import { debug } from '../log.js';
import { nodeFileHandler, type FileHandler } from './file-handler.js';
import { Jail } from './jail.js';
import { SftpServerSession } from './server.js';
import { posix } from 'node:path';

export type { FileHandler, FileStats, DirReader, FsStats } from './file-handler.js';
export { nodeFileHandler } from './file-handler.js';

/** Options of `subsystemSpec` (the seed's ssh_sftpd options). */
export interface SftpdOptions {
  /**
   * The directory the client sees as `/`; it cannot reach outside it by `..`, absolute paths or
   * symlinks (default '/': the whole file system, unconfined).
   */
  root?: string;
  /** Where relative paths start, as a path the client sees (default '/' with a root, else the process's cwd). */
  cwd?: string;
  /** Where the files live (default `nodeFileHandler`, the local disk). */
  fileHandler?: FileHandler;
  /** Names per READDIR reply (default 100, at most 1024). */
  maxFiles?: number;
  /** Files and directories one channel may have open at once (default 256). */
  maxHandles?: number;
}

interface State {
  options: SftpdOptions;
  fh: FileHandler;
  jail: Jail;
  session?: SftpServerSession;
}

/** Resolves the root (its real path) and checks it is a directory; throws BAD_OPTION if not. */
async function makeJail(o: SftpdOptions, fh: FileHandler): Promise<Jail> {
  let root = '/';
  if (o.root !== undefined && posix.resolve(o.root) !== '/') {
    try {
      root = await fh.realpath(posix.resolve(o.root));
      if (((await fh.stat(root)).mode & 0o170000) !== 0o040000) throw new Error('not a directory');
    } catch (e) {
      throw new SshError('BAD_OPTION', `sftpd root ${o.root}: ${(e as Error).message}`);
    }
  }
  const cwd = posix.resolve('/', o.cwd ?? (root === '/' ? process.cwd() : '/'));
  return new Jail(fh, root, cwd);
}

function check(o: SftpdOptions): void {
  const known = ['root', 'cwd', 'fileHandler', 'maxFiles', 'maxHandles'];
  for (const k of Object.keys(o))
    if (!known.includes(k)) throw new SshError('BAD_OPTION', `unknown sftpd option ${k}`);
  for (const k of ['maxFiles', 'maxHandles'] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1))
      throw new SshError('BAD_OPTION', `sftpd option ${k} must be a positive integer, got ${String(v)}`);
  }
  for (const k of ['root', 'cwd'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string')
      throw new SshError('BAD_OPTION', `sftpd option ${k} must be a string`);
  }
}

/** The SFTP server's channel handler (ssh_server_channel behaviour); `init` takes `[options]`. */
export const sftpdHandler: ServerChannelHandler<State> = {
  async init(args) {
    const options = (args[0] ?? {}) as SftpdOptions;
    const fh = options.fileHandler ?? nodeFileHandler;
    try {
      return { ok: { options, fh, jail: await makeJail(options, fh) } };
    } catch (e) {
      debug('sftp: %s', (e as Error).message);
      return { stop: e };
    }
  },

  handleMsg(message, state): HandlerResult<State> {
    const up = message as { type?: string; channel?: Channel | SessionChannel };
    if (up?.type === 'channelUp' && up.channel) {
      const o = state.options;
      state.session = new SftpServerSession(up.channel, {
        jail: state.jail,
        fh: state.fh,
        maxFiles: Math.min(o.maxFiles ?? 100, 1024),
        maxHandles: o.maxHandles ?? 256,
      });
    }
    return { ok: state };
  },

  async handleSshMsg(m: ChannelMessage, state): Promise<HandlerResult<State>> {
    const s = state.session;
    if (!s) return { stop: m.channelId, state };
    if (m.type === 'data' && m.dataType === 0) {
      try {
        await s.onData(m.data);
      } catch (e) {
        // Framing lost (a packet over the limit) or a request before INIT: nothing to answer.
        debug('sftp channel %d: %s; closing it', m.channelId, (e as Error).message);
        await s.settle();
        await exitStatus(s, 1);
        return { stop: m.channelId, state };
      }
      return { ok: state };
    }
    if (m.type === 'eof') {
      // The client is done: answer what it asked, report success (scp waits for it), close.
      await s.settle();
      await exitStatus(s, 0);
      return { stop: m.channelId, state };
    }
    return { ok: state };
  },

  async terminate(_reason, state) {
    await state?.session?.closeAll();
  },
};

async function exitStatus(s: SftpServerSession, status: number): Promise<void> {
  const ch = s.channel;
  if ('exitStatus' in ch && !ch.isClosed) {
    await ch.exitStatus(status).catch(() => debug('sftp channel %d: exit-status not sent', ch.channelId));
  }
}

/**
 * The seed's ssh_sftpd:subsystem_spec/1: `['sftp', [sftpdHandler, [options]]]`, an entry for the
 * daemon's `subsystems` option. Options are checked here; the root is resolved per channel.
 */
export function subsystemSpec(
  options: SftpdOptions = {},
): [name: string, spec: [ServerChannelHandler<State>, unknown[]]] {
  check(options);
  return ['sftp', [sftpdHandler, [options]]];
}
