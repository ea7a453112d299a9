/**
 * Hostile peers against a real Seashell daemon on 127.0.0.1: garbage instead of an identification
 * line, impossible packet lengths, bad framings, connection-layer messages before authentication,
 * key exchanges that never finish, password guessing, tampered ciphertext, and many of these at
 * once. Each hostile client must be disconnected (with an RFC 4253 §11.1 reason where the protocol
 * allows one), must never get a command executed, and an honest client must keep working before,
 * during and after.
 */
import assert from 'node:assert/strict';
import { getDiffieHellman, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { MAX_AUTH_FAILURES } from '../../src/auth/server.js';
import type { Connection } from '../../src/edge/connection.js';
import { DisconnectReason } from '../../src/errors.js';
import * as ssh from '../../src/index.js';
import type { ClientOptions } from '../../src/index.js';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import { signData } from '../../src/keys/signature.js';
import type { PrivateKey } from '../../src/keys/types.js';
import { loadPoly1305 } from '../../src/transport/cipher/chacha20-poly1305.js';
import { MAX_PACKET_LENGTH } from '../../src/transport/packet.js';
import {
  encodeUserauthNone,
  encodeUserauthPassword,
  encodeUserauthPublickey,
  publickeySignedData,
} from '../../src/wire/auth-messages.js';
import {
  encodeChannelOnly,
  encodeChannelOpen,
  encodeChannelRequest,
  encodeGlobalRequest,
  encodeWindowAdjust,
} from '../../src/wire/connection-messages.js';
import { Msg } from '../../src/wire/numbers.js';
import { SshWriter } from '../../src/wire/writer.js';
import { encodeServiceRequest } from '../../src/wire/transport-messages.js';
import { Rng } from '../fuzz/prng.js';
import { ChildDaemon, type Memory } from './child-daemon.js';
import {
  CLIENT_IDENT,
  KexClient,
  RawPeer,
  clearPacket,
  clientKexInit,
  findClearDisconnect,
  parseClearOutput,
  rawFrame,
  withTimeout,
  type DisconnectSeen,
} from './raw-peer.js';

const NEGOTIATION_TIMEOUT = 1500;
const IDENT_LINE = CLIENT_IDENT + '\r\n';
const INVALID_IDENT_ANSWER = 'Invalid SSH identification string.\r\n';

interface Ran {
  command: string;
  user: string;
}

let dir: string;
/** The daemon under attack, in a process of its own (its memory and sockets are its own). */
let daemon: ChildDaemon;
let port: number;
/** The daemon's memory once warmed up, before the first hostile case. */
let baseMemory: Memory;
let clientDir: string;
let userKey: PrivateKey;
/** An honest connection opened before the first hostile case and used through all of them. */
let persistent: Connection;
/** Raw peers and raw clients a test opened, destroyed after it whatever happened. */
const opened: { destroy(): void }[] = [];
const rng = new Rng(0x0bad_f00d);

function track<T extends { destroy(): void }>(x: T): T {
  opened.push(x);
  return x;
}

async function rawPeer(): Promise<RawPeer> {
  return track(await RawPeer.open(port));
}

async function kexClient(algorithms?: Parameters<typeof KexClient.connect>[1]): Promise<KexClient> {
  return track(await KexClient.connect(port, algorithms));
}

function honestConnect(extra: ClientOptions = {}): Promise<Connection> {
  return withTimeout(
    ssh.connect('127.0.0.1', port, {
      userDir: clientDir,
      user: 'honest',
      silentlyAcceptHosts: true,
      saveAcceptedHost: false,
      authMethods: 'publickey',
      quietMode: true,
      ...extra,
    }),
    'the honest client to log in',
  );
}

/** Runs `command` on a new session channel of `conn` and checks its whole output and exit status. */
async function honestExec(conn: Connection, command: string, expected?: Buffer): Promise<void> {
  const run = async () => {
    const ch = await conn.sessionChannel();
    assert.equal(await ch.exec(command), 'success', `exec ${command}`);
    const out: Buffer[] = [];
    let exitStatus: number | undefined;
    for await (const m of ch) {
      if (m.type === 'data') out.push(m.data);
      else if (m.type === 'exitStatus') exitStatus = m.status;
    }
    const stdout = Buffer.concat(out);
    const want = expected ?? Buffer.from(`ran ${command}`);
    assert.equal(stdout.length, want.length, `${command}: stdout length`);
    assert.ok(stdout.equals(want), `${command}: stdout content`);
    assert.equal(exitStatus, 0, `${command}: exit status`);
  };
  await withTimeout(run(), `honest exec ${command}`);
}

/** A fresh honest connection: log in, run one command, close. */
async function honestRound(tag: string, extra: ClientOptions = {}): Promise<void> {
  const c = await honestConnect(extra);
  try {
    await honestExec(c, `honest-${tag}-fresh`);
  } finally {
    await withTimeout(c.close(), 'closing the honest connection');
  }
}

/** Every command the daemon's exec function ran, in order. */
function ran(): Promise<Ran[]> {
  return daemon.ran();
}

async function assertNothingHostileRan(): Promise<void> {
  const bad = (await ran()).filter((r) => !r.command.startsWith('honest-'));
  assert.deepEqual(bad, [], 'the daemon executed a command for a hostile client');
}

/**
 * Runs a hostile scenario while the honest client works on its persistent connection and on a
 * fresh one; afterwards the honest client still works, nothing hostile ran, and the daemon holds
 * no connection but the persistent honest one.
 */
async function alongsideHonest(tag: string, hostile: () => Promise<void>): Promise<void> {
  const honest = (async () => {
    await honestExec(persistent, `honest-${tag}-during`);
    await honestRound(tag);
  })();
  const [h, o] = await Promise.allSettled([hostile(), honest]);
  if (h.status === 'rejected') throw h.reason;
  if (o.status === 'rejected') throw o.reason;
  await honestExec(persistent, `honest-${tag}-after`);
  await assertNothingHostileRan();
  await daemon.dropsTo(1, 'every connection but the persistent honest one');
}

/** True once the daemon's identification and at least one whole packet have arrived. */
function hasPacket(b: Buffer): boolean {
  return b.includes('\r\n') && parseClearOutput(b).payloads.length > 0;
}

/** Checks the daemon's clear output: its identification, whole packets only, ending in a DISCONNECT. */
function clearDisconnectOf(peer: RawPeer): DisconnectSeen {
  const out = parseClearOutput(peer.received);
  assert.match(out.identification, /^SSH-2\.0-Seashell_/);
  assert.equal(out.payloads[0]?.[0], Msg.KEXINIT, 'the daemon opens with its KEXINIT');
  assert.equal(out.trailing.length, 0, 'nothing half-written after the last packet');
  const last = out.payloads[out.payloads.length - 1]!;
  assert.equal(last[0], Msg.DISCONNECT, 'the last packet is a DISCONNECT');
  return findClearDisconnect(peer.received)!;
}

/** Sends `bytes`, waits for the daemon to close, and returns the DISCONNECT it sent in the clear. */
async function sendAndExpectClearDisconnect(bytes: Buffer | string): Promise<DisconnectSeen> {
  const peer = await rawPeer();
  peer.write(bytes);
  await peer.closedByDaemon();
  return clearDisconnectOf(peer);
}

function channelOpenSession(sender = 0): Buffer {
  return encodeChannelOpen({
    channelType: 'session',
    senderChannel: sender,
    initialWindow: 1 << 20,
    maxPacket: 32768,
    data: Buffer.alloc(0),
  });
}

function execRequest(command: string, recipient = 0): Buffer {
  return encodeChannelRequest(recipient, { type: 'exec', wantReply: true, command });
}

/** Asserts that a raw client saw no sign of a channel being opened or a request being granted. */
function assertNoChannel(c: KexClient): void {
  const types = c.messages.map((m) => m[0]);
  assert.ok(!types.includes(Msg.CHANNEL_OPEN_CONFIRMATION), 'no channel was confirmed');
  assert.ok(!types.includes(Msg.CHANNEL_SUCCESS), 'no channel request was granted');
  assert.ok(!types.includes(Msg.CHANNEL_DATA), 'no channel data was sent');
  assert.ok(!types.includes(Msg.USERAUTH_SUCCESS), 'authentication did not succeed');
}

before(async () => {
  await loadPoly1305();
  dir = await mkdtemp(join(tmpdir(), 'seashell-hostile-'));
  const systemDir = join(dir, 'system');
  const userDir = join(dir, 'daemon-user');
  clientDir = join(dir, 'client');
  await mkdir(systemDir);
  await mkdir(userDir);
  await mkdir(clientDir);
  const hostKey = generatePrivateKey('ed25519');
  await writeFile(join(systemDir, 'ssh_host_ed25519_key'), formatOpenSshPrivateKey(hostKey), { mode: 0o600 });
  userKey = generatePrivateKey('ed25519');
  await writeFile(join(clientDir, 'id_ed25519'), formatOpenSshPrivateKey(userKey), { mode: 0o600 });
  await writeFile(join(userDir, 'authorized_keys'), formatPublicKeyLine(userKey.publicKey) + '\n');
  daemon = await ChildDaemon.start({
    systemDir,
    userDir,
    options: {
      negotiationTimeout: NEGOTIATION_TIMEOUT,
      // The attackers here share 127.0.0.1 with the honest client: admission is tested in
      // admission.test.ts, with the attacker on another address. (JSON carries the options: no
      // Infinity.)
      perSourcePenalties: false,
      perSourceMaxStartups: 1_000_000,
      maxStartups: 10_000,
      password: 'right',
      // zlib (from NEWKEYS, so before authentication) for the zlib bomb below.
      modifyAlgorithms: [{ append: { compression: ['zlib'] } }],
    },
    // exec records every command: honest-big-N-SEED answers N bytes of Rng(SEED), others `ran X`.
    preset: 'recordExec',
  });
  port = daemon.port;
  persistent = await honestConnect();
  await honestExec(persistent, 'honest-before');
  await honestRound('warm-up');
  // The daemon loads its zlib code (pako) when a connection first compresses: about 0.9 MB of
  // heap that would otherwise count against every case after the zlib bomb (10% of a Node 26
  // daemon's 8.8 MB is less). A compressed honest round loads it before the baseline.
  await honestRound('warm-up-zlib', { preferredAlgorithms: { compression: ['zlib'] } });
  baseMemory = await daemon.memory();
});

/**
 * After every hostile case: its peers gone, the daemon lets go of them, serves a fresh honest
 * client, and its memory is back within 10% of where it was before the first case.
 */
afterEach(async () => {
  for (const x of opened.splice(0)) x.destroy();
  await daemon.dropsTo(1, 'every connection but the persistent honest one');
  await honestRound('after-each');
  await daemon.memoryBackTo(baseMemory, 'after the hostile case');
});

after(async () => {
  try {
    if (persistent && !persistent.isClosed) {
      await honestExec(persistent, 'honest-at-the-end');
      await persistent.close();
    }
    await assertNothingHostileRan();
    assert.ok((await ran()).every((r) => r.user === 'honest' || r.user === 'raw-control'));
  } finally {
    // Stopping the daemon closes every socket it opened (ChildDaemon.stop asserts it).
    await daemon?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
});

describe('hostile input before any packet: the version exchange', () => {
  test('random bytes with a line break get the text answer and a closed socket', async () => {
    await alongsideHonest('random-line', async () => {
      const junk = rng.bytes(300);
      junk[0] = 0x00; // not 'S'
      junk[120] = 0x0a;
      const peer = await rawPeer();
      peer.write(junk);
      await peer.closedByDaemon();
      const out = parseClearOutput(peer.received);
      assert.equal(out.payloads[0]?.[0], Msg.KEXINIT);
      assert.equal(out.trailing.toString('latin1'), INVALID_IDENT_ANSWER);
    });
  });

  test('10 KiB without a line break (an endless identification line) is refused the same way', async () => {
    await alongsideHonest('random-long', async () => {
      const junk = rng.bytes(10 * 1024);
      for (let i = 0; i < junk.length; i++) if (junk[i] === 0x0a) junk[i] = 0x41;
      const peer = await rawPeer();
      peer.write(junk);
      await peer.closedByDaemon();
      assert.equal(parseClearOutput(peer.received).trailing.toString('latin1'), INVALID_IDENT_ANSWER);
    });
  });

  test('an SSH-1.5 identification is refused', async () => {
    await alongsideHonest('ssh1', async () => {
      const peer = await rawPeer();
      peer.write('SSH-1.5-OldClient\r\n');
      await peer.closedByDaemon();
      assert.equal(parseClearOutput(peer.received).trailing.toString('latin1'), INVALID_IDENT_ANSWER);
    });
  });
});

describe('hostile packet framing (before any keys: the DISCONNECT comes in the clear)', () => {
  test('a packet length of 2^31 gets DISCONNECT PROTOCOL_ERROR after the daemon KEXINIT', async () => {
    await alongsideHonest('len-2^31', async () => {
      const d = await sendAndExpectClearDisconnect(
        Buffer.concat([Buffer.from(IDENT_LINE), rawFrame(0x80000000)]),
      );
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR);
      assert.match(d.description, /2147483648/);
    });
  });

  const framings: { name: string; bytes: Buffer; description: RegExp }[] = [
    { name: 'length 0xffffffff', bytes: rawFrame(0xffffffff), description: /exceeds/ },
    { name: 'length not a multiple of 8 (13)', bytes: rawFrame(13, Buffer.alloc(13, 4)), description: /13/ },
    { name: 'length 0', bytes: rawFrame(0), description: /bad packet length 0/ },
    {
      name: 'length 4 (less than 5)',
      bytes: rawFrame(4, Buffer.alloc(4, 4)),
      description: /bad packet length 4/,
    },
    {
      name: 'padding_length larger than the packet',
      bytes: rawFrame(12, Buffer.from([200, ...Buffer.alloc(11, 1)])),
      description: /bad padding length 200/,
    },
    {
      name: 'padding_length equal to the packet length',
      bytes: rawFrame(12, Buffer.from([12, ...Buffer.alloc(11, 1)])),
      description: /bad padding length 12/,
    },
    {
      name: 'padding filling the whole packet (empty payload)',
      bytes: rawFrame(12, Buffer.from([11, ...Buffer.alloc(11, 1)])),
      description: /bad padding length 11/,
    },
    {
      name: 'padding of 3 bytes (less than 4)',
      bytes: rawFrame(12, Buffer.from([3, Msg.IGNORE, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9])),
      description: /bad padding length 3/,
    },
  ];
  for (const f of framings) {
    test(`${f.name}: DISCONNECT PROTOCOL_ERROR`, async () => {
      await alongsideHonest(`framing-${f.name}`, async () => {
        const d = await sendAndExpectClearDisconnect(Buffer.concat([Buffer.from(IDENT_LINE), f.bytes]));
        assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR);
        assert.match(d.description, f.description);
      });
    });
  }

  test('a length just over 256 KiB is refused from the 4 length bytes alone, before any body', async () => {
    await alongsideHonest('len-256k+8', async () => {
      const len = MAX_PACKET_LENGTH + 4; // aligned (len + 4 is a multiple of 8): only the size check can refuse it
      assert.equal((len + 4) % 8, 0);
      const peer = await rawPeer();
      peer.write(Buffer.concat([Buffer.from(IDENT_LINE), rawFrame(len)]));
      // Not one byte of the body is sent: the daemon must decide on the length field.
      await peer.closedByDaemon();
      const d = clearDisconnectOf(peer);
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR);
      assert.match(d.description, /exceeds the limit/);
    });
  });

  test('a length of exactly 256 KiB is within bounds: the daemon waits for the body (until its login timeout)', async () => {
    await alongsideHonest('len-256k', async () => {
      const len = MAX_PACKET_LENGTH - 4;
      const peer = await rawPeer();
      peer.write(Buffer.concat([Buffer.from(IDENT_LINE), rawFrame(len)]));
      await peer.closedByDaemon();
      const d = clearDisconnectOf(peer);
      assert.equal(d.reason, DisconnectReason.BY_APPLICATION, d.description);
      assert.match(d.description, /timed out/);
    });
  });

  test('a valid IGNORE followed by a bad length: the good packet is read, the bad one refused', async () => {
    await alongsideHonest('ignore-then-bad', async () => {
      const ignore = clearPacket(Buffer.from([Msg.IGNORE, 0, 0, 0, 0]));
      const d = await sendAndExpectClearDisconnect(
        Buffer.concat([Buffer.from(IDENT_LINE), ignore, rawFrame(0x7fffffff)]),
      );
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR);
    });
  });
});

describe('a hostile key exchange', () => {
  const ecdhInit = (q: Buffer) =>
    clearPacket(Buffer.concat([Buffer.from([Msg.KEX_ECDH_INIT]), rawFrame(q.length, q)]));
  const mpintInit = (v: Buffer) =>
    clearPacket(
      Buffer.concat([
        Buffer.from([30]) /* KEXDH_INIT (RFC 4253 §8) */,
        new SshWriter(600).mpintFromUnsigned(v).finish(),
      ]),
    );
  const gexRequest = (min: number, n: number, max: number) =>
    clearPacket(new SshWriter(16).byte(34).uint32(min).uint32(n).uint32(max).finish());
  const group14 = getDiffieHellman('modp14').getPrime();
  const cases: {
    name: string;
    kex?: string;
    after: Buffer[];
    reason: number;
    description: RegExp;
  }[] = [
    {
      name: 'a diffie-hellman-group14-sha256 e of 1 (outside [2, p-2])',
      kex: 'diffie-hellman-group14-sha256',
      after: [mpintInit(Buffer.from([1]))],
      reason: DisconnectReason.KEY_EXCHANGE_FAILED,
      description: /outside \[2, p-2\]/,
    },
    {
      name: 'a diffie-hellman-group14-sha256 e of p (outside [2, p-2])',
      kex: 'diffie-hellman-group14-sha256',
      after: [mpintInit(group14)],
      reason: DisconnectReason.KEY_EXCHANGE_FAILED,
      description: /outside \[2, p-2\]/,
    },
    {
      name: 'a group exchange request with min > max',
      kex: 'diffie-hellman-group-exchange-sha256',
      after: [gexRequest(8192, 4096, 2048)],
      reason: DisconnectReason.KEY_EXCHANGE_FAILED,
      description: /does not hold/,
    },
    {
      name: 'a group exchange request beyond the sizes the daemon has (min 16384)',
      kex: 'diffie-hellman-group-exchange-sha256',
      after: [gexRequest(16384, 16384, 16384)],
      reason: DisconnectReason.KEY_EXCHANGE_FAILED,
      description: /no DH group|does not hold|16384/,
    },
    {
      name: 'an mlkem768x25519 client value of the wrong length (1215 bytes)',
      kex: 'mlkem768x25519-sha256',
      after: [ecdhInit(Buffer.alloc(1215, 7))],
      reason: DisconnectReason.KEY_EXCHANGE_FAILED,
      description: /client value is 1215 bytes/,
    },
    {
      name: 'an all-zero curve25519 public value (a low-order point)',
      after: [ecdhInit(Buffer.alloc(32))],
      reason: DisconnectReason.KEY_EXCHANGE_FAILED,
      description: /all zeros|invalid peer public key/, // OpenSSL may refuse the point itself
    },
    {
      name: 'a 31-byte curve25519 public value',
      after: [ecdhInit(Buffer.alloc(31, 9))],
      reason: DisconnectReason.KEY_EXCHANGE_FAILED,
      description: /31 bytes/,
    },
    {
      name: 'a second KEXINIT during the key exchange',
      after: [clearPacket(clientKexInit())],
      reason: DisconnectReason.PROTOCOL_ERROR,
      description: /second KEXINIT/,
    },
    {
      name: 'NEWKEYS before KEX_ECDH_INIT',
      after: [clearPacket(Buffer.from([Msg.NEWKEYS]))],
      reason: DisconnectReason.PROTOCOL_ERROR,
      description: /NEWKEYS before/,
    },
    {
      name: 'KEX_ECDH_REPLY (a server message) from the client',
      after: [clearPacket(Buffer.from([Msg.KEX_ECDH_REPLY, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))],
      reason: DisconnectReason.PROTOCOL_ERROR,
      description: /unexpected key exchange message 31/,
    },
  ];
  for (const c of cases) {
    test(`${c.name}: DISCONNECT ${c.reason}`, async () => {
      await alongsideHonest(`kex-${c.name}`, async () => {
        const d = await sendAndExpectClearDisconnect(
          Buffer.concat([
            Buffer.from(IDENT_LINE),
            clearPacket(clientKexInit(false, c.kex ? [c.kex] : undefined)),
            ...c.after,
          ]),
        );
        assert.equal(d.reason, c.reason, d.description);
        assert.match(d.description, c.description);
      });
    });
  }

  test('an IGNORE before a strict-kex KEXINIT (the Terrapin prefix) is refused', async () => {
    await alongsideHonest('strict-ignore-first', async () => {
      const d = await sendAndExpectClearDisconnect(
        Buffer.concat([
          Buffer.from(IDENT_LINE),
          clearPacket(Buffer.from([Msg.IGNORE, 0, 0, 0, 0])),
          clearPacket(clientKexInit(true)),
        ]),
      );
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR);
      assert.match(d.description, /strict key exchange/);
    });
  });

  test('an IGNORE inside a strict key exchange is refused', async () => {
    await alongsideHonest('strict-ignore-inside', async () => {
      const d = await sendAndExpectClearDisconnect(
        Buffer.concat([
          Buffer.from(IDENT_LINE),
          clearPacket(clientKexInit(true)),
          clearPacket(Buffer.from([Msg.IGNORE, 0, 0, 0, 0])),
        ]),
      );
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR);
    });
  });
});

describe('the order of the protocol: nothing but the transport before NEWKEYS, nothing of the connection before auth', () => {
  test('CHANNEL_OPEN and exec in the clear right after KEXINIT: DISCONNECT, nothing executed', async () => {
    await alongsideHonest('clear-channel-open', async () => {
      const d = await sendAndExpectClearDisconnect(
        Buffer.concat([
          Buffer.from(IDENT_LINE),
          clearPacket(clientKexInit()),
          clearPacket(channelOpenSession()),
          clearPacket(execRequest('HOSTILE-clear-exec')),
        ]),
      );
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR);
      assert.match(d.description, /unexpected message 90 during the initial key exchange/);
    });
  });

  test('CHANNEL_OPEN in the clear instead of KEXINIT: DISCONNECT, nothing executed', async () => {
    await alongsideHonest('clear-channel-open-first', async () => {
      const d = await sendAndExpectClearDisconnect(
        Buffer.concat([
          Buffer.from(IDENT_LINE),
          clearPacket(channelOpenSession()),
          clearPacket(execRequest('HOSTILE-clear-exec-2')),
        ]),
      );
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR);
    });
  });

  for (const [name, payload] of [
    ['SERVICE_REQUEST', encodeServiceRequest('ssh-userauth')],
    ['USERAUTH_REQUEST', encodeUserauthPassword('x', 'ssh-connection', 'right')],
    ['NEWKEYS', Buffer.from([Msg.NEWKEYS])],
    ['GLOBAL_REQUEST', encodeGlobalRequest('tcpip-forward', true, Buffer.alloc(8))],
  ] as const) {
    test(`${name} in the clear after KEXINIT: DISCONNECT PROTOCOL_ERROR`, async () => {
      await alongsideHonest(`clear-${name}`, async () => {
        const d = await sendAndExpectClearDisconnect(
          Buffer.concat([Buffer.from(IDENT_LINE), clearPacket(clientKexInit()), clearPacket(payload)]),
        );
        assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR);
      });
    });
  }

  test('positive control: the raw client can log in with the right password and exec (pipelined)', async () => {
    // Shows that the raw client below is able to run commands, so the refusals that follow are real.
    await alongsideHonest('raw-control', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      c.send(encodeUserauthPassword('raw-control', 'ssh-connection', 'right'));
      c.send(channelOpenSession(7));
      await c.expectMessage(Msg.USERAUTH_SUCCESS);
      const confirm = await c.expectMessage(Msg.CHANNEL_OPEN_CONFIRMATION);
      assert.equal(confirm.readUInt32BE(1), 7);
      const serverId = confirm.readUInt32BE(5);
      c.send(execRequest('honest-raw-control', serverId));
      await c.expectMessage(Msg.CHANNEL_SUCCESS);
      const data = await c.expectMessage(Msg.CHANNEL_DATA);
      assert.equal(data.subarray(9).toString(), 'ran honest-raw-control');
      await c.expectMessage(Msg.CHANNEL_CLOSE);
      c.send(encodeChannelOnly(Msg.CHANNEL_CLOSE, serverId));
      await c.expectMessage(Msg.CHANNEL_CLOSE);
      // Ends the connection with a DISCONNECT but leaves the socket to the daemon to close.
      c.transport.disconnect(DisconnectReason.BY_APPLICATION, 'done');
      await c.disconnected();
    });
    assert.ok((await ran()).some((r) => r.command === 'honest-raw-control' && r.user === 'raw-control'));
  });

  test('a zlib bomb (zlib from NEWKEYS): 4 MiB that deflate to a few KiB get DISCONNECT COMPRESSION_ERROR', async () => {
    await alongsideHonest('zlib-bomb', async () => {
      const c = await kexClient({ compression: ['zlib'] });
      // An IGNORE whose string is 4 MiB of zeros: deflated it is a small packet, inflated it is
      // 16 times the packet limit.
      const bomb = Buffer.alloc(5 + 4 * 1024 * 1024);
      bomb[0] = Msg.IGNORE;
      bomb.writeUInt32BE(4 * 1024 * 1024, 1);
      c.send(bomb);
      const d = await c.disconnected();
      assert.equal(d.byPeer, true);
      assert.equal(d.reason, DisconnectReason.COMPRESSION_ERROR, d.message);
      assert.match(d.message, /inflates past/);
    });
  });

  test('after kex, service accepted, no authentication: CHANNEL_OPEN + exec gets DISCONNECT PROTOCOL_ERROR', async () => {
    await alongsideHonest('unauth-exec', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      await c.expectMessage(Msg.SERVICE_ACCEPT);
      c.send(channelOpenSession());
      c.send(execRequest('HOSTILE-unauth-exec'));
      const d = await c.disconnected();
      assert.equal(d.byPeer, true);
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR, d.message);
      assert.match(d.message, /connection protocol message 90 before authentication/);
      assertNoChannel(c);
    });
  });

  test('the same, all pipelined without waiting for SERVICE_ACCEPT', async () => {
    await alongsideHonest('unauth-exec-pipelined', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      c.send(channelOpenSession());
      c.send(execRequest('HOSTILE-unauth-exec-pipelined'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR, d.message);
      assertNoChannel(c);
    });
  });

  test('CHANNEL_OPEN queued behind a wrong password (decided asynchronously): refused, nothing executed', async () => {
    await alongsideHonest('behind-wrong-password', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      c.send(encodeUserauthPassword('mallory', 'ssh-connection', 'wrong'));
      c.send(channelOpenSession());
      c.send(execRequest('HOSTILE-behind-wrong-password'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR, d.message);
      assert.ok(
        c.messages.some((m) => m[0] === Msg.USERAUTH_FAILURE),
        'the password was refused first',
      );
      assertNoChannel(c);
    });
  });

  test('a publickey query (no signature) answered with PK_OK is not authentication', async () => {
    await alongsideHonest('pk-ok-is-not-auth', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      c.send(encodeUserauthPublickey('honest', 'ssh-connection', 'ssh-ed25519', userKey.publicKey.blob));
      await c.expectMessage(Msg.USERAUTH_PK_OK);
      c.send(channelOpenSession());
      c.send(execRequest('HOSTILE-after-pk-ok'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR, d.message);
      assertNoChannel(c);
    });
  });

  test('an authorized key with a signature over the wrong session id is refused', async () => {
    await alongsideHonest('pk-wrong-session', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      const blob = userKey.publicKey.blob;
      const wrongData = publickeySignedData(randomBytes(32), 'honest', 'ssh-connection', 'ssh-ed25519', blob);
      const sig = signData(userKey, 'ssh-ed25519', wrongData);
      c.send(encodeUserauthPublickey('honest', 'ssh-connection', 'ssh-ed25519', blob, sig));
      c.send(channelOpenSession());
      c.send(execRequest('HOSTILE-wrong-session-signature'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR, d.message);
      assert.ok(c.messages.some((m) => m[0] === Msg.USERAUTH_FAILURE));
      assertNoChannel(c);
    });
  });

  test('USERAUTH_REQUEST before the ssh-userauth service was accepted: DISCONNECT PROTOCOL_ERROR', async () => {
    await alongsideHonest('auth-before-service', async () => {
      const c = await kexClient();
      c.send(encodeUserauthNone('mallory', 'ssh-connection'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR, d.message);
      assert.match(d.message, /before the ssh-userauth service/);
      assert.ok(!c.messages.some((m) => m[0] === Msg.USERAUTH_FAILURE || m[0] === Msg.USERAUTH_SUCCESS));
    });
  });

  test('a correct password before the service was accepted does not log in', async () => {
    await alongsideHonest('password-before-service', async () => {
      const c = await kexClient();
      c.send(encodeUserauthPassword('mallory', 'ssh-connection', 'right'));
      c.send(channelOpenSession());
      c.send(execRequest('HOSTILE-password-before-service'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR, d.message);
      assertNoChannel(c);
    });
  });

  test('a 2000-byte user name: DISCONNECT PROTOCOL_ERROR', async () => {
    await alongsideHonest('long-user', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      c.send(encodeUserauthPassword('u'.repeat(2000), 'ssh-connection', 'right'));
      c.send(channelOpenSession());
      c.send(execRequest('HOSTILE-long-user'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR, d.message);
      assertNoChannel(c);
    });
  });

  test('asking for ssh-connection without ssh-userauth: DISCONNECT SERVICE_NOT_AVAILABLE', async () => {
    await alongsideHonest('service-connection', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-connection'));
      c.send(channelOpenSession());
      c.send(execRequest('HOSTILE-service-connection'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.SERVICE_NOT_AVAILABLE, d.message);
      assertNoChannel(c);
    });
  });

  const connectionMessages: [string, Buffer][] = [
    ['GLOBAL_REQUEST', encodeGlobalRequest('tcpip-forward', true, Buffer.alloc(8))],
    ['CHANNEL_REQUEST exec on channel 0', execRequest('HOSTILE-no-channel')],
    [
      'CHANNEL_DATA',
      Buffer.concat([Buffer.from([Msg.CHANNEL_DATA, 0, 0, 0, 0, 0, 0, 0, 2]), Buffer.from('id')]),
    ],
    ['CHANNEL_WINDOW_ADJUST', encodeWindowAdjust(0, 1000)],
    ['CHANNEL_CLOSE', encodeChannelOnly(Msg.CHANNEL_CLOSE, 0)],
    ['message 127', Buffer.from([127, 1, 2, 3])],
  ];
  for (const [name, payload] of connectionMessages) {
    test(`${name} before authentication: DISCONNECT PROTOCOL_ERROR`, async () => {
      await alongsideHonest(`unauth-${name}`, async () => {
        const c = await kexClient();
        c.send(encodeServiceRequest('ssh-userauth'));
        c.send(payload);
        const d = await c.disconnected();
        assert.equal(d.reason, DisconnectReason.PROTOCOL_ERROR, d.message);
        assertNoChannel(c);
      });
    });
  }
});

describe('a client that disconnects and then keeps its socket open', () => {
  // The daemon must close its side after the peer's DISCONNECT, or each such client leaks a socket.
  test('DISCONNECT in the clear after the identification: the daemon closes the socket', async () => {
    await alongsideHonest('clear-disconnect-linger', async () => {
      const peer = await rawPeer();
      const bye = Buffer.from([Msg.DISCONNECT, 0, 0, 0, 11, 0, 0, 0, 3, 0x62, 0x79, 0x65, 0, 0, 0, 0]);
      peer.write(Buffer.concat([Buffer.from(IDENT_LINE), clearPacket(bye)]));
      await peer.closedByDaemon('the daemon to close the socket after the client DISCONNECT');
    });
  });

  test('DISCONNECT after the key exchange: the daemon closes the socket', async () => {
    await alongsideHonest('disconnect-linger', async () => {
      const c = await kexClient();
      c.transport.disconnect(DisconnectReason.BY_APPLICATION, 'bye');
      await c.disconnected();
    });
  });
});

describe('a key exchange or login that never finishes', () => {
  test('silence, an identification only, a KEXINIT only, a finished kex without login: all disconnected at the timeout', async () => {
    await alongsideHonest('never-finish', async () => {
      const silent = await rawPeer();
      const identOnly = await rawPeer();
      identOnly.write(IDENT_LINE);
      const kexinitOnly = await rawPeer();
      kexinitOnly.write(Buffer.concat([Buffer.from(IDENT_LINE), clearPacket(clientKexInit())]));
      const slowLogin = await kexClient();
      slowLogin.send(encodeServiceRequest('ssh-userauth'));
      await slowLogin.expectMessage(Msg.SERVICE_ACCEPT);

      // The daemon holds all four (and the honest ones) until its negotiation timeout.
      for (const p of [silent, identOnly, kexinitOnly]) {
        await p.waitFor(hasPacket, 'the daemon KEXINIT');
      }
      await Promise.all([silent, identOnly, kexinitOnly].map((p) => p.closedByDaemon()));
      for (const p of [silent, identOnly, kexinitOnly]) {
        const d = clearDisconnectOf(p);
        assert.equal(d.reason, DisconnectReason.BY_APPLICATION);
        assert.match(d.description, /login timed out/);
      }
      const d = await slowLogin.disconnected();
      assert.equal(d.reason, DisconnectReason.BY_APPLICATION, d.message);
      assert.match(d.message, /timed out/);
    });
  });

  test('a dribbling client (one byte of the identification at a time) is cut off at the timeout', async () => {
    await alongsideHonest('dribble', async () => {
      const peer = await rawPeer();
      const line = Buffer.from('SSH-2.0-' + 'x'.repeat(200));
      let i = 0;
      const timer = setInterval(() => {
        if (i < line.length) peer.write(line.subarray(i, ++i));
      }, 20);
      try {
        await peer.closedByDaemon();
      } finally {
        clearInterval(timer);
      }
      const d = clearDisconnectOf(peer);
      assert.equal(d.reason, DisconnectReason.BY_APPLICATION);
    });
  });

  test('half a packet, then the client half-closes: the daemon lets go of the connection', async () => {
    await alongsideHonest('half-packet-eof', async () => {
      const peer = await rawPeer();
      const kexinit = clearPacket(clientKexInit());
      peer.write(Buffer.concat([Buffer.from(IDENT_LINE), kexinit.subarray(0, 30)]));
      await peer.waitFor(hasPacket, 'the daemon KEXINIT');
      peer.socket.end();
      await peer.closedByDaemon();
    });
  });
});

describe('clients that vanish', () => {
  test('a reset in the middle of a KEXINIT, a FIN right after connecting, a reset after a bad length: all cleaned up', async () => {
    await alongsideHonest('vanish', async () => {
      const resetMidKex = await rawPeer();
      resetMidKex.write(
        Buffer.concat([Buffer.from(IDENT_LINE), clearPacket(clientKexInit()).subarray(0, 50)]),
      );
      const finAtOnce = await rawPeer();
      const resetAfterBad = await rawPeer();
      resetAfterBad.write(Buffer.concat([Buffer.from(IDENT_LINE), rawFrame(0x80000000)]));
      await resetMidKex.waitFor(hasPacket, 'the daemon KEXINIT');
      resetMidKex.socket.resetAndDestroy();
      finAtOnce.socket.end();
      resetAfterBad.socket.resetAndDestroy();
      await Promise.all(
        [resetMidKex.closed, finAtOnce.closed, resetAfterBad.closed].map((p) => withTimeout(p, 'close')),
      );
      // alongsideHonest then waits for the daemon to hold only the persistent honest connection.
    });
  });
});

describe('password guessing', () => {
  test(`wrong passwords: DISCONNECT NO_MORE_AUTH_METHODS_AVAILABLE after at most ${MAX_AUTH_FAILURES} failures`, async () => {
    await alongsideHonest('guessing', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      await c.expectMessage(Msg.SERVICE_ACCEPT);
      for (let i = 0; i < 20; i++) c.send(encodeUserauthPassword('root', 'ssh-connection', `guess-${i}`));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE, d.message);
      const failures = c.messages.filter((m) => m[0] === Msg.USERAUTH_FAILURE).length;
      assert.equal(
        failures,
        MAX_AUTH_FAILURES - 1,
        'a FAILURE for each attempt but the last, then DISCONNECT',
      );
      assertNoChannel(c);
    });
  });

  test('the right password after the limit is not accepted', async () => {
    await alongsideHonest('guessing-then-right', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      for (let i = 0; i < MAX_AUTH_FAILURES; i++) {
        c.send(encodeUserauthPassword('root', 'ssh-connection', `guess-${i}`));
      }
      c.send(encodeUserauthPassword('root', 'ssh-connection', 'right'));
      c.send(channelOpenSession());
      c.send(execRequest('HOSTILE-after-guessing'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE, d.message);
      assertNoChannel(c);
    });
  });

  test('unauthorized keys and wrong passwords mixed count together', async () => {
    await alongsideHonest('guessing-mixed', async () => {
      const c = await kexClient();
      c.send(encodeServiceRequest('ssh-userauth'));
      const stranger = generatePrivateKey('ed25519');
      for (let i = 0; i < 10; i++) {
        if (i % 2) c.send(encodeUserauthPassword('root', 'ssh-connection', `guess-${i}`));
        else {
          const data = publickeySignedData(
            c.transport.sessionId!,
            'root',
            'ssh-connection',
            'ssh-ed25519',
            stranger.publicKey.blob,
          );
          const sig = signData(stranger, 'ssh-ed25519', data);
          c.send(
            encodeUserauthPublickey('root', 'ssh-connection', 'ssh-ed25519', stranger.publicKey.blob, sig),
          );
        }
      }
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE, d.message);
      assert.ok(c.messages.filter((m) => m[0] === Msg.USERAUTH_FAILURE).length < MAX_AUTH_FAILURES);
    });
  });
});

describe('tampered ciphertext', () => {
  const suites: { name: string; algorithms: Parameters<typeof KexClient.connect>[1] }[] = [
    { name: 'aes128-gcm', algorithms: { cipher: ['aes128-gcm@openssh.com'] } },
    { name: 'aes256-gcm', algorithms: { cipher: ['aes256-gcm@openssh.com'] } },
    { name: 'chacha20-poly1305', algorithms: { cipher: ['chacha20-poly1305@openssh.com'] } },
    {
      name: 'aes128-ctr + hmac-sha2-256-etm',
      algorithms: { cipher: ['aes128-ctr'], mac: ['hmac-sha2-256-etm@openssh.com'] },
    },
    { name: 'aes256-ctr + hmac-sha2-512', algorithms: { cipher: ['aes256-ctr'], mac: ['hmac-sha2-512'] } },
  ];
  for (const s of suites) {
    test(`${s.name}: one flipped bit in a packet after kex gets DISCONNECT MAC_ERROR`, async () => {
      await alongsideHonest(`tamper-${s.name}`, async () => {
        const c = await kexClient(s.algorithms);
        // Byte 12 is past the (possibly clear) length field and inside the first 16 bytes of the packet.
        c.tamper = (b) => {
          b[12] = b[12]! ^ 0x04;
          return b;
        };
        c.send(encodeServiceRequest('ssh-userauth'));
        const d = await c.disconnected();
        assert.equal(d.reason, DisconnectReason.MAC_ERROR, d.message);
        assert.ok(
          !c.messages.some((m) => m[0] === Msg.SERVICE_ACCEPT),
          'the tampered request was not acted on',
        );
      });
    });
  }

  test('a flipped bit in the MAC itself is caught too', async () => {
    await alongsideHonest('tamper-mac', async () => {
      const c = await kexClient({ cipher: ['aes128-ctr'], mac: ['hmac-sha2-256'] });
      c.tamper = (b) => {
        b[b.length - 1] = b[b.length - 1]! ^ 0x80;
        return b;
      };
      c.send(encodeServiceRequest('ssh-userauth'));
      const d = await c.disconnected();
      assert.equal(d.reason, DisconnectReason.MAC_ERROR, d.message);
    });
  });
});

describe('many hostile clients at once', () => {
  test('50 hostile connections in parallel while the honest client moves 1 MiB intact', async () => {
    const kinds = [
      (p: RawPeer) => p.write(rng.bytes(200).fill(0x0a, 50, 51)),
      (p: RawPeer) => p.write(Buffer.concat([Buffer.from(IDENT_LINE), rawFrame(0x80000000)])),
      () => {}, // silence until the timeout
      (p: RawPeer) => p.write(IDENT_LINE),
      (p: RawPeer) => p.write(Buffer.concat([Buffer.from(IDENT_LINE), clearPacket(clientKexInit())])),
      (p: RawPeer) =>
        p.write(
          Buffer.concat([
            Buffer.from(IDENT_LINE),
            clearPacket(clientKexInit()),
            clearPacket(channelOpenSession()),
            clearPacket(execRequest('HOSTILE-storm')),
          ]),
        ),
      (p: RawPeer) => p.write(Buffer.concat([Buffer.from(IDENT_LINE), rawFrame(13, Buffer.alloc(13))])),
    ];
    const seed = 4242;
    const expected = new Rng(seed).bytes(1 << 20);
    await alongsideHonest('storm', async () => {
      const peers = await Promise.all(Array.from({ length: 50 }, () => rawPeer()));
      peers.forEach((p, i) => kinds[i % kinds.length]!(p));
      const honest = (async () => {
        for (let i = 0; i < 3; i++) await honestRound(`storm-${i}`);
        await honestExec(persistent, `honest-big-${1 << 20}-${seed}`, expected);
      })();
      await Promise.all([honest, ...peers.map((p) => p.closedByDaemon())]);
      for (const p of peers) {
        // Every hostile peer got whole packets only, or the text answer to a bad identification.
        const out = parseClearOutput(p.received);
        const text = out.trailing.toString('latin1');
        assert.ok(
          text === '' || text === INVALID_IDENT_ANSWER,
          `unexpected trailing bytes ${JSON.stringify(text)}`,
        );
        if (text === '') assert.equal(out.payloads[out.payloads.length - 1]![0], Msg.DISCONNECT);
      }
    });
  });
});
