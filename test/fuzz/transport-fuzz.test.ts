/**
 * A bounded, seeded fuzzer for the server side of the protocol core.
 *
 * 1. Byte streams into a server-role Transport: pure garbage, garbage after a valid
 *    identification, and mutations of a real client's captured session (so that inputs reach
 *    past the version exchange, KEXINIT and KEX_ECDH_INIT into NEWKEYS and the MAC checks), each
 *    fed whole and in random chunks. `receive` must never throw; a close must carry an SshError
 *    with an RFC 4253 reason, never an internal error; the output must be whole packets ending in
 *    the DISCONNECT, and nothing may be written after it.
 * 2. Payload sequences through a real encrypted client into a server ConnectionCore: mutated,
 *    dropped, duplicated, reordered and random messages, so the auth and connection layers see
 *    decrypted hostile input. No channel may ever be opened before authentication, and only the
 *    right password may authenticate (the publickey signatures in the corpus are over a stale
 *    session id).
 *
 * Set FUZZ_SEED to replay another run; every failure names the seed and the case.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { ConnectionCore } from '../../src/connection/connection-core.js';
import { SshError } from '../../src/errors.js';
import { loadPoly1305 } from '../../src/transport/cipher/chacha20-poly1305.js';
import { Transport } from '../../src/transport/transport.js';
import { Msg } from '../../src/wire/numbers.js';
import { encodeKexInit } from '../../src/wire/transport-messages.js';
import {
  captureClientStream,
  clientTransport,
  fuzzUserKey,
  serverTransportConfig,
  SERVER_IDENT,
  CLIENT_IDENT,
  sessionPayloads,
} from './capture.js';
import { Rng, baseSeed, caseSeed, mutate, randomChunks, scaled } from './prng.js';

const SEED = baseSeed();
const INVALID_IDENT_ANSWER = 'Invalid SSH identification string.\r\n';

/** Wraps a case so that any failure says how to replay it. */
function fuzzCase(label: string, i: number, body: (rng: Rng) => void): void {
  const seed = caseSeed(SEED, i);
  try {
    body(new Rng(seed));
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${label}: case ${i} failed (FUZZ_SEED=${SEED}, case seed ${seed}): ${msg}`, {
      cause: e,
    });
  }
}

/** An error that must not come out of a transport: a programming error caught by its safety net. */
function assertNotInternal(e: SshError, byPeer: boolean): void {
  assert.ok(e instanceof SshError, `close error is not an SshError: ${String(e)}`);
  assert.equal(typeof e.reason, 'number', `close error has no numeric reason: ${e.message}`);
  // A peer's DISCONNECT may carry any number; the reasons we send must be RFC 4253 §11.1 codes.
  if (!byPeer)
    assert.ok(e.reason! >= 1 && e.reason! <= 15, `reason ${e.reason} is not an RFC 4253 §11.1 code`);
  assert.ok(!/^internal error/.test(e.message), `internal error: ${e.message}`);
  if (e.cause !== undefined && !(e.cause instanceof SshError)) {
    assert.fail(`close caused by a non-SshError: ${String((e.cause as Error)?.stack ?? e.cause)}`);
  }
}

interface RunResult {
  closed: { error: SshError; byPeer: boolean } | undefined;
  output: Buffer;
  sentNewKeys: boolean;
  peerIdentified: boolean;
  /** The keys in use hide the packet length: what it decrypts to depends on this run's random keys. */
  lengthHidden: boolean;
}

/** Feeds `chunks` to a fresh server Transport and checks every invariant on the way. */
function runServer(chunks: Buffer[]): RunResult {
  let closed: RunResult['closed'];
  const out: Buffer[] = [];
  const t = new Transport(serverTransportConfig(), {
    onMessage: () => {},
    onKexDone: () => {},
    onOutput: () => {},
    onClose: (error, byPeer) => {
      assert.equal(closed, undefined, 'onClose called twice');
      closed = { error, byPeer };
    },
  });
  t.start();
  out.push(...t.takeOutput());
  for (const c of chunks) {
    try {
      t.receive(c);
    } catch (e) {
      assert.fail(`Transport.receive threw: ${String((e as Error)?.stack ?? e)}`);
    }
    out.push(...t.takeOutput());
    if (closed) break;
  }
  if (closed) {
    assertNotInternal(closed.error, closed.byPeer);
    // Nothing goes out after the close, whatever else arrives.
    t.receive(Buffer.from('SSH-2.0-more\r\n\0\0\0\x0c\x0a'));
    t.send(Buffer.from([Msg.IGNORE, 0, 0, 0, 0]));
    assert.equal(t.takeOutput().length, 0, 'bytes were queued after the close');
  }
  const output = Buffer.concat(out);
  const sentNewKeys = checkServerOutput(output, closed, t.peerIdentification !== undefined);
  const n = t.negotiated;
  const lengthHidden =
    n !== undefined &&
    (n.cipherC2S.startsWith('chacha20') || (n.cipherC2S.endsWith('-ctr') && !n.macC2S.includes('-etm')));
  return { closed, output, sentNewKeys, peerIdentified: t.peerIdentification !== undefined, lengthHidden };
}

/**
 * The server's output is its identification line, then whole binary packets (parsed until its
 * NEWKEYS, after which they are encrypted). When the server closed the connection itself in the
 * clear, its last packet is the DISCONNECT with the reason it reported; a bad identification
 * gets the text answer instead, since the peer cannot read packets yet.
 */
function checkServerOutput(out: Buffer, closed: RunResult['closed'], peerIdentified: boolean): boolean {
  const head = Buffer.from(SERVER_IDENT + '\r\n');
  assert.ok(out.subarray(0, head.length).equals(head), 'output starts with the identification line');
  let pos = head.length;
  const payloads: Buffer[] = [];
  let newKeys = false;
  while (pos < out.length && !newKeys) {
    assert.ok(out.length - pos >= 4, 'a half-written packet length');
    const len = out.readUInt32BE(pos);
    if (!peerIdentified && len > 256 * 1024) break; // the text answer to a bad identification
    assert.ok(
      len >= 12 && len <= 256 * 1024 && (len + 4) % 8 === 0,
      `bad packet length ${len} in the output`,
    );
    assert.ok(out.length - pos - 4 >= len, 'a half-written packet');
    const padding = out[pos + 4]!;
    assert.ok(padding >= 4 && padding + 1 < len, `bad padding ${padding} in the output`);
    const payload = out.subarray(pos + 5, pos + 4 + len - padding);
    payloads.push(payload);
    if (payload[0] === Msg.NEWKEYS) newKeys = true;
    pos += 4 + len;
  }
  if (newKeys) return true;
  const trailing = out.subarray(pos).toString('latin1');
  if (!peerIdentified) {
    assert.ok(
      trailing === '' || trailing === INVALID_IDENT_ANSWER,
      `unexpected trailing ${JSON.stringify(trailing)}`,
    );
    if (closed) assert.equal(trailing, INVALID_IDENT_ANSWER, 'a refused identification gets the text answer');
  } else {
    assert.equal(trailing, '', 'trailing bytes after the last packet');
  }
  if (closed && !closed.byPeer && peerIdentified) {
    const last = payloads[payloads.length - 1]!;
    assert.equal(last[0], Msg.DISCONNECT, 'the last packet of a closed connection is the DISCONNECT');
    assert.equal(last.readUInt32BE(1), closed.error.reason, 'the DISCONNECT carries the reported reason');
  }
  return false;
}

/**
 * Runs a stream whole and in random chunks: both must pass the checks and end the same way
 * (unless an encrypted length decrypted to noise under each run's own random keys).
 */
function runBothWays(rng: Rng, stream: Buffer): RunResult {
  const whole = runServer([stream]);
  const chunked = runServer(randomChunks(rng, stream));
  if (whole.lengthHidden || chunked.lengthHidden) return whole;
  assert.equal(
    chunked.closed === undefined,
    whole.closed === undefined,
    'chunking changed whether it closed',
  );
  assert.equal(chunked.closed?.error.reason, whole.closed?.error.reason, 'chunking changed the close reason');
  return whole;
}

/** Captured client sessions; `clearLength` when the cipher leaves the packet length unencrypted. */
let capturedSessions: { stream: Buffer; clearLength: boolean }[] = [];
let captured: Buffer[] = [];

before(async () => {
  await loadPoly1305();
  capturedSessions = [
    { stream: captureClientStream(), clearLength: true },
    { stream: captureClientStream({ cipher: ['chacha20-poly1305@openssh.com'] }), clearLength: false },
    {
      stream: captureClientStream({ cipher: ['aes128-ctr'], mac: ['hmac-sha2-256-etm@openssh.com'] }),
      clearLength: true,
    },
    { stream: captureClientStream({ cipher: ['aes256-ctr'], mac: ['hmac-sha2-512'] }), clearLength: false },
  ];
  captured = capturedSessions.map((c) => c.stream);
});

describe(`fuzz: server Transport byte streams (FUZZ_SEED=${SEED})`, () => {
  test('the captured streams replay up to the first encrypted packet, which the new keys refuse', () => {
    for (const s of capturedSessions) {
      const r = runServer([s.stream]);
      assert.equal(r.sentNewKeys, true);
      if (s.clearLength) assert.equal(r.closed?.error.code, 'MAC_ERROR', r.closed?.error.message);
      else {
        // An encrypted length decrypts to noise under the wrong keys: refused as a length, or
        // (if the noise happens to be in bounds) the packet fails its MAC once it is all there.
        assert.ok(r.closed, 'the replay is refused');
        assert.match(r.closed.error.message, /packet length|MAC|authentication/i);
      }
    }
  });

  test('pure garbage (with a line break) is refused at the identification and answered in text', () => {
    for (let i = 0; i < scaled(400); i++) {
      fuzzCase('garbage', i, (rng) => {
        const g = rng.bytes(rng.range(1, 600));
        if (g.subarray(0, 4).toString('latin1') === 'SSH-') g[0] = 0;
        g[rng.int(g.length)] = 0x0a;
        const r = runBothWays(rng, g);
        assert.ok(r.closed, 'garbage with a line break must close the connection');
        assert.equal(r.peerIdentified, false);
      });
    }
  });

  test('garbage after a valid identification never crashes and, when it closes, says why', () => {
    let closedCount = 0;
    const n = scaled(1500);
    for (let i = 0; i < n; i++) {
      fuzzCase('after-ident', i, (rng) => {
        const body = rng.chance(0.5)
          ? rng.bytes(rng.range(1, 2000))
          : // A plausible length field with a random body: gets past the framing checks more often.
            (() => {
              const len = rng.range(1, 64) * 8 + 4;
              const b = rng.bytes(4 + len);
              b.writeUInt32BE(len, 0);
              b[4] = rng.range(0, 20);
              return b;
            })();
        const r = runBothWays(rng, Buffer.concat([Buffer.from(CLIENT_IDENT + '\r\n'), body]));
        if (r.closed) closedCount++;
      });
    }
    assert.ok(closedCount > n * 0.6, `most garbage should be refused (${closedCount} of ${n})`);
  });

  test('mutated captured sessions: through the clear phase into NEWKEYS and the MAC checks', (t) => {
    const reached = { closed: 0, newKeys: 0, reasons: new Map<number, number>() };
    const n = scaled(1600);
    for (let i = 0; i < n; i++) {
      fuzzCase('mutated-capture', i, (rng) => {
        const base = captured[i % captured.length]!;
        // Mutations cluster in the clear prefix (identification, KEXINIT, ECDH_INIT) half of the time.
        const cut = rng.chance(0.5) ? Math.min(base.length, rng.range(24, 1400)) : base.length;
        const mutatedHead = mutate(rng, base.subarray(0, cut), captured[rng.int(captured.length)]);
        const stream = Buffer.concat([mutatedHead, base.subarray(cut)]);
        const r = runBothWays(rng, stream);
        if (r.closed) {
          reached.closed++;
          const code = r.closed.error.reason!;
          reached.reasons.set(code, (reached.reasons.get(code) ?? 0) + 1);
        }
        if (r.sentNewKeys) reached.newKeys++;
      });
    }
    t.diagnostic(
      `${n} cases: ${reached.newKeys} reached NEWKEYS, close reasons ${JSON.stringify([...reached.reasons])}`,
    );
    // Coverage sanity: the fuzzer must get both refused early and through the kex.
    assert.ok(reached.newKeys > n / 20, `only ${reached.newKeys} cases reached NEWKEYS`);
    assert.ok(
      reached.reasons.get(2)! > 0 && reached.reasons.get(5)! > 0,
      JSON.stringify([...reached.reasons]),
    );
  });

  test('KEXINIT name-lists and flags fuzzed: negotiation failures are KEY_EXCHANGE_FAILED or PROTOCOL_ERROR', () => {
    const names = [
      'curve25519-sha256',
      'ssh-ed25519',
      'aes128-gcm@openssh.com',
      'hmac-sha2-256',
      'none',
      'x',
    ];
    for (let i = 0; i < scaled(400); i++) {
      fuzzCase('kexinit-lists', i, (rng) => {
        const list = () => Array.from({ length: rng.int(4) }, () => rng.pick(names));
        const kexinit = encodeKexInit(
          rng.bytes(16),
          {
            kex: rng.chance(0.7) ? ['curve25519-sha256', ...list()] : list(),
            hostKey: rng.chance(0.7) ? ['ssh-ed25519'] : list(),
            cipherC2S: rng.chance(0.7) ? ['aes128-gcm@openssh.com'] : list(),
            cipherS2C: rng.chance(0.7) ? ['aes128-gcm@openssh.com'] : list(),
            macC2S: list(),
            macS2C: list(),
            compressionC2S: rng.chance(0.8) ? ['none'] : list(),
            compressionS2C: rng.chance(0.8) ? ['none'] : list(),
            languageC2S: list(),
            languageS2C: list(),
          },
          rng.chance(0.3),
        );
        const packet = framePlain(kexinit);
        const follow = rng.chance(0.5)
          ? framePlain(Buffer.concat([Buffer.from([30, 0, 0, 0, 32]), rng.bytes(32)]))
          : Buffer.alloc(0);
        const r = runBothWays(rng, Buffer.concat([Buffer.from(CLIENT_IDENT + '\r\n'), packet, follow]));
        if (r.closed && !r.closed.byPeer) {
          assert.ok(
            [2, 3].includes(r.closed.error.reason!),
            `reason ${r.closed.error.reason}: ${r.closed.error.message}`,
          );
        }
      });
    }
  });
});

/** A `none`-cipher packet around `payload`. */
function framePlain(payload: Buffer): Buffer {
  let padding = 8 - ((5 + payload.length) % 8);
  if (padding < 4) padding += 8;
  const b = Buffer.alloc(5 + payload.length + padding);
  b.writeUInt32BE(1 + payload.length + padding, 0);
  b[4] = padding;
  payload.copy(b, 5);
  return b;
}

// ---- payload-level fuzzing through an encrypted client into a server ConnectionCore ----------

interface CoreRun {
  authenticated: string[];
  opensBeforeAuth: number;
  channelsOpened: number;
  requests: number;
  closed: { error: SshError; byPeer: boolean } | undefined;
}

/** Lets promise callbacks (the auth decisions) run. */
const tick = () => new Promise<void>((r) => setImmediate(r));

async function runCore(payloads: Buffer[]): Promise<CoreRun> {
  const run: CoreRun = {
    authenticated: [],
    opensBeforeAuth: 0,
    channelsOpened: 0,
    requests: 0,
    closed: undefined,
  };
  const userBlob = fuzzUserKey().publicKey.blob;
  const core: ConnectionCore = new ConnectionCore(
    {
      transport: serverTransportConfig(),
      channelDefaults: { initialWindow: 1 << 20, maxPacket: 32768 },
      serverAuth: { methods: ['publickey', 'password'], publicKeyAlgorithms: ['ssh-ed25519'] },
    },
    {
      onOutput: () => {},
      wakeIn: () => {},
      outputFull: () => false,
      onAuthenticated: (user, method) => run.authenticated.push(`${method}:${user}`),
      onClose: (error, byPeer) => {
        assert.equal(run.closed, undefined, 'onClose called twice');
        run.closed = { error, byPeer };
      },
      onChannelOpen: (_open, accept) => {
        if (!core.isAuthenticated) run.opensBeforeAuth++;
        run.channelsOpened++;
        accept({
          onData: () => {},
          onEof: () => {},
          onRequest: () => {
            if (!core.isAuthenticated) run.opensBeforeAuth++;
            run.requests++;
          },
          onClose: () => {},
        });
      },
      onGlobalRequest: () => false,
      isAuthorizedKey: async (_user, key) => key.blob.equals(userBlob),
      checkPassword: async (_user, password) => password === 'right',
    },
  );
  const client = clientTransport({});
  client.start();
  core.start();
  const pump = async () => {
    for (let idle = 0, i = 0; idle < 3 && i < 500; i++) {
      const a = client.takeOutput();
      const b = core.takeOutput();
      if (a.length === 0 && b.length === 0) {
        idle++;
        await tick();
        continue;
      }
      idle = 0;
      for (const c of a) {
        try {
          core.receive(c);
        } catch (e) {
          assert.fail(`ConnectionCore.receive threw: ${String((e as Error)?.stack ?? e)}`);
        }
      }
      for (const c of b) client.receive(c);
    }
  };
  await pump();
  assert.ok(client.sessionId && !run.closed, 'the key exchange finished');
  for (const p of payloads) client.send(p);
  await pump();
  const closed = run.closed as CoreRun['closed'];
  if (closed) assertNotInternal(closed.error, closed.byPeer);
  return run;
}

/** Sequence-level mutations: drop, duplicate, swap, replace the type, mutate bytes, insert junk. */
function mutateSequence(rng: Rng, seq: Buffer[]): Buffer[] {
  const s = [...seq];
  const ops = rng.range(1, 3);
  for (let k = 0; k < ops; k++) {
    const i = rng.int(s.length);
    switch (rng.int(6)) {
      case 0:
        s.splice(i, 1);
        break;
      case 1:
        s.splice(i, 0, s[i]!);
        break;
      case 2: {
        const j = rng.int(s.length);
        [s[i], s[j]] = [s[j]!, s[i]!];
        break;
      }
      case 3: {
        const b = Buffer.from(s[i]!);
        b[0] = rng.chance(0.5) ? rng.range(1, 127) : rng.range(50, 100);
        s[i] = b;
        break;
      }
      case 4: {
        const m = mutate(rng, s[i]!, s[rng.int(s.length)]);
        s[i] = m.length > 0 ? m : Buffer.from([Msg.IGNORE, 0, 0, 0, 0]);
        break;
      }
      default: {
        const junk = rng.bytes(rng.range(1, 64));
        junk[0] = rng.range(1, 127);
        s.splice(i, 0, junk);
      }
    }
  }
  return s;
}

describe(`fuzz: decrypted hostile payloads into a server ConnectionCore (FUZZ_SEED=${SEED})`, () => {
  test('the unmutated session logs in with the password only and opens its channel after that', async () => {
    const r = await runCore(sessionPayloads());
    assert.deepEqual(r.authenticated, ['password:fuzz']);
    assert.equal(r.opensBeforeAuth, 0);
    assert.equal(r.channelsOpened, 1);
    assert.ok(r.requests >= 3);
  });

  test('mutated sessions never open a channel before authentication and never log in without the password', async (t) => {
    const base = sessionPayloads();
    const stats = { authenticated: 0, channels: 0, closed: 0 };
    const n = scaled(400);
    for (let i = 0; i < n; i++) {
      const seed = caseSeed(SEED ^ 0xc0c0, i);
      const rng = new Rng(seed);
      let r: CoreRun;
      try {
        r = await runCore(mutateSequence(rng, base));
        assert.equal(
          r.opensBeforeAuth,
          0,
          'a channel was opened or a request delivered before authentication',
        );
        for (const a of r.authenticated)
          assert.match(a, /^password:/, `authenticated without the password: ${a}`);
        assert.ok(r.authenticated.length <= 1, 'authenticated twice');
      } catch (e) {
        throw new Error(
          `core case ${i} failed (FUZZ_SEED=${SEED}, case seed ${seed}): ${(e as Error).message}`,
          {
            cause: e,
          },
        );
      }
      if (r.authenticated.length) stats.authenticated++;
      if (r.channelsOpened) stats.channels++;
      if (r.closed) stats.closed++;
    }
    t.diagnostic(`${n} cases: ${JSON.stringify(stats)}`);
    // Coverage sanity: many cases log in and open channels, many are refused.
    assert.ok(stats.channels > n / 10 && stats.closed > n / 10, JSON.stringify(stats));
  });
});
