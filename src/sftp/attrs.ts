import { protocolError } from '../errors.js';
import type { SshReader } from '../wire/reader.js';
import type { SshWriter } from '../wire/writer.js';
import { ATTR } from './constants.js';

/**
 * File attributes (draft-02 §5, the ATTRS structure). Absent fields were not sent. Sizes are
 * numbers (exact up to 2^53); times are seconds since the epoch.
 */
export interface Attrs {
  /** Size in bytes. */
  size?: number;
  /** Owner's user id. */
  uid?: number;
  /** Owner's group id. */
  gid?: number;
  /** The full st_mode: type bits and permission bits. */
  permissions?: number;
  /** Last access, in seconds since 1970. */
  atime?: number;
  /** Last modification, in seconds since 1970. */
  mtime?: number;
  /** Extended attribute pairs (type, data). */
  extended?: [type: string, data: Buffer][];
}

/** At most this many extended attribute pairs in one ATTRS (nobody sends more than a few). */
const MAX_EXTENDED_ATTRS = 64;

/** A uint64 that must fit a JavaScript number exactly (file sizes and offsets). */
export function readU64(r: SshReader, what: string): number {
  const v = r.uint64();
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError(`SFTP ${what} ${v} is beyond 2^53`);
  return Number(v);
}

export function readAttrs(r: SshReader): Attrs {
  const flags = r.uint32();
  const a: Attrs = {};
  if (flags & ATTR.SIZE) a.size = readU64(r, 'size');
  if (flags & ATTR.UIDGID) {
    a.uid = r.uint32();
    a.gid = r.uint32();
  }
  if (flags & ATTR.PERMISSIONS) a.permissions = r.uint32();
  if (flags & ATTR.ACMODTIME) {
    a.atime = r.uint32();
    a.mtime = r.uint32();
  }
  if (flags & ATTR.EXTENDED) {
    const n = r.uint32();
    if (n > MAX_EXTENDED_ATTRS) throw protocolError(`SFTP attributes with ${n} extended pairs`);
    a.extended = [];
    for (let i = 0; i < n; i++) a.extended.push([r.utf8('extended type'), r.string('extended data')]);
  }
  return a;
}

export function writeAttrs(w: SshWriter, a: Attrs): void {
  let flags = 0;
  if (a.size !== undefined) flags |= ATTR.SIZE;
  if (a.uid !== undefined && a.gid !== undefined) flags |= ATTR.UIDGID;
  if (a.permissions !== undefined) flags |= ATTR.PERMISSIONS;
  if (a.atime !== undefined && a.mtime !== undefined) flags |= ATTR.ACMODTIME;
  if (a.extended?.length) flags |= ATTR.EXTENDED;
  w.uint32(flags);
  if (flags & ATTR.SIZE) w.uint64(BigInt(a.size!));
  if (flags & ATTR.UIDGID) w.uint32(a.uid!).uint32(a.gid!);
  if (flags & ATTR.PERMISSIONS) w.uint32(a.permissions!);
  if (flags & ATTR.ACMODTIME) w.uint32(Math.floor(a.atime!)).uint32(Math.floor(a.mtime!));
  if (flags & ATTR.EXTENDED) {
    w.uint32(a.extended!.length);
    for (const [t, d] of a.extended!) w.string(t).string(d);
  }
}

/** The file type bits of st_mode (POSIX). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export function isDirectory(a: Attrs): boolean {
  return a.permissions !== undefined && (a.permissions & S_IFMT) === S_IFDIR;
}
export function isRegularFile(a: Attrs): boolean {
  return a.permissions !== undefined && (a.permissions & S_IFMT) === S_IFREG;
}
export function isSymbolicLink(a: Attrs): boolean {
  return a.permissions !== undefined && (a.permissions & S_IFMT) === S_IFLNK;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `ls -l` style long name for READDIR (draft-02 §7: SSH_FXP_NAME's longname), as sftp-server makes it. */
export function longName(name: string, a: Attrs, nlink = 1, now = Date.now() / 1000): string {
  const mode = a.permissions ?? 0;
  const type =
    {
      [S_IFDIR]: 'd',
      [S_IFLNK]: 'l',
      [S_IFREG]: '-',
      0o020000: 'c',
      0o060000: 'b',
      0o010000: 'p',
      0o140000: 's',
    }[mode & S_IFMT] ?? '?';
  let perms = '';
  for (let i = 8; i >= 0; i--) perms += mode & (1 << i) ? 'rwx'[(8 - i) % 3] : '-';
  const t = new Date((a.mtime ?? 0) * 1000);
  // Within six months: time of day; older or in the future: the year (ls's rule).
  const recent = Math.abs(now - (a.mtime ?? 0)) < 182 * 86400;
  const when = `${MONTHS[t.getUTCMonth()]} ${String(t.getUTCDate()).padStart(2)} ${
    recent
      ? `${String(t.getUTCHours()).padStart(2, '0')}:${String(t.getUTCMinutes()).padStart(2, '0')}`
      : String(t.getUTCFullYear()).padStart(5)
  }`;
  const owner = String(a.uid ?? 0).padEnd(8);
  const group = String(a.gid ?? 0).padEnd(8);
  return `${type}${perms} ${String(nlink).padStart(4)} ${owner} ${group} ${String(a.size ?? 0).padStart(8)} ${when} ${name}`;
}
