/**
 * SFTP version 3 numbers (draft-ietf-secsh-filexfer-02 §3, §5, §7) and OpenSSH's extension
 * names (PROTOCOL §4).
 */

export const SFTP_VERSION = 3;

/** Packet types, draft-02 §3. */
export const FXP = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** Status codes, draft-02 §7. */
export const FX = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

const statusNames = new Map<number, string>(Object.entries(FX).map(([k, v]) => [v, k]));

/** `NO_SUCH_FILE` for 2, `UNKNOWN_9` for a code draft-02 does not name. */
export function statusName(code: number): string {
  return statusNames.get(code) ?? `UNKNOWN_${code}`;
}

/** OPEN pflags, draft-02 §6.3. */
export const FXF = {
  READ: 0x01,
  WRITE: 0x02,
  APPEND: 0x04,
  CREAT: 0x08,
  TRUNC: 0x10,
  EXCL: 0x20,
} as const;

/** Attribute flags, draft-02 §5. */
export const ATTR = {
  SIZE: 0x01,
  UIDGID: 0x02,
  PERMISSIONS: 0x04,
  ACMODTIME: 0x08,
  EXTENDED: 0x80000000,
} as const;

/** statvfs f_flag bits (PROTOCOL §4.4). */
export const ST_RDONLY = 0x1;
export const ST_NOSUID = 0x2;

/** The extensions both sides of Seashell speak, with the version strings OpenSSH advertises. */
export const EXT = {
  posixRename: 'posix-rename@openssh.com',
  statvfs: 'statvfs@openssh.com',
  fstatvfs: 'fstatvfs@openssh.com',
  hardlink: 'hardlink@openssh.com',
  fsync: 'fsync@openssh.com',
  lsetstat: 'lsetstat@openssh.com',
  limits: 'limits@openssh.com',
  expandPath: 'expand-path@openssh.com',
  copyData: 'copy-data',
  homeDirectory: 'home-directory',
  usersGroupsById: 'users-groups-by-id@openssh.com',
} as const;

export const EXTENSION_VERSIONS: ReadonlyMap<string, string> = new Map([
  [EXT.posixRename, '1'],
  [EXT.statvfs, '2'],
  [EXT.fstatvfs, '2'],
  [EXT.hardlink, '1'],
  [EXT.fsync, '1'],
  [EXT.lsetstat, '1'],
  [EXT.limits, '1'],
  [EXT.expandPath, '1'],
  [EXT.copyData, '1'],
  [EXT.homeDirectory, '1'],
  [EXT.usersGroupsById, '1'],
]);

/**
 * Sizes. OpenSSH's sftp-server takes packets up to 256 KiB (SFTP_MAX_MSG_LENGTH) and reads and
 * writes of up to 256 KiB - 1 KiB; so do we, and a READ asking for more gets at most that.
 */
export const MAX_PACKET = 256 * 1024;
export const MAX_DATA = MAX_PACKET - 1024;
/** The longest path or name we accept or send (Linux PATH_MAX is 4096; names are shorter). */
export const MAX_PATH = 16 * 1024;
