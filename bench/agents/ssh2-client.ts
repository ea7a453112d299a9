/**
 * Agent: the `ssh2` npm package as a client, with its native addon or without (`--no-addon`).
 * The same requests as the Seashell client agent, plus `sftp` (fastPut/fastGet with defaults).
 * TCP_NODELAY is left as ssh2 leaves it (off) unless `--nodelay` is given.
 * Usage: node ssh2-client.js --user NAME --key FILE --host-key-pub FILE [--no-addon] [--nodelay]
 */
import { readFileSync } from 'node:fs';
import type { Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { arg, cpuSeconds, flag, serve, withConcurrency, ZEROS, type Params } from './protocol.js';
import { loadSsh2 } from './ssh2-load.js';

const user = arg('user');
const keyFile = arg('key');
const hostKeyFile = arg('host-key-pub');
if (!user || !keyFile || !hostKeyFile) {
  process.stderr.write(
    'usage: ssh2-client --user NAME --key FILE --host-key-pub FILE [--no-addon] [--nodelay]\n',
  );
  process.exit(2);
}
const loaded = loadSsh2(flag('no-addon'));
const { ssh2 } = loaded;
const nodelay = flag('nodelay');
const privateKey = readFileSync(keyFile);
const hostKey = Buffer.from(readFileSync(hostKeyFile, 'utf8').trim().split(/\s+/)[1] ?? '', 'base64');

function config(p: Params): ConnectConfig {
  const algorithms: NonNullable<ConnectConfig['algorithms']> = { serverHostKey: ['ssh-ed25519'] };
  if (typeof p.kex === 'string') algorithms.kex = [p.kex as never];
  if (typeof p.cipher === 'string') algorithms.cipher = [p.cipher as never];
  if (typeof p.mac === 'string') algorithms.hmac = [p.mac as never];
  if (typeof p.compression === 'string') algorithms.compress = [p.compression as never];
  return {
    host: '127.0.0.1',
    port: p.port as number,
    username: user,
    privateKey,
    algorithms,
    hostVerifier: (key: Buffer) => key.equals(hostKey),
    readyTimeout: 60000,
  };
}

function connect(p: Params): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    let ready = false;
    c.once('ready', () => {
      ready = true;
      if (nodelay) c.setNoDelay(true);
      resolve(c);
    });
    c.on('error', (e) => {
      if (!ready) reject(e);
    });
    c.connect(config(p));
  });
}

function end(c: Client): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 5000);
    c.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    c.end();
  });
}

function exec(c: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) =>
    c.exec(command, (err, stream) => (err ? reject(err) : resolve(stream))),
  );
}

/** Reads a channel to its close: stdout bytes and exit code. */
function drain(stream: ClientChannel): Promise<{ bytes: number; status?: number }> {
  return new Promise((resolve) => {
    let bytes = 0;
    let status: number | undefined;
    stream.on('data', (d: Buffer) => (bytes += d.length));
    stream.stderr.resume();
    stream.on('exit', (code: number | null) => (status = code ?? undefined));
    stream.once('close', (code?: number) => resolve({ bytes, status: status ?? code }));
  });
}

/** Writes `bytes` zeros honouring backpressure; stops early when `stop` says so. */
async function sendAll(stream: ClientChannel, bytes: number, stop?: () => boolean): Promise<number> {
  let sent = 0;
  while (sent < bytes && !stop?.()) {
    const n = Math.min(ZEROS.length, bytes - sent);
    sent += n;
    if (!stream.write(ZEROS.subarray(0, n))) await new Promise((r) => stream.once('drain', r));
  }
  return sent;
}

async function transfer(p: Params) {
  const bytes = p.bytes as number;
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const c = await connect(p);
  try {
    const stream = await exec(c, p.command as string);
    const result = drain(stream);
    if (p.direction === 'up') {
      await sendAll(stream, bytes);
      stream.end();
    }
    const got = await result;
    if (p.direction === 'up') got.bytes = bytes;
    if (got.bytes !== bytes) throw new Error(`received ${got.bytes} bytes instead of ${bytes}`);
    if (got.status !== 0) throw new Error(`remote command exited with status ${got.status}`);
  } finally {
    await end(c);
  }
  return { ms: performance.now() - t0, cpuS: cpuSeconds() - c0 };
}

async function handshakes(p: Params) {
  const msEach: number[] = [];
  const c0 = cpuSeconds();
  for (let i = 0; i < (p.count as number); i++) {
    const t0 = performance.now();
    const c = await connect(p);
    try {
      const stream = await exec(c, p.command as string);
      const r = await drain(stream);
      if (r.status !== 0) throw new Error(`remote command exited with status ${r.status}`);
    } finally {
      await end(c);
    }
    msEach.push(performance.now() - t0);
  }
  return { msEach, cpuS: cpuSeconds() - c0 };
}

function sftpSession(c: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => c.sftp((err, s) => (err ? reject(err) : resolve(s))));
}

/** One connection, an SFTP session, fastPut or fastGet with ssh2's defaults, close; timed. */
async function sftp(p: Params) {
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const c = await connect(p);
  try {
    const s = await sftpSession(c);
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (p.direction === 'put') s.fastPut(p.local as string, p.remote as string, cb);
      else s.fastGet(p.remote as string, p.local as string, cb);
    });
    s.end();
  } finally {
    await end(c);
  }
  return { ms: performance.now() - t0, cpuS: cpuSeconds() - c0 };
}

let held: Client[] = [];

async function hold(p: Params) {
  const t0 = performance.now();
  const conns = await withConcurrency(p.count as number, (p.concurrency as number) ?? 8, () => connect(p));
  held.push(...conns);
  return { held: held.length, ms: performance.now() - t0 };
}

async function release() {
  const n = held.length;
  await Promise.all(held.map((c) => end(c)));
  held = [];
  return { closed: n };
}

interface Load {
  conns: Client[];
  stopping: boolean;
  sent: number;
  t0: number;
  done: Promise<unknown>;
  error?: string;
}
let load: Load | undefined;

async function loadStart(p: Params) {
  if (load) throw new Error('a load is already running');
  const count = (p.count as number) ?? 1;
  const l: Load = { conns: [], stopping: false, sent: 0, t0: performance.now(), done: Promise.resolve() };
  const runs: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const c = await connect(p);
    l.conns.push(c);
    const stream = await exec(c, p.command as string);
    const result = drain(stream);
    runs.push(
      (async () => {
        while (!l.stopping) l.sent += await sendAll(stream, ZEROS.length);
        stream.end();
        await result;
      })().catch((e: unknown) => {
        // Settled here at once: a failure while the next connection is being set up is no crash.
        l.error ??= e instanceof Error ? e.message : String(e);
      }),
    );
  }
  l.done = Promise.all(runs);
  l.t0 = performance.now();
  load = l;
  return { started: count };
}

async function loadStop() {
  const l = load;
  if (!l) return { bytes: 0, ms: 0 };
  l.stopping = true;
  const ms = performance.now() - l.t0;
  await Promise.race([l.done, new Promise((r) => setTimeout(r, 5000))]);
  await Promise.all(l.conns.map((c) => end(c)));
  load = undefined;
  return { bytes: l.sent, ms, error: l.error ?? null };
}

let probeConn: Client | undefined;

async function probeOpen(p: Params) {
  probeConn = await connect(p);
  return {};
}

async function probe(p: Params) {
  const c = probeConn;
  if (!c) throw new Error('probeOpen first');
  const msEach: number[] = [];
  for (let i = 0; i < (p.count as number); i++) {
    const t0 = performance.now();
    const stream = await exec(c, p.command as string);
    const r = await drain(stream);
    if (r.status !== 0 || r.bytes === 0) throw new Error(`probe got status ${r.status}, ${r.bytes} bytes`);
    msEach.push(performance.now() - t0);
  }
  return { msEach };
}

async function probeClose() {
  if (probeConn) await end(probeConn);
  probeConn = undefined;
  return {};
}

serve(
  {
    version: loaded.version,
    addon: loaded.addon,
    nodelay,
    kex: loaded.supported.kex,
    cipher: loaded.supported.cipher,
    mac: loaded.supported.mac,
    compression: loaded.supported.compression,
    defaultCipher: loaded.defaults.cipher,
  },
  { transfer, handshakes, sftp, hold, release, loadStart, loadStop, probeOpen, probe, probeClose },
  async () => {
    await release();
    await loadStop();
    await probeClose();
  },
);
