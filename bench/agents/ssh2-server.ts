/**
 * Agent: an `ssh2` server on 127.0.0.1, with or without ssh2's native addon (`--no-addon`). It
 * accepts one ed25519 user key (signature checked), and serves the bench commands (sink, source,
 * true, echo; see seashell-daemon.ts) and an SFTP subsystem over the real file system. ssh2 ships
 * the SFTP protocol but no file server, so the handlers below are the bench's: synchronous file
 * calls, which is what a tmpfs-to-tmpfs transfer needs.
 * Usage: node ssh2-server.js --host-key FILE --authorized FILE.pub [--no-addon] [--nodelay]
 */
import {
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import type { Attributes, Connection, ParsedKey, ServerChannel, SFTPWrapper } from 'ssh2';
import { arg, flag, parseCommand, serve, sleep, ZEROS } from './protocol.js';
import { loadSsh2 } from './ssh2-load.js';

const hostKeyFile = arg('host-key');
const authorizedFile = arg('authorized');
if (!hostKeyFile || !authorizedFile) {
  process.stderr.write('usage: ssh2-server --host-key FILE --authorized FILE.pub [--no-addon] [--nodelay]\n');
  process.exit(2);
}
const loaded = loadSsh2(flag('no-addon'));
const { ssh2 } = loaded;
const nodelay = flag('nodelay');
const parsed = ssh2.utils.parseKey(readFileSync(authorizedFile));
if (parsed instanceof Error) throw parsed;
const allowed: ParsedKey = parsed;
const allowedBlob = allowed.getPublicSSH();
const STATUS = ssh2.utils.sftp.STATUS_CODE;

async function writeZeros(stream: ServerChannel, bytes: number): Promise<void> {
  for (let sent = 0; sent < bytes;) {
    const n = Math.min(ZEROS.length, bytes - sent);
    sent += n;
    if (!stream.write(ZEROS.subarray(0, n))) await new Promise((r) => stream.once('drain', r));
  }
}

function finish(stream: ServerChannel, status: number): void {
  try {
    stream.exit(status);
    stream.end();
  } catch {
    // the client is gone already
  }
}

function onExec(command: string, accept: () => ServerChannel, reject: () => void): void {
  const c = parseCommand(command);
  if (c.name === 'sink') {
    const stream = accept();
    let received = 0;
    stream.on('data', (d: Buffer) => (received += d.length));
    stream.once('end', () => finish(stream, c.n === undefined || c.n === received ? 0 : 1));
    return;
  }
  if (c.name === 'source' && c.n !== undefined) {
    const stream = accept();
    writeZeros(stream, c.n).then(
      () => finish(stream, 0),
      () => finish(stream, 1),
    );
    return;
  }
  if (c.name === 'true' || c.name === 'echo') {
    const stream = accept();
    if (c.name === 'echo') stream.write(c.rest + '\n');
    finish(stream, 0);
    return;
  }
  reject();
}

function attrsOf(st: Stats): Attributes {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
}

/** The SFTP requests that `sftp put/get` and ssh2's fastPut/fastGet use, on the local file system. */
function serveSftp(sftp: SFTPWrapper): void {
  const handles = new Map<number, number>();
  let next = 1;
  const handleBuf = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const fdOf = (h: Buffer) => (h.length === 4 ? handles.get(h.readUInt32BE(0)) : undefined);
  const fail = (id: number, e: unknown) =>
    sftp.status(id, (e as NodeJS.ErrnoException).code === 'ENOENT' ? STATUS.NO_SUCH_FILE : STATUS.FAILURE);
  sftp.on('REALPATH', (id, path) =>
    sftp.name(id, [{ filename: resolvePath('/', path), longname: '', attrs: {} as Attributes }]),
  );
  const stat = (id: number, path: string) => {
    try {
      sftp.attrs(id, attrsOf(statSync(path)));
    } catch (e) {
      fail(id, e);
    }
  };
  sftp.on('STAT', stat);
  sftp.on('LSTAT', stat);
  sftp.on('FSTAT', (id, h) => {
    const fd = fdOf(h);
    if (fd === undefined) return sftp.status(id, STATUS.FAILURE);
    sftp.attrs(id, attrsOf(fstatSync(fd)));
  });
  sftp.on('OPEN', (id, path, flags, attrs) => {
    const mode = ssh2.utils.sftp.flagsToString(flags);
    if (mode === null) return sftp.status(id, STATUS.OP_UNSUPPORTED);
    try {
      const fd = openSync(path, mode, attrs.mode ?? 0o644);
      const h = next++;
      handles.set(h, fd);
      sftp.handle(id, handleBuf(h));
    } catch (e) {
      fail(id, e);
    }
  });
  sftp.on('READ', (id, h, offset, length) => {
    const fd = fdOf(h);
    if (fd === undefined) return sftp.status(id, STATUS.FAILURE);
    const buf = Buffer.allocUnsafe(length);
    const n = readSync(fd, buf, 0, length, offset);
    if (n === 0) sftp.status(id, STATUS.EOF);
    else sftp.data(id, buf.subarray(0, n));
  });
  sftp.on('WRITE', (id, h, offset, data) => {
    const fd = fdOf(h);
    if (fd === undefined) return sftp.status(id, STATUS.FAILURE);
    writeSync(fd, data, 0, data.length, offset);
    sftp.status(id, STATUS.OK);
  });
  sftp.on('CLOSE', (id, h) => {
    const fd = fdOf(h);
    if (fd === undefined) return sftp.status(id, STATUS.FAILURE);
    handles.delete(h.readUInt32BE(0));
    closeSync(fd);
    sftp.status(id, STATUS.OK);
  });
  sftp.on('SETSTAT', (id) => sftp.status(id, STATUS.OK));
  sftp.on('FSETSTAT', (id) => sftp.status(id, STATUS.OK));
  for (const op of ['OPENDIR', 'READDIR', 'REMOVE', 'RMDIR', 'MKDIR', 'RENAME', 'READLINK', 'SYMLINK']) {
    sftp.on(op, (id: number) => sftp.status(id, STATUS.OP_UNSUPPORTED));
  }
  // OpenSSH's sftp sends EOF when done and waits for the channel to close.
  sftp.on('end', () => sftp.end());
  sftp.on('close', () => {
    for (const fd of handles.values()) closeSync(fd);
    handles.clear();
  });
}

let open = 0;

function onConnection(client: Connection): void {
  open++;
  if (nodelay) (client as unknown as { setNoDelay(v: boolean): void }).setNoDelay(true);
  client.on('error', () => {});
  client.once('close', () => open--);
  client.on('authentication', (ctx) => {
    if (ctx.method !== 'publickey' || ctx.key.algo !== allowed.type || !ctx.key.data.equals(allowedBlob)) {
      return ctx.reject(['publickey']);
    }
    if (ctx.signature === undefined) return ctx.accept();
    if (ctx.blob !== undefined && allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return ctx.accept();
    ctx.reject(['publickey']);
  });
  client.on('ready', () => {
    client.on('session', (acceptSession) => {
      const session = acceptSession();
      session.on('exec', (accept, reject, info) => onExec(info.command, accept, reject));
      session.on('sftp', (accept) => serveSftp(accept()));
      session.on('pty', (_a, reject) => reject?.());
      session.on('shell', (_a, reject) => reject());
    });
  });
}

const server = new ssh2.Server(
  { hostKeys: [readFileSync(hostKeyFile)], algorithms: { serverHostKey: ['ssh-ed25519'] } },
  onConnection,
);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));

serve(
  {
    port: (server.address() as AddressInfo).port,
    version: loaded.version,
    addon: loaded.addon,
    nodelay,
    // ssh2's server lists group exchange but answers it 'Group exchange not implemented for server'.
    kex: loaded.defaults.kex.filter((k) => !k.includes('group-exchange')),
    cipher: loaded.defaults.cipher,
    mac: loaded.defaults.mac,
    compression: loaded.defaults.compression,
  },
  {
    settle: async () => {
      const deadline = Date.now() + 3000;
      while (open > 0 && Date.now() < deadline) await sleep(5);
      return { connections: open };
    },
    connections: () => ({ connections: open }),
  },
  () => new Promise<void>((r) => server.close(() => r())),
);
