import { posix } from 'node:path';
import { errnoError, type FileHandler } from './file-handler.js';

/**
 * The server's view of paths. The client sees a virtual tree whose `/` is `root`; its paths are
 * resolved against `cwd` and normalised, so `..` stops at `/` and absolute paths land inside
 * root. Symlinks are the other way out: every path the server acts on is resolved with the file
 * handler's `realpath` (the parent directory always, the final name too when the operation
 * follows it), and anything that resolves outside root, or a dangling link that would create a
 * file somewhere unknown, is refused with EACCES.
 *
 * The check and the operation are two steps, so what they act on must not change in between.
 * Within this process it does not: a check and the operation on its answer run under a shared
 * hold of one process-wide lock (`guard`), and the requests that can put a symlink where a checked
 * path was (RENAME, posix-rename, hard links, SYMLINK) take the lock alone, from any session and any
 * root. Otherwise a client could open `d/f` on one channel while another renames `d` away and a
 * link out of root into its place (such links exist: one made deep in the tree with a relative
 * target points further up once renamed to a shallower place). What the lock cannot stop is
 * someone else with write access to root doing the same swap outside the daemon: the check is
 * per request, not an openat2(RESOLVE_BENEATH).
 */
export class Jail {
  /** `root` already resolved by realpath; '/' confines nothing and skips the checks. */
  constructor(
    private readonly fh: FileHandler,
    readonly root: string,
    readonly cwd: string,
  ) {}

  get confined(): boolean {
    return this.root !== '/';
  }

  /** The client's path as an absolute, normalised virtual path. */
  virtual(p: string): string {
    return posix.resolve(this.cwd, p === '' ? '.' : p);
  }

  /** Real path of a virtual one, without looking at the disk. */
  real(v: string): string {
    return this.confined ? (v === '/' ? this.root : this.root + v) : v;
  }

  inside(real: string): boolean {
    return !this.confined || real === this.root || real.startsWith(this.root + '/');
  }

  /**
   * Runs a path check and the operation on its answer (`alone` false), or a request that can
   * change what a checked path leads to (`alone` true), under the process-wide lock.
   */
  guard<T>(alone: boolean, op: () => Promise<T>): Promise<T> {
    if (!alone && !this.confined) return op(); // nothing checked: nothing to keep still
    return NAMESPACE.hold(alone, op);
  }

  /**
   * For a handle's path used again later (a directory's attributes, statvfs on a handle): still
   * the same real path, no symlink swapped in since it was opened. Call under `guard(false)`.
   */
  async recheck(real: string): Promise<void> {
    if (this.confined && (await this.fh.realpath(real)) !== real) throw escape();
  }

  /** The virtual path of a real path inside root. */
  toVirtual(real: string): string {
    if (!this.confined) return real;
    return real === this.root ? '/' : real.slice(this.root.length);
  }

  /**
   * The real path to act on for the client's path `p`. With `follow`, the final name's symlinks
   * are resolved too (stat, open, opendir, setstat); without, the name itself is acted on (lstat,
   * remove, rename, readlink, a new link's name).
   */
  async resolve(p: string, follow: boolean): Promise<string> {
    const v = this.virtual(p);
    const real = this.real(v);
    if (!this.confined) return real;
    if (v === '/') return this.root;
    const parent = await this.fh.realpath(this.real(posix.dirname(v)));
    if (!this.inside(parent)) throw escape();
    const candidate = posix.join(parent, posix.basename(v));
    if (!follow) return candidate;
    try {
      const r = await this.fh.realpath(candidate);
      if (!this.inside(r)) throw escape();
      return r;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // Nothing there, or a dangling symlink whose target we cannot vouch for.
      const there = await this.fh.lstat(candidate).then(
        () => true,
        () => false,
      );
      if (there) throw escape();
      return candidate;
    }
  }

  /**
   * What to store as a new symlink's target: the client's `target` taken in the virtual tree
   * (relative to the link's directory, or absolute from root), written relative to the link's
   * real directory so it points inside root wherever root is.
   */
  linkTarget(linkReal: string, linkVirtual: string, target: string): string {
    if (!this.confined) return target;
    const tv = posix.resolve(posix.dirname(this.virtual(linkVirtual)), target);
    return posix.relative(posix.dirname(linkReal), this.real(tv)) || '.';
  }

  /** A link's stored target as the client should see it: relative as is, absolute as virtual. */
  showTarget(stored: string): string {
    if (!this.confined || !stored.startsWith('/')) return stored;
    return this.inside(stored) ? this.toVirtual(stored) : stored;
  }
}

function escape(): NodeJS.ErrnoException {
  return errnoError('EACCES', 'path leads outside the root');
}

/**
 * A readers-writer lock in arrival order: shared holds run together; one taken alone waits for
 * them to finish, and holds that come after it wait for it (so a stream of path checks cannot
 * keep a rename waiting forever). Holds are brief: a check and one file system call.
 */
export class NamespaceLock {
  private shared = 0;
  private alone = false;
  private readonly waiting: { alone: boolean; go: () => void }[] = [];

  async hold<T>(alone: boolean, op: () => Promise<T>): Promise<T> {
    if (this.waiting.length === 0 && (alone ? !this.alone && this.shared === 0 : !this.alone)) {
      this.take(alone);
    } else {
      // Granted by `release`, which takes the lock on this hold's behalf before waking it.
      await new Promise<void>((go) => this.waiting.push({ alone, go }));
    }
    try {
      return await op();
    } finally {
      this.release(alone);
    }
  }

  private take(alone: boolean): void {
    if (alone) this.alone = true;
    else this.shared++;
  }

  private release(alone: boolean): void {
    if (alone) this.alone = false;
    else this.shared--;
    while (this.waiting.length > 0 && !this.alone) {
      const next = this.waiting[0]!;
      if (next.alone && this.shared > 0) break;
      this.waiting.shift();
      this.take(next.alone);
      next.go();
      if (next.alone) break;
    }
  }
}

/** One for the process: a rename under one root can move what another root's checks saw. */
const NAMESPACE = new NamespaceLock();
