/**
 * What every measure needs: the mode and its sizes, a private working directory on tmpfs, the keys
 * (one ed25519 host key for every server, one ed25519 user key for every client), and a notebook
 * of remarks that end up in the report.
 */
import { appendFile, mkdir, mkdtemp, open, rm, statfs, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { formatOpenSshPrivateKey, formatPublicKeyLine, generatePrivateKey } from '../../src/index.js';

export type Mode = 'full' | 'quick' | 'smoke';

export interface Sizes {
  /** Bytes per bulk transfer through an exec channel. */
  transferBytes: number;
  transferReps: number;
  sftpBytes: number;
  sftpReps: number;
  /** Sequential connections per batch, and batches per pair (interleaved). */
  handshakeCount: number;
  handshakeRounds: number;
  /**
   * Untimed connections each pair makes first, per key exchange, in batches of at most
   * `handshakeCount`, until `handshakeWarmupMax` connections or `handshakeWarmupS` seconds.
   */
  handshakeWarmupMax: number;
  handshakeWarmupS: number;
  idleConnections: number;
  bulkChannels: number;
  latencyProbes: number;
  latencyIdleProbes: number;
  /** Time given to a background load to get going before anything is read under it, ms. */
  settleMs: number;
}

const MiB = 1 << 20;

export const SIZES: Record<Mode, Sizes> = {
  full: {
    transferBytes: 512 * MiB,
    transferReps: 3,
    sftpBytes: 256 * MiB,
    sftpReps: 3,
    handshakeCount: 50,
    handshakeRounds: 3,
    handshakeWarmupMax: 500,
    handshakeWarmupS: 4,
    idleConnections: 1000,
    bulkChannels: 4,
    latencyProbes: 200,
    latencyIdleProbes: 50,
    settleMs: 500,
  },
  quick: {
    transferBytes: 32 * MiB,
    transferReps: 2,
    sftpBytes: 16 * MiB,
    sftpReps: 2,
    handshakeCount: 3,
    handshakeRounds: 2,
    handshakeWarmupMax: 30,
    handshakeWarmupS: 1,
    idleConnections: 250,
    bulkChannels: 2,
    latencyProbes: 15,
    latencyIdleProbes: 5,
    settleMs: 300,
  },
  smoke: {
    transferBytes: 1 * MiB,
    transferReps: 1,
    sftpBytes: 1 * MiB,
    sftpReps: 1,
    handshakeCount: 2,
    handshakeRounds: 1,
    handshakeWarmupMax: 2,
    handshakeWarmupS: 0.5,
    idleConnections: 20,
    bulkChannels: 1,
    latencyProbes: 4,
    latencyIdleProbes: 2,
    settleMs: 100,
  },
};

export interface Keys {
  /** Host key (OpenSSH format, mode 0600) and its public line `ssh-ed25519 AAAA…`. */
  hostKey: string;
  hostKeyPub: string;
  hostPublicLine: string;
  /** User key, its .pub file and public line. */
  userKey: string;
  userKeyPub: string;
  userPublicLine: string;
}

/** Bytes free for us in the file system of `dir`, 0 when it does not exist. */
async function freeBytes(dir: string): Promise<number> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

export class BenchContext {
  readonly notes: string[] = [];
  /** The Node binary that runs Seashell's agents (`--node PATH`; default the bench's own). */
  seashellNode: string = process.execPath;
  /** Directory with id_ed25519 and known_hosts, for the Seashell client and `ssh`. */
  readonly clientDir: string;
  /** Directory with authorized_keys, for the Seashell daemon. */
  readonly serverUserDir: string;
  /** Directory with ssh_host_ed25519_key, for the Seashell daemon. */
  readonly hostKeyDir: string;
  readonly knownHosts: string;
  readonly user = userInfo().username;
  private readonly payloads = new Map<number, string>();

  private constructor(
    readonly mode: Mode,
    readonly sizes: Sizes,
    readonly work: string,
    readonly keys: Keys,
    /** Count what `ssh` prints instead of sending it to /dev/null (smoke mode: cheap and checked). */
    readonly verify: boolean,
  ) {
    this.clientDir = join(work, 'client');
    this.serverUserDir = join(work, 'server-user');
    this.hostKeyDir = join(work, 'host');
    this.knownHosts = join(this.clientDir, 'known_hosts');
  }

  static async create(mode: Mode, sizes: Sizes): Promise<BenchContext> {
    // tmpfs: transfers never wait for a disk, and nothing is left behind on one. The payload file,
    // an SFTP source and its copy, and the smaller source of the delayed SFTP runs (at most 32 MiB,
    // measures/sftp.ts) must fit (containers often give /dev/shm only 64 MiB).
    const need = sizes.transferBytes + 2 * sizes.sftpBytes + Math.min(sizes.sftpBytes, 32 << 20) + (16 << 20);
    const shm = await freeBytes('/dev/shm');
    const base = shm >= need ? '/dev/shm' : tmpdir();
    const work = await mkdtemp(join(base, 'seashell-bench-'));
    const dirs = ['client', 'server-user', 'host', 'sftp'].map((d) => join(work, d));
    for (const d of dirs) await mkdir(d, { mode: 0o700 });
    const host = generatePrivateKey('ed25519');
    const userKey = generatePrivateKey('ed25519');
    const hostPublicLine = formatPublicKeyLine(host.publicKey);
    const userPublicLine = formatPublicKeyLine(userKey.publicKey);
    const keys: Keys = {
      hostKey: join(work, 'host', 'ssh_host_ed25519_key'),
      hostKeyPub: join(work, 'host', 'ssh_host_ed25519_key.pub'),
      hostPublicLine,
      userKey: join(work, 'client', 'id_ed25519'),
      userKeyPub: join(work, 'client', 'id_ed25519.pub'),
      userPublicLine,
    };
    await writeFile(keys.hostKey, formatOpenSshPrivateKey(host), { mode: 0o600 });
    await writeFile(keys.hostKeyPub, hostPublicLine + '\n');
    await writeFile(keys.userKey, formatOpenSshPrivateKey(userKey), { mode: 0o600 });
    await writeFile(keys.userKeyPub, userPublicLine + '\n');
    const ctx = new BenchContext(mode, sizes, work, keys, mode === 'smoke');
    if (base !== '/dev/shm') {
      ctx.note(
        `/dev/shm has ${Math.floor(shm / (1 << 20))} MiB free, less than the ${Math.ceil(need / (1 << 20))} MiB this ` +
          `run needs: its files live in ${base} instead, which may not be tmpfs.`,
      );
    }
    await writeFile(join(ctx.serverUserDir, 'authorized_keys'), userPublicLine + '\n', { mode: 0o600 });
    await writeFile(ctx.knownHosts, '', { mode: 0o600 });
    return ctx;
  }

  /** Records that a server listens on `port` with the bench host key. */
  async addKnownHost(port: number): Promise<void> {
    await appendFile(this.knownHosts, `[127.0.0.1]:${port} ${this.keys.hostPublicLine}\n`);
  }

  /** A file of `bytes` zero bytes on tmpfs (made once per size). */
  async payload(bytes: number): Promise<string> {
    const known = this.payloads.get(bytes);
    if (known) return known;
    const path = join(this.work, `payload-${bytes}`);
    const f = await open(path, 'w', 0o600);
    try {
      const chunk = Buffer.alloc(Math.min(bytes, 1 << 20));
      for (let written = 0; written < bytes;) {
        const n = Math.min(chunk.length, bytes - written);
        await f.write(chunk, 0, n);
        written += n;
      }
    } finally {
      await f.close();
    }
    this.payloads.set(bytes, path);
    return path;
  }

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  private readonly started = Date.now();

  /** Progress on stderr, with the seconds since the start. */
  log(text: string): void {
    const s = ((Date.now() - this.started) / 1000).toFixed(1).padStart(6);
    process.stderr.write(`${s}s ${text}\n`);
  }

  async cleanup(): Promise<void> {
    await rm(this.work, { recursive: true, force: true });
  }

  /** For process exit: synchronous. */
  cleanupNow(): void {
    try {
      rmSync(this.work, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}
