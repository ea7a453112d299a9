import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { formatOpenSshPrivateKey, generatePrivateKey, type GenerateKeyOptions } from './openssh-format.js';
import type { KeyEncryption } from './openssh-private.js';
import { formatPublicKeyLine } from './public-key.js';
import type { PrivateKey } from './types.js';

/** Options of `writeKeyPair` and `generateKeyFile`. */
export interface WriteKeyOptions {
  /** The comment in both files (default: the key's own). */
  comment?: string;
  /** Encrypt the private key file (bcrypt KDF; aes256-ctr and 16 rounds unless told otherwise). */
  passphrase?: string;
  /** The cipher of an encrypted file: aes256-ctr (ssh-keygen's default), chacha20-poly1305@openssh.com, … */
  cipher?: string;
  /** bcrypt rounds (ssh-keygen -a; default 16). */
  rounds?: number;
}

/**
 * Writes `data` to `path` with `mode` through a temporary file in the same directory, renamed over
 * the target once complete: a crash leaves the old file or the new one, never half of one; the
 * mode is set on creation, so the private key is never readable by others even for a moment.
 */
async function writeWhole(path: string, data: string, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await chmod(tmp, mode); // the umask may have taken bits from 0644
  await rename(tmp, path);
}

/**
 * Writes a key pair as ssh-keygen does: `path` in OpenSSH's private key format (encrypted with a
 * passphrase when given), mode 0600, and `path.pub` with the one-line public key and comment,
 * mode 0644. Existing files are replaced.
 */
export async function writeKeyPair(path: string, key: PrivateKey, opts: WriteKeyOptions = {}): Promise<void> {
  const comment = opts.comment ?? key.comment;
  const encryption: KeyEncryption | undefined =
    opts.passphrase === undefined
      ? undefined
      : { passphrase: opts.passphrase, cipher: opts.cipher, rounds: opts.rounds };
  await writeWhole(path, formatOpenSshPrivateKey(key, comment, encryption), 0o600);
  await writeWhole(`${path}.pub`, `${formatPublicKeyLine(key.publicKey, comment || undefined)}\n`, 0o644);
}

/**
 * Generates a key (ed25519, ecdsa, rsa; ed448 and dsa too) and writes it with `writeKeyPair`, as
 * `ssh-keygen -t type [-b bits] [-N passphrase] [-C comment] -f path`. Returns the key.
 */
export async function generateKeyFile(
  path: string,
  type: Parameters<typeof generatePrivateKey>[0],
  opts: GenerateKeyOptions & WriteKeyOptions = {},
): Promise<PrivateKey> {
  const key = generatePrivateKey(type, opts);
  await writeKeyPair(path, key, opts);
  return key;
}
