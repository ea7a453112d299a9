import { readFile, stat } from 'node:fs/promises';
import { parsePrivateKey } from './openssh-format.js';
import type { PrivateKey } from './types.js';

interface Cached {
  readonly stamp: string;
  readonly key: PrivateKey | undefined;
}

const cache = new Map<string, Cached>();

/**
 * Reads a private key file, or undefined if it is missing, unreadable, encrypted or not a key.
 * Results are kept per path and reused while the file's inode, size, mtime and ctime stay the
 * same, so a daemon does not re-read and re-parse its host keys for every connection.
 */
export async function loadPrivateKeyFile(path: string): Promise<PrivateKey | undefined> {
  let stamp: string;
  try {
    const st = await stat(path, { bigint: true });
    stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    cache.delete(path);
    return undefined;
  }
  const hit = cache.get(path);
  if (hit !== undefined && hit.stamp === stamp) return hit.key;
  let key: PrivateKey | undefined;
  try {
    key = parsePrivateKey(await readFile(path));
  } catch {
    key = undefined;
  }
  cache.set(path, { stamp, key });
  return key;
}
