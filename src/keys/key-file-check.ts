import { readFile } from 'node:fs/promises';
import { SshError } from '../errors.js';
import { parseAuthorizedKeys } from './authorized-keys.js';
import { parseKnownHosts } from './known-hosts.js';
import { parsePrivateKey } from './openssh-format.js';
import type { PrivateKey } from './types.js';

/**
 * Errors that name the file (and line) they are about, for key files, authorized_keys and
 * known_hosts. The loaders skip what they cannot read, as OpenSSH does; these say what and where.
 */
function lineError(file: string, line: number, why: string): SshError {
  return new SshError('BAD_KEY', `${file}:${line}: ${why}`);
}

/** The lines of an authorized_keys file that authorize nothing because they cannot be read, as errors `file:line: why`. */
export function authorizedKeysProblems(text: string, file: string): SshError[] {
  const out: SshError[] = [];
  parseAuthorizedKeys(text, (line, why) => out.push(lineError(file, line, why)));
  return out;
}

/** The lines of a known_hosts file that are skipped because they cannot be read, as errors `file:line: why`. */
export function knownHostsProblems(text: string, file: string): SshError[] {
  const out: SshError[] = [];
  parseKnownHosts(text, (line, why) => out.push(lineError(file, line, why)));
  return out;
}

/** parsePrivateKey whose every refusal is a BAD_KEY SshError starting with the file's name. */
export function parsePrivateKeyFile(data: Buffer | string, file: string, passphrase?: string): PrivateKey {
  try {
    return parsePrivateKey(data, passphrase);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SshError('BAD_KEY', `${file}: ${why}`, { cause: e });
  }
}

/** Reads and parses a private key file; a file that cannot be read or used is a BAD_KEY SshError naming it. */
export async function readPrivateKeyFile(path: string, passphrase?: string): Promise<PrivateKey> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    throw new SshError('BAD_KEY', `${path}: cannot be read (${(e as NodeJS.ErrnoException).code ?? e})`, {
      cause: e,
    });
  }
  return parsePrivateKeyFile(data, path, passphrase);
}
