import { FX } from './constants.js';

/** The message each status code carries when there is nothing more to say (as sftp-server's). */
export const STATUS_TEXT: Record<number, string> = {
  [FX.OK]: 'Success',
  [FX.EOF]: 'End of file',
  [FX.NO_SUCH_FILE]: 'No such file',
  [FX.PERMISSION_DENIED]: 'Permission denied',
  [FX.FAILURE]: 'Failure',
  [FX.BAD_MESSAGE]: 'Bad message',
  [FX.OP_UNSUPPORTED]: 'Operation unsupported',
};

/** strerror(3) text for the errors a file operation commonly ends with. */
const ERRNO_TEXT: Record<string, string> = {
  EEXIST: 'File exists',
  ENOTEMPTY: 'Directory not empty',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded',
  EXDEV: 'Invalid cross-device link',
  EMLINK: 'Too many links',
  EBUSY: 'Device or resource busy',
  EROFS: 'Read-only file system',
  EFBIG: 'File too large',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  EIO: 'Input/output error',
  EINVAL: 'Invalid argument',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EBADF: 'Bad file descriptor',
  ETXTBSY: 'Text file busy',
};

/**
 * The SFTP status for an errno-style error, mapped as OpenSSH's errno_to_portable does (ENOENT,
 * ENOTDIR, EBADF, ELOOP: no such file; EPERM, EACCES, EFAULT: permission denied; ENAMETOOLONG,
 * EINVAL: bad message; ENOSYS: unsupported; the rest: failure), with a message that names the
 * error but never a real path (which would show where root is).
 */
export function statusOfError(e: unknown): { code: number; message: string } {
  const err = e as NodeJS.ErrnoException;
  const errno = typeof err?.code === 'string' ? err.code : undefined;
  let code: number = FX.FAILURE;
  switch (errno) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'EBADF':
    case 'ELOOP':
      code = FX.NO_SUCH_FILE;
      break;
    case 'EPERM':
    case 'EACCES':
    case 'EFAULT':
      code = FX.PERMISSION_DENIED;
      break;
    case 'ENAMETOOLONG':
    case 'EINVAL':
      code = FX.BAD_MESSAGE;
      break;
    case 'ENOSYS':
    case 'ENOTSUP':
    case 'EOPNOTSUPP':
      code = FX.OP_UNSUPPORTED;
      break;
  }
  const text = errno ? (ERRNO_TEXT[errno] ?? errno) : undefined;
  if (code === FX.FAILURE) return { code, message: text ? `Failure: ${text}` : 'Failure' };
  if (errno === 'EACCES' && err.message === 'path leads outside the root')
    return { code, message: 'Permission denied: the path leads outside the root' };
  return { code, message: errno === 'ENOTDIR' || errno === 'ELOOP' ? text! : STATUS_TEXT[code]! };
}
