import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import sodium from 'libsodium-wrappers-sumo';
import { SshError } from '../../src/errors.js';
import { aes128Ctr, aes192Ctr, aes256Ctr } from '../../src/transport/cipher/aes-ctr.js';
import { aes128Gcm, aes256Gcm } from '../../src/transport/cipher/aes-gcm.js';
import { chacha20Poly1305, loadPoly1305 } from '../../src/transport/cipher/chacha20-poly1305.js';
import type { CipherSpec, PacketOpener, PacketSealer } from '../../src/transport/cipher/types.js';
import { deriveKey } from '../../src/transport/derive.js';
import {
  hmacSha256,
  hmacSha256Etm,
  hmacSha512,
  hmacSha512Etm,
  type MacSpec,
} from '../../src/transport/mac.js';
import {
  MAX_PACKET_LENGTH,
  PacketDeframer,
  PacketFramer,
  packetPlaintext,
} from '../../src/transport/packet.js';
import { SshWriter } from '../../src/wire/writer.js';

before(async () => {
  await loadPoly1305();
  await sodium.ready;
});

/** A cipher configuration: one key set, from which fresh sealers and openers are built. */
interface Suite {
  name: string;
  blockSize: number;
  /** True when the length field is excluded from the padding alignment (AEAD and -etm). */
  lengthExcluded: boolean;
  macLength: number;
  sealer(): PacketSealer;
  opener(): PacketOpener;
}

function suite(spec: CipherSpec, mac?: MacSpec): Suite {
  const key = randomBytes(spec.keyLength);
  const iv = randomBytes(spec.ivLength);
  const macKey = mac ? { spec: mac, key: randomBytes(mac.keyLength) } : undefined;
  const probe = spec.sealer(key, iv, macKey);
  return {
    name: mac ? `${spec.name} + ${mac.name}` : spec.name,
    blockSize: probe.blockSize,
    lengthExcluded: probe.lengthIsAad,
    macLength: probe.macLength,
    sealer: () => spec.sealer(key, iv, macKey),
    opener: () => spec.opener(key, iv, macKey),
  };
}

/** Every cipher, and every aes-ctr with every MAC. Built lazily: chacha20 needs Poly1305 loaded. */
function suites(): Suite[] {
  const out = [suite(aes128Gcm), suite(aes256Gcm), suite(chacha20Poly1305)];
  for (const ctr of [aes128Ctr, aes192Ctr, aes256Ctr]) {
    for (const mac of [hmacSha256, hmacSha512, hmacSha256Etm, hmacSha512Etm]) out.push(suite(ctr, mac));
  }
  return out;
}

const SUITE_NAMES = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  ...['aes128-ctr', 'aes192-ctr', 'aes256-ctr'].flatMap((c) =>
    ['hmac-sha2-256', 'hmac-sha2-512', 'hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com'].map(
      (m) => `${c} + ${m}`,
    ),
  ),
];

function isCode(code: string) {
  return (e: unknown) => e instanceof SshError && e.code === code;
}

/** The deframer yields a payload in pieces (as it lay in the chunks); the tests compare it whole. */
function payloadOf(pieces: Buffer[]): Buffer {
  return Buffer.concat(pieces);
}

/** Seals a whole plaintext packet (`length || padding_length || payload || padding` + MAC room) in place. */
function sealWhole(sealer: PacketSealer, packet: Buffer, seq: number): void {
  const payloadLength = packet.readUInt32BE(0) - packet[4]! - 1;
  const split = 5 + payloadLength;
  sealer.seal(packet.subarray(0, split), Buffer.alloc(0), packet.subarray(split), seq);
}

/** Opens a whole sealed packet; returns `padding_length || payload || padding`. */
function openWhole(opener: PacketOpener, wire: Buffer, seq: number): Buffer {
  const macStart = wire.length - opener.macLength;
  return Buffer.concat(
    opener.open(wire.subarray(0, 4), [wire.subarray(4, macStart)], wire.subarray(macStart), seq),
  );
}

function payloadOfLength(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  if (n > 0) b[0] = 94; // looks like CHANNEL_DATA; any non-empty payload will do
  return b;
}

/** Frames `payloads` with `framer` and returns the wire bytes, packet by packet. */
function frameAll(framer: PacketFramer, payloads: Buffer[]): Buffer[] {
  return payloads.map((p) => Buffer.from(framer.frame(p)));
}

/** Pushes `wire` in chunks of the given sizes (cycled) and collects every payload the deframer yields. */
function deframeInChunks(deframer: PacketDeframer, wire: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  let i = 0;
  while (off < wire.length) {
    const n = Math.min(sizes[i++ % sizes.length]!, wire.length - off);
    deframer.push(wire.subarray(off, off + n));
    off += n;
    for (let body = deframer.next(); body; body = deframer.next()) out.push(Buffer.from(payloadOf(body)));
  }
  return out;
}

describe('PacketFramer: padding (RFC 4253 §6)', () => {
  test('the none cipher pads to 8 bytes counting the length field, with 4 to 11 bytes of padding', () => {
    const framer = new PacketFramer();
    for (let n = 1; n <= 64; n++) {
      const wire = framer.frame(payloadOfLength(n));
      const packetLength = wire.readUInt32BE(0);
      const padding = wire[4]!;
      assert.equal(wire.length, 4 + packetLength, 'no MAC under none');
      assert.equal(packetLength, 1 + n + padding);
      assert.equal((4 + packetLength) % 8, 0, `payload ${n}: total length is a multiple of 8`);
      assert.ok(padding >= 4 && padding < 4 + 8, `payload ${n}: padding ${padding}`);
      assert.deepEqual(wire.subarray(5, 5 + n), payloadOfLength(n));
    }
  });

  test('every cipher aligns its packets as its mode requires, with at least 4 bytes of padding', () => {
    for (const s of suites()) {
      const framer = new PacketFramer();
      framer.setSealer(s.sealer());
      for (let n = 1; n <= 80; n++) {
        const p = framer.open(n);
        const packetLength = p.buf.readUInt32BE(0);
        const padding = p.buf[4]!;
        assert.equal(p.payloadOffset, 5);
        assert.equal(p.buf.length, 4 + packetLength + s.macLength, s.name);
        assert.equal(packetLength, 1 + n + padding, s.name);
        // AEAD and -etm: the length field is not encrypted with the body, so it is not aligned with it.
        const aligned = s.lengthExcluded ? packetLength : 4 + packetLength;
        assert.equal(aligned % s.blockSize, 0, `${s.name}, payload ${n}`);
        assert.ok(padding >= 4 && padding < 4 + s.blockSize, `${s.name}, payload ${n}: padding ${padding}`);
      }
    }
  });

  test('the block sizes and MAC lengths are those of each algorithm', () => {
    const got = Object.fromEntries(
      suites().map((s) => [s.name, [s.blockSize, s.lengthExcluded, s.macLength]]),
    );
    assert.deepEqual(got['aes128-gcm@openssh.com'], [16, true, 16]);
    assert.deepEqual(got['chacha20-poly1305@openssh.com'], [8, true, 16]);
    assert.deepEqual(got['aes256-ctr + hmac-sha2-256'], [16, false, 32]);
    assert.deepEqual(got['aes128-ctr + hmac-sha2-512-etm@openssh.com'], [16, true, 64]);
  });

  test('padding is random: it differs between packets of the same payload', () => {
    const framer = new PacketFramer();
    const paddings = new Set<string>();
    let allZero = true;
    for (let i = 0; i < 32; i++) {
      const wire = framer.frame(payloadOfLength(10));
      const pad = wire.subarray(5 + 10);
      assert.equal(pad.length, wire[4]);
      paddings.add(pad.toString('hex'));
      if (pad.some((b) => b !== 0)) allZero = false;
    }
    assert.equal(allZero, false);
    assert.ok(paddings.size > 16, `only ${paddings.size} distinct paddings in 32 packets`);
  });
});

describe('PacketDeframer: reassembly across arbitrary chunks', () => {
  const sizes = [1, 17, 5, 300, 4096, 3];
  const payloads = [1, 2, 15, 16, 17, 255, 256, 1000, 32768, 4, 100_000, 9].map((n, i) =>
    payloadOfLength(n, i),
  );

  test('the none cipher: 1-byte chunks, mixed chunks and everything in one chunk', () => {
    const wire = Buffer.concat(frameAll(new PacketFramer(), payloads));
    for (const chunking of [[1], sizes, [wire.length]]) {
      const got = deframeInChunks(new PacketDeframer(), wire, chunking);
      assert.equal(got.length, payloads.length, `chunks of ${chunking.join('/')}`);
      got.forEach((p, i) => assert.deepEqual(p, payloads[i]));
    }
  });

  for (const name of SUITE_NAMES) {
    test(`${name}: packets survive 1-byte chunks, odd chunks and one big chunk`, () => {
      const s = suites().find((x) => x.name === name)!;
      // 1-byte chunks over the small packets only, to keep the test quick; larger chunks over all.
      const small = payloads.filter((p) => p.length < 2000);
      for (const [list, chunking] of [
        [small, [1]],
        [payloads, sizes],
        [payloads, [Infinity]],
      ] as const) {
        const f = new PacketFramer();
        f.setSealer(s.sealer());
        const wire = Buffer.concat(frameAll(f, [...list]));
        const deframer = new PacketDeframer();
        deframer.setOpener(s.opener());
        const got = deframeInChunks(deframer, wire, [...chunking]);
        assert.equal(got.length, list.length);
        got.forEach((p, i) => assert.deepEqual(p, list[i], `packet ${i}`));
        assert.equal(deframer.seq, list.length);
        assert.equal(deframer.bufferedBytes, 0);
      }
    });
  }

  test('a packet spanning many chunks is returned only when its last byte arrives', () => {
    const payload = payloadOfLength(50_000);
    const wire = new PacketFramer().frame(payload);
    const deframer = new PacketDeframer();
    for (let off = 0; off < wire.length - 1000; off += 1000) {
      deframer.push(wire.subarray(off, off + 1000));
      assert.equal(deframer.next(), undefined);
    }
    const lastStart = Math.floor((wire.length - 1) / 1000) * 1000;
    deframer.push(wire.subarray(lastStart, wire.length - 1));
    assert.equal(deframer.next(), undefined);
    deframer.push(wire.subarray(wire.length - 1));
    const body = deframer.next();
    assert.ok(body);
    assert.deepEqual(payloadOf(body), payload);
    assert.equal(deframer.next(), undefined);
  });

  test('a packet of the maximum size arriving one byte per chunk is reassembled', () => {
    // Each byte is its own chunk, as when a peer dribbles 1-byte TCP segments: reassembly must stay
    // linear in the number of chunks (it once shifted the chunk list once per chunk).
    const payload = payloadOfLength(MAX_PACKET_LENGTH - 300, 5);
    const wire = new PacketFramer().frame(payload);
    const d = new PacketDeframer();
    for (let i = 0; i < wire.length - 1; i++) d.push(wire.subarray(i, i + 1));
    assert.equal(d.next(), undefined);
    d.push(wire.subarray(wire.length - 1));
    assert.deepEqual(payloadOf(d.next()!), payload);
    assert.equal(d.bufferedBytes, 0);
  });

  test('the framer counts the bytes it sent and the deframer those it received', () => {
    const framer = new PacketFramer();
    const wire = frameAll(framer, payloads.slice(0, 4));
    const total = wire.reduce((a, b) => a + b.length, 0);
    assert.equal(framer.bytesSinceKeys, total);
    const deframer = new PacketDeframer();
    deframeInChunks(deframer, Buffer.concat(wire), [7]);
    assert.equal(deframer.bytesSinceKeys, total);
    framer.setSealer(suites()[0]!.sealer());
    assert.equal(framer.bytesSinceKeys, 0, 'new keys restart the count');
  });
});

describe('PacketDeframer: releasing received chunks', () => {
  const payloads = [100, 32768, 5, 70_000, 1000, 40_000].map((n, i) => payloadOfLength(n, i));

  /** Copies of `wire` in chunks of `size` bytes, each with an ArrayBuffer of its own. */
  function chunksOf(wire: Buffer, size: number): Buffer[] {
    const out: Buffer[] = [];
    for (let off = 0; off < wire.length; off += size) out.push(Buffer.from(wire.subarray(off, off + size)));
    return out;
  }

  for (const name of [
    'aes128-gcm@openssh.com',
    'chacha20-poly1305@openssh.com',
    'aes128-ctr + hmac-sha2-256',
  ]) {
    test(`${name}: a chunk is released once all its bytes are opened, and each only once`, () => {
      const s = suites().find((x) => x.name === name)!;
      const f = new PacketFramer();
      f.setSealer(s.sealer());
      const wire = Buffer.concat(frameAll(f, payloads));
      const chunks = chunksOf(wire, 9000);
      const d = new PacketDeframer();
      d.setOpener(s.opener());
      const released: Buffer[] = [];
      let pushedUpTo = 0; // chunks pushed so far
      let pushedBytes = 0;
      d.release = (done) => {
        // Called as a packet is opened: everything no longer buffered has been opened.
        const opened = pushedBytes - d.bufferedBytes;
        for (const c of done) {
          const at = chunks.indexOf(c);
          assert.ok(at >= 0 && at < pushedUpTo, 'a chunk that was pushed');
          const end = chunks.slice(0, at + 1).reduce((a, b) => a + b.length, 0);
          assert.ok(end <= opened, `chunk ${at} ends at ${end}, after what was opened (${opened})`);
          released.push(c);
          c.fill(0); // as if its memory were reused at once
        }
      };
      const got: Buffer[] = [];
      for (const c of chunks) {
        d.push(c);
        pushedUpTo++;
        pushedBytes += c.length;
        for (let body = d.next(); body; body = d.next()) got.push(Buffer.from(payloadOf(body)));
      }
      got.forEach((p, i) => assert.deepEqual(p, payloads[i], `packet ${i}`));
      assert.equal(got.length, payloads.length);
      assert.equal(new Set(released).size, released.length, 'no chunk twice');
      assert.deepEqual(released, chunks, 'every chunk, in order, once the last packet is opened');
    });
  }

  test("the plaintext of large packets is noted as the opener's own, under a cipher that copies only", () => {
    const s = suites().find((x) => x.name === 'aes128-gcm@openssh.com')!;
    const sizes = [100, 40_000];
    for (const cipher of [s, undefined]) {
      const f = new PacketFramer();
      if (cipher) f.setSealer(cipher.sealer());
      const d = new PacketDeframer();
      if (cipher) d.setOpener(cipher.opener());
      const wire = Buffer.concat(
        frameAll(
          f,
          sizes.map((n) => payloadOfLength(n)),
        ),
      );
      d.push(Buffer.from(wire));
      const small = d.next()!;
      const large = d.next()!;
      assert.equal(large.length, 1);
      assert.equal(packetPlaintext.has(large[0]!.buffer), cipher !== undefined, cipher ? 'gcm' : 'none');
      assert.equal(packetPlaintext.has(small[0]!.buffer), false, 'a small packet is not noted');
    }
  });

  test('the none cipher hands on views of the chunks: nothing is released', () => {
    const wire = Buffer.concat(frameAll(new PacketFramer(), payloads));
    const d = new PacketDeframer();
    let calls = 0;
    d.release = () => calls++;
    const got: Buffer[] = [];
    for (const c of chunksOf(wire, 9000)) {
      d.push(c);
      for (let body = d.next(); body; body = d.next()) got.push(payloadOf(body));
    }
    assert.equal(got.length, payloads.length);
    assert.equal(calls, 0);
  });

  test('chunks that arrived before the keys changed are never released', () => {
    // The chunk holding the last packet under `none` (its payload is a view of the chunk) also
    // holds the start of the first encrypted one, which is opened after NEWKEYS.
    const s = suites().find((x) => x.name === 'aes128-gcm@openssh.com')!;
    const plain = new PacketFramer().frame(payloadOfLength(300, 1));
    const f = new PacketFramer();
    f.setSealer(s.sealer());
    f.seq = 1;
    const sealed = f.frame(payloadOfLength(40_000, 2));
    const first = Buffer.concat([plain, sealed.subarray(0, 1000)]);
    const second = Buffer.from(sealed.subarray(1000, 30_000));
    const third = Buffer.from(sealed.subarray(30_000));
    const d = new PacketDeframer();
    const released: Buffer[] = [];
    d.release = (done) => released.push(...done);
    d.push(first);
    const view = d.next()!;
    assert.deepEqual(payloadOf(view), payloadOfLength(300, 1));
    d.setOpener(s.opener());
    d.push(second);
    assert.equal(d.next(), undefined);
    d.push(third);
    assert.deepEqual(payloadOf(d.next()!), payloadOfLength(40_000, 2));
    assert.deepEqual(released, [second, third]);
    assert.deepEqual(payloadOf(view), payloadOfLength(300, 1), 'the view under none is intact');
  });
});

describe('PacketDeframer: bounds', () => {
  function header(len: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(len, 0);
    return b;
  }

  test('a length above 256 KiB is refused as soon as the length field is in', () => {
    for (const len of [MAX_PACKET_LENGTH + 4, 0x7ffffffc, 0xfffffffc]) {
      const d = new PacketDeframer();
      d.push(header(len));
      assert.throws(
        () => d.next(),
        (e: unknown) => {
          assert.ok(isCode('PROTOCOL_ERROR')(e));
          assert.match((e as Error).message, /exceeds the limit of 262144/);
          return true;
        },
      );
    }
  });

  test('the refusal comes before any buffer of that size is allocated', () => {
    const sizes: number[] = [];
    const original = Buffer.allocUnsafe;
    const spy = ((n: number) => {
      sizes.push(n);
      return original(n);
    }) as typeof Buffer.allocUnsafe;
    const d = new PacketDeframer();
    Buffer.allocUnsafe = spy;
    try {
      d.push(Buffer.from([0x00, 0x10])); // the length field split over two chunks
      d.push(Buffer.from([0x00, 0x04]));
      d.push(Buffer.alloc(1000));
      assert.throws(() => d.next(), isCode('PROTOCOL_ERROR'));
    } finally {
      Buffer.allocUnsafe = original;
    }
    assert.ok(
      sizes.every((n) => n < 64 * 1024),
      `allocations: ${sizes.join(', ')}`,
    );
  });

  test('a length just inside the limit is waited for, not refused', () => {
    const d = new PacketDeframer();
    d.push(header(MAX_PACKET_LENGTH - 4)); // 4 + len is a multiple of 8
    assert.equal(d.next(), undefined);
  });

  test('a length that is not a whole number of blocks, or too short, is refused', () => {
    for (const len of [5, 13, 101, 0, 1, 4]) {
      const d = new PacketDeframer();
      d.push(header(len));
      d.push(Buffer.alloc(len + 8));
      assert.throws(() => d.next(), isCode('PROTOCOL_ERROR'), `length ${len}`);
    }
  });

  test('padding shorter than 4 bytes, or as long as the packet, is refused', () => {
    // packet_length 12: padding_length byte + 11 bytes.
    const make = (padding: number) =>
      Buffer.concat([header(12), Buffer.from([padding]), Buffer.alloc(11, 0x5e)]);
    for (const padding of [0, 3, 11, 200]) {
      const d = new PacketDeframer();
      d.push(make(padding));
      assert.throws(
        () => d.next(),
        (e: unknown) => {
          assert.ok(isCode('PROTOCOL_ERROR')(e));
          assert.match((e as Error).message, /bad padding length/);
          return true;
        },
      );
    }
    const ok = new PacketDeframer();
    ok.push(make(4));
    assert.deepEqual(payloadOf(ok.next()!), Buffer.alloc(7, 0x5e));
  });
});

describe('sequence numbers (RFC 4253 §6.4)', () => {
  test('wrap to 0 after 2^32 - 1 on both sides', () => {
    const framer = new PacketFramer();
    const deframer = new PacketDeframer();
    framer.seq = 0xffffffff;
    deframer.seq = 0xffffffff;
    const wire = Buffer.concat(frameAll(framer, [payloadOfLength(3), payloadOfLength(4)]));
    assert.equal(framer.seq, 1);
    deframeInChunks(deframer, wire, [wire.length]);
    assert.equal(deframer.seq, 1);
  });

  for (const name of [
    'chacha20-poly1305@openssh.com',
    'aes128-ctr + hmac-sha2-256',
    'aes256-ctr + hmac-sha2-512-etm@openssh.com',
  ]) {
    test(`${name}: packets sealed across the wrap open when both sides wrap, and not when they disagree`, () => {
      const s = suites().find((x) => x.name === name)!;
      const framer = new PacketFramer();
      framer.setSealer(s.sealer());
      framer.seq = 0xfffffffe;
      const payloads = [payloadOfLength(20, 1), payloadOfLength(30, 2), payloadOfLength(40, 3)];
      const wire = Buffer.concat(frameAll(framer, payloads));
      assert.equal(framer.seq, 1);

      const deframer = new PacketDeframer();
      deframer.setOpener(s.opener());
      deframer.seq = 0xfffffffe;
      const got = deframeInChunks(deframer, wire, [wire.length]);
      assert.deepEqual(got, payloads);
      assert.equal(deframer.seq, 1);

      // The MAC covers the sequence number: a receiver that did not wrap cannot open the packet.
      const wrong = new PacketDeframer();
      wrong.setOpener(s.opener());
      wrong.seq = 0xfffffffd;
      wrong.push(wire);
      wrong.push(Buffer.alloc(MAX_PACKET_LENGTH + 64));
      // chacha20 also encrypts the length under the sequence number: it may decrypt to a bad length.
      const codes = name.startsWith('chacha') ? ['MAC_ERROR', 'PROTOCOL_ERROR'] : ['MAC_ERROR'];
      assert.throws(
        () => wrong.next(),
        (e: unknown) => e instanceof SshError && codes.includes(e.code),
      );
    });
  }
});

describe('each cipher: seal/open and tamper detection', () => {
  for (const name of SUITE_NAMES) {
    test(`${name}: a flipped bit anywhere after the length is a MAC_ERROR`, () => {
      const s = suites().find((x) => x.name === name)!;
      const framer = new PacketFramer();
      framer.setSealer(s.sealer());
      framer.seq = 77;
      const payload = payloadOfLength(100);
      const wire = Buffer.from(framer.frame(payload));

      const clean = new PacketDeframer();
      clean.setOpener(s.opener());
      clean.seq = 77;
      clean.push(wire);
      assert.deepEqual(payloadOf(clean.next()!), payload);
      // The ciphertext does not contain the plaintext.
      assert.equal(wire.indexOf(payload.subarray(1, 40)), -1);

      const macStart = wire.length - s.macLength;
      for (const pos of [4, 5, 20, macStart - 1, macStart, wire.length - 1]) {
        for (const bit of [0x01, 0x80]) {
          const bad = Buffer.from(wire);
          bad[pos]! ^= bit;
          const d = new PacketDeframer();
          d.setOpener(s.opener());
          d.seq = 77;
          d.push(bad);
          assert.throws(
            () => d.next(),
            (e: unknown) => {
              assert.ok(isCode('MAC_ERROR')(e), `byte ${pos} bit ${bit}: ${String(e)}`);
              assert.equal((e as SshError).reason, 5, 'SSH_DISCONNECT_MAC_ERROR');
              return true;
            },
          );
        }
      }
    });

    test(`${name}: a length changed by one block is caught by the integrity check`, () => {
      const s = suites().find((x) => x.name === name)!;
      const framer = new PacketFramer();
      framer.setSealer(s.sealer());
      const wire = Buffer.from(framer.frame(payloadOfLength(100)));
      // Flipping the bit worth one block keeps the length aligned, so only the MAC can catch it.
      const bad = Buffer.from(wire);
      bad[3]! ^= s.blockSize;
      const d = new PacketDeframer();
      d.setOpener(s.opener());
      d.push(Buffer.concat([bad, Buffer.alloc(64)]));
      assert.throws(() => d.next(), isCode('MAC_ERROR'));
    });
  }
});

describe('chacha20-poly1305@openssh.com known answers (PROTOCOL.chacha20poly1305)', () => {
  /**
   * The construction computed independently with libsodium: K_2 is the first 32 bytes of the key,
   * K_1 the second; the nonce is the sequence number as a big-endian uint64; K_1 at counter 0
   * encrypts the length; K_2 at counter 0 gives the Poly1305 key, at counter 1 encrypts the rest;
   * the tag covers the encrypted length and the encrypted rest.
   */
  function reference(key: Buffer, seq: number, plain: Buffer): Buffer {
    const k2 = key.subarray(0, 32);
    const k1 = key.subarray(32, 64);
    const nonce = Buffer.alloc(8);
    nonce.writeUInt32BE(seq, 4);
    const encLength = sodium.crypto_stream_chacha20_xor_ic(plain.subarray(0, 4), nonce, 0, k1);
    const polyKey = sodium.crypto_stream_chacha20_xor_ic(new Uint8Array(32), nonce, 0, k2);
    const encBody = sodium.crypto_stream_chacha20_xor_ic(plain.subarray(4), nonce, 1, k2);
    const tag = sodium.crypto_onetimeauth(Buffer.concat([encLength, encBody]), polyKey);
    return Buffer.concat([encLength, encBody, tag]);
  }

  /** An unencrypted packet with fixed padding: uint32 length, padding length, payload, padding. */
  function plainPacket(payload: Buffer): Buffer {
    let padding = 8 - ((1 + payload.length) % 8);
    if (padding < 4) padding += 8;
    const w = new SshWriter()
      .uint32(1 + payload.length + padding)
      .byte(padding)
      .raw(payload);
    return Buffer.concat([w.finish(), Buffer.alloc(padding, 0xa5)]);
  }

  const key = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 13 + 1) & 0xff));
  const cases: [string, number, Buffer][] = [
    ['a short packet at sequence number 0', 0, Buffer.from('\x05\x00\x00\x00\x0cssh-userauth', 'latin1')],
    ['a multi-block packet at sequence number 7', 7, payloadOfLength(300, 9)],
    ['a packet at sequence number 2^32 - 1', 0xffffffff, payloadOfLength(64, 3)],
    // The payload is encrypted in libsodium up to 1 KiB after the length, and by OpenSSL past it.
    ['a packet of 1024 bytes after the length', 11, payloadOfLength(1015, 5)],
    ['a packet of 1032 bytes after the length', 12, payloadOfLength(1020, 6)],
    ['a packet of 5000 bytes at sequence number 2^31', 0x80000000, payloadOfLength(5000, 4)],
  ];

  for (const [what, seq, payload] of cases) {
    test(`${what}: sealing matches the reference and opening recovers the packet`, () => {
      const plain = plainPacket(payload);
      const expected = reference(key, seq, plain);
      const sealer = chacha20Poly1305.sealer(key, Buffer.alloc(0));
      const packet = Buffer.concat([plain, Buffer.alloc(16)]);
      sealWhole(sealer, packet, seq);
      assert.equal(packet.toString('hex'), expected.toString('hex'));

      const opener = chacha20Poly1305.opener(key, Buffer.alloc(0));
      assert.equal(opener.packetLength(expected.subarray(0, 4), seq), plain.readUInt32BE(0));
      assert.deepEqual(openWhole(opener, Buffer.from(expected), seq), plain.subarray(4));
      // The same bytes under another sequence number do not authenticate.
      assert.throws(() => openWhole(opener, Buffer.from(expected), (seq + 1) >>> 0), isCode('MAC_ERROR'));
    });
  }

  test('the halves of the key are used as PROTOCOL.chacha20poly1305 assigns them', () => {
    const plain = plainPacket(payloadOfLength(40));
    const swapped = Buffer.concat([key.subarray(32), key.subarray(0, 32)]);
    const packet = Buffer.concat([plain, Buffer.alloc(16)]);
    sealWhole(chacha20Poly1305.sealer(key, Buffer.alloc(0)), packet, 1);
    assert.notEqual(packet.toString('hex'), reference(swapped, 1, plain).toString('hex'));
    assert.equal(packet.toString('hex'), reference(key, 1, plain).toString('hex'));
  });
});

describe('key derivation (RFC 4253 §7.2)', () => {
  const K = new SshWriter().mpint(0xf00dfeedcafebeef1234567890abcdefn * 0x10001n).finish();
  const H = createHash('sha256').update('exchange hash').digest();
  const sessionId = createHash('sha256').update('first exchange hash').digest();
  const sha = (alg: string, ...parts: (Buffer | string)[]) => {
    const h = createHash(alg);
    for (const p of parts) h.update(p);
    return h.digest();
  };

  test('one hash long: HASH(K || H || X || session_id), cut to length', () => {
    for (const letter of ['A', 'B', 'C', 'D', 'E', 'F']) {
      const want = sha('sha256', K, H, letter, sessionId);
      assert.deepEqual(deriveKey('sha256', K, H, letter, sessionId, 32), want);
      assert.deepEqual(deriveKey('sha256', K, H, letter, sessionId, 16), want.subarray(0, 16));
      assert.deepEqual(deriveKey('sha256', K, H, letter, sessionId, 12), want.subarray(0, 12));
    }
  });

  test('longer keys are extended with K2 = HASH(K || H || K1), K3 = HASH(K || H || K1 || K2), ...', () => {
    const k1 = sha('sha256', K, H, 'C', sessionId);
    const k2 = sha('sha256', K, H, k1);
    const k3 = sha('sha256', K, H, k1, k2);
    const k4 = sha('sha256', K, H, k1, k2, k3);
    assert.deepEqual(deriveKey('sha256', K, H, 'C', sessionId, 64), Buffer.concat([k1, k2]));
    assert.deepEqual(
      deriveKey('sha256', K, H, 'C', sessionId, 100),
      Buffer.concat([k1, k2, k3, k4]).subarray(0, 100),
    );
  });

  test('with SHA-512 one hash covers a 64-byte key, and 65 bytes need a second', () => {
    const k1 = sha('sha512', K, H, 'D', sessionId);
    const k2 = sha('sha512', K, H, k1);
    assert.deepEqual(deriveKey('sha512', K, H, 'D', sessionId, 64), k1);
    assert.deepEqual(deriveKey('sha512', K, H, 'D', sessionId, 65), Buffer.concat([k1, k2.subarray(0, 1)]));
  });

  test('the session id, not the current exchange hash, is the last input on re-key', () => {
    const first = deriveKey('sha256', K, H, 'A', H, 16);
    const rekey = deriveKey('sha256', K, H, 'A', sessionId, 16);
    assert.notDeepEqual(first, rekey);
    assert.deepEqual(rekey, sha('sha256', K, H, 'A', sessionId).subarray(0, 16));
    assert.deepEqual(deriveKey('sha256', K, H, 'A', sessionId, 0), Buffer.alloc(0));
  });
});

describe('channel data travels in pieces: sealed from the caller buffer, opened where it lies', () => {
  for (const name of SUITE_NAMES) {
    test(`${name}: a packet with a separate body survives any chunking and leaves the body untouched`, () => {
      const s = suites().find((x) => x.name === name)!;
      const framer = new PacketFramer();
      framer.setSealer(s.sealer());
      const deframer = new PacketDeframer();
      deframer.setOpener(s.opener());
      const messages: Buffer[] = [];
      const wire: Buffer[] = [];
      for (const [headLength, bodyLength] of [
        [9, 40_000],
        [13, 1],
        [9, 0],
        [200, 70_001],
      ] as const) {
        const head = randomBytes(headLength);
        const body = randomBytes(bodyLength);
        const bodyCopy = Buffer.from(body);
        const p = framer.open(headLength, body);
        head.copy(p.buf, p.payloadOffset);
        const out = framer.seal(p);
        assert.deepEqual(body, bodyCopy, 'the caller data is not modified');
        if (bodyLength > 0) assert.equal(out.length, 3);
        wire.push(...out);
        messages.push(Buffer.concat([head, body]));
      }
      const all = Buffer.concat(wire);
      assert.equal(all.indexOf(messages[0]!.subarray(100, 140)), -1, 'the body went out encrypted');
      const got: Buffer[] = [];
      let pieced = 0;
      let off = 0;
      for (let i = 0; off < all.length; i++) {
        const n = Math.min([1, 7, 4096, 65536, 3][i % 5]!, all.length - off);
        deframer.push(all.subarray(off, off + n));
        off += n;
        for (let pieces = deframer.next(); pieces; pieces = deframer.next()) {
          if (pieces.length > 1) pieced++;
          got.push(Buffer.concat(pieces));
        }
      }
      assert.deepEqual(got, messages);
      assert.ok(pieced > 0, 'some packets were opened as several pieces');
    });
  }
});
