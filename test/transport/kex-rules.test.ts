import assert from 'node:assert/strict';
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import { parsePublicKeyBlob } from '../../src/keys/public-key.js';
import { verifySignature } from '../../src/keys/signature.js';
import {
  defaultAlgorithms,
  resolveAlgorithms,
  type AlgorithmsOption,
  type ModifyAlgorithmsOption,
} from '../../src/transport/algorithms.js';
import { loadPoly1305 } from '../../src/transport/cipher/chacha20-poly1305.js';
import { guessWasWrong, negotiate } from '../../src/transport/negotiate.js';
import { PacketDeframer, PacketFramer } from '../../src/transport/packet.js';
import { Transport, type TransportHandler } from '../../src/transport/transport.js';
import { Msg } from '../../src/wire/numbers.js';
import {
  decodeKexEcdhReply,
  decodeKexInit,
  encodeIgnore,
  encodeKexEcdhInit,
  encodeKexInit,
  type KexInit,
  type KexInitLists,
} from '../../src/wire/transport-messages.js';
import { SshWriter } from '../../src/wire/writer.js';
import { testHostKeys } from './pair.js';

before(async () => loadPoly1305());

interface Peer {
  transport: Transport;
  messages: Buffer[];
  kexDone: boolean[];
  extInfo: Map<string, Buffer>[];
  closed?: { error: SshError; byPeer: boolean };
}

function peer(
  role: 'client' | 'server',
  opts: {
    extInfo?: boolean;
    algorithms?: AlgorithmsOption;
    modify?: ModifyAlgorithmsOption;
    serverSigAlgs?: string[];
  } = {},
): Peer {
  const p = { messages: [], kexDone: [], extInfo: [] } as unknown as Peer;
  const handler: TransportHandler = {
    onMessage: (m) => p.messages.push(Buffer.from(m)),
    onKexDone: (first) => p.kexDone.push(first),
    onExtInfo: (ext) => p.extInfo.push(ext),
    onOutput: () => {},
    onClose: (error, byPeer) => (p.closed = { error, byPeer }),
  };
  if (role === 'client') {
    handler.verifyHostKey = () => p.transport.hostKeyVerdict(true);
  }
  p.transport = new Transport(
    {
      role,
      identification: `SSH-2.0-KexRules_${role}`,
      algorithms: resolveAlgorithms(opts.algorithms, opts.modify),
      hostKeys: role === 'server' ? testHostKeys() : undefined,
      extInfo: opts.extInfo ?? true,
      serverSigAlgs: opts.serverSigAlgs ?? ['ssh-ed25519', 'rsa-sha2-256'],
    },
    handler,
  );
  return p;
}

/** Read through a call, so that an earlier assertion does not narrow the type for later reads. */
function closedOf(p: Peer): Peer['closed'] {
  return p.closed;
}

function shuttle(a: Peer, b: Peer): void {
  for (let i = 0; i < 1000; i++) {
    const ao = a.transport.takeOutput();
    const bo = b.transport.takeOutput();
    if (ao.length === 0 && bo.length === 0) return;
    for (const c of ao) b.transport.receive(c);
    for (const c of bo) a.transport.receive(c);
  }
  throw new Error('shuttle did not settle');
}

/** The private packet counters of a transport (the sequence numbers are not public API). */
function seqs(t: Transport): { sent: number; received: number } {
  const inner = t as unknown as { framer: PacketFramer; deframer: PacketDeframer };
  return { sent: inner.framer.seq, received: inner.deframer.seq };
}

/** Splits a side's first output into its identification line and its unencrypted packet payloads. */
function plainPackets(output: Buffer[]): { ident: string; payloads: Buffer[] } {
  const all = Buffer.concat(output);
  const nl = all.indexOf(0x0a);
  const d = new PacketDeframer();
  d.push(all.subarray(nl + 1));
  const payloads: Buffer[] = [];
  for (let pieces = d.next(); pieces; pieces = d.next()) {
    const p = Buffer.concat(pieces);
    payloads.push(p);
    if (p[0] === Msg.NEWKEYS) break; // what follows is encrypted
  }
  return { ident: all.subarray(0, nl).toString('latin1').trimEnd(), payloads };
}

function clientLists(overrides: Partial<KexInitLists> = {}): KexInitLists {
  const a = defaultAlgorithms();
  return {
    // The hand-made clients here speak curve25519-sha256.
    kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'],
    hostKey: a.publicKey,
    cipherC2S: a.cipher.clientToServer,
    cipherS2C: a.cipher.serverToClient,
    macC2S: a.mac.clientToServer,
    macS2C: a.mac.serverToClient,
    compressionC2S: ['none'],
    compressionS2C: ['none'],
    languageC2S: [],
    languageS2C: [],
    ...overrides,
  };
}

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

describe('strict key exchange (OpenSSH PROTOCOL §1.10)', () => {
  test('both sides offer kex-strict in the first KEXINIT', () => {
    const c = peer('client');
    const s = peer('server');
    c.transport.start();
    s.transport.start();
    const ck = decodeKexInit(plainPackets(c.transport.takeOutput()).payloads[0]!);
    const sk = decodeKexInit(plainPackets(s.transport.takeOutput()).payloads[0]!);
    assert.ok(ck.kex.includes('kex-strict-c-v00@openssh.com'));
    assert.ok(sk.kex.includes('kex-strict-s-v00@openssh.com'));
  });

  test('a KEXINIT that is not the first packet ends the connection', () => {
    const c = peer('client');
    const s = peer('server');
    c.transport.start();
    s.transport.start();
    const { ident, payloads } = plainPackets(c.transport.takeOutput());
    const framer = new PacketFramer();
    s.transport.receive(Buffer.from(ident + '\r\n'));
    s.transport.receive(framer.frame(encodeIgnore(Buffer.from('first'))));
    assert.equal(closedOf(s), undefined, 'the IGNORE alone is fine until the KEXINIT shows strict mode');
    s.transport.receive(framer.frame(payloads[0]!));
    const closed = closedOf(s);
    assert.ok(closed);
    assert.equal(closed.error.code, 'PROTOCOL_ERROR');
    assert.match(closed.error.message, /strict key exchange violation: KEXINIT was not the first packet/);
    assert.equal(closed.byPeer, false);
    // The client learns why: the server's DISCONNECT follows its KEXINIT.
    for (const b of s.transport.takeOutput()) c.transport.receive(b);
    assert.equal(c.closed?.error.code, 'DISCONNECTED');
    assert.equal(c.closed?.error.reasonName, 'PROTOCOL_ERROR');
    assert.equal(c.closed?.byPeer, true);
  });

  test('without kex-strict from the client the same IGNORE is accepted', () => {
    const s = peer('server');
    s.transport.start();
    s.transport.takeOutput();
    const framer = new PacketFramer();
    s.transport.receive(Buffer.from('SSH-2.0-NotStrict\r\n'));
    s.transport.receive(framer.frame(encodeIgnore()));
    s.transport.receive(framer.frame(encodeKexInit(randomBytes(16), clientLists())));
    assert.equal(s.closed, undefined);
  });

  test('under strict kex even an IGNORE inside the initial key exchange ends it', () => {
    const c = peer('client');
    const s = peer('server');
    c.transport.start();
    s.transport.start();
    const { ident, payloads } = plainPackets(c.transport.takeOutput());
    const framer = new PacketFramer();
    s.transport.receive(Buffer.from(ident + '\r\n'));
    s.transport.receive(framer.frame(payloads[0]!)); // KEXINIT
    assert.equal(closedOf(s), undefined);
    s.transport.receive(framer.frame(encodeIgnore()));
    assert.equal(closedOf(s)?.error.code, 'PROTOCOL_ERROR');
    assert.match(closedOf(s)!.error.message, /unexpected message 2 during the initial key exchange/);
  });

  test('sequence numbers restart at 0 after each NEWKEYS, and the pair keeps working', () => {
    const c = peer('client', { algorithms: { cipher: ['chacha20-poly1305@openssh.com'] } });
    const s = peer('server');
    c.transport.start();
    s.transport.start();
    shuttle(c, s);
    assert.deepEqual(c.kexDone, [true]);
    // Client: KEXINIT, ECDH_INIT, NEWKEYS, then nothing. Server: KEXINIT, ECDH_REPLY, NEWKEYS, EXT_INFO.
    assert.deepEqual(seqs(c.transport), { sent: 0, received: 1 });
    assert.deepEqual(seqs(s.transport), { sent: 1, received: 0 });

    for (let i = 0; i < 5; i++) c.transport.send(Buffer.from([Msg.SERVICE_REQUEST, i]));
    shuttle(c, s);
    assert.equal(s.messages.length, 5);
    assert.deepEqual(seqs(c.transport), { sent: 5, received: 1 });

    c.transport.rekey();
    shuttle(c, s);
    assert.deepEqual(c.kexDone, [true, false]);
    assert.deepEqual(s.kexDone, [true, false]);
    // After the re-key's NEWKEYS both directions count from 0 again (no EXT_INFO this time).
    assert.deepEqual(seqs(c.transport), { sent: 0, received: 0 });
    assert.deepEqual(seqs(s.transport), { sent: 0, received: 0 });

    c.transport.send(Buffer.from([Msg.SERVICE_REQUEST, 99]));
    s.transport.send(Buffer.from([Msg.SERVICE_ACCEPT, 98]));
    shuttle(c, s);
    assert.deepEqual(s.messages.at(-1), Buffer.from([Msg.SERVICE_REQUEST, 99]));
    assert.deepEqual(c.messages.at(-1), Buffer.from([Msg.SERVICE_ACCEPT, 98]));
    assert.equal(c.closed, undefined);
    assert.equal(s.closed, undefined);
  });
});

describe('ext-info (RFC 8308)', () => {
  for (const [clientOn, serverOn] of [
    [true, true],
    [false, true],
    [true, false],
    [false, false],
  ] as const) {
    const expected = clientOn && serverOn;
    test(`client ext-info-c ${clientOn ? 'on' : 'off'}, server sendExtInfo ${serverOn ? 'on' : 'off'}: EXT_INFO ${expected ? 'sent' : 'not sent'}`, () => {
      const c = peer('client', { extInfo: clientOn });
      const s = peer('server', { extInfo: serverOn, serverSigAlgs: ['ssh-ed25519', 'ecdsa-sha2-nistp256'] });
      c.transport.start();
      s.transport.start();
      const cOut = c.transport.takeOutput();
      const sOut = s.transport.takeOutput();
      const ck = decodeKexInit(plainPackets(cOut).payloads[0]!);
      const sk = decodeKexInit(plainPackets(sOut).payloads[0]!);
      assert.equal(ck.kex.includes('ext-info-c'), clientOn);
      assert.equal(sk.kex.includes('ext-info-s'), serverOn);
      for (const b of cOut) s.transport.receive(b);
      for (const b of sOut) c.transport.receive(b);
      shuttle(c, s);
      assert.deepEqual(c.kexDone, [true]);
      if (expected) {
        assert.equal(c.extInfo.length, 1);
        assert.deepEqual([...c.extInfo[0]!.keys()], ['server-sig-algs']);
        assert.equal(c.extInfo[0]!.get('server-sig-algs')!.toString(), 'ssh-ed25519,ecdsa-sha2-nistp256');
      } else {
        assert.equal(c.extInfo.length, 0);
      }
      // Re-keying sends no second EXT_INFO, and the markers ride only in the first KEXINIT.
      c.transport.rekey();
      shuttle(c, s);
      assert.deepEqual(c.kexDone, [true, false]);
      assert.equal(c.extInfo.length, expected ? 1 : 0);
      assert.equal(s.extInfo.length, 0, 'the client never sends EXT_INFO');
    });
  }
});

describe('first_kex_packet_follows (RFC 4253 §7.1)', () => {
  /**
   * A hand-made client: KEXINIT with first_kex_packet_follows set, a "guessed" KEX_ECDH_INIT that
   * is malformed (so acting on it would fail the key exchange), then the real KEX_ECDH_INIT.
   */
  function run(lists: KexInitLists) {
    const s = peer('server', {
      extInfo: false,
      algorithms: { kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'] },
    });
    s.transport.start();
    const serverStart = s.transport.takeOutput();
    const ident = 'SSH-2.0-Guesser';
    const kexinit = encodeKexInit(randomBytes(16), lists, true);
    const { publicKey, privateKey } = generateKeyPairSync('x25519');
    const qc = publicKey.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length);
    const framer = new PacketFramer();
    s.transport.receive(
      Buffer.concat([
        Buffer.from(ident + '\r\n'),
        framer.frame(kexinit),
        framer.frame(encodeKexEcdhInit(Buffer.from('not a curve25519 point'))),
        framer.frame(encodeKexEcdhInit(qc)),
      ]),
    );
    const out = plainPackets([...serverStart, ...s.transport.takeOutput()]);
    return { s, ident, kexinit, qc, privateKey, out };
  }

  test('a wrong guess (client prefers another kex method): the guessed packet is ignored', () => {
    const lists = clientLists({ kex: ['curve25519-sha256@libssh.org', 'curve25519-sha256'] });
    const { s, ident, kexinit, qc, privateKey, out } = run(lists);
    assert.equal(s.closed, undefined, s.closed?.error.message);
    const types = out.payloads.map((p) => p[0]);
    assert.deepEqual(types, [Msg.KEXINIT, Msg.KEX_ECDH_REPLY, Msg.NEWKEYS]);
    // The reply answers the real KEX_ECDH_INIT: its signature verifies over the exchange hash
    // computed from our Q_C (RFC 8731 §3, RFC 4253 §8).
    const reply = decodeKexEcdhReply(out.payloads[1]!);
    const secret = diffieHellman({
      privateKey,
      publicKey: createPublicKey({
        key: Buffer.concat([X25519_SPKI_PREFIX, reply.serverPublic]),
        format: 'der',
        type: 'spki',
      }),
    });
    const k = new SshWriter().mpintFromUnsigned(secret).finish();
    const h = createHash('sha256')
      .update(
        new SshWriter()
          .string(ident)
          .string(out.ident)
          .string(kexinit)
          .string(out.payloads[0]!)
          .string(reply.hostKey)
          .string(qc)
          .string(reply.serverPublic)
          .raw(k)
          .finish(),
      )
      .digest();
    const n = negotiate(decodeKexInit(kexinit), decodeKexInit(out.payloads[0]!));
    assert.equal(n.kex, 'curve25519-sha256@libssh.org');
    const hostKey = parsePublicKeyBlob(reply.hostKey);
    assert.ok(verifySignature(hostKey, n.hostKey as 'ssh-ed25519', reply.signature, h));
  });

  test('a wrong guess of the host key algorithm also makes the guessed packet ignored', () => {
    const lists = clientLists({ hostKey: ['ecdsa-sha2-nistp256', 'ssh-ed25519'] });
    const { s, out } = run(lists);
    assert.equal(s.closed, undefined, s.closed?.error.message);
    assert.deepEqual(
      out.payloads.map((p) => p[0]),
      [Msg.KEXINIT, Msg.KEX_ECDH_REPLY, Msg.NEWKEYS],
    );
  });

  test('a right guess is acted on: here the malformed guess fails the key exchange', () => {
    const { s } = run(clientLists());
    assert.equal(s.closed?.error.code, 'KEY_EXCHANGE_FAILED');
    assert.match(s.closed!.error.message, /curve25519: peer public key is 22 bytes/);
  });
});

describe('algorithm negotiation (RFC 4253 §7.1)', () => {
  function kexinit(lists: Partial<KexInitLists>): KexInit {
    return decodeKexInit(encodeKexInit(Buffer.alloc(16), clientLists(lists)));
  }

  test("the client's preference wins wherever both lists agree", () => {
    const client = kexinit({
      kex: ['curve25519-sha256@libssh.org', 'curve25519-sha256'],
      hostKey: ['rsa-sha2-256', 'ssh-ed25519'],
      cipherC2S: ['aes256-ctr', 'aes128-gcm@openssh.com'],
      cipherS2C: ['aes128-gcm@openssh.com', 'aes256-ctr'],
      macC2S: ['hmac-sha2-512', 'hmac-sha2-256'],
    });
    const server = kexinit({
      kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'],
      hostKey: ['ssh-ed25519', 'rsa-sha2-256'],
      cipherC2S: ['aes128-gcm@openssh.com', 'aes256-ctr'],
      cipherS2C: ['aes256-ctr', 'aes128-gcm@openssh.com'],
      macC2S: ['hmac-sha2-256', 'hmac-sha2-512'],
    });
    const n = negotiate(client, server);
    assert.equal(n.kex, 'curve25519-sha256@libssh.org');
    assert.equal(n.hostKey, 'rsa-sha2-256');
    assert.equal(n.cipherC2S, 'aes256-ctr');
    assert.equal(n.cipherS2C, 'aes128-gcm@openssh.com');
    assert.equal(n.macC2S, 'hmac-sha2-512');
    assert.equal(n.macS2C, '', 'the AEAD direction has no MAC');
    assert.equal(n.compressionC2S, 'none');
    // Swapping the roles swaps the winner.
    const m = negotiate(server, client);
    assert.equal(m.kex, 'curve25519-sha256');
    assert.equal(m.hostKey, 'ssh-ed25519');
    assert.equal(m.cipherC2S, 'aes128-gcm@openssh.com');
  });

  test('an AEAD cipher needs no common MAC; a non-AEAD cipher does', () => {
    const client = kexinit({
      cipherC2S: ['chacha20-poly1305@openssh.com'],
      cipherS2C: ['aes128-ctr'],
      macC2S: ['hmac-sha2-256'],
      macS2C: ['hmac-sha2-256'],
    });
    const server = kexinit({
      cipherC2S: ['chacha20-poly1305@openssh.com'],
      cipherS2C: ['aes128-ctr'],
      macC2S: ['hmac-sha2-512'],
      macS2C: ['hmac-sha2-512'],
    });
    assert.throws(
      () => negotiate(client, server),
      (e: unknown) =>
        e instanceof SshError &&
        e.code === 'KEY_EXCHANGE_FAILED' &&
        /no common server-to-client MAC/.test(e.message),
    );
    const gcm = ['aes256-gcm@openssh.com'];
    const aeadClient = kexinit({ cipherC2S: gcm, cipherS2C: gcm, macC2S: [], macS2C: ['hmac-sha2-256'] });
    const aeadServer = kexinit({ cipherC2S: gcm, cipherS2C: gcm, macC2S: ['hmac-sha2-512'], macS2C: [] });
    const n = negotiate(aeadClient, aeadServer);
    assert.equal(n.cipherC2S, 'aes256-gcm@openssh.com');
    assert.equal(n.macC2S, '');
    assert.equal(n.macS2C, '');
  });

  test('RFC 5647 §5.1: AEAD_AES_*_GCM chosen as the cipher is also the MAC, and as the MAC also the cipher', () => {
    const rfc128 = 'AEAD_AES_128_GCM';
    const rfc256 = 'AEAD_AES_256_GCM';
    // The cipher is chosen first and brings its MAC along, whatever the MAC lists say.
    const byCipher = negotiate(
      kexinit({ cipherC2S: [rfc128], cipherS2C: [rfc256], macC2S: ['hmac-sha2-256'], macS2C: [] }),
      kexinit({ cipherC2S: [rfc128], cipherS2C: [rfc256], macC2S: ['hmac-sha2-512'], macS2C: [] }),
    );
    assert.deepEqual(
      [byCipher.cipherC2S, byCipher.macC2S, byCipher.cipherS2C, byCipher.macS2C],
      [rfc128, rfc128, rfc256, rfc256],
    );
    // A GCM cipher of the other size in the MAC lists does not change the cipher's choice.
    const sizes = negotiate(
      kexinit({ cipherC2S: [rfc256], macC2S: [rfc128] }),
      kexinit({ cipherC2S: [rfc256], macC2S: [rfc128] }),
    );
    assert.deepEqual([sizes.cipherC2S, sizes.macC2S], [rfc256, rfc256]);
    // The MAC lists agree on the RFC 5647 name while the cipher lists agree on aes128-ctr: both are GCM.
    const byMac = negotiate(
      kexinit({ cipherC2S: ['aes128-ctr'], macC2S: [rfc256, 'hmac-sha2-256'] }),
      kexinit({ cipherC2S: ['aes128-ctr'], macC2S: [rfc256, 'hmac-sha2-256'] }),
    );
    assert.deepEqual([byMac.cipherC2S, byMac.macC2S], [rfc256, rfc256]);
    // The client's MAC preference decides, as for any MAC: an HMAC first keeps aes128-ctr.
    const hmacFirst = negotiate(
      kexinit({ cipherC2S: ['aes128-ctr'], macC2S: ['hmac-sha2-256', rfc256] }),
      kexinit({ cipherC2S: ['aes128-ctr'], macC2S: [rfc256, 'hmac-sha2-256'] }),
    );
    assert.deepEqual([hmacFirst.cipherC2S, hmacFirst.macC2S], ['aes128-ctr', 'hmac-sha2-256']);
    // OpenSSH's names stay uncoupled: no MAC at all.
    const openssh = negotiate(
      kexinit({ cipherC2S: ['aes128-gcm@openssh.com'], macC2S: [rfc128] }),
      kexinit({ cipherC2S: ['aes128-gcm@openssh.com'], macC2S: [rfc128] }),
    );
    assert.deepEqual([openssh.cipherC2S, openssh.macC2S], ['aes128-gcm@openssh.com', '']);
  });

  for (const name of ['AEAD_AES_128_GCM', 'AEAD_AES_256_GCM']) {
    for (const via of ['cipher', 'mac'] as const) {
      test(`two transports agree on ${name} chosen as the ${via} and carry messages both ways`, () => {
        const algorithms: AlgorithmsOption =
          via === 'cipher' ? { cipher: [name] } : { cipher: ['aes128-ctr'], mac: [name, 'hmac-sha2-256'] };
        const c = peer('client', { algorithms });
        const s = peer('server', { algorithms });
        c.transport.start();
        s.transport.start();
        shuttle(c, s);
        assert.equal(c.closed, undefined);
        for (const p of [c, s]) {
          const n = p.transport.negotiated!;
          assert.deepEqual([n.cipherC2S, n.macC2S, n.cipherS2C, n.macS2C], [name, name, name, name]);
        }
        // A connection-layer message (CHANNEL_DATA's number) each way, through GCM and its tag.
        const big = Buffer.concat([Buffer.of(94), randomBytes(3000)]);
        const small = Buffer.concat([Buffer.of(94), randomBytes(7)]);
        const [cBefore, sBefore] = [c.messages.length, s.messages.length];
        c.transport.send(big);
        s.transport.send(small);
        shuttle(c, s);
        assert.equal(c.closed, undefined);
        assert.equal(s.closed, undefined);
        assert.ok(s.messages[sBefore]?.equals(big), 'the server got the client message intact');
        assert.ok(c.messages[cBefore]?.equals(small), 'the client got the server message intact');
      });
    }
  }

  test('pseudo-algorithms in the kex list are never chosen', () => {
    const client = kexinit({ kex: ['ext-info-c', 'kex-strict-c-v00@openssh.com', 'curve25519-sha256'] });
    const server = kexinit({ kex: ['ext-info-c', 'kex-strict-c-v00@openssh.com', 'curve25519-sha256'] });
    assert.equal(negotiate(client, server).kex, 'curve25519-sha256');
    const onlyPseudo = kexinit({ kex: ['ext-info-c'] });
    assert.throws(() => negotiate(onlyPseudo, onlyPseudo), /no common key exchange algorithm/);
  });

  test('no common algorithm in any list is KEY_EXCHANGE_FAILED naming the list', () => {
    const cases: [Partial<KexInitLists>, Partial<KexInitLists>, RegExp][] = [
      [{ hostKey: ['ssh-ed25519'] }, { hostKey: ['rsa-sha2-512'] }, /no common host key algorithm/],
      [{ cipherS2C: ['aes128-ctr'] }, { cipherS2C: ['aes256-ctr'] }, /no common server-to-client cipher/],
      [{ compressionC2S: ['zlib'] }, { compressionC2S: ['none'] }, /no common client-to-server compression/],
    ];
    for (const [c, s, re] of cases) {
      assert.throws(
        () => negotiate(kexinit(c), kexinit(s)),
        (e: unknown) => e instanceof SshError && e.code === 'KEY_EXCHANGE_FAILED' && re.test(e.message),
      );
    }
  });

  test('guessWasWrong compares the first real kex and host key algorithm of both sides', () => {
    const a = kexinit({ kex: ['ext-info-c', 'curve25519-sha256'], hostKey: ['ssh-ed25519'] });
    const b = kexinit({
      kex: ['curve25519-sha256', 'kex-strict-s-v00@openssh.com'],
      hostKey: ['ssh-ed25519', 'rsa-sha2-512'],
    });
    assert.equal(guessWasWrong(a, b, negotiate(a, b)), false);
    const c = kexinit({
      kex: ['curve25519-sha256@libssh.org', 'curve25519-sha256'],
      hostKey: ['ssh-ed25519'],
    });
    assert.equal(guessWasWrong(c, b, negotiate(c, b)), true);
    const d = kexinit({ kex: ['curve25519-sha256'], hostKey: ['rsa-sha2-512', 'ssh-ed25519'] });
    assert.equal(guessWasWrong(d, b, negotiate(d, b)), true);
  });

  test('two transports negotiate what the client prefers', () => {
    const c = peer('client', {
      algorithms: {
        cipher: ['aes256-gcm@openssh.com', 'aes128-ctr'],
        mac: ['hmac-sha2-512', 'hmac-sha2-256'],
      },
    });
    const s = peer('server', {
      algorithms: {
        cipher: ['aes128-ctr', 'aes256-gcm@openssh.com'],
        mac: ['hmac-sha2-256', 'hmac-sha2-512'],
      },
    });
    c.transport.start();
    s.transport.start();
    shuttle(c, s);
    assert.equal(c.transport.negotiated?.cipherC2S, 'aes256-gcm@openssh.com');
    assert.equal(s.transport.negotiated?.cipherS2C, 'aes256-gcm@openssh.com');
    assert.equal(s.transport.negotiated?.macC2S, '');
  });
});

describe('preferredAlgorithms / modifyAlgorithms (the seed)', () => {
  function badOption(fn: () => unknown, re: RegExp): void {
    assert.throws(fn, (e: unknown) => e instanceof SshError && e.code === 'BAD_OPTION' && re.test(e.message));
  }

  test('preferredAlgorithms replaces the lists it names; the others keep their defaults', () => {
    const d = defaultAlgorithms();
    const a = resolveAlgorithms({
      cipher: ['aes256-ctr', 'aes128-gcm@openssh.com'],
      publicKey: ['ssh-ed25519'],
    });
    assert.deepEqual(a.cipher.clientToServer, ['aes256-ctr', 'aes128-gcm@openssh.com']);
    assert.deepEqual(a.cipher.serverToClient, ['aes256-ctr', 'aes128-gcm@openssh.com']);
    assert.deepEqual(a.publicKey, ['ssh-ed25519']);
    assert.deepEqual(a.kex, d.kex);
    assert.deepEqual(a.mac, d.mac);
    assert.deepEqual(a.compression, d.compression);
  });

  test('preferredAlgorithms may set the two directions apart', () => {
    const d = defaultAlgorithms();
    const a = resolveAlgorithms({
      cipher: { clientToServer: ['aes128-ctr'] },
      mac: { serverToClient: ['hmac-sha2-512'] },
    });
    assert.deepEqual(a.cipher.clientToServer, ['aes128-ctr']);
    assert.deepEqual(a.cipher.serverToClient, d.cipher.serverToClient);
    assert.deepEqual(a.mac.clientToServer, d.mac.clientToServer);
    assert.deepEqual(a.mac.serverToClient, ['hmac-sha2-512']);
  });

  test('an unknown name in preferredAlgorithms is BAD_OPTION naming it', () => {
    badOption(() => resolveAlgorithms({ cipher: ['aes128-ctr', 'des-cbc'] }), /des-cbc/);
    badOption(() => resolveAlgorithms({ kex: ['diffie-hellman-group2-sha1'] }), /diffie-hellman-group2-sha1/);
    badOption(() => resolveAlgorithms({ mac: { clientToServer: ['hmac-md5'] } }), /hmac-md5/);
    badOption(() => resolveAlgorithms({ publicKey: ['ssh-xmss@openssh.com'] }), /ssh-xmss@openssh.com/);
  });

  test('an unknown category, a non-list or an empty result is BAD_OPTION', () => {
    badOption(() => resolveAlgorithms({ ciphers: ['aes128-ctr'] } as unknown as AlgorithmsOption), /ciphers/);
    badOption(() => resolveAlgorithms({ kex: 'curve25519-sha256' } as unknown as AlgorithmsOption), /kex/);
    badOption(() => resolveAlgorithms({ cipher: [] }), /no cipher algorithm is left/);
    badOption(() => resolveAlgorithms([] as unknown as AlgorithmsOption), /preferredAlgorithms/);
  });

  test('modifyAlgorithms silently ignores names it does not support', () => {
    const d = defaultAlgorithms();
    const a = resolveAlgorithms(undefined, [
      { append: { cipher: ['des-cbc'], kex: ['diffie-hellman-group2-sha1'] } },
      { prepend: { mac: ['hmac-md5'] } },
      { rm: { publicKey: ['ssh-xmss@openssh.com'] } },
    ]);
    assert.deepEqual(a, d);
  });

  test('append and prepend move a name that is already there', () => {
    const d = defaultAlgorithms();
    const first = d.cipher.clientToServer[0]!;
    const appended = resolveAlgorithms(undefined, [{ append: { cipher: [first] } }]);
    assert.deepEqual(appended.cipher.clientToServer, [...d.cipher.clientToServer.slice(1), first]);
    assert.deepEqual(appended.cipher.serverToClient, [...d.cipher.serverToClient.slice(1), first]);
    const last = d.publicKey.at(-1)!;
    const prepended = resolveAlgorithms(undefined, [{ prepend: { publicKey: [last] } }]);
    assert.deepEqual(prepended.publicKey, [last, ...d.publicKey.slice(0, -1)]);
    assert.equal(new Set(prepended.publicKey).size, prepended.publicKey.length, 'no duplicates');
  });

  test('modifications apply after preferredAlgorithms, in order', () => {
    const modify: ModifyAlgorithmsOption = [
      { append: { cipher: ['aes256-gcm@openssh.com', 'aes128-ctr'] } },
      { rm: { cipher: ['aes128-ctr'] } },
      { prepend: { kex: ['curve25519-sha256@libssh.org'] } },
    ];
    const a = resolveAlgorithms({ cipher: ['aes128-ctr', 'aes192-ctr'], kex: ['curve25519-sha256'] }, modify);
    assert.deepEqual(a.cipher.clientToServer, ['aes192-ctr', 'aes256-gcm@openssh.com']);
    assert.deepEqual(a.kex, ['curve25519-sha256@libssh.org', 'curve25519-sha256']);
  });

  test('rm of a whole list leaves nothing, which is BAD_OPTION', () => {
    badOption(
      () => resolveAlgorithms(undefined, [{ rm: { kex: defaultAlgorithms().kex } }]),
      /no kex algorithm is left/,
    );
    badOption(
      () => resolveAlgorithms(undefined, [{ change: {} }] as unknown as ModifyAlgorithmsOption),
      /modifyAlgorithms/,
    );
  });

  test('a prepended algorithm is what two transports then negotiate', () => {
    const c = peer('client', { modify: [{ prepend: { cipher: ['aes256-ctr'], mac: ['hmac-sha2-512'] } }] });
    const s = peer('server');
    c.transport.start();
    s.transport.start();
    shuttle(c, s);
    assert.equal(c.closed, undefined);
    assert.equal(c.transport.negotiated?.cipherC2S, 'aes256-ctr');
    assert.equal(c.transport.negotiated?.macC2S, 'hmac-sha2-512');
    assert.equal(s.transport.negotiated?.cipherS2C, 'aes256-ctr');
  });
});
