/**
 * OpenSSH as a contestant: its own `sshd` (a real listening daemon, `sshd -D -e -f <config>`, on a
 * free 127.0.0.1 port, with a config, host key and authorized_keys of the bench's), and the `ssh`
 * and `sftp` programs run with hermetic arguments (no user or system config, no agent, only the
 * bench's key and known_hosts). Every `ssh` run is a process of its own, as users run it.
 *
 * Commands on sshd are real shell commands: `cat > /dev/null` (sink), `head -c N /dev/zero`
 * (source), `true`, `echo x`, run by the user's login shell.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { BenchContext } from '../lib/context.js';
import {
  descendants,
  freePort,
  killTree,
  runTimed,
  sleep,
  spawnTracked,
  treeCpuSeconds,
  treeMemory,
  waitForSshBanner,
} from '../lib/proc.js';
import { transferTimeout } from './agents.js';
import type {
  Algorithms,
  ClientHandle,
  Commands,
  Feature,
  HandshakeBatch,
  Holder,
  Load,
  Missing,
  OpCost,
  Prober,
  ServerHandle,
} from './types.js';

export interface OpenSshTools {
  ssh?: string;
  sshd?: string;
  sftp?: string;
  sftpServer?: string;
  version?: string;
  kex: string[];
  cipher: string[];
  mac: string[];
  compression: string[];
  /** The client's default cipher list (`ssh -G`), for the SFTP rows. */
  defaultCiphers: string[];
}

const EXTRA_DIRS = [
  '/usr/sbin',
  '/usr/bin',
  '/usr/lib/openssh',
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/libexec/openssh',
];

function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...EXTRA_DIRS];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return p.startsWith('/') ? p : join(process.cwd(), p);
    } catch {
      // not here
    }
  }
  return undefined;
}

function query(ssh: string, what: string): string[] {
  const r = spawnSync(ssh, ['-Q', what], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter((l) => l !== '') : [];
}

/** Finds ssh, sshd, sftp and sftp-server, and what this OpenSSH supports. */
export function findOpenSsh(): OpenSshTools {
  if (process.env.SEASHELL_NO_OPENSSH === '1') {
    return { kex: [], cipher: [], mac: [], compression: [], defaultCiphers: [] };
  }
  const ssh = which('ssh');
  const tools: OpenSshTools = {
    ssh,
    sshd: which('sshd'),
    sftp: which('sftp'),
    sftpServer: which('sftp-server'),
    kex: [],
    cipher: [],
    mac: [],
    compression: [],
    defaultCiphers: [],
  };
  if (ssh) {
    // e.g. "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026": keep the OpenSSH part.
    tools.version = spawnSync(ssh, ['-V'], { encoding: 'utf8' }).stderr.trim().split(',')[0];
    tools.kex = query(ssh, 'kex');
    tools.cipher = query(ssh, 'cipher');
    tools.mac = query(ssh, 'mac');
    tools.compression = query(ssh, 'compression');
    const g = spawnSync(ssh, ['-G', '-F', '/dev/null', '127.0.0.1'], { encoding: 'utf8' });
    const line = /^ciphers (.*)$/m.exec(g.stdout ?? '');
    tools.defaultCiphers = line ? (line[1] ?? '').split(',') : [];
  }
  return tools;
}

function algorithmSupport(tools: OpenSshTools, f: Feature, who: string): Missing | undefined {
  if (f.kind === 'kex' || f.kind === 'cipher' || f.kind === 'mac' || f.kind === 'compression') {
    if (tools[f.kind].includes(f.name)) return undefined;
    return {
      status: 'not available',
      why: `${who} (${tools.version ?? 'OpenSSH'}) has no ${f.kind} ${f.name}`,
    };
  }
  return undefined;
}

// ---- sshd -------------------------------------------------------------------------------------

const SHELL_COMMANDS: Commands = {
  sink: () => 'cat > /dev/null',
  source: (bytes: number) => `head -c ${bytes} /dev/zero`,
  true: 'true',
  echo: 'echo x',
};

function sshdConfig(ctx: BenchContext, port: number, sftpServer: string | undefined): string {
  return [
    '# Written by the Seashell bench (bench/contestants/openssh.ts).',
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${ctx.keys.hostKey}`,
    `AuthorizedKeysFile ${join(ctx.serverUserDir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin yes',
    'PidFile none',
    'LogLevel ERROR',
    `Subsystem sftp ${sftpServer ?? 'internal-sftp'}`,
    // Unauthenticated connections at once (the memory measure opens them a few at a time).
    'MaxStartups 200',
    'MaxSessions 64',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    // bash reads ~/.bashrc for commands run by sshd unless it is a nested shell; the account's dotfiles
    // are not sshd's cost (here they can take a few hundred ms), so the session looks nested.
    'SetEnv SHLVL=1',
    '',
  ].join('\n');
}

class SshdServer implements ServerHandle {
  readonly id = 'sshd' as const;
  readonly label = 'sshd';
  readonly commands = SHELL_COMMANDS;
  port = 0;
  missing: Missing | undefined;
  private child: ChildProcess | undefined;
  private stderr = '';

  constructor(
    private readonly ctx: BenchContext,
    private readonly tools: OpenSshTools,
  ) {}

  async start(): Promise<this> {
    const sshd = this.tools.sshd;
    if (!sshd || !this.tools.ssh) {
      this.missing = { status: 'not available', why: 'OpenSSH (ssh and sshd) is not installed' };
      return this;
    }
    const configPath = join(this.ctx.work, 'sshd_config');
    for (let attempt = 1; attempt <= 5; attempt++) {
      const port = await freePort();
      await writeFile(configPath, sshdConfig(this.ctx, port, this.tools.sftpServer), { mode: 0o600 });
      this.checkConfig(sshd, configPath);
      this.stderr = '';
      const child = spawnTracked(sshd, ['-D', '-e', '-f', configPath], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr?.on(
        'data',
        (c: Buffer) => (this.stderr = (this.stderr + c.toString('utf8')).slice(-4000)),
      );
      let exited = false;
      child.once('exit', () => (exited = true));
      const deadline = Date.now() + 10_000;
      let up = false;
      while (!exited && !up && Date.now() < deadline) up = await waitForSshBanner(port, 200);
      if (up && !exited) {
        this.child = child;
        this.port = port;
        this.ctx.note(
          'sshd sessions get SHLVL=1 (SetEnv), so that bash runs the bench commands without reading the ' +
            "account's ~/.bashrc (here it cost a few hundred ms per command, which is the account's, not sshd's).",
        );
        return this;
      }
      if (child.pid !== undefined) await killTree(child.pid, 500);
      // Another process took the port between freePort() and sshd's bind: try another one.
      if (!/Address already in use|Bind to port/i.test(this.stderr)) break;
    }
    this.missing = {
      status: 'not available',
      why: `sshd did not start: ${this.stderr.trim().slice(0, 300)}`,
    };
    return this;
  }

  /** `sshd -t`; as root, sshd also wants its privilege separation directory (/run/sshd). */
  private checkConfig(sshd: string, configPath: string): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = spawnSync(sshd, ['-t', '-f', configPath], { encoding: 'utf8' });
      if (r.status === 0) return;
      const m = /Missing privilege separation directory: (\S+)/.exec(r.stderr);
      if (m && process.getuid?.() === 0 && !existsSync(m[1] as string)) {
        mkdirSync(m[1] as string, { recursive: true, mode: 0o755 });
        continue;
      }
      throw new Error(`sshd rejects the bench config: ${r.stderr.trim()}`);
    }
  }

  private get pid(): number {
    if (!this.child?.pid) throw new Error('sshd is not running');
    return this.child.pid;
  }

  supports(f: Feature): Missing | undefined {
    if (this.missing) return this.missing;
    if (f.kind === 'sftp') return undefined;
    return algorithmSupport(this.tools, f, 'OpenSSH sshd');
  }

  async cpuSeconds(): Promise<number> {
    return treeCpuSeconds(this.pid);
  }

  async memory() {
    return treeMemory(this.pid);
  }

  /** Waits until no per-connection sshd process is left (then their CPU is in the master's). */
  async settle(): Promise<void> {
    const deadline = Date.now() + 5000;
    while (descendants(this.pid).length > 0 && Date.now() < deadline) await sleep(5);
  }

  describe(): string {
    return (
      `${this.tools.version ?? 'OpenSSH'} sshd -D (listening daemon, a process per connection), sftp: ` +
      `${this.tools.sftpServer ?? 'internal-sftp'}; sessions get SHLVL=1 so that bash skips the account's ~/.bashrc`
    );
  }

  async stop(): Promise<void> {
    if (this.child?.pid) await killTree(this.child.pid, 2000);
  }
}

export function sshdServer(ctx: BenchContext, tools: OpenSshTools): Promise<SshdServer> {
  return new SshdServer(ctx, tools).start();
}

// ---- ssh and sftp -----------------------------------------------------------------------------

class SshClient implements ClientHandle {
  readonly id = 'ssh' as const;
  readonly label = 'ssh';
  missing: Missing | undefined;
  private probes = 0;

  constructor(
    private readonly ctx: BenchContext,
    private readonly tools: OpenSshTools,
  ) {
    if (!tools.ssh) this.missing = { status: 'not available', why: 'OpenSSH ssh is not installed' };
  }

  private get ssh(): string {
    if (!this.tools.ssh) throw new Error('ssh is not installed');
    return this.tools.ssh;
  }

  supports(f: Feature): Missing | undefined {
    if (this.missing) return this.missing;
    if (f.kind === 'sftp') {
      return this.tools.sftp ? undefined : { status: 'not available', why: 'OpenSSH sftp is not installed' };
    }
    if (f.kind === 'hold') {
      return {
        status: 'not available',
        why: 'holding 1000 connections takes 1000 ssh processes; the memory rows use library clients',
      };
    }
    return algorithmSupport(this.tools, f, 'OpenSSH ssh');
  }

  /** Hermetic options shared by ssh and sftp. */
  private common(): string[] {
    return [
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${this.ctx.knownHosts}`,
      '-o', 'GlobalKnownHostsFile=/dev/null',
      '-o', 'IdentitiesOnly=yes',
      '-o', 'IdentityAgent=none',
      '-o', `IdentityFile=${this.ctx.keys.userKey}`,
      '-o', 'HostKeyAlgorithms=ssh-ed25519',
      '-o', 'UpdateHostKeys=no',
      '-o', 'LogLevel=ERROR',
    ]; // prettier-ignore
  }

  private algorithms(algs: Algorithms): string[] {
    const out = ['-o', `KexAlgorithms=${algs.kex}`, '-o', `Ciphers=${algs.cipher}`];
    if (algs.mac) out.push('-o', `MACs=${algs.mac}`);
    // ssh -C offers zlib@openssh.com first; sshd's Compression defaults to yes (after authentication).
    if (algs.compression) out.push('-o', 'Compression=yes');
    return out;
  }

  /** `ssh -F /dev/null [first] <hermetic> <algorithms> -p PORT -l USER 127.0.0.1`; append the command. */
  args(server: ServerHandle, algs: Algorithms, first: string[] = []): string[] {
    return [
      '-F', '/dev/null', ...first, ...this.common(), ...this.algorithms(algs),
      '-p', String(server.port), '-l', this.ctx.user, '127.0.0.1',
    ]; // prettier-ignore
  }

  async transfer(
    server: ServerHandle,
    direction: 'up' | 'down',
    bytes: number,
    algs: Algorithms,
  ): Promise<OpCost> {
    const command = direction === 'up' ? server.commands.sink(bytes) : server.commands.source(bytes);
    const input = direction === 'up' ? openSync(await this.ctx.payload(bytes), 'r') : undefined;
    try {
      const r = await runTimed(this.ssh, [...this.args(server, algs), command], {
        stdin: input ?? 'ignore',
        stdout: direction === 'down' && this.ctx.verify ? 'count' : 'ignore',
        timeoutMs: transferTimeout(bytes),
      });
      if (r.code !== 0)
        throw new Error(`ssh exited with ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 300)}`);
      if (direction === 'down' && this.ctx.verify && r.stdoutBytes !== bytes) {
        throw new Error(`ssh printed ${r.stdoutBytes} bytes instead of ${bytes}`);
      }
      return { ms: r.ms, cpuS: r.cpuS };
    } finally {
      if (input !== undefined) closeSync(input);
    }
  }

  async handshakes(server: ServerHandle, count: number, algs: Algorithms): Promise<HandshakeBatch> {
    const msEach: number[] = [];
    let cpuS = 0;
    for (let i = 0; i < count; i++) {
      const r = await runTimed(this.ssh, [...this.args(server, algs), server.commands.true], {
        stdin: 'ignore',
        stdout: 'ignore',
        timeoutMs: 30_000,
      });
      if (r.code !== 0)
        throw new Error(`ssh exited with ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 300)}`);
      msEach.push(r.ms);
      cpuS += r.cpuS;
    }
    return { msEach, cpuS };
  }

  /** `sftp -q -b <batch>` with one `put` or `get`, and otherwise sftp's defaults. */
  async sftp(server: ServerHandle, direction: 'put' | 'get', local: string, remote: string): Promise<OpCost> {
    if (!this.tools.sftp) throw new Error('sftp is not installed');
    const batch = join(this.ctx.work, 'sftp', 'batch');
    await writeFile(batch, direction === 'put' ? `put ${local} ${remote}\n` : `get ${remote} ${local}\n`);
    const args = [
      '-F', '/dev/null', '-q', '-b', batch, ...this.common(),
      '-P', String(server.port), '-o', `User=${this.ctx.user}`, '127.0.0.1',
    ]; // prettier-ignore
    const r = await runTimed(this.tools.sftp, args, {
      stdin: 'ignore',
      stdout: 'ignore',
      timeoutMs: transferTimeout(256 << 20),
    });
    if (r.code !== 0)
      throw new Error(`sftp exited with ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 300)}`);
    return { ms: r.ms, cpuS: r.cpuS };
  }

  hold(): Promise<Holder> {
    return Promise.reject(new Error('the ssh client does not hold idle connections in this bench'));
  }

  /** `count` ssh processes, each `cat`ting /dev/zero into the server's sink until stopped. */
  async startLoad(server: ServerHandle, count: number, algs: Algorithms): Promise<Load> {
    const children: ChildProcess[] = [];
    const zero = openSync('/dev/zero', 'r');
    try {
      for (let i = 0; i < count; i++) {
        children.push(
          spawnTracked(this.ssh, [...this.args(server, algs), server.commands.sink()], {
            stdio: [zero, 'ignore', 'ignore'],
          }),
        );
      }
    } finally {
      closeSync(zero);
    }
    // Let the connections get past the handshake before anyone measures under load.
    await sleep(300);
    for (const c of children) {
      if (c.exitCode !== null) throw new Error(`ssh load process exited early with ${c.exitCode}`);
    }
    return {
      stop: async () => {
        const early = children.filter((c) => c.exitCode !== null);
        await Promise.all(children.map((c) => (c.pid ? killTree(c.pid, 2000) : undefined)));
        if (early.length > 0) {
          throw new Error(`the background load failed: ssh exited early with ${early[0]?.exitCode}`);
        }
      },
    };
  }

  /**
   * A ControlMaster connection (`ssh -M -N`) and round trips on it with `ssh -S <socket> … echo x`:
   * each round trip is a new ssh process multiplexed onto the held connection, which is how an
   * OpenSSH user runs a command on a connection that is already open.
   */
  async openProber(server: ServerHandle, algs: Algorithms): Promise<Prober> {
    const ctl = join(this.ctx.work, `cm-${++this.probes}`);
    const master = spawnTracked(
      this.ssh,
      this.args(server, algs, [
        '-o',
        'ControlMaster=yes',
        '-o',
        `ControlPath=${ctl}`,
        '-o',
        'ControlPersist=no',
        '-N',
      ]),
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let masterErr = '';
    master.stderr?.on('data', (c: Buffer) => (masterErr += c.toString('utf8')));
    const viaMaster = ['-o', 'ControlMaster=no', '-o', `ControlPath=${ctl}`];
    const deadline = Date.now() + 15_000;
    while (!existsSync(ctl)) {
      if (master.exitCode !== null || Date.now() > deadline) {
        if (master.pid) await killTree(master.pid, 500);
        throw new Error(`ssh ControlMaster did not start: ${masterErr.trim().slice(0, 300)}`);
      }
      await sleep(10);
    }
    return {
      probe: async (count) => {
        const msEach: number[] = [];
        for (let i = 0; i < count; i++) {
          const r = await runTimed(this.ssh, [...this.args(server, algs, viaMaster), server.commands.echo], {
            stdin: 'ignore',
            stdout: 'count',
            timeoutMs: 30_000,
          });
          if (r.code !== 0 || r.stdoutBytes === 0) {
            throw new Error(`ssh -S exited with ${r.code ?? r.signal}: ${r.stderr.trim().slice(0, 300)}`);
          }
          msEach.push(r.ms);
        }
        return msEach;
      },
      close: async () => {
        if (master.pid) await killTree(master.pid, 2000);
      },
    };
  }

  describe(): string {
    return `${this.tools.version ?? 'OpenSSH'} ssh/sftp, one process per operation, hermetic options (-F /dev/null, BatchMode, IdentityFile, UserKnownHostsFile)`;
  }

  async stop(): Promise<void> {}
}

export function sshClient(ctx: BenchContext, tools: OpenSshTools): SshClient {
  return new SshClient(ctx, tools);
}
