import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SSH_KEYGEN = '/usr/bin/ssh-keygen';

/** Runs ssh-keygen and returns its stdout; throws with its stderr if it fails (unless allowed). */
export function sshKeygen(
  args: string[],
  opts: { input?: string | Buffer; allowFailure?: boolean } = {},
): {
  status: number;
  stdout: string;
  stderr: string;
} {
  const r = spawnSync(SSH_KEYGEN, args, { input: opts.input, encoding: 'utf8' });
  if (r.error) throw r.error;
  const result = { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  if (result.status !== 0 && !opts.allowFailure) {
    throw new Error(`ssh-keygen ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  }
  return result;
}

export function makeTempDir(): string {
  return mkdtempSync(join(tmpdir(), 'seashell-keys-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface KeySpec {
  readonly label: string;
  readonly args: readonly string[];
  readonly type: string;
}

/** One of each supported type, as ssh-keygen makes them. */
export const KEY_SPECS: readonly KeySpec[] = [
  { label: 'ed25519', args: ['-t', 'ed25519'], type: 'ssh-ed25519' },
  { label: 'ecdsa256', args: ['-t', 'ecdsa', '-b', '256'], type: 'ecdsa-sha2-nistp256' },
  { label: 'ecdsa384', args: ['-t', 'ecdsa', '-b', '384'], type: 'ecdsa-sha2-nistp384' },
  { label: 'ecdsa521', args: ['-t', 'ecdsa', '-b', '521'], type: 'ecdsa-sha2-nistp521' },
  { label: 'rsa2048', args: ['-t', 'rsa', '-b', '2048'], type: 'ssh-rsa' },
];

export interface GeneratedKey {
  readonly spec: KeySpec;
  readonly path: string;
  readonly privateText: string;
  readonly publicLine: string;
  readonly comment: string;
}

/** ssh-keygen -t … -N '' (or a passphrase) -C comment -f dir/name, with extra arguments such as -m PEM. */
export function generateWithSshKeygen(
  dir: string,
  name: string,
  spec: KeySpec,
  extra: string[] = [],
  passphrase = '',
): GeneratedKey {
  const path = join(dir, name);
  const comment = `${name}@seashell test`;
  sshKeygen(['-q', ...spec.args, '-N', passphrase, '-C', comment, '-f', path, ...extra]);
  return {
    spec,
    path,
    privateText: readFileSync(path, 'utf8'),
    publicLine: readFileSync(`${path}.pub`, 'utf8').trim(),
    comment,
  };
}

/** A validator for assert.throws: the error is an SshError BAD_KEY whose message matches `pattern`. */
export function isBadKey(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    if (!(e instanceof Error) || (e as { code?: unknown }).code !== 'BAD_KEY') {
      throw new Error(`expected SshError BAD_KEY, got ${String(e)}`);
    }
    if (!pattern.test(e.message)) throw new Error(`message "${e.message}" does not match ${pattern}`);
    return true;
  };
}
