#!/usr/bin/env node
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SshError } from '../errors.js';
import { fingerprint } from '../keys/fingerprint.js';
import { formatOpenSshPrivateKey, generatePrivateKey, parsePrivateKey } from '../keys/openssh-format.js';
import { formatPublicKeyLine } from '../keys/public-key.js';
import { defaultUser, defaultUserDir } from '../options.js';
import * as ssh from '../ssh.js';
import { VERSION } from '../version.js';

const USAGE = `Seashell ${VERSION}

usage: seashell daemon [--port N] [--host ADDRESS] [--dir DIR]

  --port   port to listen on (default 2222; 0 picks a free one)
  --host   address to listen on (default 127.0.0.1)
  --dir    where host keys live; generated on first start (default ./.seashell)
`;

const HOST_KEYS = [
  { file: 'ssh_host_ed25519_key', type: 'ed25519' },
  { file: 'ssh_host_ecdsa_key', type: 'ecdsa' },
  { file: 'ssh_host_rsa_key', type: 'rsa' },
] as const;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Generates the host keys that are missing, as ssh-keygen -A would; returns the public lines. */
async function ensureHostKeys(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const lines: string[] = [];
  for (const { file, type } of HOST_KEYS) {
    const path = join(dir, file);
    let key;
    if (await exists(path)) {
      key = parsePrivateKey(await readFile(path));
    } else {
      key = generatePrivateKey(type, { comment: `seashell host key` });
      await writeFile(path, formatOpenSshPrivateKey(key), { mode: 0o600 });
      await chmod(path, 0o600);
      await writeFile(`${path}.pub`, formatPublicKeyLine(key.publicKey, 'seashell host key') + '\n', {
        mode: 0o644,
      });
    }
    lines.push(`  ${key.publicKey.type.padEnd(20)} ${fingerprint(key.publicKey, 'sha256')}`);
  }
  return lines;
}

/** The account this process runs as (its name in the password database, else $USER). */
function runningAccount(): string {
  try {
    return userInfo().username;
  } catch {
    return defaultUser(); // no password database entry for our uid (some containers)
  }
}

async function runDaemon(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '2222' },
      host: { type: 'string', default: '127.0.0.1' },
      dir: { type: 'string', default: '.seashell' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new SshError('BAD_OPTION', `--port must be 0-65535, got ${values.port}`);
  const dir = resolve(values.dir!);
  const fingerprints = await ensureHostKeys(dir);
  const userDir = defaultUserDir();
  // Only the account that runs the daemon logs in, with its own authorized_keys: any other user
  // name is refused (the seed's one userDir would accept its keys for every name).
  const user = runningAccount();
  const d = await ssh.daemon(values.host!, port, {
    systemDir: dir,
    userDir: (name) => (name === user ? userDir : false),
  });
  const info = await ssh.daemonInfo(d);
  const authorized = join(userDir, 'authorized_keys');
  const host = info.ip === '::' || info.ip === '0.0.0.0' ? '127.0.0.1' : info.ip;
  const lines = [
    `Seashell ${VERSION} daemon listening on ${info.ip}:${info.port}`,
    `host keys (${dir}):`,
    ...fingerprints,
    `${user} (the account running this daemon, and no other user name) logs in with a key from ${authorized}`,
    (await exists(authorized))
      ? ''
      : `  (that file does not exist yet: cat ~/.ssh/id_ed25519.pub >> ${authorized} after ssh-keygen -t ed25519)`,
    `serves: exec (the command evaluated as JavaScript, each in a worker thread of its own),`,
    `  a shell (a Node REPL per session), SFTP (sftp, scp)`,
    `not yet: port forwarding`,
    ``,
    `connect with:`,
    `  ssh -p ${info.port} ${user}@${host} '1 + 2'`,
    `  ssh -p ${info.port} ${user}@${host}`,
    `  sftp -P ${info.port} ${user}@${host}`,
    ``,
  ].filter((l, i, all) => l !== '' || all[i - 1] !== '');
  process.stdout.write(lines.join('\n') + '\n');
  const shutdown = () => {
    void ssh.stopDaemon(d).then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'daemon') return runDaemon(rest);
  if (command === '--version' || command === '-v') {
    process.stdout.write(`seashell-ssh ${VERSION}\n`);
    return;
  }
  process.stderr.write(USAGE);
  process.exitCode = command === undefined || command === '--help' || command === '-h' ? 0 : 2;
}

main(process.argv.slice(2)).catch((e: unknown) => {
  const msg = e instanceof SshError ? `${e.code}: ${e.message}` : ((e as Error)?.message ?? String(e));
  process.stderr.write(`seashell: ${msg}\n`);
  process.exit(1);
});
