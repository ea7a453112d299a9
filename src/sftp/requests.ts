import { protocolError } from '../errors.js';
import { SshReader } from '../wire/reader.js';
import { SshWriter } from '../wire/writer.js';
import { readAttrs, readU64, writeAttrs, type Attrs } from './attrs.js';
import { EXT, FXP, MAX_PATH } from './constants.js';
import { sealed } from './framer.js';

/**
 * SFTP v3 requests, client to server (draft-02 §6), and OpenSSH's extended requests (PROTOCOL
 * §4), decoded from and encoded to a packet body: the type byte and what follows it, without
 * the uint32 length (see `framer.ts`). Paths are UTF-8 text; handles are opaque bytes.
 */
export type SftpRequest =
  | { type: 'init'; version: number; extensions: [string, Buffer][] }
  | { type: 'open'; id: number; path: string; pflags: number; attrs: Attrs }
  | { type: 'close'; id: number; handle: Buffer }
  | { type: 'read'; id: number; handle: Buffer; offset: number; length: number }
  | { type: 'write'; id: number; handle: Buffer; offset: number; data: Buffer }
  | {
      type: 'lstat' | 'stat' | 'opendir' | 'remove' | 'rmdir' | 'realpath' | 'readlink';
      id: number;
      path: string;
    }
  | { type: 'fstat' | 'readdir'; id: number; handle: Buffer }
  | { type: 'setstat' | 'mkdir'; id: number; path: string; attrs: Attrs }
  | { type: 'fsetstat'; id: number; handle: Buffer; attrs: Attrs }
  | { type: 'rename'; id: number; oldPath: string; newPath: string }
  /** Sent as (targetPath, linkPath): OpenSSH's order, the reverse of draft-02 (PROTOCOL §4.1). */
  | { type: 'symlink'; id: number; linkPath: string; targetPath: string }
  // OpenSSH extensions, SSH_FXP_EXTENDED (PROTOCOL §4.3-§4.12)
  | { type: 'posixRename' | 'hardlink'; id: number; oldPath: string; newPath: string }
  | { type: 'statvfs' | 'expandPath'; id: number; path: string }
  | { type: 'fstatvfs' | 'fsync'; id: number; handle: Buffer }
  | { type: 'lsetstat'; id: number; path: string; attrs: Attrs }
  | { type: 'limits'; id: number }
  | {
      type: 'copyData';
      id: number;
      readHandle: Buffer;
      readOffset: number;
      /** 0: to the end of the file. */
      length: number;
      writeHandle: Buffer;
      writeOffset: number;
    }
  | { type: 'homeDirectory'; id: number; username: string }
  | { type: 'usersGroupsById'; id: number; uids: number[]; gids: number[] }
  /** An extension nobody here knows: answered OP_UNSUPPORTED. */
  | { type: 'extended'; id: number; name: string; data: Buffer }
  /** A packet type draft-02 does not define: answered OP_UNSUPPORTED. */
  | { type: 'unknown'; id: number; packetType: number };

export type SftpRequestType = SftpRequest['type'];

/** Handles longer than this are not ours (draft-02 §3: at most 256 bytes). */
export const MAX_HANDLE = 256;
/** At most this many ids in one users-groups-by-id request. */
const MAX_IDS = 4096;

function path(r: SshReader, what = 'path'): string {
  const b = r.string(what);
  if (b.length > MAX_PATH) throw protocolError(`SFTP ${what} of ${b.length} bytes`);
  return b.toString('utf8');
}

function handle(r: SshReader): Buffer {
  const b = r.string('handle');
  if (b.length > MAX_HANDLE) throw protocolError(`SFTP handle of ${b.length} bytes`);
  return b;
}

function idList(r: SshReader): number[] {
  const b = r.string('id list');
  if (b.length % 4 !== 0 || b.length / 4 > MAX_IDS) throw protocolError('SFTP id list of a bad length');
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 4) out.push(b.readUInt32BE(i));
  return out;
}

/** The extension pairs after INIT's or VERSION's version number (at most 64 of them). */
export function readExtensionPairs(r: SshReader): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  while (r.remaining > 0) {
    if (out.length >= 64) throw protocolError('SFTP: more than 64 extensions');
    out.push([r.utf8('extension name'), r.string('extension data')]);
  }
  return out;
}

/**
 * The length of a WRITE's head (type, id, handle, offset, data length: draft-02 §6.4) from its
 * first 9 bytes; 0 for a handle longer than any we hand out (the whole request is then decoded,
 * and refused, as usual).
 */
export function writeHeadLength(first9: Buffer): number {
  const n = first9.readUInt32BE(5);
  return n > MAX_HANDLE ? 0 : 9 + n + 12;
}

/** A WRITE whose data is still in the pieces it arrived in (see PacketFramer.pushScattering). */
export interface ScatteredWrite {
  type: 'write';
  id: number;
  handle: Buffer;
  offset: number;
  data: Buffer[];
}

/**
 * Decodes a WRITE body given as pieces, the first holding the whole head (`writeHeadLength`).
 * The handle is copied; the data stays in the pieces. Throws a PROTOCOL_ERROR SshError when the
 * data's length is not what the pieces hold.
 */
export function decodeScatteredWrite(pieces: readonly Buffer[]): ScatteredWrite {
  const first = pieces[0]!;
  const r = new SshReader(first);
  if (r.byte() !== FXP.WRITE) throw protocolError('not an SFTP WRITE');
  const id = r.uint32();
  const h = Buffer.from(handle(r));
  const offset = readU64(r, 'offset');
  const length = r.uint32();
  const data = r.remaining > 0 ? [first.subarray(first.length - r.remaining)] : [];
  let size = r.remaining;
  for (let i = 1; i < pieces.length; i++) {
    data.push(pieces[i]!);
    size += pieces[i]!.length;
  }
  if (size !== length) throw protocolError(`SFTP WRITE of ${length} bytes in a packet holding ${size}`);
  return { type: 'write', id, handle: h, offset, data };
}

/**
 * Decodes a request body. Throws a PROTOCOL_ERROR SshError for a malformed one; `peekRequestId`
 * tells whether its id could still be read (to answer it BAD_MESSAGE).
 */
export function decodeRequest(body: Buffer): SftpRequest {
  const r = new SshReader(body);
  const t = r.byte();
  if (t === FXP.INIT) return { type: 'init', version: r.uint32(), extensions: readExtensionPairs(r) };
  const id = r.uint32();
  let m: SftpRequest;
  switch (t) {
    case FXP.OPEN:
      m = { type: 'open', id, path: path(r), pflags: r.uint32(), attrs: readAttrs(r) };
      break;
    case FXP.CLOSE:
      m = { type: 'close', id, handle: handle(r) };
      break;
    case FXP.READ:
      m = { type: 'read', id, handle: handle(r), offset: readU64(r, 'offset'), length: r.uint32() };
      break;
    case FXP.WRITE:
      m = { type: 'write', id, handle: handle(r), offset: readU64(r, 'offset'), data: r.string('data') };
      break;
    case FXP.LSTAT:
      m = { type: 'lstat', id, path: path(r) };
      break;
    case FXP.STAT:
      m = { type: 'stat', id, path: path(r) };
      break;
    case FXP.FSTAT:
      m = { type: 'fstat', id, handle: handle(r) };
      break;
    case FXP.SETSTAT:
      m = { type: 'setstat', id, path: path(r), attrs: readAttrs(r) };
      break;
    case FXP.FSETSTAT:
      m = { type: 'fsetstat', id, handle: handle(r), attrs: readAttrs(r) };
      break;
    case FXP.OPENDIR:
      m = { type: 'opendir', id, path: path(r) };
      break;
    case FXP.READDIR:
      m = { type: 'readdir', id, handle: handle(r) };
      break;
    case FXP.REMOVE:
      m = { type: 'remove', id, path: path(r) };
      break;
    case FXP.MKDIR:
      m = { type: 'mkdir', id, path: path(r), attrs: readAttrs(r) };
      break;
    case FXP.RMDIR:
      m = { type: 'rmdir', id, path: path(r) };
      break;
    case FXP.REALPATH:
      m = { type: 'realpath', id, path: path(r) };
      break;
    case FXP.RENAME:
      m = { type: 'rename', id, oldPath: path(r), newPath: path(r) };
      break;
    case FXP.READLINK:
      m = { type: 'readlink', id, path: path(r) };
      break;
    case FXP.SYMLINK: {
      const targetPath = path(r, 'target path');
      m = { type: 'symlink', id, targetPath, linkPath: path(r, 'link path') };
      break;
    }
    case FXP.EXTENDED:
      return decodeExtended(id, r);
    default:
      return { type: 'unknown', id, packetType: t };
  }
  r.done(`SFTP ${m.type}`);
  return m;
}

function decodeExtended(id: number, r: SshReader): SftpRequest {
  const name = r.utf8('extension name');
  let m: SftpRequest;
  switch (name) {
    case EXT.posixRename:
      m = { type: 'posixRename', id, oldPath: path(r), newPath: path(r) };
      break;
    case EXT.hardlink:
      m = { type: 'hardlink', id, oldPath: path(r), newPath: path(r) };
      break;
    case EXT.statvfs:
      m = { type: 'statvfs', id, path: path(r) };
      break;
    case EXT.expandPath:
      m = { type: 'expandPath', id, path: path(r) };
      break;
    case EXT.fstatvfs:
      m = { type: 'fstatvfs', id, handle: handle(r) };
      break;
    case EXT.fsync:
      m = { type: 'fsync', id, handle: handle(r) };
      break;
    case EXT.lsetstat:
      m = { type: 'lsetstat', id, path: path(r), attrs: readAttrs(r) };
      break;
    case EXT.limits:
      m = { type: 'limits', id };
      break;
    case EXT.copyData:
      m = {
        type: 'copyData',
        id,
        readHandle: handle(r),
        readOffset: readU64(r, 'offset'),
        length: readU64(r, 'length'),
        writeHandle: handle(r),
        writeOffset: readU64(r, 'offset'),
      };
      break;
    case EXT.homeDirectory:
      m = { type: 'homeDirectory', id, username: path(r, 'user name') };
      break;
    case EXT.usersGroupsById:
      m = { type: 'usersGroupsById', id, uids: idList(r), gids: idList(r) };
      break;
    default:
      return { type: 'extended', id, name, data: r.rest() };
  }
  r.done(`SFTP ${name}`);
  return m;
}

/** The id of a request body if it has one (for a BAD_MESSAGE answer to a malformed request). */
export function peekRequestId(body: Buffer): number | undefined {
  return body.length >= 5 && body[0] !== FXP.INIT ? body.readUInt32BE(1) : undefined;
}

const PATH_TYPES = {
  lstat: FXP.LSTAT,
  stat: FXP.STAT,
  opendir: FXP.OPENDIR,
  remove: FXP.REMOVE,
  rmdir: FXP.RMDIR,
  realpath: FXP.REALPATH,
  readlink: FXP.READLINK,
} as const;

/** Encodes a request as a packet: uint32 length, type, the rest. */
export function encodeRequest(m: SftpRequest): Buffer {
  const w = new SshWriter(m.type === 'write' ? 64 + m.data.length : 128);
  w.uint32(0); // the length, filled in by `sealed`
  if (m.type === 'init') {
    w.byte(FXP.INIT).uint32(m.version);
    for (const [n, d] of m.extensions) w.string(n).string(d);
    return sealed(w);
  }
  const head = (t: number) => w.byte(t).uint32(m.id);
  const ext = (name: string) => head(FXP.EXTENDED).string(name);
  switch (m.type) {
    case 'open':
      head(FXP.OPEN).string(m.path).uint32(m.pflags);
      writeAttrs(w, m.attrs);
      break;
    case 'close':
      head(FXP.CLOSE).string(m.handle);
      break;
    case 'read':
      head(FXP.READ).string(m.handle).uint64(BigInt(m.offset)).uint32(m.length);
      break;
    case 'write':
      head(FXP.WRITE).string(m.handle).uint64(BigInt(m.offset)).string(m.data);
      break;
    case 'lstat':
    case 'stat':
    case 'opendir':
    case 'remove':
    case 'rmdir':
    case 'realpath':
    case 'readlink':
      head(PATH_TYPES[m.type]).string(m.path);
      break;
    case 'fstat':
      head(FXP.FSTAT).string(m.handle);
      break;
    case 'readdir':
      head(FXP.READDIR).string(m.handle);
      break;
    case 'setstat':
    case 'mkdir':
      head(m.type === 'setstat' ? FXP.SETSTAT : FXP.MKDIR).string(m.path);
      writeAttrs(w, m.attrs);
      break;
    case 'fsetstat':
      head(FXP.FSETSTAT).string(m.handle);
      writeAttrs(w, m.attrs);
      break;
    case 'rename':
      head(FXP.RENAME).string(m.oldPath).string(m.newPath);
      break;
    case 'symlink':
      head(FXP.SYMLINK).string(m.targetPath).string(m.linkPath);
      break;
    case 'posixRename':
    case 'hardlink':
      ext(m.type === 'hardlink' ? EXT.hardlink : EXT.posixRename)
        .string(m.oldPath)
        .string(m.newPath);
      break;
    case 'statvfs':
    case 'expandPath':
      ext(EXT[m.type]).string(m.path);
      break;
    case 'fstatvfs':
    case 'fsync':
      ext(EXT[m.type]).string(m.handle);
      break;
    case 'lsetstat':
      ext(EXT.lsetstat).string(m.path);
      writeAttrs(w, m.attrs);
      break;
    case 'limits':
      ext(EXT.limits);
      break;
    case 'copyData':
      ext(EXT.copyData)
        .string(m.readHandle)
        .uint64(BigInt(m.readOffset))
        .uint64(BigInt(m.length))
        .string(m.writeHandle)
        .uint64(BigInt(m.writeOffset));
      break;
    case 'homeDirectory':
      ext(EXT.homeDirectory).string(m.username);
      break;
    case 'usersGroupsById': {
      const ids = (l: number[]) => {
        const b = Buffer.allocUnsafe(l.length * 4);
        l.forEach((v, i) => b.writeUInt32BE(v, i * 4));
        return b;
      };
      ext(EXT.usersGroupsById).string(ids(m.uids)).string(ids(m.gids));
      break;
    }
    case 'extended':
      ext(m.name).raw(m.data);
      break;
    case 'unknown':
      w.byte(m.packetType).uint32(m.id);
      break;
  }
  return sealed(w);
}

/**
 * A WRITE request packet built with one copy of the data and no intermediate buffer (the
 * client's hot path).
 */
export function frameWrite(id: number, handle: Buffer, offset: number, data: Uint8Array): Buffer {
  const b = writeHead(id, handle, offset, data.length, data.length);
  b.set(data, b.length - data.length);
  return b;
}

/**
 * The framed WRITE request up to its `length` bytes of data (length, type, id, handle, offset,
 * data length): the data follows on the wire from the caller's buffer.
 */
export function frameWriteHead(id: number, handle: Buffer, offset: number, length: number): Buffer {
  return writeHead(id, handle, offset, length, 0);
}

/** A WRITE request's header for `length` bytes of data, in a buffer with `room` bytes after it. */
function writeHead(id: number, handle: Buffer, offset: number, length: number, room: number): Buffer {
  const head = 4 + 1 + 4 + 4 + handle.length + 8 + 4;
  const b = Buffer.allocUnsafe(head + room);
  b.writeUInt32BE(head - 4 + length, 0);
  b[4] = FXP.WRITE;
  b.writeUInt32BE(id, 5);
  b.writeUInt32BE(handle.length, 9);
  handle.copy(b, 13);
  const o = 13 + handle.length;
  b.writeBigUInt64BE(BigInt(offset), o);
  b.writeUInt32BE(length, o + 8);
  return b;
}
