/**
 * Interop test harness: real OpenSSH (`ssh`, `sshd`, `ssh-keygen`, `sftp`, `sftp-server`) on 127.0.0.1.
 *
 * This is a helper module, not a test file (its name must never end in `.test.ts`).
 *
 * ## Gating: `interopSuite` / `requireOpenSsh`
 *
 * Interop tests need the OpenSSH binaries. When they are missing, a suite is SKIPPED on a developer
 * machine and FAILS when `process.env.CI === 'true'` (`.ci/run` installs OpenSSH and sets CI=true, so
 * a missing binary there is a broken CI, never a silently skipped test).
 *
 *   interopSuite(name, (openssh) => { before(...); test(...); after(...) }, { needs: ['sftp'] })
 *     A `describe` block whose body only runs when OpenSSH is present. `openssh` holds the
 *     absolute paths of the binaries. `needs` lists optional tools the suite cannot do without.
 *   requireOpenSsh(t)
 *     The same decision inside one test: returns the paths, or calls `t.skip()` and returns
 *     undefined (the test should then return), or throws on CI.
 *
 * ## A private sshd without a port race
 *
 * `startSshd()` listens with a `net.Server` on 127.0.0.1 port 0 and runs one `sshd -i` (inetd mode)
 * per accepted connection, with the socket as the child's stdin/stdout, so sshd never binds a port
 * itself. Its configuration, host keys (fresh ed25519, ecdsa and rsa keys) and authorized_keys live
 * in a temp dir of its own; its log (`-e`, LogLevel DEBUG3) is collected from stderr into `logs()`.
 * `stop()` closes the listener, terminates every sshd it started together with their descendants
 * (SIGTERM, then SIGKILL after a grace period), waits for them and removes the temp dir.
 *
 * ## Running the OpenSSH client
 *
 *   sshBaseArgs({ port, identityFile, knownHostsFile, user, extra }) returns exactly
 *     ['-F', '/dev/null', ...extra,
 *      '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
 *      '-o', 'UserKnownHostsFile=<knownHostsFile>', '-o', 'GlobalKnownHostsFile=/dev/null',
 *      '-o', 'IdentitiesOnly=yes', '-o', 'IdentityFile=<identityFile>', '-o', 'ControlMaster=no',
 *      '-o', 'LogLevel=ERROR', '-p', '<port>', '-l', '<user>']
 *   The caller appends the host ('127.0.0.1') and the remote command. `extra` comes first because
 *   ssh keeps the FIRST value it sees for an option, so `extra: ['-o', 'LogLevel=DEBUG3']` overrides.
 *   sftpBaseArgs(...) is the same for `sftp` (`-P <port> -o User=<user>`; append the host).
 *
 *   runSsh(args, { input, timeoutMs, env })        -> { code, signal, stdout: Buffer, stderr }
 *   runSshHashed(args, { input, timeoutMs, env })  -> { code, signal, stdoutSha256, stdoutBytes, stderr }
 *   runCommand(path, args, opts)                   -> the same as runSsh for any program (sftp, ...)
 *   `input` may be a Buffer/string or a readable stream (piped with backpressure); without it stdin
 *   is closed at once. The environment is the parent's minus the ssh-agent variables, plus `env`.
 *   A process still running after `timeoutMs` (default 60 s) is killed with its descendants and the
 *   promise rejects with a message that includes its stderr. A non-zero exit status does NOT reject.
 *   randomSource(bytes) makes a stream of random bytes that hashes what it produces, for large
 *   transfers that must not be held in memory.
 *
 * ## Example
 *
 *   interopSuite('exec against OpenSSH sshd', () => {
 *     let dir: string, sshd: SshdHandle, args: string[];
 *     before(async () => {
 *       dir = await makeTempDir('exec-');
 *       const key = await sshKeygen('ed25519', join(dir, 'id_ed25519'));
 *       sshd = await startSshd({ authorizedKeys: key.publicLine });
 *       await writeFile(join(dir, 'known_hosts'), sshd.knownHostsLine());
 *       args = sshBaseArgs({ port: sshd.port, identityFile: key.privateKey,
 *         knownHostsFile: join(dir, 'known_hosts'), user: sshd.user });
 *     });
 *     after(async () => { await sshd?.stop(); await removeTempDir(dir); });
 *     test('echo', async () => {
 *       const r = await runSsh([...args, sshd.host, 'echo hello']);
 *       assert.equal(r.stdout.toString(), 'hello\n');
 *     });
 *   });
 *
 * Set SEASHELL_KEEP_TMP=1 to keep temp dirs (configs, keys) for debugging; their paths are printed.
 * Set SEASHELL_NO_OPENSSH=1 to act as if OpenSSH were missing (to check the skip/fail gate).
 * Set SEASHELL_SSHD_STDIO=pipe to relay connections to sshd through pipes instead of the socket fd.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { accessSync, constants as fsConstants, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { delimiter, join, resolve } from 'node:path';
import { tmpdir, userInfo } from 'node:os';
import { Readable, pipeline } from 'node:stream';
import type { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';

// ---------------------------------------------------------------------------------------------
// Finding OpenSSH
// ---------------------------------------------------------------------------------------------

/** Absolute paths of the OpenSSH programs. */
export interface OpenSsh {
  ssh: string;
  sshd: string;
  sshKeygen: string;
  sftp?: string;
  sftpServer?: string;
}

/** Directories searched after PATH (sshd lives in sbin; Debian keeps sftp-server in /usr/lib/openssh). */
const EXTRA_DIRS = [
  '/usr/sbin',
  '/usr/bin',
  '/usr/lib/openssh',
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/libexec/openssh',
  '/usr/libexec',
  '/usr/lib/ssh',
];

let found: OpenSsh | undefined | null = null;

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function searchDirs(): string[] {
  const fromPath = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  const dirs: string[] = [];
  for (const d of [...fromPath, ...EXTRA_DIRS]) {
    const abs = resolve(d);
    if (!dirs.includes(abs)) dirs.push(abs);
  }
  return dirs;
}

function which(name: string, dirs: string[]): string | undefined {
  for (const d of dirs) {
    const p = join(d, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

/**
 * Finds OpenSSH in PATH and the usual system directories. Returns undefined unless ssh, sshd and
 * ssh-keygen are all present; sftp and sftp-server are optional. Every path is absolute (sshd
 * insists on being started by an absolute path). The result is cached.
 */
export function findOpenSsh(): OpenSsh | undefined {
  if (found !== null) return found;
  if (process.env.SEASHELL_NO_OPENSSH === '1') {
    found = undefined;
    return found;
  }
  const dirs = searchDirs();
  const ssh = which('ssh', dirs);
  const sshd = which('sshd', dirs);
  const sshKeygen = which('ssh-keygen', dirs);
  if (ssh === undefined || sshd === undefined || sshKeygen === undefined) {
    found = undefined;
    return found;
  }
  const result: OpenSsh = { ssh, sshd, sshKeygen };
  const sftp = which('sftp', dirs);
  if (sftp !== undefined) result.sftp = sftp;
  const sftpServer = which('sftp-server', dirs);
  if (sftpServer !== undefined) result.sftpServer = sftpServer;
  found = result;
  return found;
}

/** The version banner of the OpenSSH client, e.g. `OpenSSH_9.2p1`, and its major.minor as numbers. */
export async function openSshVersion(): Promise<{ banner: string; major: number; minor: number }> {
  const o = mustFindOpenSsh();
  const r = await runCommand(o.ssh, ['-V'], { timeoutMs: 10_000 });
  const m = /OpenSSH_(\d+)\.(\d+)\S*/.exec(r.stderr);
  if (m === null) throw new Error(`cannot parse the output of "${o.ssh} -V": ${r.stderr.trim()}`);
  return { banner: m[0], major: Number(m[1]), minor: Number(m[2]) };
}

/** Optional tools a suite may depend on, beyond ssh/sshd/ssh-keygen. */
export type OptionalTool = 'sftp' | 'sftpServer';

export interface InteropOptions {
  /** Optional tools without which the suite cannot run. */
  needs?: OptionalTool[];
}

export function isCi(): boolean {
  return process.env.CI === 'true';
}

function missingTools(o: OpenSsh | undefined, needs: OptionalTool[]): string[] {
  if (o === undefined) return ['ssh/sshd/ssh-keygen'];
  return needs.filter((n) => o[n] === undefined).map((n) => (n === 'sftpServer' ? 'sftp-server' : n));
}

function missingMessage(missing: string[]): string {
  return (
    `OpenSSH is not installed (missing: ${missing.join(', ')}; searched PATH and ${EXTRA_DIRS.join(', ')}). ` +
    'Install the Debian packages openssh-client openssh-server openssh-sftp-server (.ci/run does).'
  );
}

/**
 * Declares a suite of interop tests. `fn` runs inside `describe(name)` with the OpenSSH paths when
 * OpenSSH is installed. Otherwise the suite is skipped, or fails with a clear message when CI=true.
 */
export function interopSuite(
  name: string,
  fn: (openssh: OpenSsh) => void,
  options: InteropOptions = {},
): void {
  const o = findOpenSsh();
  const missing = missingTools(o, options.needs ?? []);
  if (o !== undefined && missing.length === 0) {
    describe(name, () => fn(o));
    return;
  }
  const message = missingMessage(missing);
  if (isCi()) {
    describe(name, () => {
      test('OpenSSH is installed (required when CI=true)', () => {
        throw new Error(message);
      });
    });
  } else {
    // A skipped test (not only a skipped suite), so that the run's summary counts it.
    describe(name, () => {
      test('OpenSSH is installed', { skip: message }, () => {});
    });
  }
}

/**
 * The per-test form of `interopSuite`: returns the OpenSSH paths; or, when they are missing, throws
 * on CI and otherwise marks the test skipped and returns undefined (the test should just return).
 */
export function requireOpenSsh(t: TestContext, options: InteropOptions = {}): OpenSsh | undefined {
  const o = findOpenSsh();
  const missing = missingTools(o, options.needs ?? []);
  if (o !== undefined && missing.length === 0) return o;
  const message = missingMessage(missing);
  if (isCi()) throw new Error(message);
  t.skip(message);
  return undefined;
}

function mustFindOpenSsh(): OpenSsh {
  const o = findOpenSsh();
  if (o === undefined) throw new Error(missingMessage(missingTools(o, [])));
  return o;
}

// ---------------------------------------------------------------------------------------------
// Temp dirs
// ---------------------------------------------------------------------------------------------

const liveTempDirs = new Set<string>();

function keepTemp(): boolean {
  const v = process.env.SEASHELL_KEEP_TMP;
  return v !== undefined && v !== '' && v !== '0';
}

/** Creates a fresh private (0700) directory under the OS temp dir; `prefix` names it. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `seashell-${prefix}`));
  liveTempDirs.add(dir);
  installExitHook();
  return dir;
}

/** Removes a directory made by makeTempDir (kept, with its path printed, when SEASHELL_KEEP_TMP=1). */
export async function removeTempDir(dir: string | undefined): Promise<void> {
  if (dir === undefined) return;
  liveTempDirs.delete(dir);
  if (keepTemp()) {
    process.stderr.write(`# SEASHELL_KEEP_TMP: kept ${dir}\n`);
    return;
  }
  await rm(dir, { recursive: true, force: true });
}

/** Removes every temp dir this process made and has not removed yet. */
export async function removeAllTempDirs(): Promise<void> {
  await Promise.all([...liveTempDirs].map((d) => removeTempDir(d)));
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

export type KeyType = 'ed25519' | 'ecdsa' | 'rsa' | 'dsa';

export interface KeyPair {
  type: KeyType;
  /** Path of the private key file. */
  privateKey: string;
  /** Path of the public key file (`privateKey + '.pub'`). */
  publicKey: string;
  /** The public key as `type base64` (no comment): an authorized_keys or known_hosts key field. */
  publicLine: string;
}

export interface KeygenOptions {
  /** Key size (`-b`): RSA modulus bits or ECDSA curve size (256, 384, 521). */
  bits?: number;
  /** Passphrase (`-N`); empty by default. */
  passphrase?: string;
  /** Comment (`-C`); 'seashell-interop' by default. */
  comment?: string;
  /** Private key format (`-m`): OpenSSH's own by default, or PEM (PKCS#1/SEC1), PKCS8, RFC4716. */
  format?: 'PEM' | 'PKCS8' | 'RFC4716';
}

/** Reads an OpenSSH public key file and returns its `type base64` fields. */
export async function readPublicKeyLine(path: string): Promise<string> {
  const text = await readFile(path, 'utf8');
  const fields = text.trim().split(/\s+/);
  if (fields.length < 2)
    throw new Error(`${path} is not an OpenSSH public key file: ${JSON.stringify(text)}`);
  return `${fields[0]} ${fields[1]}`;
}

/**
 * Generates a key pair with ssh-keygen (`-q -t <type> -N '' -f <path>`); `path` must not exist yet
 * (ssh-keygen would ask whether to overwrite it).
 */
export async function sshKeygen(type: KeyType, path: string, opts: KeygenOptions = {}): Promise<KeyPair> {
  const o = mustFindOpenSsh();
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (exists) throw new Error(`sshKeygen: ${path} already exists`);
  const args = [
    '-q',
    '-t',
    type,
    '-N',
    opts.passphrase ?? '',
    '-C',
    opts.comment ?? 'seashell-interop',
    '-f',
    path,
  ];
  if (opts.bits !== undefined) args.push('-b', String(opts.bits));
  if (opts.format !== undefined) args.push('-m', opts.format);
  const r = await runCommand(o.sshKeygen, args, { timeoutMs: 60_000 });
  if (r.code !== 0) {
    throw new Error(
      `ssh-keygen ${args.join(' ')} failed (exit ${r.code}, signal ${r.signal}): ${r.stderr.trim()}`,
    );
  }
  const publicKey = `${path}.pub`;
  return { type, privateKey: path, publicKey, publicLine: await readPublicKeyLine(publicKey) };
}

/**
 * known_hosts lines for `keyLines` (each `type base64`) at host:port: `[host]:port type base64`
 * (plain `host` for port 22), one per key, each ending in a newline.
 */
export function formatKnownHosts(host: string, port: number, keyLines: string[]): string {
  const name = port === 22 ? host : `[${host}]:${port}`;
  return keyLines.map((k) => `${name} ${k}\n`).join('');
}

// ---------------------------------------------------------------------------------------------
// Processes: tracking, killing whole trees, and a last-resort kill at exit
// ---------------------------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
/** Recognizers of the session processes of running sshd handles, by an environment entry. */
const sessionMatchers = new Set<(entry: string) => boolean>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for a test that forgot stop(): nothing we started may outlive the test process.
  process.on('exit', () => {
    for (const child of liveChildren) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
      for (const p of [...descendants(child.pid), { pid: child.pid, start: undefined }]) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const match of sessionMatchers) {
      for (const p of processesWithEnv(match)) signal(p, 'SIGKILL');
    }
    if (!keepTemp()) {
      for (const d of liveTempDirs) {
        try {
          rmSync(d, { recursive: true, force: true });
        } catch {
          // best effort
        }
      }
    }
  });
}

function track(child: ChildProcess): void {
  installExitHook();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  child.once('error', () => liveChildren.delete(child));
}

/** A process seen in /proc: its pid and start time (to tell a reused pid apart). */
interface ProcRef {
  pid: number;
  start: string | undefined;
}

interface ProcStat {
  ppid: number;
  state: string;
  start: string;
}

function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..." where comm may itself contain spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), fields[1] field 4 (ppid), fields[19] field 22 (starttime).
  return { state: fields[0] ?? '?', ppid: Number(fields[1]), start: fields[19] ?? '' };
}

const haveProc = ((): boolean => {
  try {
    return statSync('/proc/self/stat').isFile();
  } catch {
    return false;
  }
})();

/** Every live descendant of `pid` (Linux /proc; empty elsewhere). */
function descendants(pid: number): ProcRef[] {
  if (!haveProc) return [];
  const children = new Map<number, ProcRef[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const s = readProcStat(Number(e));
    if (s === undefined) continue;
    const list = children.get(s.ppid) ?? [];
    list.push({ pid: Number(e), start: s.start });
    children.set(s.ppid, list);
  }
  const out: ProcRef[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

function procRef(pid: number): ProcRef {
  return { pid, start: haveProc ? readProcStat(pid)?.start : undefined };
}

/** Whether a process is still running (zombies count as gone: PID 1 may be slow to reap them). */
function isRunning(p: ProcRef): boolean {
  if (haveProc) {
    const s = readProcStat(p.pid);
    if (s === undefined || s.state === 'Z' || s.state === 'X') return false;
    if (p.start !== undefined && s.start !== p.start) return false;
    return true;
  }
  try {
    process.kill(p.pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(p: ProcRef, sig: NodeJS.Signals): void {
  if (!isRunning(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // exited meanwhile
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitGone(procs: ProcRef[], ms: number): Promise<ProcRef[]> {
  const deadline = Date.now() + ms;
  let left = procs.filter(isRunning);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(25);
    left = left.filter(isRunning);
  }
  return left;
}

/**
 * Terminates processes and all their descendants: SIGTERM, then SIGKILL for whatever is still
 * running after `graceMs`. The tree is read before the first signal (an orphan is re-parented and
 * could not be found afterwards). Resolves when every one of them is gone.
 */
export async function terminateTree(pids: number[], graceMs = 2000): Promise<void> {
  await terminateProcs(pids.map(procRef), graceMs);
}

async function terminateProcs(roots: ProcRef[], graceMs: number): Promise<void> {
  const procs: ProcRef[] = [];
  for (const p of roots) if (isRunning(p)) procs.push(p, ...descendants(p.pid));
  for (const p of procs) signal(p, 'SIGTERM');
  let left = await waitGone(procs, graceMs);
  if (left.length === 0) return;
  // Whatever was forked meanwhile by a process that ignored SIGTERM goes too.
  for (const p of [...left]) left.push(...descendants(p.pid));
  for (const p of left) signal(p, 'SIGKILL');
  left = await waitGone(left, 10_000);
  if (left.length > 0) throw new Error(`processes ${left.map((p) => p.pid).join(', ')} survived SIGKILL`);
}

/**
 * Processes (other than this one) with an environment entry (`NAME=value`) that `match` accepts.
 * Linux /proc only; processes whose environment we may not read are skipped.
 */
function processesWithEnv(match: (entry: string) => boolean): ProcRef[] {
  if (!haveProc) return [];
  const out: ProcRef[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let environ: string[];
    try {
      environ = readFileSync(`/proc/${e}/environ`, 'latin1').split('\0');
    } catch {
      continue;
    }
    if (environ.some(match)) out.push(procRef(Number(e)));
  }
  return out;
}

async function terminateChildren(children: ChildProcess[], graceMs: number): Promise<void> {
  const running = children.filter((c) => c.pid !== undefined && c.exitCode === null && c.signalCode === null);
  await terminateTree(
    running.map((c) => c.pid as number),
    graceMs,
  );
  // Let Node reap them and flush their stdio.
  await Promise.all(running.map((c) => waitClosed(c, 5000)));
}

function waitClosed(child: ChildProcess, ms: number): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      if (!hasOpenStdio(child)) return res();
    }
    const timer = setTimeout(() => {
      destroyStdio(child);
      res();
    }, ms);
    child.once('close', () => {
      clearTimeout(timer);
      res();
    });
  });
}

function hasOpenStdio(child: ChildProcess): boolean {
  return child.stdio.some((s) => s !== null && s !== undefined && !s.destroyed);
}

function destroyStdio(child: ChildProcess): void {
  for (const s of child.stdio) if (s !== null && s !== undefined) s.destroy();
}

// ---------------------------------------------------------------------------------------------
// Running programs
// ---------------------------------------------------------------------------------------------

export const DEFAULT_TIMEOUT_MS = 60_000;

export interface RunOptions {
  /** Data for stdin: a Buffer/string, or a stream piped with backpressure. Default: stdin is closed. */
  input?: Buffer | string | NodeJS.ReadableStream;
  /** Kill the process (and its descendants) and reject after this long; default 60 s. */
  timeoutMs?: number;
  /** Variables added to (or, with value undefined, removed from) the environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Sees all of stderr as it comes (the result keeps only its head and tail past 4 MiB). */
  onStderr?: (chunk: Buffer) => void;
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: string;
}

export interface HashedRunResult {
  code: number | null;
  signal: string | null;
  /** Hex sha256 of everything written to stdout. */
  stdoutSha256: string;
  stdoutBytes: number;
  stderr: string;
}

/** Keep at most this much stderr (the head and the tail). */
const STDERR_CAP = 4 << 20;

/** The child environment: the parent's without the ssh-agent (so no agent key can be offered), plus `env`. */
function childEnv(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE']) delete env[k];
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function commandLine(cmd: string, args: string[]): string {
  return [cmd, ...args]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}

/** A growing text buffer that keeps its head and tail once it exceeds `cap` bytes. */
class CappedText {
  private head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private dropped = 0;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    if (this.headBytes < this.cap / 2) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      return;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tailBytes > this.cap / 2 && this.tail.length > 1) {
      const c = this.tail.shift() as Buffer;
      this.tailBytes -= c.length;
      this.dropped += c.length;
    }
  }
  toString(): string {
    const mid = this.dropped > 0 ? `\n[... ${this.dropped} bytes dropped ...]\n` : '';
    return Buffer.concat(this.head).toString('utf8') + mid + Buffer.concat(this.tail).toString('utf8');
  }
}

function execute(
  cmd: string,
  args: string[],
  opts: RunOptions,
  onStdout: (chunk: Buffer) => void,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: childEnv(opts.env),
      cwd: opts.cwd,
    });
    track(child);
    const stderr = new CappedText(STDERR_CAP);
    let timedOut = false;
    let settled = false;
    let afterExit: NodeJS.Timeout | undefined;

    child.stdout.on('data', onStdout);
    child.stderr.on('data', (c: Buffer) => {
      stderr.push(c);
      opts.onStderr?.(c);
    });
    // EPIPE/ECONNRESET when the program exits before reading all of its input: not our error.
    child.stdin.on('error', () => {});

    const input = opts.input;
    if (input === undefined) {
      child.stdin.end();
    } else if (typeof input === 'string' || Buffer.isBuffer(input)) {
      child.stdin.end(input);
    } else {
      pipeline(input, child.stdin, () => {});
    }

    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        terminateTree([child.pid], 1000).catch(() => child.kill('SIGKILL'));
      }
    }, timeoutMs);

    child.once('error', (err) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(new Error(`cannot run ${commandLine(cmd, args)}: ${err.message}`));
    });
    // 'close' waits for stdout/stderr to be drained; should a grandchild keep them open after the
    // program itself has exited, stop waiting after a few seconds.
    child.once('exit', () => {
      afterExit = setTimeout(() => destroyStdio(child), 5000);
    });
    child.once('close', (code: number | null, sig: NodeJS.Signals | null) => {
      clearTimeout(timer);
      if (afterExit !== undefined) clearTimeout(afterExit);
      if (settled) return;
      settled = true;
      const text = stderr.toString();
      if (timedOut) {
        reject(
          new Error(
            `timed out after ${timeoutMs} ms, killed: ${commandLine(cmd, args)}\n--- stderr ---\n${text}--- end of stderr ---`,
          ),
        );
        return;
      }
      resolvePromise({ code, signal: sig, stderr: text });
    });
  });
}

/** Runs any program to completion (see RunOptions); a non-zero exit status resolves normally. */
export async function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const chunks: Buffer[] = [];
  const r = await execute(cmd, args, opts, (c) => chunks.push(c));
  return { ...r, stdout: Buffer.concat(chunks) };
}

/** Runs OpenSSH `ssh` with `args` (typically `[...sshBaseArgs(...), '127.0.0.1', command]`). */
export async function runSsh(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand(mustFindOpenSsh().ssh, args, opts);
}

/** runCommand, hashing stdout as it arrives instead of keeping it. */
export async function runCommandHashed(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<HashedRunResult> {
  const hash = createHash('sha256');
  let bytes = 0;
  const r = await execute(cmd, args, opts, (c) => {
    hash.update(c);
    bytes += c.length;
  });
  return {
    code: r.code,
    signal: r.signal,
    stdoutSha256: hash.digest('hex'),
    stdoutBytes: bytes,
    stderr: r.stderr,
  };
}

/** runSsh, hashing stdout as it arrives: for transfers too large to hold in memory. */
export async function runSshHashed(args: string[], opts: RunOptions = {}): Promise<HashedRunResult> {
  return runCommandHashed(mustFindOpenSsh().ssh, args, opts);
}

export interface RandomSource {
  /** The bytes, produced on demand (backpressure-friendly). A source can be read once. */
  stream: Readable;
  /** Hex sha256 of all the bytes; throws if the stream has not been read to its end yet. */
  sha256(): string;
  bytes: number;
}

/** A stream of `bytes` random bytes that hashes what it produces (for large-transfer tests). */
export function randomSource(bytes: number, chunkSize = 1 << 20): RandomSource {
  const hash = createHash('sha256');
  let produced = 0;
  let digest: string | undefined;
  const stream = new Readable({
    read() {
      if (produced >= bytes) {
        if (digest === undefined) digest = hash.digest('hex');
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(chunkSize, bytes - produced));
      produced += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return {
    stream,
    bytes,
    sha256() {
      if (digest === undefined) throw new Error(`randomSource: only ${produced} of ${bytes} bytes were read`);
      return digest;
    },
  };
}

/** Hex sha256 of a buffer. */
export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// OpenSSH client command lines
// ---------------------------------------------------------------------------------------------

export interface SshArgsOptions {
  port: number;
  identityFile: string;
  knownHostsFile: string;
  user: string;
  /** Extra arguments, placed first so that their `-o` values win (ssh keeps the first value). */
  extra?: string[];
}

function hermeticOptions(o: SshArgsOptions): string[] {
  return [
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${o.knownHostsFile}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `IdentityFile=${o.identityFile}`,
    '-o',
    'ControlMaster=no',
    '-o',
    'LogLevel=ERROR',
  ];
}

/**
 * A hermetic `ssh` command line without the host (see the top of this file for the exact list):
 * no user or system config, no agent keys, no prompts, strict host key checking against
 * `knownHostsFile` only. Append '127.0.0.1' and the remote command.
 */
export function sshBaseArgs(o: SshArgsOptions): string[] {
  return ['-F', '/dev/null', ...(o.extra ?? []), ...hermeticOptions(o), '-p', String(o.port), '-l', o.user];
}

/** The same for `sftp` (which spells the port `-P` and has no `-l`). Append '127.0.0.1'. */
export function sftpBaseArgs(o: SshArgsOptions): string[] {
  return [
    '-F',
    '/dev/null',
    ...(o.extra ?? []),
    ...hermeticOptions(o),
    '-P',
    String(o.port),
    '-o',
    `User=${o.user}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// A private sshd
// ---------------------------------------------------------------------------------------------

export interface SshdOptions {
  /** Contents of the authorized_keys file (e.g. `key.publicLine`). */
  authorizedKeys: string;
  /** Host keys to generate; default all of ed25519, ecdsa, rsa. */
  hostKeyTypes?: KeyType[];
  /**
   * sshd_config lines, e.g. 'Ciphers aes128-gcm@openssh.com'. They are written BEFORE the defaults
   * (sshd keeps the first value of most keywords), and a default whose keyword appears here is left
   * out altogether (so 'Subsystem sftp internal-sftp' or 'PasswordAuthentication yes' replace ours),
   * except HostKey, which adds a key (not listed in hostKeyLines). Lines from the first `Match` on
   * are written at the very end, as sshd requires.
   */
  extraConfig?: string[];
  /** LogLevel; default DEBUG3. */
  logLevel?: 'QUIET' | 'FATAL' | 'ERROR' | 'INFO' | 'VERBOSE' | 'DEBUG' | 'DEBUG1' | 'DEBUG2' | 'DEBUG3';
  /**
   * How a connection reaches `sshd -i`: 'fd' (default) hands it the accepted socket itself as
   * stdin/stdout; 'pipe' copies bytes between the socket and pipes (env SEASHELL_SSHD_STDIO=pipe).
   */
  stdio?: 'fd' | 'pipe';
  /**
   * The sshd executable to run, an absolute path (sshd refuses a relative one); default the
   * installed sshd. A symlink to it under another name changes its PAM service: portable OpenSSH
   * names the service after the program (`__progname`).
   */
  program?: string;
}

export interface SshdHandle {
  host: '127.0.0.1';
  port: number;
  /** Public host keys as `type base64`, in the order of hostKeyTypes. */
  hostKeyLines: string[];
  /** known_hosts lines `[127.0.0.1]:port type base64` for all host keys, each ending in '\n'. */
  knownHostsLine(): string;
  /** The user to log in as: the current user. */
  user: string;
  /** Everything the sshd processes logged so far, one section per connection. */
  logs(): string;
  /** Closes the listener, terminates every sshd started and its descendants, removes the temp dir. */
  stop(): Promise<void>;
  /** The temp dir holding sshd_config, host keys and authorized_keys. */
  dir: string;
  configPath: string;
  /** Private host key paths, in the order of hostKeyLines. */
  hostKeyPaths: string[];
  /** Number of connections accepted so far. */
  connections(): number;
  /** Pids of the sshd processes (one per connection) still running. */
  livePids(): number[];
  /** Resolves once no sshd of this handle is running (their logs complete); rejects after timeoutMs. */
  waitIdle(timeoutMs?: number): Promise<void>;
}

const LOG_CAP = 32 << 20;

/** The keyword of a config line ('' for blanks and comments). */
function keywordOf(line: string): string {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return '';
  return (t.split(/[\s=]+/)[0] ?? '').toLowerCase();
}

function buildConfig(
  o: OpenSsh,
  dir: string,
  hostKeyPaths: string[],
  extra: string[],
  logLevel: string,
  tagEntry: string,
): string {
  const matchAt = extra.findIndex((l) => keywordOf(l) === 'match');
  const before = matchAt < 0 ? [...extra] : extra.slice(0, matchAt);
  // Only the first SetEnv line counts: the tag joins the caller's, if there is one.
  const setEnvAt = before.findIndex((l) => keywordOf(l) === 'setenv');
  if (setEnvAt >= 0) before[setEnvAt] = `${before[setEnvAt]} ${tagEntry}`;
  const matchBlocks = matchAt < 0 ? [] : extra.slice(matchAt);
  const overridden = new Set(extra.map(keywordOf));
  const defaults: string[] = [
    'ListenAddress 127.0.0.1',
    ...hostKeyPaths.map((p) => `HostKey ${p}`),
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin yes',
    'PidFile none',
    `LogLevel ${logLevel}`,
    `Subsystem sftp ${o.sftpServer ?? 'internal-sftp'}`,
    // No AcceptEnv line: no environment variable is accepted unless extraConfig says so.
    'MaxStartups 100',
    'MaxSessions 100',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    // Marks every session process, so that stop() can find those that outlived their sshd.
    `SetEnv ${tagEntry}`,
  ].filter((l) => keywordOf(l) === 'hostkey' || !overridden.has(keywordOf(l)));
  return [
    '# Written by test/interop/openssh.ts; sshd runs as `sshd -i -e -f <this file>`.',
    '# extraConfig (first: sshd keeps the first value of most keywords)',
    ...before,
    '# defaults',
    ...defaults,
    ...(matchBlocks.length > 0 ? ['# Match blocks from extraConfig', ...matchBlocks] : []),
    '',
  ].join('\n');
}

/**
 * Checks the config with `sshd -t`. Run as root, sshd refuses to start without its privilege
 * separation directory (/run/sshd on Debian, which a container without systemd does not have):
 * create it as sshd's error message names it, mode 0755, and check again.
 */
async function checkConfig(program: string, configPath: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const r = await runCommand(program, ['-t', '-f', configPath], { timeoutMs: 30_000 });
    if (r.code === 0) return;
    const m = /Missing privilege separation directory: (\S+)/.exec(r.stderr);
    const isRoot = process.getuid?.() === 0;
    if (m !== null && isRoot && attempt === 0) {
      const privsepDir = m[1] as string;
      await mkdir(privsepDir, { recursive: true, mode: 0o755 });
      await chmod(privsepDir, 0o755);
      continue;
    }
    throw new Error(`sshd rejects its configuration ${configPath} (exit ${r.code}):\n${r.stderr.trim()}`);
  }
}

function listen(server: Server): Promise<number> {
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', rej);
      res((server.address() as AddressInfo).port);
    });
  });
}

/** Starts a private sshd on 127.0.0.1 (an ephemeral port, inetd mode: no port race). */
export async function startSshd(opts: SshdOptions): Promise<SshdHandle> {
  const o = mustFindOpenSsh();
  const program = opts.program ?? o.sshd;
  const hostKeyTypes = opts.hostKeyTypes ?? ['ed25519', 'ecdsa', 'rsa'];
  const stdioMode = opts.stdio ?? (process.env.SEASHELL_SSHD_STDIO === 'pipe' ? 'pipe' : 'fd');
  const dir = await makeTempDir('sshd-');
  const tagEntry = `SEASHELL_SSHD_TAG=${randomUUID()}`;
  const isSession = (entry: string): boolean => entry === tagEntry;
  let server: Server | undefined;
  try {
    const hostKeys = await Promise.all(
      hostKeyTypes.map((t) => sshKeygen(t, join(dir, `ssh_host_${t}_key`), { comment: 'seashell-sshd' })),
    );
    const authorized = opts.authorizedKeys.endsWith('\n') ? opts.authorizedKeys : `${opts.authorizedKeys}\n`;
    await writeFile(join(dir, 'authorized_keys'), authorized, { mode: 0o600 });
    const configPath = join(dir, 'sshd_config');
    const config = buildConfig(
      o,
      dir,
      hostKeys.map((k) => k.privateKey),
      opts.extraConfig ?? [],
      opts.logLevel ?? 'DEBUG3',
      tagEntry,
    );
    await writeFile(configPath, config, { mode: 0o600 });
    await checkConfig(program, configPath);

    const children = new Set<ChildProcess>();
    const closedPromises: Promise<void>[] = [];
    const pipedSockets = new Set<Socket>();
    const log = new CappedText(LOG_CAP);
    const logLine = (s: string): void => log.push(Buffer.from(s));
    let accepted = 0;
    let stopping = false;

    const srv = createServer({ pauseOnConnect: true }, (socket) => {
      if (stopping) {
        socket.destroy();
        return;
      }
      const id = ++accepted;
      socket.setNoDelay(true);
      const args = ['-i', '-e', '-f', configPath];
      let child: ChildProcess;
      try {
        child =
          stdioMode === 'fd'
            ? spawn(program, args, { stdio: [socket, socket, 'pipe'] })
            : spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (err) {
        logLine(`=== connection #${id}: cannot spawn ${program}: ${(err as Error).message} ===\n`);
        socket.destroy();
        return;
      }
      track(child);
      children.add(child);
      logLine(`=== connection #${id} from port ${socket.remotePort}: sshd pid ${child.pid} ===\n`);
      if (stdioMode === 'fd') {
        // The child has its own copy of the descriptor now; the parent's copy must go, or the
        // connection would stay open after sshd exits.
        socket.destroy();
      } else {
        pipedSockets.add(socket);
        const toSshd = child.stdin as Writable;
        const fromSshd = child.stdout as Readable;
        toSshd.on('error', () => socket.destroy());
        socket.on('error', () => toSshd.destroy());
        socket.pipe(toSshd);
        fromSshd.pipe(socket);
        socket.once('close', () => pipedSockets.delete(socket));
        socket.resume();
      }
      (child.stderr as Readable).on('data', (c: Buffer) => log.push(c));
      closedPromises.push(
        new Promise<void>((res) => {
          child.once('error', (err) => {
            logLine(`=== connection #${id}: sshd failed: ${err.message} ===\n`);
            children.delete(child);
            socket.destroy();
            res();
          });
          child.once('close', (code, sig) => {
            logLine(
              `=== connection #${id}: sshd pid ${child.pid} exited (code ${code}, signal ${sig}) ===\n`,
            );
            children.delete(child);
            if (stdioMode === 'pipe') socket.end();
            res();
          });
        }),
      );
    });
    server = srv;
    sessionMatchers.add(isSession);
    // A forgotten stop() must not keep the test process alive; the exit hook kills the children.
    srv.unref();
    const port = await listen(srv);
    const hostKeyLines = hostKeys.map((k) => k.publicLine);

    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        stopping = true;
        const closed = new Promise<void>((res) => srv.close(() => res()));
        await terminateChildren([...children], 2000);
        // A session whose client went away while its command still ran (e.g. `sleep` without a
        // pty, which gets no SIGHUP) outlives its sshd, re-parented: find it by its environment.
        await terminateProcs(processesWithEnv(isSession), 2000);
        sessionMatchers.delete(isSession);
        for (const s of pipedSockets) s.destroy();
        await Promise.all(closedPromises);
        await closed;
        await removeTempDir(dir);
      })();
      return stopped;
    };

    return {
      host: '127.0.0.1',
      port,
      hostKeyLines,
      knownHostsLine: () => formatKnownHosts('127.0.0.1', port, hostKeyLines),
      user: userInfo().username,
      // sshd -e ends its log lines in CRLF.
      logs: () => log.toString().replace(/\r\n/g, '\n'),
      stop,
      dir,
      configPath,
      hostKeyPaths: hostKeys.map((k) => k.privateKey),
      connections: () => accepted,
      livePids: () =>
        [...children].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => c.pid as number),
      waitIdle: async (timeoutMs = 10_000) => {
        const deadline = Date.now() + timeoutMs;
        while (children.size > 0) {
          if (Date.now() > deadline) {
            throw new Error(
              `sshd still running after ${timeoutMs} ms: pids ${[...children].map((c) => c.pid).join(', ')}`,
            );
          }
          await sleep(20);
        }
      },
    };
  } catch (err) {
    sessionMatchers.delete(isSession);
    server?.close();
    await removeTempDir(dir);
    throw err;
  }
}
