import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { SshError } from '../errors.js';
import { parsePrivateKey } from './openssh-format.js';
import type { PrivateKey } from './types.js';

interface Cached {
  readonly stamp: string;
  readonly value: unknown;
  /** Why `parse` refused the file, when it did. */
  readonly problem?: string;
}

/** A file as `loadParsedFile` found it: missing, or its parsed value, or why it could not be used. */
export interface Loaded<T> {
  value: T | undefined;
  /** Set when the file exists but could not be read or parsed. */
  problem?: string;
  /** The file's permission bits (undefined when missing). */
  mode?: number;
}

const cache = new Map<string, Cached>();

/**
 * A file read and parsed once and reused while its device, inode, size, mtime and ctime stay the
 * same (one stat per use instead of open/read/parse): host keys per connection, authorized_keys
 * per authentication request. Undefined when the file is missing or unreadable; a file `parse`
 * throws on is cached as undefined until it changes.
 */
export async function loadParsedFile<T>(
  path: string,
  kind: string,
  parse: (data: Buffer) => T,
): Promise<T | undefined> {
  return (await inspectParsedFile(path, kind, parse)).value;
}

/** `loadParsedFile`, telling also why a file that exists was not usable, and its mode. */
export async function inspectParsedFile<T>(
  path: string,
  kind: string,
  parse: (data: Buffer) => T,
): Promise<Loaded<T>> {
  // A synchronous stat: microseconds on a local file, where the asynchronous one costs a round
  // trip through the thread pool on every login. Only a changed file is read (asynchronously).
  // A missing file is the common case (id_ecdsa, id_rsa): no exception for it, a stack trace
  // costs more than the stat.
  let st;
  try {
    st = statSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (st === undefined) {
    cache.delete(path);
    return { value: undefined };
  }
  const mode = Number(st.mode & 0o7777n);
  const stamp = `${kind}:${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  let hit = cache.get(path);
  if (hit === undefined || hit.stamp !== stamp) {
    try {
      hit = { stamp, value: parse(await readFile(path)) };
    } catch (e) {
      const problem =
        e instanceof SshError
          ? e.message
          : `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
      hit = { stamp, value: undefined, problem };
    }
    cache.set(path, hit);
  }
  return { value: hit.value as T | undefined, problem: hit.problem, mode };
}

/**
 * Reads a private key file, or undefined if it is missing, unreadable, encrypted or not a key;
 * parsed once per version of the file, so a daemon does not re-read its host keys per connection.
 */
export function loadPrivateKeyFile(path: string): Promise<PrivateKey | undefined> {
  return loadParsedFile(path, 'private-key', (data) => parsePrivateKey(data));
}

/**
 * A user's private key file as the client sees it: the key, or why it is skipped (unreadable,
 * encrypted, not a key, or readable by others, which OpenSSH refuses too); undefined when missing.
 */
export async function inspectUserKeyFile(
  path: string,
  passphrase?: string,
): Promise<{ key?: PrivateKey; problem?: string } | undefined> {
  // The passphrase is part of the cache stamp (as a digest): another passphrase parses again.
  const kind =
    passphrase === undefined
      ? 'private-key'
      : `private-key:${createHash('sha256').update(passphrase).digest('base64')}`;
  const r = await inspectParsedFile(path, kind, (data) => parsePrivateKey(data, passphrase));
  if (r.mode === undefined) return undefined;
  if (r.problem !== undefined) return { problem: r.problem };
  if ((r.mode & 0o077) !== 0) {
    return {
      problem: `permissions ${r.mode.toString(8).padStart(4, '0')} are too open (it must be readable by its owner only)`,
    };
  }
  return { key: r.value };
}
