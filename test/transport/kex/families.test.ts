import assert from 'node:assert/strict';
import { createHash, getDiffieHellman } from 'node:crypto';
import { describe, test } from 'node:test';
import type { SshError } from '../../../src/errors.js';
import { SshReader } from '../../../src/wire/reader.js';
import { SshWriter } from '../../../src/wire/writer.js';
import { KEX_METHODS, defaultAlgorithms } from '../../../src/transport/algorithms.js';
import {
  chooseGroup,
  defaultGexGroups,
  dhGexSha256,
  parseGroupTerms,
  parseModuli,
} from '../../../src/transport/kex/dh-gex.js';
import {
  DhKey,
  NamedGroupDhKey,
  dhGroup14Sha256,
  exponentBitsFor,
} from '../../../src/transport/kex/dh-group.js';
import {
  curve25519Sha256,
  curve448Sha512,
  ecdhNistp256,
  ecdhNistp521,
} from '../../../src/transport/kex/ecdh.js';
import { mlkem768x25519 } from '../../../src/transport/kex/hybrid.js';
import { mlKem, nobleMlKem, nodeMlKem } from '../../../src/transport/kex/mlkem.js';
import { isSafePrime } from '../../../src/transport/kex/safe-prime.js';
import type { KexInput, KexMethodSpec, KexRound } from '../../../src/transport/kex/types.js';
import { shuttle, transportPair } from '../pair.js';

/** A round on each side with fixed V/I fields and a host "signature" that is just a hash of H. */
function rounds(spec: KexMethodSpec, gex?: KexInput['gex'], serverGex?: KexInput['gex']) {
  const base = { vc: 'SSH-2.0-c', vs: 'SSH-2.0-s', ic: Buffer.from('ic'), is: Buffer.from('is') };
  const blob = Buffer.from('host key blob');
  const client = spec.create({ ...base, role: 'client', gex });
  const server = spec.create({
    ...base,
    role: 'server',
    hostKey: { blob, sign: (h) => createHash('sha256').update(h).digest() },
    gex: serverGex,
  });
  return { client, server };
}

/** Runs the two rounds against each other; returns both outcomes. */
function run(client: KexRound, server: KexRound, tamper?: (toClient: boolean, p: Buffer) => Buffer) {
  let toServer = client.start();
  let toClient: Buffer[] = [];
  let c, s;
  for (let i = 0; i < 10 && !(c && s); i++) {
    for (const p of toServer) {
      const step = server.receive(tamper ? tamper(false, p) : p);
      toClient.push(...(step.send ?? []));
      if (step.done) s = step.done;
    }
    toServer = [];
    for (const p of toClient) {
      const step = client.receive(tamper ? tamper(true, p) : p);
      toServer.push(...(step.send ?? []));
      if (step.done) c = step.done;
    }
    toClient = [];
  }
  return { c: c!, s: s! };
}

const kexFailed = (re: RegExp) => (e: unknown) =>
  (e as SshError).code === 'KEY_EXCHANGE_FAILED' && re.test((e as Error).message);

describe('key exchange families (each in its own round under src/transport/kex/)', () => {
  for (const name of KEX_METHODS.keys()) {
    test(`${name}: two transports agree, and a message crosses under the new keys`, () => {
      const { client, server } = transportPair({ client: { kex: [name] }, server: { kex: [name] } });
      shuttle(client, server);
      assert.deepEqual(client.kexDone, [true]);
      assert.deepEqual(server.kexDone, [true]);
      assert.equal(client.transport.negotiated?.kex, name);
      assert.ok(client.transport.sessionId?.equals(server.transport.sessionId!));
      client.transport.send(Buffer.from([5, 1, 2, 3]));
      shuttle(client, server);
      assert.deepEqual(server.messages, [Buffer.from([5, 1, 2, 3])]);
    });
  }

  test("the default kex list is the issue's order; legacy ones are supported but not offered", () => {
    const kex = defaultAlgorithms().kex;
    assert.deepEqual(kex.slice(0, 3), [
      'mlkem768x25519-sha256',
      'curve25519-sha256',
      'curve25519-sha256@libssh.org',
    ]);
    assert.ok(!kex.includes('diffie-hellman-group1-sha1'));
    assert.ok(!kex.includes('diffie-hellman-group14-sha1'));
    assert.ok(KEX_METHODS.has('diffie-hellman-group1-sha1'));
  });

  test('both sides of a round compute the same K and H', () => {
    for (const spec of [
      curve448Sha512,
      ecdhNistp521,
      dhGroup14Sha256,
      dhGexSha256,
      mlkem768x25519(nobleMlKem),
    ]) {
      const { client, server } = rounds(spec);
      const { c, s } = run(client, server);
      assert.ok(c.k.equals(s.k), spec.name);
      assert.ok(c.h.equals(s.h), spec.name);
      assert.ok(c.signature.equals(createHash('sha256').update(c.h).digest()));
    }
  });
});

describe("fixed groups: keys of OpenSSL's named MODP groups", () => {
  test('both halves agree on K; values outside [2, p-2] are refused', () => {
    for (const g of ['modp14', 'modp16']) {
      const a = new NamedGroupDhKey(g);
      const b = new NamedGroupDhKey(g);
      assert.ok(a.agree(b.publicValue).equals(b.agree(a.publicValue)), g);
      const p = BigInt('0x' + getDiffieHellman(g).getPrime('hex'));
      for (const bad of [0n, 1n, p - 1n, p, p + 1n]) {
        const hex = bad.toString(16);
        assert.throws(
          () => a.agree(Buffer.from(hex.length % 2 ? '0' + hex : hex, 'hex')),
          (e: SshError) => e.code === 'KEY_EXCHANGE_FAILED' && /outside \[2, p-2\]/.test(e.message),
          `${g} ${bad === 0n ? '0' : bad === 1n ? '1' : 'p' + (bad - p >= 0n ? '+' : '') + (bad - p)}`,
        );
      }
    }
  });
});

describe("DH private exponents (group exchange) are sized as OpenSSH's dh_gen_key sizes them", () => {
  const p8192 = BigInt('0x' + getDiffieHellman('modp18').getPrime('hex'));
  const p1024 = BigInt('0x' + getDiffieHellman('modp2').getPrime('hex'));

  test('twice the key bits the ciphers and MACs need, at least 512, capped by the group', () => {
    // aes128-gcm needs 128 bits, aes256-gcm 256: both get 512; chacha20-poly1305's 64-byte key
    // and hmac-sha2-512's 64-byte MAC key get 1024.
    assert.equal(exponentBitsFor(128), 512);
    assert.equal(exponentBitsFor(256), 512);
    assert.equal(exponentBitsFor(512), 1024);
    assert.equal(exponentBitsFor(undefined), 512);
    assert.equal(new DhKey(p8192, 2n, exponentBitsFor(128)).bits, 512);
    assert.equal(new DhKey(p8192, 2n, exponentBitsFor(512)).bits, 1024);
    assert.equal(new DhKey(p1024, 2n, exponentBitsFor(1024)).bits, 1023, 'a 1024-bit group caps it');
  });

  test('group16 and group18 agree between two transports with 128-bit and 512-bit needs', () => {
    for (const kex of ['diffie-hellman-group16-sha512', 'diffie-hellman-group18-sha512'])
      for (const algs of [
        { cipher: ['aes128-gcm@openssh.com'] },
        { cipher: ['aes256-ctr'], mac: ['hmac-sha2-512'] }, // a 64-byte MAC key: 1024-bit exponents
      ]) {
        const { client, server } = transportPair({ client: { kex: [kex], ...algs }, server: { kex: [kex] } });
        shuttle(client, server);
        assert.equal(client.closed, undefined, `${kex} ${algs.cipher}`);
        assert.deepEqual([client.kexDone, server.kexDone], [[true], [true]], `${kex} ${algs.cipher}`);
      }
  });
});

describe('key exchange: hostile values end the exchange with KEY_EXCHANGE_FAILED and a reason', () => {
  /** Replaces the string/mpint value in an INIT (30/32) going to the server. */
  const initWith = (type: number, value: Buffer, mpint = false) => {
    const w = new SshWriter(64).byte(type);
    return (mpint ? w.mpintFromUnsigned(value) : w.string(value)).finish();
  };

  test('an all-zero X25519 or X448 public value (a low-order point)', () => {
    for (const [spec, size, re] of [
      [curve25519Sha256, 32, /curve25519: shared secret is all zeros|invalid peer public key/],
      [curve448Sha512, 56, /curve448: shared secret is all zeros|invalid peer public key/],
    ] as const) {
      const { server } = rounds(spec);
      assert.throws(() => server.receive(initWith(30, Buffer.alloc(size))), kexFailed(re));
    }
  });

  test('a nistp256 point that is not on the curve, or is compressed', () => {
    const { server } = rounds(ecdhNistp256);
    const bad = Buffer.alloc(65, 1);
    bad[0] = 4;
    assert.throws(() => server.receive(initWith(30, bad)), kexFailed(/invalid peer public key/));
    const { server: s2 } = rounds(ecdhNistp256);
    assert.throws(
      () => s2.receive(initWith(30, Buffer.alloc(33, 2))),
      kexFailed(/not an uncompressed point/),
    );
  });

  test('a DH value outside [2, p-2]', () => {
    const p = getDiffieHellman('modp14').getPrime();
    const pMinus1 = Buffer.from(p);
    pMinus1[pMinus1.length - 1]! -= 1;
    for (const v of [Buffer.alloc(0), Buffer.from([1]), pMinus1, p]) {
      const { server } = rounds(dhGroup14Sha256);
      assert.throws(() => server.receive(initWith(30, v, true)), kexFailed(/outside \[2, p-2\]/));
    }
  });

  test('a GEX request with min > max, or sizes the daemon does not offer within its limits', () => {
    const req = (min: number, n: number, max: number) =>
      new SshWriter(16).byte(34).uint32(min).uint32(n).uint32(max).finish();
    const { server } = rounds(dhGexSha256);
    assert.throws(() => server.receive(req(4096, 2048, 1024)), kexFailed(/does not hold/));
    const { server: s2 } = rounds(dhGexSha256, undefined, { limits: [2048, 4096] });
    assert.throws(() => s2.receive(req(6144, 7000, 8192)), kexFailed(/no DH group between 6144 and 4096/));
  });

  test('a GEX group from a hostile server that is not a safe prime', () => {
    // 2^2203 - 1 is a Mersenne prime but not a safe prime; an even modulus and p = 2q+1 with
    // q composite fail too.
    const mersenne = 2n ** 2203n - 1n;
    const notSafe = 2n * (2n ** 1279n - 1n) * 3n + 1n; // p-1 = 6·M1279: q = 3·M1279 is composite
    for (const p of [mersenne, 2n ** 2048n + 2n, notSafe]) {
      assert.equal(isSafePrime(p), false);
      const { client } = rounds(dhGexSha256, { request: [1024, 2048, 8192] });
      client.start();
      const group = new SshWriter(600).byte(31).mpint(p).mpint(2n).finish();
      assert.throws(() => client.receive(group), kexFailed(/not a safe prime|outside/));
    }
    for (const g of defaultGexGroups()) assert.ok(isSafePrime(g.p));
  });

  test('the client refuses a GEX group outside the sizes it asked for', () => {
    const { client } = rounds(dhGexSha256, { request: [3072, 3072, 4096] });
    client.start();
    const g = defaultGexGroups()[0]!; // 2048 bits
    assert.throws(
      () => client.receive(new SshWriter(600).byte(31).mpint(g.p).mpint(g.g).finish()),
      kexFailed(/outside the 3072..4096/),
    );
  });

  test('an ML-KEM ciphertext or encapsulation key of the wrong length', () => {
    const spec = mlkem768x25519(nobleMlKem);
    const { server } = rounds(spec);
    assert.throws(
      () => server.receive(initWith(30, Buffer.alloc(1215))),
      kexFailed(/client value is 1215 bytes/),
    );
    const { client } = rounds(spec);
    client.start();
    const reply = new SshWriter(1300)
      .byte(31)
      .string(Buffer.from('k'))
      .string(Buffer.alloc(1119))
      .string(Buffer.from('s'))
      .finish();
    assert.throws(() => client.receive(reply), kexFailed(/server reply is 1119 bytes/));
  });
});

describe("DH group exchange: group choice and the daemon's group files", () => {
  test('the smallest group at least n bits wins, within the limits', () => {
    const groups = defaultGexGroups();
    assert.deepEqual(
      groups.map((g) => g.size),
      [2048, 3072, 4096, 6144, 8192],
    );
    assert.equal(chooseGroup(groups, [1024, 6144, 8192]).size, 6144);
    assert.equal(chooseGroup(groups, [1024, 5000, 8192]).size, 6144);
    assert.equal(chooseGroup(groups, [1024, 8192, 8192], [1024, 4096]).size, 4096, 'limits cap the size');
    assert.equal(chooseGroup(groups, [1024, 1024, 2048]).size, 2048);
  });

  test('{Size,G,P}. terms and an ssh-keygen moduli file', () => {
    const g = defaultGexGroups()[0]!;
    const terms = parseGroupTerms(`{2048, 2, ${g.p}}.\n{2048,2,16#${g.p.toString(16)}}.`);
    assert.equal(terms.length, 2);
    assert.equal(terms[1]!.p, g.p);
    assert.throws(() => parseGroupTerms(`{1024, 2, ${g.p}}.`), /1024 bits has a 2048-bit modulus/);
    const moduli = parseModuli(
      `# comment\n20230315000000 2 6 100 2047 2 ${g.p.toString(16).toUpperCase()}\n`,
    );
    assert.deepEqual(moduli, [{ size: 2048, g: 2n, p: g.p }]);
  });
});

describe(`ML-KEM-768: this process uses ${mlKem.source}`, () => {
  const impls = [nobleMlKem, ...(nodeMlKem ? [nodeMlKem] : [])];
  for (const a of impls) {
    for (const b of impls) {
      test(`${a.source} keys, ${b.source} encapsulation: both sides get the same secret`, () => {
        const kp = a.keygen();
        assert.equal(kp.publicKey.length, 1184);
        const enc = b.encapsulate(kp.publicKey);
        assert.equal(enc.ciphertext.length, 1088);
        assert.ok(kp.decapsulate(enc.ciphertext).equals(enc.sharedSecret));
      });
    }
  }

  test('the hybrid secret is string(SHA-256(K_PQ || K_CL)) (draft-ietf-sshm-mlkem-hybrid-kex §2.4)', () => {
    const { client, server } = rounds(mlkem768x25519(nobleMlKem));
    const { c } = run(client, server);
    const r = new SshReader(c.k, 0);
    assert.equal(r.string().length, 32);
    r.done('K');
  });
});
