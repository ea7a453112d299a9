import { createWriteStream } from 'node:fs';
import {
  mkdir as mkdirLocal,
  open as openLocal,
  readdir as readdirLocal,
  stat as statLocal,
} from 'node:fs/promises';
import { posix, join as joinLocal } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { SessionChannel } from '../channel/session-channel.js';
import { SshError } from '../errors.js';
import { isDirectory, isRegularFile, isSymbolicLink, type Attrs } from './attrs.js';
import { EXT, FX } from './constants.js';
import type { NameEntry, SftpLimits, StatVfs } from './responses.js';
import type { SftpSession } from './session.js';
import { Lanes, type Lane } from './lanes.js';
import { pflagsOf, SftpError, type Handle, type OpenFlags } from './session.js';

export { SftpError, type Handle, type OpenFlags, type OpenMode } from './session.js';
export type { Attrs } from './attrs.js';
export type { NameEntry, SftpLimits, StatVfs } from './responses.js';

/** Progress of a whole-file transfer: bytes so far, of the total, and the rate so far in bytes/s. */
export type ProgressCallback = (transferred: number, total: number, bytesPerSecond: number) => void;

/** Options of the whole-file transfers (fastGet, fastPut, uploadDir, downloadDir). */
export interface TransferOptions {
  /** Requests in flight at most (default 64; the client starts at 8 and doubles per round trip). */
  concurrency?: number;
  /** Bytes per request (default: the largest the server's limits@openssh.com allows, else 32 KiB). */
  chunkSize?: number;
  /** Called after each chunk. */
  step?: ProgressCallback;
  /**
   * Uploads: SFTP channels a large file may be spread over when the server's window cannot cover
   * the round trip (default 4; 1 keeps to this client's channel). Only with a server that has
   * `fsync@openssh.com` and `posix-rename@openssh.com` (files on a POSIX file system); with any
   * other, one. See README, "SFTP".
   */
  channels?: number;
}

/** What `stat` returns: the attributes with the ssh2-sftp-client style flags. */
export interface FileStat extends Attrs {
  /** A directory. */
  isDirectory: boolean;
  /** A regular file. */
  isFile: boolean;
  /** A symbolic link. */
  isSymbolicLink: boolean;
}

/** A failed whole-file transfer says how far it got. */
export class TransferError extends SshError {
  constructor(
    /** Bytes that arrived before the failure. */
    readonly transferred: number,
    cause: unknown,
  ) {
    super(
      (cause as SshError)?.code ?? 'SFTP_STATUS',
      `transfer failed after ${transferred} bytes: ${(cause as Error)?.message ?? String(cause)}`,
      { cause },
    );
  }
}

/**
 * An SFTP client on one channel (the seed's ssh_sftp channel), with the seed's file functions as
 * Promise methods and the whole-file and stream helpers Node users know from ssh2-sftp-client.
 * Errors are SftpError (code 'SFTP_STATUS', `status` the draft-02 code) or SshError.
 */
export class SftpClient {
  /** @internal */
  readonly session: SftpSession;
  private readonly positions = new Map<string, number>();
  /** Set by the facade when this client owns its connection (startChannel(host, ...)). */
  /** @internal */ ownsConnection: (() => Promise<void>) | undefined;
  /**
   * Set by the facade: opens another session on the same connection (see lanes.ts); `first`
   * sends its first requests right behind INIT.
   */
  /** @internal */ sibling: ((first?: (session: SftpSession) => void) => Promise<SftpSession>) | undefined;

  /** @internal */
  constructor(session: SftpSession) {
    this.session = session;
  }

  /**
   * The session channel this client talks on. Its data stream is the client's alone: received
   * data is freed once the client has copied it, so a reader of its own would see it emptied.
   */
  get channel(): SessionChannel {
    return this.session.channel;
  }

  /** The server's extensions by name, with their version strings. */
  get extensions(): ReadonlyMap<string, string> {
    return this.session.extensions;
  }

  /** The server's limits (limits@openssh.com, else draft-02's 32 KiB reads and writes). */
  get limits(): SftpLimits {
    return this.session.limits;
  }

  // ---- the seed's file functions -------------------------------------------------------------

  /** Opens a file: modes as the seed's (['read'], ['write', 'creat', 'trunc'], …) or Node's flags ('r', 'w', 'a', …). */
  async open(path: string, flags: OpenFlags = ['read'], attrs: Attrs = {}): Promise<Handle> {
    const r = await this.session.call({ type: 'open', path, pflags: pflagsOf(flags), attrs });
    const h = this.session.expect(r, 'handle', path).handle;
    this.positions.set(h.toString('latin1'), 0);
    return h;
  }

  /** Opens a directory for `readdir` (the seed's opendir). */
  async opendir(path: string): Promise<Handle> {
    return this.session.expect(await this.session.call({ type: 'opendir', path }), 'handle', path).handle;
  }

  /** Closes a file or directory handle (the seed's close). */
  async close(handle: Handle): Promise<void> {
    this.positions.delete(handle.toString('latin1'));
    await this.session.ok({ type: 'close', handle });
  }

  /** Reads up to `length` bytes at the handle's position; null at the end of the file (the seed's read, ssh_sftp:read/3). */
  async read(handle: Handle, length: number): Promise<Buffer | null> {
    const key = handle.toString('latin1');
    const at = this.positions.get(key) ?? 0;
    const d = await this.pread(handle, at, length);
    if (d) this.positions.set(key, at + d.length);
    return d;
  }

  /** Reads up to `length` bytes at `position`; null at the end of the file (the seed's pread). */
  pread(handle: Handle, position: number, length: number): Promise<Buffer | null> {
    return this.session.read(handle, position, Math.min(length, this.session.chunkLimit));
  }

  /** Writes at the handle's position and moves it on (the seed's write, ssh_sftp:write/3). */
  async write(handle: Handle, data: Uint8Array | string): Promise<void> {
    const key = handle.toString('latin1');
    const at = this.positions.get(key) ?? 0;
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    this.positions.set(key, at + b.length);
    await this.pwrite(handle, at, b);
  }

  /** Writes `data` at `position` (the seed's pwrite). */
  async pwrite(handle: Handle, position: number, data: Uint8Array | string): Promise<void> {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    const chunk = this.session.chunkLimit;
    const parts: Promise<void>[] = [];
    for (let o = 0; o < b.length || (o === 0 && b.length === 0); o += chunk) {
      parts.push(this.session.write(handle, position + o, b.subarray(o, o + chunk)));
      if (b.length === 0) break;
    }
    await Promise.all(parts);
  }

  /** The seed's aread: the request goes out now; await the returned promise later. */
  aread(handle: Handle, length: number): Promise<Buffer | null> {
    return quiet(this.read(handle, length));
  }
  /** The seed's apread: the request goes out now; await the returned promise later. */
  apread(handle: Handle, position: number, length: number): Promise<Buffer | null> {
    return quiet(this.pread(handle, position, length));
  }
  /** The seed's awrite: the request goes out now; await the returned promise later. */
  awrite(handle: Handle, data: Uint8Array | string): Promise<void> {
    return quiet(this.write(handle, data));
  }
  /** The seed's apwrite: the request goes out now; await the returned promise later. */
  apwrite(handle: Handle, position: number, data: Uint8Array | string): Promise<void> {
    return quiet(this.pwrite(handle, position, data));
  }

  /** Moves the handle's position: a number, or { bof | cur | eof: offset }; resolves with the new one (the seed's position). */
  async position(
    handle: Handle,
    to: number | { bof: number } | { cur: number } | { eof: number },
  ): Promise<number> {
    const key = handle.toString('latin1');
    let p: number;
    if (typeof to === 'number') p = to;
    else if ('bof' in to) p = to.bof;
    else if ('cur' in to) p = (this.positions.get(key) ?? 0) + to.cur;
    else p = ((await this.session.attrs({ type: 'fstat', handle })).size ?? 0) + to.eof;
    if (p < 0) throw new SftpError(FX.FAILURE, 'position before the start of the file');
    this.positions.set(key, p);
    return p;
  }

  /** The whole file, read with requests in flight (the seed's read_file). */
  async readFile(path: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.download(path, new Writable({ write: (c: Buffer, _e, cb) => (parts.push(c), cb()) }), {});
    return Buffer.concat(parts);
  }

  /** Writes a whole file, creating or truncating it (the seed's write_file). */
  async writeFile(path: string, data: Uint8Array | string): Promise<void> {
    const h = await this.open(path, 'w');
    try {
      await this.pwrite(h, 0, data);
    } finally {
      await this.close(h);
    }
  }

  /** Names in a directory, without . and .. (the seed's list_dir). */
  async listDir(path: string): Promise<string[]> {
    return (await this.readdirAll(path)).map((e) => e.filename);
  }

  /** One batch of entries of an open directory; null when there are no more. */
  readdir(handle: Handle): Promise<NameEntry[] | null> {
    return this.session.names({ type: 'readdir', handle });
  }

  /** Every entry of a directory, with its attributes (no . and ..). */
  async readdirAll(path: string): Promise<NameEntry[]> {
    const h = await this.opendir(path);
    const out: NameEntry[] = [];
    try {
      for (let b = await this.readdir(h); b; b = await this.readdir(h))
        out.push(...b.filter((e) => e.filename !== '.' && e.filename !== '..'));
    } finally {
      await this.close(h);
    }
    return out;
  }

  /** Creates a directory (the seed's make_dir). */
  makeDir(path: string, attrs: Attrs = {}): Promise<void> {
    return this.session.ok({ type: 'mkdir', path, attrs }, path);
  }
  /** Removes an empty directory (the seed's del_dir). */
  delDir(path: string): Promise<void> {
    return this.session.ok({ type: 'rmdir', path }, path);
  }
  /** Removes a file (the seed's delete). */
  delete(path: string): Promise<void> {
    return this.session.ok({ type: 'remove', path }, path);
  }
  /** Renames with draft-02 RENAME, which fails if `newPath` exists (the seed's rename). */
  rename(oldPath: string, newPath: string): Promise<void> {
    return this.session.ok({ type: 'rename', oldPath, newPath }, oldPath);
  }
  /** A file's attributes, following symlinks (the seed's read_file_info; SSH_FXP_STAT). */
  readFileInfo(path: string): Promise<Attrs> {
    return this.session.attrs({ type: 'stat', path }, path);
  }
  /** A file's attributes, not following a symlink (the seed's read_link_info; SSH_FXP_LSTAT). */
  readLinkInfo(path: string): Promise<Attrs> {
    return this.session.attrs({ type: 'lstat', path }, path);
  }
  /** An open file's attributes (SSH_FXP_FSTAT). */
  fstat(handle: Handle): Promise<Attrs> {
    return this.session.attrs({ type: 'fstat', handle });
  }
  /** Sets a file's attributes (the seed's write_file_info; SSH_FXP_SETSTAT). */
  writeFileInfo(path: string, attrs: Attrs): Promise<void> {
    return this.session.ok({ type: 'setstat', path, attrs }, path);
  }
  /** Sets an open file's attributes (SSH_FXP_FSETSTAT). */
  fsetstat(handle: Handle, attrs: Attrs): Promise<void> {
    return this.session.ok({ type: 'fsetstat', handle, attrs });
  }
  /** A symlink's target (the seed's read_link). */
  async readLink(path: string): Promise<string> {
    return (await this.session.names({ type: 'readlink', path }, path))?.[0]?.filename ?? '';
  }
  /** A symlink at `linkPath` pointing to `target` (sent in OpenSSH's argument order). */
  makeSymlink(linkPath: string, target: string): Promise<void> {
    return this.session.ok({ type: 'symlink', linkPath, targetPath: target }, linkPath);
  }
  /** The server's canonical absolute form of a path (SSH_FXP_REALPATH). */
  async realpath(path: string): Promise<string> {
    return (await this.session.names({ type: 'realpath', path }, path))?.[0]?.filename ?? path;
  }

  // ---- OpenSSH extensions (PROTOCOL §4) -------------------------------------------------------

  /** Renames, replacing `newPath` if it exists (posix-rename@openssh.com). */
  posixRename(oldPath: string, newPath: string): Promise<void> {
    this.session.needs(EXT.posixRename);
    return this.session.ok({ type: 'posixRename', oldPath, newPath }, oldPath);
  }
  /** File system statistics of a path (statvfs@openssh.com). */
  statvfs(path: string): Promise<StatVfs> {
    this.session.needs(EXT.statvfs);
    return this.session.statvfs({ type: 'statvfs', path });
  }
  /** File system statistics of an open file (fstatvfs@openssh.com). */
  fstatvfs(handle: Handle): Promise<StatVfs> {
    this.session.needs(EXT.fstatvfs);
    return this.session.statvfs({ type: 'fstatvfs', handle });
  }
  /** A hard link `newPath` to `oldPath` (hardlink@openssh.com). */
  hardlink(oldPath: string, newPath: string): Promise<void> {
    this.session.needs(EXT.hardlink);
    return this.session.ok({ type: 'hardlink', oldPath, newPath }, newPath);
  }
  /** Flushes an open file to disk on the server (fsync@openssh.com). */
  fsync(handle: Handle): Promise<void> {
    this.session.needs(EXT.fsync);
    return this.session.ok({ type: 'fsync', handle });
  }
  /** Sets a path's attributes without following a symlink (lsetstat@openssh.com). */
  lsetstat(path: string, attrs: Attrs): Promise<void> {
    this.session.needs(EXT.lsetstat);
    return this.session.ok({ type: 'lsetstat', path, attrs }, path);
  }
  /** Expands `~` and relative paths on the server (expand-path@openssh.com). */
  async expandPath(path: string): Promise<string> {
    this.session.needs(EXT.expandPath);
    return (await this.session.names({ type: 'expandPath', path }, path))?.[0]?.filename ?? path;
  }
  /** Server-side copy of `length` bytes (0: to the end) from one open file to another. */
  copyData(from: Handle, fromOffset: number, length: number, to: Handle, toOffset: number): Promise<void> {
    this.session.needs(EXT.copyData);
    return this.session.ok({
      type: 'copyData',
      readHandle: from,
      readOffset: fromOffset,
      length,
      writeHandle: to,
      writeOffset: toOffset,
    });
  }
  /** A user's home directory on the server; empty name: ours (home-directory). */
  async homeDirectory(username = ''): Promise<string> {
    this.session.needs(EXT.homeDirectory);
    return (await this.session.names({ type: 'homeDirectory', username }))?.[0]?.filename ?? '';
  }
  /** User and group names for uids and gids (users-groups-by-id@openssh.com). */
  getUsersGroups(
    uids: number[],
    gids: number[],
  ): Promise<{
    /** The user names, in the order of `uids` (empty where the server knows none). */
    users: string[];
    /** The group names, in the order of `gids` (empty where the server knows none). */
    groups: string[];
  }> {
    return this.session.usersGroups(uids, gids);
  }

  // ---- the everyday API ----------------------------------------------------------------------

  /** false, or the type: 'd' directory, '-' file, 'l' symlink (ssh2-sftp-client's exists). */
  async exists(path: string): Promise<false | 'd' | '-' | 'l'> {
    try {
      const a = await this.readLinkInfo(path);
      return isDirectory(a) ? 'd' : isSymbolicLink(a) ? 'l' : '-';
    } catch (e) {
      if (e instanceof SftpError && e.status === FX.NO_SUCH_FILE) return false;
      throw e;
    }
  }

  /** A file's attributes with isDirectory/isFile/isSymbolicLink, as ssh2-sftp-client's stat. */
  async stat(path: string): Promise<FileStat> {
    const a = await this.readFileInfo(path);
    return { ...a, isDirectory: isDirectory(a), isFile: isRegularFile(a), isSymbolicLink: isSymbolicLink(a) };
  }

  /** mkdir, with `recursive` making the parents too (existing ones are fine). */
  async mkdir(path: string, recursive = false): Promise<void> {
    if (!recursive) return this.makeDir(path);
    if ((await this.exists(path)) === 'd') return;
    const parent = posix.dirname(path);
    if (parent !== path) await this.mkdir(parent, true);
    try {
      await this.makeDir(path);
    } catch (e) {
      if ((await this.exists(path)) !== 'd') throw e;
    }
  }

  /** rmdir, with `recursive` removing what is inside first. */
  async rmdir(path: string, recursive = false): Promise<void> {
    if (recursive) {
      for (const e of await this.readdirAll(path)) {
        const p = posix.join(path, e.filename);
        if (isDirectory(e.attrs)) await this.rmdir(p, true);
        else await this.delete(p);
      }
    }
    await this.delDir(path);
  }

  /** Downloads `remote` to the local file `local`, many requests in flight. */
  async fastGet(remote: string, local: string, options: TransferOptions = {}): Promise<void> {
    await this.download(remote, createWriteStream(local), options, true);
  }

  /** Uploads the local file `local` to `remote`, many requests in flight. */
  async fastPut(local: string, remote: string, options: TransferOptions = {}): Promise<void> {
    const size = (await statLocal(local)).size;
    const fd = await openLocal(local, 'r');
    try {
      await this.upload(
        remote,
        size,
        (buf, pos) => fd.read(buf, 0, buf.length, pos).then((r) => r.bytesRead),
        options,
      );
    } finally {
      await fd.close();
    }
  }

  /** Downloads to a local path or into a Writable (ended when done). */
  async get(remote: string, dst: string | Writable, options: TransferOptions = {}): Promise<void> {
    if (typeof dst === 'string') await this.download(remote, createWriteStream(dst), options, true);
    else await this.download(remote, dst, options);
  }

  /** Uploads a local path, a Buffer or a Readable. */
  async put(src: string | Buffer | Readable, remote: string, options: TransferOptions = {}): Promise<void> {
    if (typeof src === 'string') return this.fastPut(src, remote, options);
    if (Buffer.isBuffer(src)) {
      return this.upload(
        remote,
        src.length,
        async (buf, pos) => src.copy(buf, 0, pos, Math.min(src.length, pos + buf.length)),
        options,
      );
    }
    const { pipeline } = process.getBuiltinModule('node:stream/promises');
    await pipeline(src, this.createWriteStream(remote));
  }

  /** A Readable of a remote file, with reads ahead bounded by the stream's highWaterMark. */
  createReadStream(
    path: string,
    options: { start?: number; end?: number; highWaterMark?: number } = {},
  ): Readable {
    const chunk = this.session.chunkLimit;
    const ahead = Math.max(1, Math.ceil((options.highWaterMark ?? 4 * chunk) / chunk));
    let handle: Handle | undefined;
    let next = options.start ?? 0;
    const end = options.end === undefined ? Infinity : options.end + 1;
    const inflight: Promise<Buffer | null>[] = [];
    let done = false;
    const issue = () => {
      while (inflight.length < ahead && next < end && !done) {
        const len = Math.min(chunk, end - next);
        inflight.push(quiet(this.pread(handle!, next, len)));
        next += len;
      }
    };
    return new Readable({
      highWaterMark: options.highWaterMark ?? 4 * chunk,
      construct: (cb) => {
        this.open(path, 'r').then((h) => ((handle = h), cb()), cb);
      },
      read: function (this: Readable) {
        issue();
        const p = inflight.shift();
        if (!p) return void this.push(null);
        p.then(
          (d) => {
            // A short read in the middle: the data is right, the next requests follow on.
            if (!d) {
              done = true;
              inflight.length = 0;
              this.push(null);
            } else this.push(d);
          },
          (e: Error) => this.destroy(e),
        );
      },
      destroy: (err, cb) => {
        done = true;
        if (handle)
          this.close(handle).then(
            () => cb(err),
            () => cb(err),
          );
        else cb(err);
      },
    });
  }

  /** A Writable to a remote file: each write is a WRITE request, several in flight, with backpressure. */
  createWriteStream(
    path: string,
    options: { flags?: OpenFlags; start?: number; highWaterMark?: number } = {},
  ): Writable {
    let handle: Handle | undefined;
    let pos = options.start ?? 0;
    const chunk = this.session.chunkLimit;
    const inflight = new Set<Promise<void>>();
    let failure: Error | undefined;
    const maxInflight = 16;
    return new Writable({
      highWaterMark: options.highWaterMark ?? 4 * chunk,
      construct: (cb) => {
        this.open(path, options.flags ?? 'w').then((h) => ((handle = h), cb()), cb);
      },
      write: (data: Buffer, _enc, cb) => {
        if (failure) return cb(failure);
        for (let o = 0; o < data.length; o += chunk) {
          const p = this.session.write(handle!, pos + o, data.subarray(o, o + chunk)).then(
            () => void inflight.delete(p),
            (e: Error) => {
              inflight.delete(p);
              failure ??= e;
            },
          );
          inflight.add(p);
        }
        pos += data.length;
        if (inflight.size < maxInflight) return cb();
        void Promise.race(inflight).then(() => cb(failure));
      },
      final: (cb) => {
        void Promise.all(inflight)
          .then(() => this.close(handle!))
          .then(
            () => cb(failure),
            (e: Error) => cb(e),
          );
      },
    });
  }

  /** Uploads a local directory tree; `filter(localPath, isDirectory)` false skips an entry. */
  async uploadDir(
    src: string,
    dst: string,
    options: TransferOptions & { filter?: (path: string, isDirectory: boolean) => boolean } = {},
  ): Promise<void> {
    await this.mkdir(dst, true);
    for (const e of await readdirLocal(src, { withFileTypes: true })) {
      const l = joinLocal(src, e.name);
      const r = posix.join(dst, e.name);
      if (options.filter && !options.filter(l, e.isDirectory())) continue;
      if (e.isDirectory()) await this.uploadDir(l, r, options);
      else if (e.isFile()) await this.fastPut(l, r, options);
    }
  }

  /** Downloads a remote directory tree; `filter(remotePath, isDirectory)` false skips an entry. */
  async downloadDir(
    src: string,
    dst: string,
    options: TransferOptions & { filter?: (path: string, isDirectory: boolean) => boolean } = {},
  ): Promise<void> {
    await mkdirLocal(dst, { recursive: true });
    for (const e of await this.readdirAll(src)) {
      const r = posix.join(src, e.filename);
      const l = joinLocal(dst, e.filename);
      const dir = isDirectory(e.attrs);
      if (options.filter && !options.filter(r, dir)) continue;
      if (dir) await this.downloadDir(r, l, options);
      else if (isRegularFile(e.attrs)) await this.fastGet(r, l, options);
    }
  }

  // ---- pipelined transfers -------------------------------------------------------------------

  /**
   * Reads `remote` into `out` with up to `concurrency` READs in flight. The window starts at 8
   * requests and grows by one per reply, so a loopback transfer reaches the cap in a few round
   * trips and a long path keeps `concurrency × chunkSize` bytes in flight. Chunks are written in
   * file order; `out` is ended at the end. `ours`: `out` is a file stream of ours, done with a
   * chunk when its callback runs, so the reply buffers go back to the session for reuse.
   */
  private async download(remote: string, out: Writable, o: TransferOptions, ours = false): Promise<void> {
    const chunk = Math.min(o.chunkSize ?? this.session.chunkLimit, this.session.chunkLimit);
    const cap = Math.max(1, o.concurrency ?? 64);
    let h: Handle;
    try {
      h = await this.open(remote, 'r');
    } catch (e) {
      out.destroy();
      throw new TransferError(0, e);
    }
    let got = 0;
    const started = Date.now();
    try {
      const total = (await this.fstat(h)).size ?? 0;
      let next = 0;
      let window = Math.min(8, cap);
      let eof = false;
      const queue: { offset: number; p: Promise<Buffer[] | null> }[] = [];
      // Into a file stream of ours the data goes as the pieces it came in (see readPieces).
      const read = ours
        ? (at: number) => this.session.readPieces(h, at, chunk)
        : (at: number) => this.pread(h, at, chunk).then((d) => d && [d]);
      const fill = () => {
        // Up to `window` requests within the size fstat gave; past it, one at a time until EOF.
        while (!eof && queue.length < (next < total ? window : 1)) {
          queue.push({ offset: next, p: quiet(read(next)) });
          next += chunk;
        }
      };
      fill();
      while (queue.length > 0) {
        const { offset, p } = queue.shift()!;
        const d = await p;
        if (!d) {
          eof = true;
          continue;
        }
        let n = 0;
        for (const b of d) n += b.length;
        if (n < chunk && offset + n < next) {
          // A short read before the end: fetch the rest of this chunk before going on.
          let at = offset + n;
          while (at < offset + chunk) {
            const more = await this.pread(h, at, offset + chunk - at);
            if (!more) break;
            d.push(more);
            at += more.length;
          }
          n = at - offset;
        }
        let more: boolean;
        if (ours) {
          // One writev for the pieces; a file stream of ours is done with them at its callback.
          out.cork();
          for (let i = 0; i < d.length - 1; i++) out.write(d[i]);
          more = out.write(d[d.length - 1], () => this.session.release(d));
          out.uncork();
        } else {
          // A caller's stream may keep what it is given.
          more = out.write(d.length === 1 ? d[0] : Buffer.concat(d));
        }
        if (!more) await new Promise((r) => out.once('drain', r));
        got += n;
        o.step?.(got, total, got / Math.max(0.001, (Date.now() - started) / 1000));
        if (window < cap) window++;
        // Refill in batches (half the window at a time): one socket write carries many READs.
        if (queue.length <= window / 2) fill();
      }
    } catch (e) {
      out.destroy();
      throw new TransferError(got, e);
    } finally {
      await this.close(h).catch(() => {});
    }
    await new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.end(resolve);
    });
    this.session.dropSpare();
  }

  /**
   * Writes `size` bytes taken by `readAt` to `remote` with up to `concurrency` WRITEs in flight,
   * over more than one channel when one channel's window would hold it back (see lanes.ts).
   */
  private async upload(
    remote: string,
    size: number,
    readAt: (buf: Buffer, position: number) => Promise<number>,
    o: TransferOptions,
  ): Promise<void> {
    const chunk = Math.min(o.chunkSize ?? this.session.chunkLimit, this.session.chunkLimit);
    const cap = Math.max(1, o.concurrency ?? 64);
    const lanes = new Lanes(this, remote, size, o.channels);
    const h = await lanes.start();
    let acked = 0;
    const started = Date.now();
    const stepped = (n: number) => o.step?.(n, size, n / Math.max(0.001, (Date.now() - started) / 1000));
    try {
      let inflight = 0;
      let window = Math.min(8, cap);
      let failure: unknown;
      let wake: (() => void) | undefined;
      const settled = (lane: Lane) => {
        inflight--;
        lane.inflight--;
        const w = wake;
        wake = undefined;
        w?.();
      };
      // Local reads of several chunks at once, whose WRITEs leave together: one socket write
      // per batch rather than per request (on loopback each write costs the peer's wake-up too).
      // Over lanes, a block is at most half a lane's window, so that each lane has blocks in flight.
      const most = Math.max(1, Math.min(16, Math.floor(cap / 2), lanes.blockChunks(chunk)));
      // A block goes back to `spare` once the server has answered all of its WRITEs (so the data
      // has left through the socket): a transfer reuses the few blocks it keeps in flight rather
      // than allocating its whole size again, which kept the collector busy.
      const spare: Buffer[] = [];
      const limit = () => Math.min(window, lanes.fitChunks(chunk));
      for (let pos = 0; pos < size;) {
        // Blocks of at most half the WRITEs the transfer may have unanswered, which start at 8
        // and grow by one per reply, up to `concurrency` and, with a server that grants window as
        // it passes data on, what its windows hold (`fitChunks`).
        const block = chunk * Math.max(1, Math.min(most, Math.floor(limit() / 2)));
        const kept = spare.pop();
        const block0 =
          kept && kept.length >= Math.min(block, size - pos)
            ? kept
            : Buffer.allocUnsafe(Math.min(block, size));
        const buf = block0.subarray(0, Math.min(block, size - pos));
        const n = await readAt(buf, pos);
        if (n <= 0) throw new SshError('SFTP_STATUS', `the local source ended at ${pos} of ${size} bytes`);
        let unanswered = Math.ceil(n / chunk);
        const lane = lanes.next();
        for (let o = 0; o < n; o += chunk) {
          const len = Math.min(chunk, n - o);
          inflight++;
          lane.inflight++;
          lane.session.write(lane.handle, pos + o, buf.subarray(o, o + len), true).then(
            () => {
              acked += len;
              if (window < cap) window++;
              if (--unanswered === 0) spare.push(block0);
              stepped(acked);
              settled(lane);
            },
            (e: unknown) => {
              failure ??= e;
              settled(lane);
            },
          );
        }
        pos += n;
        // Wait until a block's worth of requests fits in the window again.
        while (inflight > Math.max(0, limit() - Math.ceil(block / chunk)) && !failure)
          await new Promise<void>((r) => (wake = r));
        if (failure) throw failure;
      }
      while (inflight > 0) await new Promise<void>((r) => (wake = r));
      if (failure) throw failure;
      await lanes.finish(h);
    } catch (e) {
      await lanes.abandon(h);
      throw new TransferError(acked, e);
    }
  }
}

/** Marks a promise handled (a request the caller awaits later must not crash the process meanwhile). */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
