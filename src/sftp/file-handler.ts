import * as fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Attrs } from './attrs.js';

/** What the server needs to know of a file: st_mode, size, owner and times (seconds). */
export interface FileStats {
  /** Type and permission bits, as `st_mode`. */
  mode: number;
  /** Size in bytes. */
  size: number;
  /** Owner's user id. */
  uid: number;
  /** Owner's group id. */
  gid: number;
  /** Last access, in seconds since 1970. */
  atime: number;
  /** Last modification, in seconds since 1970. */
  mtime: number;
  /** Number of hard links. */
  nlink: number;
}

/** A directory being read: names one at a time (no `.` and `..`), `null` at the end. */
export interface DirReader {
  /** The next name in the directory, or null at its end. */
  read(): Promise<string | null>;
  /** Closes the directory. */
  close(): Promise<void>;
}

/** statvfs(3) of a file system (PROTOCOL §4.4). */
export interface FsStats {
  /** File system block size. */
  bsize: number;
  /** Fundamental block size (the unit of `blocks`). */
  frsize: number;
  /** Blocks in the file system, in `frsize` units. */
  blocks: number;
  /** Free blocks. */
  bfree: number;
  /** Free blocks available to unprivileged users. */
  bavail: number;
  /** Inodes in the file system. */
  files: number;
  /** Free inodes. */
  ffree: number;
  /** Free inodes available to unprivileged users. */
  favail: number;
  /** File system id. */
  fsid: number;
  /** Mount flags: 1 read-only, 2 no setuid (statvfs@openssh.com's ST_RDONLY, ST_NOSUID). */
  flag: number;
  /** Longest file name. */
  namemax: number;
}

/**
 * Where the SFTP server's files live (the seed's file_handler, in spirit: ssh_sftpd_file_api).
 * Every path it gets is absolute and already confined to the server's root; errors are thrown
 * as Node's are, with an errno `code` ('ENOENT', 'EACCES', 'EEXIST', …) that the server maps to
 * an SFTP status. The default, `nodeFileHandler`, is the local disk through `node:fs`; an
 * implementation may keep its files anywhere (the tests have one in memory).
 */
export interface FileHandler {
  /** `flags` are `fs.constants` O_* bits; `mode` applies when a file is created. */
  open(path: string, flags: number, mode: number): Promise<unknown>;
  /** Closes a file opened by `open`. */
  close(file: unknown): Promise<void>;
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; 0 at the end of the file. */
  read(file: unknown, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /**
   * Writes `length` bytes (or fewer, returning how many) at `position`. The buffer is the
   * server's: it may be freed or reused once the promise settles, so copy what is to be kept.
   */
  write(file: unknown, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /**
   * Optional: writes the buffers one after another (or fewer bytes, returning how many) at
   * `position`. A WRITE that arrived in several channel chunks is written from them with this,
   * instead of being copied into one buffer first; without it, `write` is called per buffer.
   * As with `write`, the buffers may be freed once the promise settles.
   */
  writev?(file: unknown, buffers: Buffer[], position: number): Promise<number>;
  /** An open file's attributes. */
  fstat(file: unknown): Promise<FileStats>;
  /** Applies size (truncate), uid/gid, permissions and times, in that order. */
  fsetstat(file: unknown, attrs: Attrs): Promise<void>;
  /** Flushes an open file to disk. */
  fsync(file: unknown): Promise<void>;
  /** A path's attributes, following symlinks. */
  stat(path: string): Promise<FileStats>;
  /** A path's attributes, not following a symlink. */
  lstat(path: string): Promise<FileStats>;
  /** As fsetstat by path; `follow` false changes a symlink itself (lsetstat). */
  setstat(path: string, attrs: Attrs, follow: boolean): Promise<void>;
  /** Opens a directory for reading its names. */
  opendir(path: string): Promise<DirReader>;
  /** Creates a directory with `mode`. */
  mkdir(path: string, mode: number): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  /** Removes a file. */
  unlink(path: string): Promise<void>;
  /** `overwrite` false: fail with EEXIST if `to` exists (draft-02 RENAME); true: POSIX rename(2). */
  rename(from: string, to: string, overwrite: boolean): Promise<void>;
  /** A symlink's target. */
  readlink(path: string): Promise<string>;
  /** Creates a symlink at `path` pointing to `target`. */
  symlink(target: string, path: string): Promise<void>;
  /** Creates a hard link `path` to `existing`. */
  link(existing: string, path: string): Promise<void>;
  /** The path with every symlink resolved; ENOENT if it does not exist. */
  realpath(path: string): Promise<string>;
  /** File system statistics (for statvfs@openssh.com); without it the extension is not offered. */
  statvfs?(path: string): Promise<FsStats>;
  /** Names of user and group ids, for users-groups-by-id@openssh.com ('' when unknown). */
  userName?(uid: number): Promise<string>;
  /** A group's name (for users-groups-by-id@openssh.com and `ls -l`'s long names). */
  groupName?(gid: number): Promise<string>;
}

/** An errno-style error, as Node's fs throws them. */
export function errnoError(code: string, message = code): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

function toStats(s: fs.Stats): FileStats {
  return {
    mode: s.mode,
    size: s.size,
    uid: s.uid,
    gid: s.gid,
    atime: Math.floor(s.atimeMs / 1000),
    mtime: Math.floor(s.mtimeMs / 1000),
    nlink: s.nlink,
  };
}

function cb<T>(f: (done: (e: NodeJS.ErrnoException | null, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => f((e, v) => (e ? reject(e) : resolve(v))));
}

const fsp = fs.promises;

/** A name from /etc/passwd or /etc/group by id, cached for the process ('' when absent). */
function idNames(file: string): (id: number) => Promise<string> {
  let table: Promise<Map<number, string>> | undefined;
  return async (id) => {
    table ??= readFile(file, 'utf8').then(
      (text) => {
        const m = new Map<number, string>();
        for (const line of text.split('\n')) {
          const f = line.split(':');
          if (f.length >= 3 && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]!);
        }
        return m;
      },
      () => new Map<number, string>(),
    );
    return (await table).get(id) ?? '';
  };
}

/** The local disk through `node:fs`, with raw descriptors on the read/write path. */
export const nodeFileHandler: FileHandler = {
  // O_NONBLOCK: opening a FIFO (or a device that waits for a peer) returns at once instead of
  // holding one of the thread pool's four threads, which every session of the daemon shares,
  // until a writer comes; it changes nothing for regular files (open(2)).
  open: (path, flags, mode) => cb<number>((d) => fs.open(path, flags | fs.constants.O_NONBLOCK, mode, d)),
  close: (fd) => cb<void>((d) => fs.close(fd as number, (e) => d(e, undefined))),
  read: (fd, buffer, offset, length, position) =>
    cb<number>((d) => fs.read(fd as number, buffer, offset, length, position, d)),
  write: (fd, buffer, offset, length, position) =>
    cb<number>((d) => fs.write(fd as number, buffer, offset, length, position, d)),
  writev: (fd, buffers, position) => cb<number>((d) => fs.writev(fd as number, buffers, position, d)),
  fstat: async (fd) => toStats(await cb<fs.Stats>((d) => fs.fstat(fd as number, d))),
  async fsetstat(fd, a) {
    const f = fd as number;
    if (a.size !== undefined) await cb<void>((d) => fs.ftruncate(f, a.size, (e) => d(e, undefined)));
    if (a.uid !== undefined && a.gid !== undefined)
      await cb<void>((d) => fs.fchown(f, a.uid!, a.gid!, (e) => d(e, undefined)));
    if (a.permissions !== undefined)
      await cb<void>((d) => fs.fchmod(f, a.permissions! & 0o7777, (e) => d(e, undefined)));
    if (a.atime !== undefined && a.mtime !== undefined)
      await cb<void>((d) => fs.futimes(f, a.atime!, a.mtime!, (e) => d(e, undefined)));
  },
  fsync: (fd) => cb<void>((d) => fs.fsync(fd as number, (e) => d(e, undefined))),
  stat: async (p) => toStats(await fsp.stat(p)),
  lstat: async (p) => toStats(await fsp.lstat(p)),
  async setstat(p, a, follow) {
    if (a.size !== undefined) await fsp.truncate(p, a.size);
    if (a.uid !== undefined && a.gid !== undefined) await (follow ? fsp.chown : fsp.lchown)(p, a.uid, a.gid);
    // Linux cannot change a symlink's own mode: lsetstat leaves it (as OpenSSH's does).
    if (a.permissions !== undefined && follow) await fsp.chmod(p, a.permissions & 0o7777);
    if (a.atime !== undefined && a.mtime !== undefined)
      await (follow ? fsp.utimes : fsp.lutimes)(p, a.atime, a.mtime);
  },
  async opendir(p) {
    const dir = await fsp.opendir(p, { bufferSize: 64 });
    return {
      read: async () => (await dir.read())?.name ?? null,
      close: () => dir.close(),
    };
  },
  mkdir: (p, mode) => fsp.mkdir(p, mode),
  rmdir: (p) => fsp.rmdir(p),
  unlink: (p) => fsp.unlink(p),
  async rename(from, to, overwrite) {
    if (overwrite) return fsp.rename(from, to);
    // draft-02 RENAME fails if the target exists: link then unlink, as OpenSSH's sftp-server does
    // for files; a directory (which cannot be hard-linked) is renamed after an existence check.
    try {
      await fsp.link(from, to);
      await fsp.unlink(from);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EXDEV' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
      if (
        await fsp.lstat(to).then(
          () => true,
          () => false,
        )
      )
        throw errnoError('EEXIST', 'file exists');
      await fsp.rename(from, to);
    }
  },
  readlink: (p) => fsp.readlink(p),
  symlink: (target, p) => fsp.symlink(target, p),
  link: (existing, p) => fsp.link(existing, p),
  realpath: (p) => fsp.realpath(p),
  async statvfs(p) {
    const s = await fsp.statfs(p);
    return {
      bsize: s.bsize,
      frsize: s.bsize,
      blocks: s.blocks,
      bfree: s.bfree,
      bavail: s.bavail,
      files: s.files,
      ffree: s.ffree,
      favail: s.ffree,
      fsid: 0,
      flag: 0,
      namemax: 255,
    };
  },
  userName: idNames('/etc/passwd'),
  groupName: idNames('/etc/group'),
};
