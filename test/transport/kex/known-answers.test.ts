import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { SshError } from '../../../src/errors.js';
import { x25519KeyFrom } from '../../../src/transport/kex/ecdh.js';
import { hybridAgreement } from '../../../src/transport/kex/hybrid.js';
import { nobleMlKem, nodeMlKem, type MlKem } from '../../../src/transport/kex/mlkem.js';
import { SshWriter } from '../../../src/wire/writer.js';
import { RFC7748_X25519 as X, WYCHEPROOF_MLKEM768_STRCMP as V } from './mlkem-vectors.js';

/**
 * Known-answer tests of ML-KEM-768 and of the mlkem768x25519-sha256 hybrid on every backend this
 * Node has: @noble/post-quantum always, node:crypto where Node has ML-KEM (24.7+; .ci/run runs
 * the suite on Node 24 too). The answers come from Wycheproof and RFC 7748 (see mlkem-vectors.ts).
 */
const hex = (s: string) => Buffer.from(s, 'hex');
const backends: MlKem[] = [nobleMlKem, ...(nodeMlKem ? [nodeMlKem] : [])];

describe(`ML-KEM-768 and mlkem768x25519 known answers (backends on Node ${process.versions.node}: ${backends.map((b) => b.source).join(', ')})`, () => {
  test(`node:crypto ML-KEM is ${nodeMlKem ? 'present and tested below' : 'absent here (Node < 24.7): only @noble/post-quantum is tested'}`, () => {
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    // Node 24.7+ has crypto.encapsulate; if it is there, the runtime choice must have found it.
    if (major > 24 || (major === 24 && minor >= 7)) assert.ok(nodeMlKem, 'this Node should have ML-KEM');
  });

  for (const kem of backends) {
    test(`${kem.source}: the key pair from Wycheproof's seed has its encapsulation key, and decapsulation gives its K`, () => {
      const pair = kem.keygenFromSeed(hex(V.seed));
      assert.equal(pair.publicKey.toString('hex'), V.ek);
      assert.equal(pair.decapsulate(hex(V.c)).toString('hex'), V.K);
      // One bit changed in the ciphertext: still a 32-byte secret (implicit rejection), another one.
      const other = hex(V.c);
      other[100]! ^= 1;
      const k2 = pair.decapsulate(other);
      assert.equal(k2.length, 32);
      assert.notEqual(k2.toString('hex'), V.K);
    });

    test(`${kem.source}: an encapsulation key failing FIPS 203's modulus check (§7.2) is refused`, () => {
      const ek = hex(V.ek);
      // The first 12-bit coefficient becomes 4095, above q = 3329.
      ek[0] = 0xff;
      ek[1]! |= 0x0f;
      assert.throws(() => kem.encapsulate(ek));
      assert.doesNotThrow(() => kem.encapsulate(hex(V.ek)));
    });

    test(`${kem.source}: mlkem768x25519 from known halves: C_INIT is ek || X25519 public, K = string(SHA-256(K_PQ || K_CL))`, () => {
      const agreement = hybridAgreement(kem, {
        kem: kem.keygenFromSeed(hex(V.seed)),
        x: x25519KeyFrom(hex(X.alicePrivate)),
      });
      assert.equal(agreement.clientValue().toString('hex'), V.ek + X.alicePublic);
      const k = agreement.clientSecret(Buffer.concat([hex(V.c), hex(X.bobPublic)]));
      const expected = createHash('sha256').update(hex(V.K)).update(hex(X.shared)).digest();
      assert.deepEqual(k, new SshWriter(40).string(expected).finish());
      assert.equal(
        k.toString('hex'),
        '00000020' + expected.toString('hex'),
        'K is an SSH string of 32 bytes (draft-ietf-sshm-mlkem-hybrid-kex §2.4), not an mpint',
      );
    });

    test(`${kem.source}: a server meets an encapsulation key failing the modulus check with KEY_EXCHANGE_FAILED`, () => {
      const ek = hex(V.ek);
      ek[0] = 0xff;
      ek[1]! |= 0x0f;
      const server = hybridAgreement(kem);
      assert.throws(
        () => server.serverReply(Buffer.concat([ek, hex(X.alicePublic)])),
        (e: unknown) =>
          e instanceof SshError &&
          e.code === 'KEY_EXCHANGE_FAILED' &&
          /invalid ML-KEM encapsulation key/.test(e.message),
      );
    });
  }

  test('X25519 (RFC 7748 §6.1): public keys and the shared secret from the known private keys', () => {
    const alice = x25519KeyFrom(hex(X.alicePrivate));
    const bob = x25519KeyFrom(hex(X.bobPrivate));
    assert.equal(alice.publicValue.toString('hex'), X.alicePublic);
    assert.equal(bob.publicValue.toString('hex'), X.bobPublic);
    assert.equal(alice.agree(hex(X.bobPublic)).toString('hex'), X.shared);
    assert.equal(bob.agree(hex(X.alicePublic)).toString('hex'), X.shared);
  });
});
