/**
 * Agent: Seashell's client. Each request names the server port, the algorithms and the remote
 * command (the harness knows which command each server understands), and the agent times what it
 * does from its own clock and CPU counters, so that Node's start-up is never part of a number.
 * Usage: node seashell-client.js --user NAME --user-dir DIR (id_ed25519 and known_hosts)
 */
import * as ssh from '../../src/index.js';
import type { SessionChannel as Channel, ClientOptions, Connection } from '../../src/index.js';
import { arg, cpuSeconds, serve, withConcurrency, ZEROS, type Params } from './protocol.js';

const user = arg('user');
const userDir = arg('user-dir');
if (!user || !userDir) {
  process.stderr.write('usage: seashell-client --user NAME --user-dir DIR\n');
  process.exit(2);
}

function options(p: Params): ClientOptions {
  const preferred: NonNullable<ClientOptions['preferredAlgorithms']> = { publicKey: ['ssh-ed25519'] };
  if (typeof p.kex === 'string') preferred.kex = [p.kex];
  if (typeof p.cipher === 'string') preferred.cipher = [p.cipher];
  if (typeof p.mac === 'string') preferred.mac = [p.mac];
  if (typeof p.compression === 'string') preferred.compression = [p.compression];
  const o: ClientOptions = { user, userDir, preferredAlgorithms: preferred, quietMode: true };
  if (typeof p.kex === 'string' && p.kex.startsWith('diffie-hellman-group-exchange'))
    o.dhGex = gexRequest(p.cipher);
  return o;
}

/**
 * Group exchange asks for the sizes OpenSSH's ssh asks for with the same cipher, so that a row
 * compares the same arithmetic: kexgexc.c requests min 2048, max 8192 and n = dh_estimate(the
 * cipher's security in bits), which is 3072 for 128 bits (aes128-gcm, the bench's cipher) and
 * 8192 above 192. The seed's default request (1024, 6144, 8192) makes the server pick a 6144-bit
 * group, about four times the work of 3072 bits.
 */
function gexRequest(cipher: unknown): [number, number, number] {
  const bits128 = typeof cipher !== 'string' || /^(aes128-gcm@openssh\.com|AEAD_AES_128_GCM)$/.test(cipher);
  return [2048, bits128 ? 3072 : 8192, 8192];
}

function connect(p: Params): Promise<Connection> {
  return ssh.connect('127.0.0.1', p.port as number, options(p));
}

/** Reads a channel to its end: data bytes, exit status. */
async function drain(ch: Channel): Promise<{ bytes: number; status?: number }> {
  let bytes = 0;
  let status: number | undefined;
  for await (const m of ch) {
    if (m.type === 'data') bytes += m.data.length;
    else if (m.type === 'exitStatus') status = m.status;
  }
  return { bytes, status };
}

async function execOrThrow(ch: Channel, command: string): Promise<void> {
  const r = await ch.exec(command);
  if (r !== 'success') throw new Error(`exec ${JSON.stringify(command)} was refused`);
}

async function sendAll(ch: Channel, bytes: number, stop?: () => boolean): Promise<number> {
  let sent = 0;
  while (sent < bytes && !stop?.()) {
    const n = Math.min(ZEROS.length, bytes - sent);
    await ch.send(ZEROS.subarray(0, n));
    sent += n;
  }
  return sent;
}

/** One connection, one exec, `bytes` up or down, close; timed. */
async function transfer(p: Params) {
  const bytes = p.bytes as number;
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const conn = await connect(p);
  try {
    const ch = await conn.sessionChannel();
    await execOrThrow(ch, p.command as string);
    let got: { bytes: number; status?: number };
    if (p.direction === 'up') {
      await sendAll(ch, bytes);
      await ch.sendEof();
      got = await drain(ch);
      got.bytes = bytes;
    } else {
      got = await drain(ch);
    }
    if (got.bytes !== bytes) throw new Error(`received ${got.bytes} bytes instead of ${bytes}`);
    if (got.status !== 0) throw new Error(`remote command exited with status ${got.status}`);
  } finally {
    await ssh.close(conn);
  }
  return { ms: performance.now() - t0, cpuS: cpuSeconds() - c0 };
}

/** `count` sequential connections, each: connect, authenticate, exec, read to the end, close. */
async function handshakes(p: Params) {
  const msEach: number[] = [];
  const c0 = cpuSeconds();
  for (let i = 0; i < (p.count as number); i++) {
    const t0 = performance.now();
    const conn = await connect(p);
    try {
      const ch = await conn.sessionChannel();
      await execOrThrow(ch, p.command as string);
      const r = await drain(ch);
      if (r.status !== 0) throw new Error(`remote command exited with status ${r.status}`);
    } finally {
      await ssh.close(conn);
    }
    msEach.push(performance.now() - t0);
  }
  return { msEach, cpuS: cpuSeconds() - c0 };
}

// ---- idle connections held open (memory) ---------------------------------------------------

let held: Connection[] = [];

async function hold(p: Params) {
  const t0 = performance.now();
  const conns = await withConcurrency(p.count as number, (p.concurrency as number) ?? 8, () => connect(p));
  held.push(...conns);
  return { held: held.length, ms: performance.now() - t0 };
}

async function release() {
  const n = held.length;
  await Promise.all(held.map((c) => ssh.close(c).catch(() => {})));
  held = [];
  return { closed: n };
}

// ---- bulk load (latency, memory) ------------------------------------------------------------

interface Load {
  conns: Connection[];
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
    const conn = await connect(p);
    l.conns.push(conn);
    const ch = await conn.sessionChannel();
    await execOrThrow(ch, p.command as string);
    runs.push(
      (async () => {
        while (!l.stopping) l.sent += await sendAll(ch, ZEROS.length);
        await ch.sendEof();
        await drain(ch);
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
  await Promise.all(l.conns.map((c) => ssh.close(c).catch(() => {})));
  load = undefined;
  return { bytes: l.sent, ms, error: l.error ?? null };
}

// ---- exec round trips on a connection of their own (latency) --------------------------------

let probeConn: Connection | undefined;

async function probeOpen(p: Params) {
  probeConn = await connect(p);
  return {};
}

async function probe(p: Params) {
  const conn = probeConn;
  if (!conn) throw new Error('probeOpen first');
  const msEach: number[] = [];
  for (let i = 0; i < (p.count as number); i++) {
    const t0 = performance.now();
    const ch = await conn.sessionChannel();
    await execOrThrow(ch, p.command as string);
    const r = await drain(ch);
    if (r.status !== 0 || r.bytes === 0) throw new Error(`probe got status ${r.status}, ${r.bytes} bytes`);
    msEach.push(performance.now() - t0);
  }
  return { msEach };
}

async function probeClose() {
  if (probeConn) await ssh.close(probeConn);
  probeConn = undefined;
  return {};
}

/** One connection, an SFTP channel, fastPut or fastGet with the client's defaults, close; timed. */
async function sftp(p: Params) {
  const t0 = performance.now();
  const c0 = cpuSeconds();
  const conn = await connect(p);
  try {
    const s = await ssh.sftp.startChannel(conn);
    if (p.direction === 'put') await s.fastPut(p.local as string, p.remote as string);
    else await s.fastGet(p.remote as string, p.local as string);
    await ssh.sftp.stopChannel(s);
  } finally {
    await ssh.close(conn);
  }
  return { ms: performance.now() - t0, cpuS: cpuSeconds() - c0 };
}

await ssh.start();
const defaults = ssh.defaultAlgorithms();
serve(
  {
    version: ssh.VERSION,
    kex: defaults.kex,
    cipher: defaults.cipher.clientToServer,
    mac: defaults.mac.clientToServer,
    compression: defaults.compression.clientToServer,
    sftp: typeof (ssh as unknown as Record<string, unknown>)['sftp'] === 'object',
  },
  { transfer, handshakes, hold, release, loadStart, loadStop, probeOpen, probe, probeClose, sftp },
  async () => {
    await release();
    await loadStop();
    await probeClose();
  },
);
