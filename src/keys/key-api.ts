import { mkdir, open, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseAuthorizedKeys, parseKeyOptions } from './authorized-keys.js';
import { debug } from '../log.js';
import {
  inspectParsedFile,
  inspectUserKeyFile,
  loadParsedFile,
  loadPrivateKeyFile,
} from './key-file-cache.js';
import { parsePrivateKey, peekPublicKey } from './openssh-format.js';
import { PASSPHRASE_NEEDED } from './openssh-private.js';
import { keyRestrictions, type KeyRestrictions } from './key-restrictions.js';
import { checkKnownHosts, formatKnownHostsLine, knownKeyTypesFor } from './known-hosts.js';
import { keyTypeForSignatureAlgorithm, parsePublicKeyLine } from './public-key.js';
import type { KeyType, PrivateKey, PublicKey, SignatureAlgorithm } from './types.js';

/** Where the default key API finds its files (Erlang ssh options user_dir and system_dir). */
export interface KeyApiContext {
  /** The user's directory (known_hosts, id_* keys, authorized_keys). */
  userDir: string;
  /** The daemon's host key directory. */
  systemDir: string;
  /** Passphrases of encrypted user key files, by the file's stem (`rsa`, `ecdsa`, `ed25519`, `dsa`, `ed448`). */
  passphrases?: Partial<Record<KeyFileStem, string>>;
  /** Client: write accepted host keys with hashed host names (OpenSSH's HashKnownHosts). */
  hashKnownHosts?: boolean;
  /**
   * The second element of `keyCb: [module, opts]` (the seed's key_cb_private), for a key API
   * module's own settings such as a database handle; undefined when keyCb is the module alone.
   */
  keyCbPrivate?: unknown;
  /** The options given to connect or daemon (the seed's UserOptions after key_cb_private). */
  options?: Readonly<Record<string, unknown>>;
}

/** The callbacks a keyCb module may have (ssh_client_key_api and ssh_server_key_api). */
export type KeyCbModule = Partial<ClientKeyApi & ServerKeyApi>;

/**
 * The seed's key_cb: `Module` or `{Module, Opts}`, here a module-like object or `[module, opts]`,
 * opts reaching every callback as `ctx.keyCbPrivate`.
 */
export type KeyCbOption = KeyCbModule | readonly [KeyCbModule, unknown];

const KEY_API_FUNCTIONS = ['hostKey', 'isAuthKey', 'isHostKey', 'addHostKey', 'userKey'] as const;

/**
 * The callbacks of a keyCb option as a plain object of bound functions, and its private options.
 * The module may be a plain object, a class instance (its methods live on the prototype, where a
 * spread would not see them) or a class with static methods; each callback keeps its `this`.
 */
export function resolveKeyCb(option: KeyCbOption | undefined): {
  module?: KeyCbModule;
  keyCbPrivate?: unknown;
} {
  if (option === undefined) return {};
  const [mod, priv] = Array.isArray(option)
    ? (option as readonly [KeyCbModule, unknown])
    : [option as KeyCbModule, undefined];
  const module: Record<string, unknown> = {};
  for (const name of KEY_API_FUNCTIONS) {
    const f = (mod as Record<string, unknown>)[name];
    if (typeof f === 'function') module[name] = f.bind(mod);
  }
  return { module: module as KeyCbModule, keyCbPrivate: priv };
}

/** The daemon side of key handling (Erlang's ssh_server_key_api). */
export interface ServerKeyApi {
  /** The host private key for a host key algorithm (e.g. 'rsa-sha2-256' → the ssh-rsa key), or undefined. */
  hostKey(algorithm: SignatureAlgorithm, ctx: KeyApiContext): Promise<PrivateKey | undefined>;
  /** Whether `key` may authenticate `user`. */
  isAuthKey(key: PublicKey, user: string, ctx: KeyApiContext): Promise<boolean>;
}

/** The client side of key handling (Erlang's ssh_client_key_api). */
export interface ClientKeyApi {
  /** Whether `key` is the known host key of `host`:`port`. */
  isHostKey(
    key: PublicKey,
    host: string,
    port: number,
    algorithm: SignatureAlgorithm,
    ctx: KeyApiContext,
  ): Promise<boolean>;
  /** Records `key` as a host key of `host`:`port`. */
  addHostKey(host: string, port: number, key: PublicKey, ctx: KeyApiContext): Promise<void>;
  /** The user's private key for a public key algorithm, or undefined. */
  userKey(algorithm: SignatureAlgorithm, ctx: KeyApiContext): Promise<PrivateKey | undefined>;
}

export interface FileKeyApi extends ServerKeyApi, ClientKeyApi {
  /** What the authorized_keys line of `key` allows (undefined: the key is not authorized). */
  authorizedKeyRestrictions(
    key: PublicKey,
    user: string,
    ctx: KeyApiContext,
  ): Promise<KeyRestrictions | undefined>;
  /** The key types known_hosts records for `host`:`port`, in file order (to prefer them in KEXINIT). */
  knownHostKeyTypes(host: string, port: number, ctx: KeyApiContext): Promise<KeyType[]>;
}

/** OpenSSH's defaults: ~/.ssh for the user, /etc/ssh for the daemon. */
export function defaultKeyApiContext(): KeyApiContext {
  return { userDir: join(homedir(), '.ssh'), systemDir: '/etc/ssh' };
}

/** The key-type part of key file names (id_<stem>, ssh_host_<stem>_key). */
export type KeyFileStem = 'ed25519' | 'ed448' | 'rsa' | 'ecdsa' | 'dsa';

/** The file-name part OpenSSH uses for a key type (ssh_host_<x>_key, id_<x>; ed448 by analogy). */
function fileStem(type: KeyType): KeyFileStem {
  switch (type) {
    case 'ssh-ed25519':
      return 'ed25519';
    case 'ssh-ed448':
      return 'ed448';
    case 'ssh-rsa':
      return 'rsa';
    case 'ssh-dss':
      return 'dsa';
    default:
      return 'ecdsa';
  }
}

/**
 * The user key files the default key API would read for `algorithms` that exist but cannot be
 * used, each as `path: why` (encrypted, unreadable, not a key, readable by others).
 */
export async function userKeyFileProblems(
  algorithms: readonly SignatureAlgorithm[],
  ctx: KeyApiContext,
): Promise<string[]> {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const alg of algorithms) {
    const type = keyTypeForSignatureAlgorithm(alg);
    if (type === undefined) continue;
    const stem = fileStem(type);
    const path = join(ctx.userDir, `id_${stem}`);
    if (seen.has(path)) continue;
    seen.add(path);
    const problem = (await inspectUserKeyFile(path, ctx.passphrases?.[stem]))?.problem;
    if (problem !== undefined) problems.push(`${path}: ${problem}`);
  }
  return problems;
}

/** The host key files of `ctx.systemDir` that exist but cannot be used, each as `path: why`. */
export async function hostKeyFileProblems(ctx: KeyApiContext): Promise<string[]> {
  const out: string[] = [];
  for (const stem of ['ed25519', 'ed448', 'ecdsa', 'rsa', 'dsa'] as const) {
    const path = join(ctx.systemDir, `ssh_host_${stem}_key`);
    const r = await inspectParsedFile(path, 'private-key', (data) => parsePrivateKey(data));
    if (r.problem !== undefined) out.push(`${path}: ${r.problem}`);
  }
  return out;
}

/** Whether a key file's problem is only that it is encrypted and no passphrase was given. */
export function needsPassphrase(problem: string | undefined): boolean {
  return (
    problem !== undefined &&
    (problem.includes(PASSPHRASE_NEEDED) || problem.includes('encrypted and no passphrase was given'))
  );
}

/** An encrypted user key file, with its public key (from the file itself, or its .pub). */
export interface LockedKeyFile {
  path: string;
  stem: KeyFileStem;
  publicKey: PublicKey;
}

/**
 * The default key API's user key files for `algorithms` that are encrypted, have no passphrase in
 * `ctx`, are readable by their owner only, and whose public key is known without the passphrase:
 * those a client may offer first and ask the passphrase of once the server accepts the key.
 */
export async function lockedUserKeyFiles(
  algorithms: readonly SignatureAlgorithm[],
  ctx: KeyApiContext,
): Promise<LockedKeyFile[]> {
  const out: LockedKeyFile[] = [];
  for (const alg of algorithms) {
    const type = keyTypeForSignatureAlgorithm(alg);
    if (type === undefined) continue;
    const stem = fileStem(type);
    const path = join(ctx.userDir, `id_${stem}`);
    if (out.some((l) => l.path === path) || ctx.passphrases?.[stem] !== undefined) continue;
    const r = await inspectParsedFile(path, 'private-key', (data) => parsePrivateKey(data));
    if (!needsPassphrase(r.problem) || r.mode === undefined || (r.mode & 0o077) !== 0) continue;
    let publicKey: PublicKey | undefined;
    try {
      publicKey = peekPublicKey(await readFile(path));
      publicKey ??= parsePublicKeyLine((await readFile(`${path}.pub`, 'utf8')).trim()).key;
    } catch (e) {
      debug('%s: public key unknown without the passphrase: %s', path, (e as Error).message);
      continue;
    }
    if (publicKey.type === type) out.push({ path, stem, publicKey });
  }
  return out;
}

/** The key in `dir/name` if it fits the algorithm (an ecdsa file holds one curve only). */
async function keyForAlgorithm(
  dir: string,
  fileName: (stem: string) => string,
  algorithm: SignatureAlgorithm,
): Promise<PrivateKey | undefined> {
  const type = keyTypeForSignatureAlgorithm(algorithm);
  if (type === undefined) return undefined;
  const key = await loadPrivateKeyFile(join(dir, fileName(fileStem(type))));
  return key?.type === type ? key : undefined;
}

/**
 * The keys an authorized_keys file authorizes (base64 blob, as written) with what their line's
 * options allow, parsed once per version of the file; the first line of a key wins, as in sshd.
 * `cert-authority` lines only trust certificate signers, so they authorize no key; a line with
 * options sshd does not know, or cannot read, authorizes nothing.
 */
function authorizedKeys(path: string): Promise<Map<string, KeyRestrictions> | undefined> {
  return loadParsedFile(path, 'authorized-keys', (data) => {
    const keys = new Map<string, KeyRestrictions>();
    const text = data.toString('utf8');
    const skip = (line: number, why: string) => debug('%s:%d: line ignored: %s', path, line, why);
    for (const e of parseAuthorizedKeys(text, skip)) {
      const blob = e.key.blob.toString('base64');
      if (keys.has(blob)) continue;
      let options;
      let restrictions: KeyRestrictions;
      try {
        options = parseKeyOptions(e.options);
        restrictions = keyRestrictions(options);
      } catch (err) {
        debug('%s:%d: line ignored: %s', path, e.line, (err as Error).message);
        continue;
      }
      if (options.some((o) => o.name.toLowerCase() === 'cert-authority')) continue;
      keys.set(blob, restrictions);
    }
    return keys;
  });
}

/** A text file's contents, or undefined when it does not exist or cannot be read. */
async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Appends one complete line in a single write with O_APPEND, after a newline if the file did
 * not end with one; creates the file with mode 0600.
 */
async function appendLine(path: string, line: string): Promise<void> {
  const fh = await open(path, 'a+', 0o600);
  try {
    const { size } = await fh.stat();
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
    const data = Buffer.from(`${prefix}${line}\n`, 'utf8');
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await fh.write(data, written, data.length - written);
      written += bytesWritten;
    }
  } finally {
    await fh.close();
  }
}

/**
 * The default key API, reading OpenSSH files like Erlang's ssh_file: host keys
 * `systemDir/ssh_host_{ed25519,ed448,ecdsa,rsa,dsa}_key`; `userDir/authorized_keys` and
 * `authorized_keys2`; user keys `userDir/id_{ed25519,ed448,ecdsa,rsa,dsa}`; `userDir/known_hosts`.
 * Missing, unreadable or encrypted key files count as no key; so do user keys readable by others
 * (as OpenSSH). `userKeyFileProblems` says which were skipped and why.
 */
export const fileKeyApi: FileKeyApi = {
  hostKey(algorithm, ctx) {
    return keyForAlgorithm(ctx.systemDir, (stem) => `ssh_host_${stem}_key`, algorithm);
  },

  async isAuthKey(key, user, ctx) {
    return (await fileKeyApi.authorizedKeyRestrictions(key, user, ctx)) !== undefined;
  },

  async authorizedKeyRestrictions(key, _user, ctx) {
    const blob = key.blob.toString('base64');
    for (const name of ['authorized_keys', 'authorized_keys2']) {
      const r = (await authorizedKeys(join(ctx.userDir, name)))?.get(blob);
      if (r) return r;
    }
    return undefined;
  },

  async isHostKey(key, host, port, algorithm, ctx) {
    if (keyTypeForSignatureAlgorithm(algorithm) !== key.type) return false;
    const text = await readText(join(ctx.userDir, 'known_hosts'));
    return text !== undefined && checkKnownHosts(text, host, port, key) === 'match';
  },

  async addHostKey(host, port, key, ctx) {
    await mkdir(ctx.userDir, { recursive: true, mode: 0o700 });
    await appendLine(
      join(ctx.userDir, 'known_hosts'),
      formatKnownHostsLine(host, port, key, ctx.hashKnownHosts),
    );
  },

  async userKey(algorithm, ctx) {
    const type = keyTypeForSignatureAlgorithm(algorithm);
    if (type === undefined) return undefined;
    const stem = fileStem(type);
    const key = (await inspectUserKeyFile(join(ctx.userDir, `id_${stem}`), ctx.passphrases?.[stem]))?.key;
    return key?.type === type ? key : undefined;
  },

  async knownHostKeyTypes(host, port, ctx) {
    const text = await readText(join(ctx.userDir, 'known_hosts'));
    return text === undefined ? [] : knownKeyTypesFor(text, host, port);
  },
};
