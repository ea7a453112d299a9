import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parsePrivateKey } from './openssh-format.js';
import type { PrivateKey } from './types.js';

interface Cached {
  readonly stamp: string;
  readonly value: unknown;
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
    return undefined;
  }
  const stamp = `${kind}:${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  const hit = cache.get(path);
  if (hit !== undefined && hit.stamp === stamp) return hit.value as T | undefined;
  let value: T | undefined;
  try {
    value = parse(await readFile(path));
  } catch {
    value = undefined;
  }
  cache.set(path, { stamp, value });
  return value;
}

/**
 * Reads a private key file, or undefined if it is missing, unreadable, encrypted or not a key;
 * parsed once per version of the file, so a daemon does not re-read its host keys per connection.
 */
export function loadPrivateKeyFile(path: string): Promise<PrivateKey | undefined> {
  return loadParsedFile(path, 'private-key', (data) => parsePrivateKey(data));
}
