import { posix } from 'node:path';
import type { Attrs } from '../../src/sftp/attrs.js';
import { errnoError, type DirReader, type FileHandler, type FileStats } from '../../src/sftp/file-handler.js';

type Node =
  | { kind: 'file'; data: Buffer; size: number; mode: number; mtime: number; atime: number }
  | { kind: 'dir'; entries: Map<string, Node>; mode: number; mtime: number; atime: number }
  | { kind: 'link'; target: string; mode: number; mtime: number; atime: number };

const now = () => Math.floor(Date.now() / 1000);
const TYPE = { file: 0o100000, dir: 0o040000, link: 0o120000 };

/** A file tree in memory, for tests of the SFTP server's fileHandler option. */
export class MemoryFs implements FileHandler {
  readonly top: Node = { kind: 'dir', entries: new Map(), mode: 0o755, mtime: now(), atime: now() };

  private walk(path: string, follow: boolean, depth = 0): Node {
    if (depth > 16) throw errnoError('ELOOP');
    const parts = posix.resolve('/', path).split('/').filter(Boolean);
    let n: Node = this.top;
    let here = '/';
    for (let i = 0; i < parts.length; i++) {
      if (n.kind === 'link') n = this.walk(posix.resolve(posix.dirname(here), n.target), true, depth + 1);
      if (n.kind !== 'dir') throw errnoError('ENOTDIR');
      const next = n.entries.get(parts[i]!);
      if (!next) throw errnoError('ENOENT');
      n = next;
      here = posix.join(here, parts[i]!);
    }
    if (follow && n.kind === 'link')
      return this.walk(posix.resolve(posix.dirname(here), n.target), true, depth + 1);
    return n;
  }

  private parent(path: string): { dir: Extract<Node, { kind: 'dir' }>; name: string } {
    const dir = this.walk(posix.dirname(path), true);
    if (dir.kind !== 'dir') throw errnoError('ENOTDIR');
    return { dir, name: posix.basename(path) };
  }

  private stats(n: Node): FileStats {
    const size = n.kind === 'file' ? n.size : n.kind === 'link' ? n.target.length : 4096;
    return { mode: TYPE[n.kind] | n.mode, size, uid: 0, gid: 0, atime: n.atime, mtime: n.mtime, nlink: 1 };
  }

  private apply(n: Node, a: Attrs): void {
    if (a.size !== undefined && n.kind === 'file') {
      const d = Buffer.alloc(Math.max(a.size, n.data.length));
      n.data.copy(d);
      n.data = d;
      n.size = a.size;
    }
    if (a.permissions !== undefined) n.mode = a.permissions & 0o7777;
    if (a.atime !== undefined && a.mtime !== undefined) {
      n.atime = a.atime;
      n.mtime = a.mtime;
    }
  }

  async open(path: string, flags: number, mode: number): Promise<unknown> {
    const { O_CREAT, O_EXCL, O_TRUNC } = (await import('node:fs')).constants;
    let n: Node | undefined;
    try {
      n = this.walk(path, true);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !(flags & O_CREAT)) throw e;
    }
    if (n && flags & O_CREAT && flags & O_EXCL) throw errnoError('EEXIST');
    if (!n) {
      const { dir, name } = this.parent(path);
      n = { kind: 'file', data: Buffer.alloc(0), size: 0, mode, mtime: now(), atime: now() };
      dir.entries.set(name, n);
    }
    if (n.kind === 'dir') throw errnoError('EISDIR');
    if (n.kind === 'file' && flags & O_TRUNC) n.size = 0;
    return n;
  }
  async close(_file?: unknown): Promise<void> {}
  async read(f: unknown, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    const n = f as Extract<Node, { kind: 'file' }>;
    const k = Math.max(0, Math.min(length, n.size - position));
    if (k > 0) n.data.copy(buffer, offset, position, position + k);
    return k;
  }
  async write(f: unknown, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    const n = f as Extract<Node, { kind: 'file' }>;
    if (position + length > n.data.length) {
      const d = Buffer.alloc(Math.max(position + length, n.data.length * 2));
      n.data.copy(d, 0, 0, n.size);
      n.data = d;
    }
    buffer.copy(n.data, position, offset, offset + length);
    n.size = Math.max(n.size, position + length);
    return length;
  }
  async fstat(f: unknown): Promise<FileStats> {
    return this.stats(f as Node);
  }
  async fsetstat(f: unknown, a: Attrs): Promise<void> {
    this.apply(f as Node, a);
  }
  async fsync(): Promise<void> {}
  async stat(p: string): Promise<FileStats> {
    return this.stats(this.walk(p, true));
  }
  async lstat(p: string): Promise<FileStats> {
    return this.stats(this.walk(p, false));
  }
  async setstat(p: string, a: Attrs, follow: boolean): Promise<void> {
    this.apply(this.walk(p, follow), a);
  }
  async opendir(p: string): Promise<DirReader> {
    const n = this.walk(p, true);
    if (n.kind !== 'dir') throw errnoError('ENOTDIR');
    const names = [...n.entries.keys()];
    return { read: async () => names.shift() ?? null, close: async () => {} };
  }
  async mkdir(p: string, mode: number): Promise<void> {
    const { dir, name } = this.parent(p);
    if (dir.entries.has(name)) throw errnoError('EEXIST');
    dir.entries.set(name, { kind: 'dir', entries: new Map(), mode, mtime: now(), atime: now() });
  }
  async rmdir(p: string): Promise<void> {
    const { dir, name } = this.parent(p);
    const n = dir.entries.get(name);
    if (!n) throw errnoError('ENOENT');
    if (n.kind !== 'dir') throw errnoError('ENOTDIR');
    if (n.entries.size) throw errnoError('ENOTEMPTY');
    dir.entries.delete(name);
  }
  async unlink(p: string): Promise<void> {
    const { dir, name } = this.parent(p);
    const n = dir.entries.get(name);
    if (!n) throw errnoError('ENOENT');
    if (n.kind === 'dir') throw errnoError('EISDIR');
    dir.entries.delete(name);
  }
  async rename(from: string, to: string, overwrite: boolean): Promise<void> {
    const a = this.parent(from);
    const b = this.parent(to);
    const n = a.dir.entries.get(a.name);
    if (!n) throw errnoError('ENOENT');
    if (!overwrite && b.dir.entries.has(b.name)) throw errnoError('EEXIST');
    a.dir.entries.delete(a.name);
    b.dir.entries.set(b.name, n);
  }
  async readlink(p: string): Promise<string> {
    const n = this.walk(p, false);
    if (n.kind !== 'link') throw errnoError('EINVAL');
    return n.target;
  }
  async symlink(target: string, p: string): Promise<void> {
    const { dir, name } = this.parent(p);
    if (dir.entries.has(name)) throw errnoError('EEXIST');
    dir.entries.set(name, { kind: 'link', target, mode: 0o777, mtime: now(), atime: now() });
  }
  async link(existing: string, p: string): Promise<void> {
    const n = this.walk(existing, false);
    const { dir, name } = this.parent(p);
    if (dir.entries.has(name)) throw errnoError('EEXIST');
    dir.entries.set(name, n);
  }
  async realpath(p: string, depth = 0): Promise<string> {
    if (depth > 16) throw errnoError('ELOOP');
    const parts = posix.resolve('/', p).split('/').filter(Boolean);
    let here = '/';
    for (const part of parts) {
      const next = posix.join(here, part);
      const n = this.walk(next, false);
      here = n.kind === 'link' ? await this.realpath(posix.resolve(here, n.target), depth + 1) : next;
    }
    return here;
  }
}
