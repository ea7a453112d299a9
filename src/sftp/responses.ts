import { protocolError } from '../errors.js';
import { SshReader } from '../wire/reader.js';
import { SshWriter } from '../wire/writer.js';
import { readAttrs, readU64, writeAttrs, type Attrs } from './attrs.js';
import { FXP, MAX_PATH } from './constants.js';
import { sealed } from './framer.js';
import { MAX_HANDLE, readExtensionPairs } from './requests.js';

/** One entry of SSH_FXP_NAME (draft-02 §7). */
export interface NameEntry {
  /** The entry's name. */
  filename: string;
  /** The entry as `ls -l` shows it (the server's format). */
  longname: string;
  /** The entry's attributes. */
  attrs: Attrs;
}

/** SFTP v3 responses, server to client (draft-02 §7), as packet bodies without the length. */
export type SftpResponse =
  | { type: 'version'; version: number; extensions: [string, Buffer][] }
  | { type: 'status'; id: number; code: number; message: string; language: string }
  | { type: 'handle'; id: number; handle: Buffer }
  | { type: 'data'; id: number; data: Buffer }
  | { type: 'name'; id: number; entries: NameEntry[] }
  | { type: 'attrs'; id: number; attrs: Attrs }
  /** SSH_FXP_EXTENDED_REPLY: what follows the id, decoded by the request's extension. */
  | { type: 'extendedReply'; id: number; data: Buffer };

/** At most this many entries in one NAME reply. */
export const MAX_NAMES = 4096;

export function decodeResponse(body: Buffer): SftpResponse {
  const r = new SshReader(body);
  const t = r.byte();
  if (t === FXP.VERSION) return { type: 'version', version: r.uint32(), extensions: readExtensionPairs(r) };
  const id = r.uint32();
  let m: SftpResponse;
  switch (t) {
    case FXP.STATUS: {
      const code = r.uint32();
      // draft-02 has the message and language; some old servers end after the code.
      const message = r.remaining > 0 ? r.utf8('status message') : '';
      const language = r.remaining > 0 ? r.ascii('language tag') : '';
      m = { type: 'status', id, code, message, language };
      break;
    }
    case FXP.HANDLE: {
      const handle = r.string('handle');
      if (handle.length > MAX_HANDLE) throw protocolError(`SFTP handle of ${handle.length} bytes`);
      m = { type: 'handle', id, handle };
      break;
    }
    case FXP.DATA:
      m = { type: 'data', id, data: r.string('data') };
      break;
    case FXP.NAME: {
      const n = r.uint32();
      if (n > MAX_NAMES) throw protocolError(`SFTP NAME with ${n} entries`);
      const entries: NameEntry[] = [];
      for (let i = 0; i < n; i++) {
        const f = r.string('filename');
        const l = r.string('longname');
        if (f.length > MAX_PATH || l.length > MAX_PATH) throw protocolError('SFTP NAME entry too long');
        entries.push({ filename: f.toString('utf8'), longname: l.toString('utf8'), attrs: readAttrs(r) });
      }
      m = { type: 'name', id, entries };
      break;
    }
    case FXP.ATTRS:
      m = { type: 'attrs', id, attrs: readAttrs(r) };
      break;
    case FXP.EXTENDED_REPLY:
      return { type: 'extendedReply', id, data: r.rest() };
    default:
      throw protocolError(`SFTP response of unknown type ${t}`);
  }
  r.done(`SFTP ${m.type}`);
  return m;
}

/** Encodes a response as a packet: uint32 length, type, the rest. */
export function encodeResponse(m: SftpResponse): Buffer {
  const w = new SshWriter(m.type === 'data' ? m.data.length + 16 : 128);
  w.uint32(0); // the length, filled in by `sealed`
  if (m.type === 'version') {
    w.byte(FXP.VERSION).uint32(m.version);
    for (const [n, d] of m.extensions) w.string(n).string(d);
    return sealed(w);
  }
  switch (m.type) {
    case 'status':
      w.byte(FXP.STATUS).uint32(m.id).uint32(m.code).string(m.message).string(m.language);
      break;
    case 'handle':
      w.byte(FXP.HANDLE).uint32(m.id).string(m.handle);
      break;
    case 'data':
      w.byte(FXP.DATA).uint32(m.id).string(m.data);
      break;
    case 'name':
      w.byte(FXP.NAME).uint32(m.id).uint32(m.entries.length);
      for (const e of m.entries) {
        w.string(e.filename).string(e.longname);
        writeAttrs(w, e.attrs);
      }
      break;
    case 'attrs':
      w.byte(FXP.ATTRS).uint32(m.id);
      writeAttrs(w, m.attrs);
      break;
    case 'extendedReply':
      w.byte(FXP.EXTENDED_REPLY).uint32(m.id).raw(m.data);
      break;
  }
  return sealed(w);
}

/** Bytes before the data in a framed DATA reply: length, type, id, data length. */
export const DATA_HEADER = 4 + 1 + 4 + 4;

/**
 * Writes the header of a DATA reply for `id` holding `n` bytes; returns the framed packet. The
 * server reads the file straight into `buf` from `DATA_HEADER` on (its hot path: no copy of the
 * data), so `buf` has `DATA_HEADER` + the READ's length bytes.
 */
export function sealData(buf: Buffer, id: number, n: number): Buffer {
  buf.writeUInt32BE(9 + n, 0);
  buf[4] = FXP.DATA;
  buf.writeUInt32BE(id, 5);
  buf.writeUInt32BE(n, 9);
  return buf.subarray(0, DATA_HEADER + n);
}

// ---- extended reply bodies (PROTOCOL §4.4, §4.8, §4.11) ----------------------------------------

/** statvfs@openssh.com / fstatvfs@openssh.com reply (PROTOCOL §4.4), as struct statvfs. */
export interface StatVfs {
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
const STATVFS_FIELDS = [
  'bsize',
  'frsize',
  'blocks',
  'bfree',
  'bavail',
  'files',
  'ffree',
  'favail',
  'fsid',
  'flag',
  'namemax',
] as const;

export function encodeStatVfs(s: StatVfs): Buffer {
  const b = Buffer.alloc(8 * STATVFS_FIELDS.length);
  STATVFS_FIELDS.forEach((k, i) => b.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(s[k]))), i * 8));
  return b;
}

export function decodeStatVfs(data: Buffer): StatVfs {
  const r = new SshReader(data);
  const out = {} as StatVfs;
  for (const k of STATVFS_FIELDS) out[k] = Number(r.uint64());
  r.done('statvfs reply');
  return out;
}

/** limits@openssh.com reply (PROTOCOL §4.8); 0 means no limit. */
export interface SftpLimits {
  /** The largest SFTP packet the server accepts. */
  maxPacketLength: number;
  /** The most bytes one READ returns. */
  maxReadLength: number;
  /** The most bytes one WRITE may carry. */
  maxWriteLength: number;
  /** The most handles open at once (0: no limit given). */
  maxOpenHandles: number;
}

export function encodeLimits(l: SftpLimits): Buffer {
  return new SshWriter(32)
    .uint64(BigInt(l.maxPacketLength))
    .uint64(BigInt(l.maxReadLength))
    .uint64(BigInt(l.maxWriteLength))
    .uint64(BigInt(l.maxOpenHandles))
    .finish();
}

export function decodeLimits(data: Buffer): SftpLimits {
  const r = new SshReader(data);
  const l = {
    maxPacketLength: readU64(r, 'limit'),
    maxReadLength: readU64(r, 'limit'),
    maxWriteLength: readU64(r, 'limit'),
    maxOpenHandles: readU64(r, 'limit'),
  };
  r.done('limits reply');
  return l;
}

/** users-groups-by-id@openssh.com reply (PROTOCOL §4.11): names in request order, '' if unknown. */
export function encodeNames(users: string[], groups: string[]): Buffer {
  const list = (l: string[]) => {
    const w = new SshWriter();
    for (const n of l) w.string(n);
    return w.finish();
  };
  return new SshWriter().string(list(users)).string(list(groups)).finish();
}

export function decodeNames(data: Buffer): { users: string[]; groups: string[] } {
  const r = new SshReader(data);
  const list = (b: Buffer) => {
    const lr = new SshReader(b);
    const out: string[] = [];
    while (lr.remaining > 0) out.push(lr.utf8('name'));
    return out;
  };
  const users = list(r.string('user names'));
  const groups = list(r.string('group names'));
  r.done('users-groups-by-id reply');
  return { users, groups };
}
