import { constants as C } from 'node:fs';
import { posix } from 'node:path';
import type { Channel } from '../channel/channel.js';
import type { SessionChannel } from '../channel/session-channel.js';
import { debug } from '../log.js';
import { longName, type Attrs } from './attrs.js';
import { EXTENSION_VERSIONS, FX, FXF, FXP, MAX_DATA, MAX_PACKET, SFTP_VERSION } from './constants.js';
import { errnoError, type DirReader, type FileHandler, type FileStats } from './file-handler.js';
import { PacketFramer } from './framer.js';
import { packetPlaintext } from '../transport/packet.js';
import { freeArrayBuffer } from '../wire/detach.js';
import { SpareBuffers } from './spare-buffers.js';
import type { Jail } from './jail.js';
import {
  decodeRequest,
  decodeScatteredWrite,
  peekRequestId,
  writeHeadLength,
  type ScatteredWrite,
  type SftpRequest,
} from './requests.js';
import {
  DATA_HEADER,
  encodeLimits,
  encodeNames,
  encodeResponse,
  encodeStatVfs,
  sealData,
  type NameEntry,
} from './responses.js';
import { STATUS_TEXT, statusOfError } from './status.js';

/** Settings of one server session (resolved `subsystemSpec` options). */
export interface ServerSettings {
  jail: Jail;
  fh: FileHandler;
  /** Names per READDIR reply. */
  maxFiles: number;
  /** Open handles per channel. */
  maxHandles: number;
}

/** Bytes of requests and replies one channel may hold at once, and requests in flight. */
const MEMORY_BUDGET = 8 * 1024 * 1024;
const MAX_IN_FLIGHT = 128;
/**
 * DATA reply buffers kept for the next READs once the channel has sealed their data, at most this
 * many bytes per channel, and none while the session is idle.
 */
const SPARE_BYTES = 1024 * 1024;
/** A READDIR reply stops adding names past this many bytes. */
const NAME_REPLY_BYTES = 128 * 1024;

interface Ordered {
  /** Done when the last barrier operation is (close, fstat, readdir, appends wait for all before). */
  chain: Promise<void>;
  /** Operations since the last barrier that may run together (positional reads and writes). */
  running: Set<Promise<void>>;
}
interface FileEntry extends Ordered {
  kind: 'file';
  file: unknown;
  real: string;
  readable: boolean;
  writable: boolean;
  append: boolean;
}
interface DirEntry extends Ordered {
  kind: 'dir';
  dir: DirReader;
  real: string;
  eof: boolean;
}
type Entry = FileEntry | DirEntry;

/** An error that answers with a given SFTP status. */
class StatusError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const noop = () => {};

/** What is left of `bufs` once its first `n` bytes are gone. */
function after(bufs: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < bufs.length && n >= bufs[i]!.length) n -= bufs[i++]!.length;
  if (i === bufs.length) return [];
  const rest = bufs.slice(i);
  rest[0] = rest[0]!.subarray(n);
  return rest;
}

function toAttrs(s: FileStats): Attrs {
  return { size: s.size, uid: s.uid, gid: s.gid, permissions: s.mode, atime: s.atime, mtime: s.mtime };
}

/** draft-02 §6.3 pflags as open(2) flags. */
function openFlags(pflags: number): number {
  const r = (pflags & FXF.READ) !== 0;
  const w = (pflags & FXF.WRITE) !== 0 || (pflags & FXF.APPEND) !== 0;
  let f = r && w ? C.O_RDWR : w ? C.O_WRONLY : C.O_RDONLY;
  if (pflags & FXF.APPEND) f |= C.O_APPEND;
  if (pflags & FXF.CREAT) f |= C.O_CREAT;
  if (pflags & FXF.TRUNC) f |= C.O_TRUNC;
  if (pflags & FXF.EXCL) f |= C.O_EXCL;
  return f;
}

/**
 * One SFTP server session on one channel (the seed's ssh_sftpd for one client). Requests are
 * served concurrently: path operations one after another in arrival order; operations on one
 * handle in order, except positional reads and writes, which run together; replies go out in
 * request order (see `dispatch`). Memory is bounded per channel: while the
 * requests in flight and their replies hold more than MEMORY_BUDGET bytes (or MAX_IN_FLIGHT
 * requests), `onData` does not return, so the channel's window is not given back and the client
 * must wait.
 */
export class SftpServerSession {
  /**
   * A received chunk that is a packet's plaintext and nothing else is this session's alone, so
   * once every byte of it has been copied or written to the file its memory is freed at once
   * (the client's session does the same; see src/edge/release.ts for why).
   */
  private readonly framer = new PacketFramer(MAX_PACKET, undefined, (memory) => freeArrayBuffer(memory));
  private initialized = false;
  private readonly handles = new Map<string, Entry>();
  /** Handles counted from OPEN/OPENDIR on (an open in progress holds its slot). */
  private handleSlots = 0;
  private nextHandle = 1;
  private pathChain: Promise<void> = Promise.resolve();
  /** Settles once the last reply taken so far has been handed to the channel. */
  private replyTail: Promise<void> = Promise.resolve();
  private reserved = 0;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private idle: (() => void) | undefined;
  private readonly fh: FileHandler;
  private readonly jail: Jail;
  private readonly spare = new SpareBuffers(SPARE_BYTES);
  /** A DATA reply → the spare buffer it is a view of. */
  private readonly lent = new WeakMap<Buffer, Buffer>();

  constructor(
    readonly channel: Channel | SessionChannel,
    private readonly settings: ServerSettings,
  ) {
    this.fh = settings.fh;
    this.jail = settings.jail;
  }

  /**
   * Bytes from the client. Resolves once the requests they held are under way and memory is
   * within budget; rejects (the channel is to be closed) when the stream is beyond repair: a
   * packet over 256 KiB, or anything before INIT.
   */
  async onData(chunk: Buffer): Promise<void> {
    const bodies = this.framer.pushScattering(chunk, packetPlaintext.has(chunk.buffer), this.scatter);
    for (const body of bodies) this.dispatch(body);
    while (this.reserved > MEMORY_BUDGET || this.inFlight > MAX_IN_FLIGHT) {
      await new Promise<void>((r) => (this.drained = r));
    }
  }

  /** Resolves when every request taken so far has been answered. */
  async settle(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((r) => (this.idle = r));
  }

  /** Closes every handle (after the operations running on it): the channel is gone. */
  async closeAll(): Promise<void> {
    const entries = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(entries.map((e) => this.closeEntry(e).catch(noop)));
  }

  /**
   * WRITEs that span channel chunks are taken as the pieces they came in and written from them
   * (FileHandler.writev), not gathered into a copy first.
   */
  private readonly scatter = (head: Buffer) =>
    head[0] === FXP.WRITE && this.initialized ? writeHeadLength(head) : 0;

  private dispatch(body: Buffer | Buffer[]): void {
    let req: SftpRequest | ScatteredWrite;
    let size = 0;
    try {
      if (Array.isArray(body)) {
        for (const p of body) size += p.length;
        req = decodeScatteredWrite(body);
      } else {
        size = body.length;
        req = decodeRequest(body);
      }
    } catch (e) {
      if (Array.isArray(body)) this.framer.release(body);
      const id = Array.isArray(body) ? body[0]!.readUInt32BE(1) : peekRequestId(body);
      if (id === undefined || !this.initialized) throw e;
      debug('sftp: bad request %d: %s', id, (e as Error).message);
      this.send(this.status(id, FX.BAD_MESSAGE, `Bad message: ${(e as Error).message}`), 0);
      return;
    }
    if (req.type === 'init') {
      if (this.initialized) throw new StatusError(FX.BAD_MESSAGE, 'a second INIT');
      this.initialized = true;
      // draft-02 §4: we speak version 3 whatever the client offers, with our extensions.
      this.send(
        encodeResponse({
          type: 'version',
          version: SFTP_VERSION,
          extensions: [...EXTENSION_VERSIONS].map(([n, v]) => [n, Buffer.from(v)]),
        }),
        0,
      );
      return;
    }
    if (!this.initialized) throw new StatusError(FX.BAD_MESSAGE, `${req.type} before INIT`);
    const cost = size + (req.type === 'read' ? Math.min(req.length, MAX_DATA) + DATA_HEADER : 256);
    this.reserved += cost;
    this.inFlight++;
    const id = req.id;
    const reply = this.serve(req).catch((e: unknown) => {
      const s = e instanceof StatusError ? { code: e.code, message: e.message } : statusOfError(e);
      if (!(e instanceof StatusError) && !(e as NodeJS.ErrnoException)?.code)
        debug('sftp: %s failed: %s', req.type, (e as Error)?.stack ?? e);
      return this.status(id, s.code, s.message);
    });
    if (Array.isArray(body)) void reply.then(() => this.framer.release(body));
    // Replies go out in request order although the work runs concurrently: draft-02 §6.1
    // allows any order, but OpenSSH's download code (scp, sftp get) takes a DATA reply that
    // overtakes an earlier one as reordering and then truncates the file it wrote.
    const before = this.replyTail;
    this.replyTail = Promise.all([before, reply]).then(([, packet]) => this.send(packet, cost));
  }

  /** Sends a reply; the request's memory is released once it is with the transport. */
  private send(packet: Buffer, cost: number): void {
    const release = () => {
      if (cost === 0) return;
      this.reserved -= cost;
      this.inFlight--;
      if (this.reserved <= MEMORY_BUDGET && this.inFlight <= MAX_IN_FLIGHT) {
        const d = this.drained;
        this.drained = undefined;
        d?.();
      }
      if (this.inFlight === 0) {
        this.spare.clear();
        const i = this.idle;
        this.idle = undefined;
        i?.();
      }
    };
    const lent = this.lent.get(packet);
    const done = lent ? () => (this.spare.give(lent), release()) : release;
    if (this.channel.isClosed) return done();
    this.channel.send(packet).then(done, done);
  }

  private status(id: number, code: number, message = STATUS_TEXT[code] ?? 'Failure'): Buffer {
    return encodeResponse({ type: 'status', id, code, message, language: 'en' });
  }

  private ok(id: number): Buffer {
    return this.status(id, FX.OK);
  }

  private name(id: number, entries: NameEntry[]): Buffer {
    return encodeResponse({ type: 'name', id, entries });
  }

  /** Path operations run one at a time, in the order they came. */
  private inOrder<T>(op: () => Promise<T>): Promise<T> {
    const p = this.pathChain.then(op);
    this.pathChain = p.then(noop, noop);
    return p;
  }

  /** Runs `op` on a handle: a barrier waits for everything before it; others wait for barriers only. */
  private onHandle<T>(e: Ordered, barrier: boolean, op: () => Promise<T>): Promise<T> {
    if (barrier) {
      const before = Promise.all([e.chain, ...e.running]);
      e.running = new Set();
      const p = before.then(op);
      e.chain = p.then(noop, noop);
      return p;
    }
    const p = e.chain.then(op);
    const t = p.then(noop, noop);
    e.running.add(t);
    void t.then(() => e.running.delete(t));
    return p;
  }

  private entry(handle: Buffer): Entry {
    const e = this.handles.get(handle.toString('latin1'));
    if (!e) throw new StatusError(FX.FAILURE, 'Failure: invalid handle');
    return e;
  }

  private file(handle: Buffer): FileEntry {
    const e = this.entry(handle);
    if (e.kind !== 'file') throw new StatusError(FX.FAILURE, 'Failure: not a file handle');
    return e;
  }

  private addHandle(e: Entry): Buffer {
    const key = `h${(this.nextHandle++).toString(36)}`;
    this.handles.set(key, e);
    return Buffer.from(key, 'latin1');
  }

  /** Holds a handle slot for an open in progress; throws when the channel has maxHandles open. */
  private takeSlot(): void {
    if (this.handleSlots >= this.settings.maxHandles)
      throw new StatusError(
        FX.FAILURE,
        `Failure: too many open handles (at most ${this.settings.maxHandles})`,
      );
    this.handleSlots++;
  }

  private async closeEntry(e: Entry): Promise<void> {
    await this.onHandle(e, true, async () => {
      this.handleSlots--;
      if (e.kind === 'file') await this.fh.close(e.file);
      else await e.dir.close();
    });
  }

  private async serve(m: Exclude<SftpRequest, { type: 'init' }> | ScatteredWrite): Promise<Buffer> {
    const fh = this.fh;
    const jail = this.jail;
    switch (m.type) {
      // ---- handles (draft-02 §6.3-§6.5) ----
      case 'open':
        this.takeSlot();
        return this.inOrder(async () => {
          try {
            const flags = openFlags(m.pflags);
            let real = '';
            const file = await jail.guard(false, async () => {
              real = await jail.resolve(m.path, true);
              return fh.open(real, flags, (m.attrs.permissions ?? 0o666) & 0o7777);
            });
            const acc = flags & (C.O_RDONLY | C.O_WRONLY | C.O_RDWR);
            const handle = this.addHandle({
              kind: 'file',
              file,
              real,
              readable: acc !== C.O_WRONLY,
              writable: acc !== C.O_RDONLY,
              append: (m.pflags & FXF.APPEND) !== 0,
              chain: Promise.resolve(),
              running: new Set(),
            });
            return encodeResponse({ type: 'handle', id: m.id, handle });
          } catch (e) {
            this.handleSlots--;
            throw e;
          }
        });
      case 'opendir':
        this.takeSlot();
        return this.inOrder(async () => {
          try {
            let real = '';
            const dir = await jail.guard(false, async () => {
              real = await jail.resolve(m.path, true);
              return fh.opendir(real);
            });
            const handle = this.addHandle({
              kind: 'dir',
              dir,
              real,
              eof: false,
              chain: Promise.resolve(),
              running: new Set(),
            });
            return encodeResponse({ type: 'handle', id: m.id, handle });
          } catch (e) {
            this.handleSlots--;
            throw e;
          }
        });
      case 'close': {
        const e = this.entry(m.handle);
        this.handles.delete(m.handle.toString('latin1'));
        await this.closeEntry(e);
        return this.ok(m.id);
      }
      case 'read': {
        const e = this.file(m.handle);
        if (!e.readable)
          throw new StatusError(FX.PERMISSION_DENIED, 'Permission denied: not open for reading');
        return this.onHandle(e, false, async () => {
          const len = Math.min(m.length, MAX_DATA);
          // A DATA reply with room for `len` bytes, to read the file into (see sealData).
          const buf = this.spare.take(DATA_HEADER + len);
          let n = 0;
          // Fill the reply unless the file ends: fewer bytes than asked are legal but cost round trips.
          while (n < len) {
            const k = await fh.read(e.file, buf, DATA_HEADER + n, len - n, m.offset + n);
            if (k === 0) break;
            n += k;
          }
          if (n === 0 && len > 0) {
            this.spare.give(buf);
            return this.status(m.id, FX.EOF);
          }
          const packet = sealData(buf, m.id, n);
          this.lent.set(packet, buf);
          return packet;
        });
      }
      case 'write': {
        const e = this.file(m.handle);
        if (!e.writable)
          throw new StatusError(FX.PERMISSION_DENIED, 'Permission denied: not open for writing');
        return this.onHandle(e, e.append, async () => {
          await this.writeAll(e, m.data, m.offset);
          return this.ok(m.id);
        });
      }
      case 'fstat': {
        const e = this.entry(m.handle);
        return this.onHandle(e, true, async () => {
          const s =
            e.kind === 'file'
              ? await fh.fstat(e.file)
              : await jail.guard(false, async () => {
                  await jail.recheck(e.real);
                  return fh.stat(e.real);
                });
          return encodeResponse({ type: 'attrs', id: m.id, attrs: toAttrs(s) });
        });
      }
      case 'fsetstat': {
        const e = this.file(m.handle);
        return this.onHandle(e, true, async () => {
          await fh.fsetstat(e.file, m.attrs);
          return this.ok(m.id);
        });
      }
      case 'readdir': {
        const e = this.entry(m.handle);
        if (e.kind !== 'dir') throw new StatusError(FX.FAILURE, 'Failure: not a directory handle');
        // Names come from the open directory; their attributes by path, so that path is
        // checked again under the lock (see Jail.guard).
        return this.onHandle(e, true, () => jail.guard(false, () => this.readdir(m.id, e)));
      }
      case 'fsync': {
        const e = this.file(m.handle);
        return this.onHandle(e, true, async () => {
          await fh.fsync(e.file);
          return this.ok(m.id);
        });
      }
      case 'fstatvfs': {
        const e = this.entry(m.handle);
        return this.onHandle(e, true, () =>
          jail.guard(false, async () => {
            await jail.recheck(e.real);
            return this.statvfs(m.id, e.real);
          }),
        );
      }
      case 'copyData':
        return this.copyData(m);
      default:
        // RENAME and links can put a symlink where another request's checked path was (a
        // new symlink's target is only checked to be inside root by name, and may pass through
        // a link out of it: harmless once checked on use, not under a check already made).
        return this.inOrder(() => jail.guard(changesWhereNamesLead(m.type), () => this.servePath(m)));
    }
  }

  private async writeAll(e: FileEntry, data: Buffer | Buffer[], offset: number): Promise<void> {
    if (Array.isArray(data)) {
      const fh = this.fh;
      if (!fh.writev) {
        for (const d of data) {
          await this.writeAll(e, d, offset);
          offset += d.length;
        }
        return;
      }
      let left = data;
      while (left.length > 0) {
        const k = await fh.writev(e.file, left, offset);
        if (k <= 0) throw errnoError('EIO', 'short write');
        offset += k;
        left = after(left, k);
      }
      return;
    }
    let done = 0;
    while (done < data.length) {
      const k = await this.fh.write(e.file, data, done, data.length - done, offset + done);
      if (k <= 0) throw errnoError('EIO', 'short write');
      done += k;
    }
  }

  private async readdir(id: number, e: DirEntry): Promise<Buffer> {
    if (e.eof) return this.status(id, FX.EOF);
    const entries: NameEntry[] = [];
    let bytes = 0;
    const limit = Math.min(this.settings.maxFiles, 1024);
    // A directory moved away and replaced by a link out of root since OPENDIR: names only.
    const same = await this.jail.recheck(e.real).then(
      () => true,
      () => false,
    );
    while (entries.length < limit && bytes < NAME_REPLY_BYTES) {
      const name = await e.dir.read();
      if (name === null) {
        e.eof = true;
        break;
      }
      let attrs: Attrs = {};
      let nlink = 1;
      try {
        if (!same) throw errnoError('EACCES');
        const s = await this.fh.lstat(posix.join(e.real, name));
        attrs = toAttrs(s);
        nlink = s.nlink;
      } catch {
        // Gone since the directory was read: list it without attributes.
      }
      const longname = longName(name, attrs, nlink);
      bytes += 2 * name.length + longname.length + 64;
      entries.push({ filename: name, longname, attrs });
    }
    if (entries.length === 0) return this.status(id, FX.EOF);
    return this.name(id, entries);
  }

  private async statvfs(id: number, real: string): Promise<Buffer> {
    if (!this.fh.statvfs) throw new StatusError(FX.OP_UNSUPPORTED, 'Operation unsupported: statvfs');
    const s = await this.fh.statvfs(real);
    return encodeResponse({ type: 'extendedReply', id, data: encodeStatVfs(s) });
  }

  /** copy-data (PROTOCOL §4.10 in spirit: draft-ietf-secsh-filexfer-extensions-00 §7): server-side copy. */
  private copyData(m: Extract<SftpRequest, { type: 'copyData' }>): Promise<Buffer> {
    const from = this.file(m.readHandle);
    const to = this.file(m.writeHandle);
    if (!from.readable || !to.writable)
      throw new StatusError(
        FX.PERMISSION_DENIED,
        'Permission denied: copy-data needs a readable and a writable handle',
      );
    const copy = async () => {
      const buf = Buffer.allocUnsafe(MAX_DATA);
      let done = 0;
      while (m.length === 0 || done < m.length) {
        const want = m.length === 0 ? MAX_DATA : Math.min(MAX_DATA, m.length - done);
        const n = await this.fh.read(from.file, buf, 0, want, m.readOffset + done);
        if (n === 0) break;
        await this.writeAll(to, buf.subarray(0, n), m.writeOffset + done);
        done += n;
      }
      return this.ok(m.id);
    };
    if (from === to) return this.onHandle(from, true, copy);
    return this.onHandle(from, true, () => this.onHandle(to, true, copy));
  }

  private async servePath(
    m: Exclude<
      SftpRequest,
      {
        type:
          | 'init'
          | 'open'
          | 'opendir'
          | 'close'
          | 'read'
          | 'write'
          | 'fstat'
          | 'fsetstat'
          | 'readdir'
          | 'fsync'
          | 'fstatvfs'
          | 'copyData';
      }
    >,
  ): Promise<Buffer> {
    const fh = this.fh;
    const jail = this.jail;
    switch (m.type) {
      case 'stat':
      case 'lstat': {
        const follow = m.type === 'stat';
        const real = await jail.resolve(m.path, follow);
        const s = follow ? await fh.stat(real) : await fh.lstat(real);
        return encodeResponse({ type: 'attrs', id: m.id, attrs: toAttrs(s) });
      }
      case 'setstat':
      case 'lsetstat': {
        const follow = m.type === 'setstat';
        await fh.setstat(await jail.resolve(m.path, follow), m.attrs, follow);
        return this.ok(m.id);
      }
      case 'remove':
        await fh.unlink(await jail.resolve(m.path, false));
        return this.ok(m.id);
      case 'mkdir':
        await fh.mkdir(await jail.resolve(m.path, false), (m.attrs.permissions ?? 0o777) & 0o7777);
        return this.ok(m.id);
      case 'rmdir': {
        const real = await jail.resolve(m.path, false);
        if (real === jail.root) throw errnoError('EBUSY');
        await fh.rmdir(real);
        return this.ok(m.id);
      }
      case 'realpath':
        return this.name(m.id, [this.nameOnly(await this.realpath(m.path))]);
      case 'expandPath': {
        // PROTOCOL §4.9: ~ and ~/ expand to the user's home (here the session's cwd).
        let p = m.path;
        if (p === '~' || p.startsWith('~/')) p = posix.join(jail.cwd, p.slice(1));
        else if (p.startsWith('~')) throw new StatusError(FX.NO_SUCH_FILE, 'No such file: unknown user');
        return this.name(m.id, [this.nameOnly(await this.realpath(p))]);
      }
      case 'homeDirectory':
        return this.name(m.id, [this.nameOnly(jail.cwd)]);
      case 'rename':
      case 'posixRename': {
        const from = await jail.resolve(m.oldPath, false);
        const to = await jail.resolve(m.newPath, false);
        if (from === jail.root || to === jail.root) throw errnoError('EBUSY');
        await fh.rename(from, to, m.type === 'posixRename');
        return this.ok(m.id);
      }
      case 'hardlink':
        await fh.link(await jail.resolve(m.oldPath, false), await jail.resolve(m.newPath, false));
        return this.ok(m.id);
      case 'readlink': {
        const target = jail.showTarget(await fh.readlink(await jail.resolve(m.path, false)));
        return this.name(m.id, [this.nameOnly(target)]);
      }
      case 'symlink': {
        const real = await jail.resolve(m.linkPath, false);
        await fh.symlink(jail.linkTarget(real, m.linkPath, m.targetPath), real);
        return this.ok(m.id);
      }
      case 'statvfs':
        return this.statvfs(m.id, await jail.resolve(m.path, true));
      case 'limits':
        return encodeResponse({
          type: 'extendedReply',
          id: m.id,
          data: encodeLimits({
            maxPacketLength: MAX_PACKET,
            maxReadLength: MAX_DATA,
            maxWriteLength: MAX_DATA,
            maxOpenHandles: this.settings.maxHandles,
          }),
        });
      case 'usersGroupsById': {
        const users = await Promise.all(m.uids.map((u) => this.fh.userName?.(u) ?? ''));
        const groups = await Promise.all(m.gids.map((g) => this.fh.groupName?.(g) ?? ''));
        return encodeResponse({ type: 'extendedReply', id: m.id, data: encodeNames(users, groups) });
      }
      case 'extended':
        return this.status(m.id, FX.OP_UNSUPPORTED, `Operation unsupported: ${m.name.slice(0, 64)}`);
      case 'unknown':
        return this.status(m.id, FX.OP_UNSUPPORTED, `Operation unsupported: packet type ${m.packetType}`);
      default:
        throw new StatusError(FX.OP_UNSUPPORTED, `Operation unsupported: ${(m as SftpRequest).type}`);
    }
  }

  /**
   * REALPATH (draft-02 §6.11): the canonical virtual path, symlinks resolved inside root; a path
   * that does not exist is returned normalised (as sftp-server's realpath does for the last name).
   */
  private async realpath(p: string): Promise<string> {
    const v = this.jail.virtual(p);
    try {
      const real = this.jail.confined ? await this.jail.resolve(v, true) : await this.fh.realpath(v);
      return this.jail.toVirtual(real);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return v;
      throw e;
    }
  }

  private nameOnly(name: string): NameEntry {
    return { filename: name, longname: name, attrs: {} };
  }
}

function changesWhereNamesLead(type: SftpRequest['type']): boolean {
  return type === 'rename' || type === 'posixRename' || type === 'hardlink' || type === 'symlink';
}
