/**
 * A bounded, seeded fuzzer for the decoders hostile bytes reach: the RFC 4251 reader, every
 * message decoder in src/wire, terminal modes, public key blobs and signatures, and the
 * authorized_keys / known_hosts parsers. A decoder may refuse its input only with an SshError
 * (PROTOCOL_ERROR with a reason for wire messages, BAD_KEY for keys); anything else thrown is a
 * bug. Valid encodings are the seeds; mutations of them reach the deep branches.
 *
 * Set FUZZ_SEED to replay another run; every failure names the seed and the case.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DisconnectReason, SshError } from '../../src/errors.js';
import { parseAuthorizedKeys } from '../../src/keys/authorized-keys.js';
import { parseKnownHosts } from '../../src/keys/known-hosts.js';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import {
  formatPublicKeyLine,
  parsePublicKeyBlob,
  publicKeyFromKeyObject,
} from '../../src/keys/public-key.js';
import { signData, verifySignature } from '../../src/keys/signature.js';
import type { PrivateKey, SignatureAlgorithm } from '../../src/keys/types.js';
import {
  decodeUserauthBanner,
  decodeUserauthFailure,
  decodeUserauthPkOk,
  decodeUserauthRequest,
  encodeUserauthBanner,
  encodeUserauthFailure,
  encodeUserauthNone,
  encodeUserauthPassword,
  encodeUserauthPkOk,
  encodeUserauthPublickey,
} from '../../src/wire/auth-messages.js';
import {
  decodeChannelOpen,
  decodeChannelOpenConfirmation,
  decodeChannelOpenFailure,
  decodeChannelRequest,
  decodeGlobalRequest,
  encodeChannelOpen,
  encodeChannelOpenConfirmation,
  encodeChannelOpenFailure,
  encodeChannelRequest,
  encodeGlobalRequest,
  type ChannelRequest,
} from '../../src/wire/connection-messages.js';
import { SshReader } from '../../src/wire/reader.js';
import { decodeTerminalModes, encodeTerminalModes } from '../../src/wire/terminal-modes.js';
import {
  decodeDebug,
  decodeDisconnect,
  decodeExtInfo,
  decodeKexEcdhInit,
  decodeKexEcdhReply,
  decodeKexInit,
  decodeServiceName,
  encodeDebug,
  encodeDisconnect,
  encodeExtInfo,
  encodeKexEcdhInit,
  encodeKexEcdhReply,
  encodeKexInit,
  encodeServiceRequest,
} from '../../src/wire/transport-messages.js';
import { SshWriter } from '../../src/wire/writer.js';
import { Rng, baseSeed, caseSeed, mutate, scaled } from './prng.js';

const SEED = baseSeed();

/** Runs `n` cases; a failure names the seed to replay it with. */
function cases(label: string, n: number, body: (rng: Rng, i: number) => void): void {
  for (let i = 0; i < n; i++) {
    const seed = caseSeed(SEED ^ hash(label), i);
    try {
      body(new Rng(seed), i);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(`${label}: case ${i} failed (FUZZ_SEED=${SEED}, case seed ${seed}): ${msg}`, {
        cause: e,
      });
    }
  }
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Calls `decode`; an exception must be an SshError of the expected kind. Returns whether it decoded. */
function expectDecodesOrSshError(decode: () => unknown, input: Buffer, kind: 'wire' | 'key'): boolean {
  try {
    decode();
    return true;
  } catch (e) {
    if (!(e instanceof SshError)) {
      assert.fail(
        `threw ${(e as Error)?.name ?? typeof e} instead of an SshError on ${input.toString('hex')}: ${String((e as Error)?.stack ?? e)}`,
      );
    }
    if (kind === 'wire') {
      assert.equal(e.code, 'PROTOCOL_ERROR', e.message);
      assert.equal(e.reason, DisconnectReason.PROTOCOL_ERROR, e.message);
    } else {
      assert.equal(e.code, 'BAD_KEY', e.message);
    }
    return false;
  }
}

const lists = {
  kex: ['curve25519-sha256', 'ext-info-c', 'kex-strict-c-v00@openssh.com'],
  hostKey: ['ssh-ed25519', 'rsa-sha2-512'],
  cipherC2S: ['aes128-gcm@openssh.com'],
  cipherS2C: ['chacha20-poly1305@openssh.com'],
  macC2S: ['hmac-sha2-256-etm@openssh.com'],
  macS2C: [],
  compressionC2S: ['none'],
  compressionS2C: ['none'],
  languageC2S: [],
  languageS2C: [''],
};

const channelRequests: ChannelRequest[] = [
  {
    type: 'pty-req',
    wantReply: true,
    terminal: 'xterm',
    cols: 80,
    rows: 24,
    width: 640,
    height: 480,
    modes: encodeTerminalModes([
      ['VINTR', 3],
      ['ECHO', 1],
    ]),
  },
  { type: 'env', wantReply: false, name: 'LANG', value: 'C.UTF-8' },
  { type: 'shell', wantReply: true },
  { type: 'exec', wantReply: true, command: 'uname -a' },
  { type: 'subsystem', wantReply: true, name: 'sftp' },
  { type: 'window-change', wantReply: false, cols: 1, rows: 2, width: 3, height: 4 },
  { type: 'xon-xoff', wantReply: false, clientCanDo: true },
  { type: 'signal', wantReply: false, signal: 'TERM' },
  { type: 'exit-status', wantReply: false, status: 42 },
  {
    type: 'exit-signal',
    wantReply: false,
    signal: 'KILL',
    coreDumped: true,
    errorMessage: 'killed',
    language: 'en',
  },
  { type: 'other', name: 'keepalive@openssh.com', wantReply: true, data: Buffer.from([1, 2, 3]) },
];

/** Every wire decoder with valid encodings of what it decodes. */
const decoders: { name: string; decode: (b: Buffer) => unknown; seeds: Buffer[] }[] = [
  {
    name: 'KEXINIT',
    decode: decodeKexInit,
    seeds: [encodeKexInit(Buffer.alloc(16, 7), lists), encodeKexInit(Buffer.alloc(16), lists, true)],
  },
  {
    name: 'DISCONNECT',
    decode: decodeDisconnect,
    seeds: [encodeDisconnect(2, 'bad packet'), encodeDisconnect(11, '')],
  },
  { name: 'DEBUG', decode: decodeDebug, seeds: [encodeDebug(true, 'hello'), encodeDebug(false, '')] },
  { name: 'SERVICE_REQUEST', decode: decodeServiceName, seeds: [encodeServiceRequest('ssh-userauth')] },
  {
    name: 'EXT_INFO',
    decode: decodeExtInfo,
    seeds: [
      encodeExtInfo(
        new Map([
          ['server-sig-algs', 'ssh-ed25519,rsa-sha2-256'],
          ['ping@openssh.com', '0'],
        ]),
      ),
    ],
  },
  { name: 'KEX_ECDH_INIT', decode: decodeKexEcdhInit, seeds: [encodeKexEcdhInit(Buffer.alloc(32, 9))] },
  {
    name: 'KEX_ECDH_REPLY',
    decode: decodeKexEcdhReply,
    seeds: [
      encodeKexEcdhReply({
        hostKey: Buffer.alloc(51, 1),
        serverPublic: Buffer.alloc(32, 2),
        signature: Buffer.alloc(83, 3),
      }),
    ],
  },
  {
    name: 'USERAUTH_REQUEST',
    decode: decodeUserauthRequest,
    seeds: [
      encodeUserauthNone('alice', 'ssh-connection'),
      encodeUserauthPassword('alice', 'ssh-connection', 'secret'),
      new SshWriter()
        .byte(50)
        .string('alice')
        .string('ssh-connection')
        .string('password')
        .boolean(true)
        .string('old')
        .string('new')
        .finish(),
      encodeUserauthPublickey('alice', 'ssh-connection', 'ssh-ed25519', Buffer.alloc(51, 4)),
      encodeUserauthPublickey(
        'alice',
        'ssh-connection',
        'ssh-ed25519',
        Buffer.alloc(51, 4),
        Buffer.alloc(83, 5),
      ),
      new SshWriter()
        .byte(50)
        .string('alice')
        .string('ssh-connection')
        .string('keyboard-interactive')
        .string('')
        .string('')
        .finish(),
      new SshWriter()
        .byte(50)
        .string('alice')
        .string('ssh-connection')
        .string('hostbased')
        .string('x')
        .finish(),
    ],
  },
  {
    name: 'USERAUTH_FAILURE',
    decode: decodeUserauthFailure,
    seeds: [encodeUserauthFailure(['publickey', 'password'], true)],
  },
  { name: 'USERAUTH_BANNER', decode: decodeUserauthBanner, seeds: [encodeUserauthBanner('Welcome\r\n')] },
  {
    name: 'USERAUTH_PK_OK',
    decode: decodeUserauthPkOk,
    seeds: [encodeUserauthPkOk('ssh-ed25519', Buffer.alloc(51, 6))],
  },
  {
    name: 'GLOBAL_REQUEST',
    decode: decodeGlobalRequest,
    seeds: [encodeGlobalRequest('tcpip-forward', true, Buffer.alloc(12, 1))],
  },
  {
    name: 'CHANNEL_OPEN',
    decode: decodeChannelOpen,
    seeds: [
      encodeChannelOpen({
        channelType: 'session',
        senderChannel: 1,
        initialWindow: 2097152,
        maxPacket: 32768,
        data: Buffer.alloc(0),
      }),
    ],
  },
  {
    name: 'CHANNEL_OPEN_CONFIRMATION',
    decode: decodeChannelOpenConfirmation,
    seeds: [
      encodeChannelOpenConfirmation({
        recipientChannel: 1,
        senderChannel: 2,
        initialWindow: 3,
        maxPacket: 4,
      }),
    ],
  },
  {
    name: 'CHANNEL_OPEN_FAILURE',
    decode: decodeChannelOpenFailure,
    seeds: [encodeChannelOpenFailure({ recipientChannel: 1, reason: 2, description: 'nope' })],
  },
  {
    name: 'CHANNEL_REQUEST',
    decode: decodeChannelRequest,
    seeds: channelRequests.map((r) => encodeChannelRequest(5, r)),
  },
];

describe(`fuzz: wire decoders (FUZZ_SEED=${SEED})`, () => {
  for (const d of decoders) {
    test(`${d.name}: valid seeds decode; mutations decode or throw PROTOCOL_ERROR`, () => {
      for (const s of d.seeds)
        assert.ok(
          expectDecodesOrSshError(() => d.decode(s), s, 'wire'),
          `seed of ${d.name}`,
        );
      const donor = Buffer.concat(decoders.flatMap((x) => x.seeds));
      cases(d.name, scaled(1500), (rng) => {
        const input = rng.chance(0.1) ? rng.bytes(rng.int(64)) : mutate(rng, rng.pick(d.seeds), donor);
        if (input.length === 0) return; // payloads are never empty (the deframer refuses them)
        expectDecodesOrSshError(() => d.decode(input), input, 'wire');
      });
    });
  }

  test('terminal modes never throw and never read past the end', () => {
    const seed = encodeTerminalModes([
      ['VINTR', 3],
      ['ECHO', 1],
      ['TTY_OP_ISPEED', 38400],
      [90, 1],
    ]);
    cases('terminal-modes', scaled(3000), (rng) => {
      const input = rng.chance(0.2) ? rng.bytes(rng.int(40)) : mutate(rng, seed);
      const modes = decodeTerminalModes(input);
      if (modes) assert.ok(modes.length * 5 <= input.length, 'more modes than the bytes can hold');
      else assert.ok(input.length > 256 * 5, 'refused only when it holds more than 256 modes');
    });
  });

  test('SshReader: random reads either return in bounds or throw PROTOCOL_ERROR, and never move past the end', () => {
    cases('reader', scaled(3000), (rng) => {
      const buf = rng.chance(0.5)
        ? rng.bytes(rng.int(48))
        : mutate(rng, new SshWriter().string('abc').uint32(7).nameList(['a', 'b']).mpint(255n).finish());
      const start = rng.int(buf.length + 1);
      const r = new SshReader(buf, start);
      for (let k = 0; k < 12; k++) {
        const before = r.position;
        try {
          switch (rng.int(9)) {
            case 0:
              r.byte();
              break;
            case 1:
              r.boolean();
              break;
            case 2:
              r.uint32();
              break;
            case 3:
              r.uint64();
              break;
            case 4:
              assert.ok(r.string().length <= buf.length - before);
              break;
            case 5:
              r.nameList();
              break;
            case 6:
              r.mpint();
              break;
            case 7:
              r.raw(rng.int(16));
              break;
            default:
              r.done('fuzz');
          }
        } catch (e) {
          assert.ok(e instanceof SshError && e.code === 'PROTOCOL_ERROR', String(e));
          assert.equal(r.position >= before, true);
        }
        assert.ok(r.position <= buf.length && r.remaining >= 0, 'read past the end');
      }
    });
  });
});

// ---- keys -----------------------------------------------------------------------------------

function keysForFuzzing(): { key: PrivateKey; algs: SignatureAlgorithm[] }[] {
  return [
    { key: generatePrivateKey('ed25519'), algs: ['ssh-ed25519'] },
    { key: generatePrivateKey('ecdsa', { curve: 'nistp256' }), algs: ['ecdsa-sha2-nistp256'] },
    { key: generatePrivateKey('ecdsa', { curve: 'nistp384' }), algs: ['ecdsa-sha2-nistp384'] },
    { key: generatePrivateKey('ecdsa', { curve: 'nistp521' }), algs: ['ecdsa-sha2-nistp521'] },
    { key: generatePrivateKey('rsa', { bits: 1024 }), algs: ['rsa-sha2-256', 'rsa-sha2-512', 'ssh-rsa'] },
  ];
}

describe(`fuzz: public key blobs and signatures (FUZZ_SEED=${SEED})`, () => {
  const keys = keysForFuzzing();
  const blobs = keys.map((k) => k.key.publicKey.blob);
  const donor = Buffer.concat(blobs);

  test('parsePublicKeyBlob: mutations parse to the same canonical blob or throw BAD_KEY', () => {
    cases('public-key-blob', scaled(2500), (rng) => {
      const input = mutate(rng, rng.pick(blobs), donor);
      let key;
      try {
        key = parsePublicKeyBlob(input);
      } catch (e) {
        assert.ok(e instanceof SshError && e.code === 'BAD_KEY', `threw ${String((e as Error)?.stack ?? e)}`);
        return;
      }
      // The parser accepts only canonical encodings: what it accepted is exactly what re-encoding gives.
      assert.ok(key.blob.equals(input), 'the parsed key does not keep the input blob');
      assert.ok(
        publicKeyFromKeyObject(key.keyObject).blob.equals(input),
        `accepted a non-canonical blob ${input.toString('hex')}`,
      );
    });
  });

  test('verifySignature: never throws; any single flipped bit in the signature or the data is refused', () => {
    const data = Buffer.from('exchange hash or session-id || USERAUTH_REQUEST');
    for (const { key, algs } of keys) {
      for (const alg of algs) {
        const sig = signData(key, alg, data);
        assert.equal(verifySignature(key.publicKey, alg, sig, data), true, `${alg} control`);
        cases(`flip-${alg}`, scaled(key.type === 'ssh-rsa' ? 120 : 250), (rng) => {
          const bad = Buffer.from(sig);
          const inData = rng.chance(0.2);
          const target = inData ? Buffer.from(data) : bad;
          const at = rng.int(target.length);
          target[at] = target[at]! ^ (1 << rng.int(8));
          const ok = verifySignature(key.publicKey, alg, inData ? sig : bad, inData ? target : data);
          assert.equal(
            ok,
            false,
            `${alg}: a flipped bit at ${at} of the ${inData ? 'data' : 'signature'} verified`,
          );
        });
      }
    }
  });

  test('verifySignature: mutated signature blobs, wrong algorithms and wrong keys give false, never an exception', () => {
    const data = Buffer.from('data');
    const own = keys.map(({ key, algs }) => algs.map((a) => signData(key, a, data)));
    const sigs = own.flat();
    const sigDonor = Buffer.concat(sigs);
    const allAlgs = keys.flatMap((k) => k.algs);
    cases('signature-blob', scaled(1000), (rng) => {
      const which = rng.int(keys.length);
      const k = keys[which]!;
      const alg = rng.chance(0.8) ? rng.pick(k.algs) : rng.pick(allAlgs);
      const input = rng.chance(0.7)
        ? mutate(rng, rng.pick(own[which]!), sigDonor)
        : mutate(rng, rng.pick(sigs), sigDonor);
      let r: unknown;
      try {
        r = verifySignature(k.key.publicKey, alg, input, data);
      } catch (e) {
        assert.fail(`verifySignature threw: ${String((e as Error)?.stack ?? e)}`);
      }
      assert.equal(typeof r, 'boolean');
    });
  });

  test('authorized_keys and known_hosts parsers skip garbage lines and never throw', () => {
    const lines = keys.map((k) => formatPublicKeyLine(k.key.publicKey, 'me@host'));
    const authorized = Buffer.from(
      [
        `command="echo hi",no-pty ${lines[0]}`,
        lines[1],
        '# comment',
        '',
        `from="10.0.0.0/8" ${lines[4]}`,
      ].join('\n'),
    );
    const known = Buffer.from(
      [
        `host1,[host2]:2222 ${lines[0]}`,
        `@cert-authority *.example ${lines[2]}`,
        `|1|c2FsdA==|aGFzaA== ${lines[3]}`,
      ].join('\n'),
    );
    assert.equal(parseAuthorizedKeys(authorized.toString()).length, 3);
    assert.equal(parseKnownHosts(known.toString()).length, 3);
    cases('key-files', scaled(400), (rng) => {
      const a = mutate(rng, authorized, known).toString('latin1');
      const k = mutate(rng, known, authorized).toString('latin1');
      for (const e of parseAuthorizedKeys(a)) assert.ok(e.key.blob.length > 0);
      for (const e of parseKnownHosts(k)) assert.ok(e.key.blob.length > 0);
    });
  });
});
