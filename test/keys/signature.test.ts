import assert from 'node:assert/strict';
import { createHash, verify as nodeVerify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SshReader } from '../../src/wire/reader.js';
import { SshWriter } from '../../src/wire/writer.js';
import { parsePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine, signatureAlgorithmsFor } from '../../src/keys/public-key.js';
import { signData, verifySignature } from '../../src/keys/signature.js';
import type { PrivateKey, SignatureAlgorithm } from '../../src/keys/types.js';
import { KEY_SPECS, generateWithSshKeygen, isBadKey, makeTempDir, removeDir, sshKeygen } from './helpers.js';

let dir: string;
const keys = new Map<string, { key: PrivateKey; path: string }>();
let fileCounter = 0;

before(() => {
  dir = makeTempDir();
  for (const spec of KEY_SPECS) {
    const g = generateWithSshKeygen(dir, `id_${spec.label}`, spec);
    keys.set(spec.label, { key: parsePrivateKey(g.privateText), path: g.path });
  }
});
after(() => removeDir(dir));

function keyOf(label: string): PrivateKey {
  const k = keys.get(label);
  assert.ok(k, `no key ${label}`);
  return k.key;
}

/** Splits an SSH signature blob into its name and inner signature. */
function splitBlob(blob: Buffer): { name: string; sig: Buffer } {
  const r = new SshReader(blob);
  return { name: r.ascii(), sig: Buffer.from(r.string()) };
}

function blob(name: string, sig: Buffer): Buffer {
  return new SshWriter().string(name).string(sig).finish();
}

// PROTOCOL.sshsig: the data an SSHSIG signature covers, and the armoured signature itself.
const NAMESPACE = 'file';

function sshsigSignedData(message: Buffer): Buffer {
  return new SshWriter()
    .raw(Buffer.from('SSHSIG'))
    .string(NAMESPACE)
    .string('')
    .string('sha512')
    .string(createHash('sha512').update(message).digest())
    .finish();
}

function sshsigArmour(key: PrivateKey, signatureBlob: Buffer): string {
  const body = new SshWriter()
    .raw(Buffer.from('SSHSIG'))
    .uint32(1)
    .string(key.publicKey.blob)
    .string(NAMESPACE)
    .string('')
    .string('sha512')
    .string(signatureBlob)
    .finish();
  const b64 = body.toString('base64').replace(/.{70}/g, '$&\n');
  return `-----BEGIN SSH SIGNATURE-----\n${b64}\n-----END SSH SIGNATURE-----\n`;
}

/** The signature blob inside an armoured SSHSIG (checking the other fields on the way). */
function sshsigUnarmour(text: string): Buffer {
  const body = Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  assert.equal(body.subarray(0, 6).toString(), 'SSHSIG');
  const r = new SshReader(body, 6);
  assert.equal(r.uint32(), 1);
  r.string();
  assert.equal(r.ascii(), NAMESPACE);
  r.string();
  assert.equal(r.ascii(), 'sha512');
  const sig = Buffer.from(r.string());
  r.done('sshsig');
  return sig;
}

/** Has ssh-keygen -Y verify check an SSHSIG we made with signData. */
function opensshVerifies(key: PrivateKey, alg: SignatureAlgorithm, message: Buffer): boolean {
  const n = fileCounter++;
  const signers = join(dir, `allowed_${n}`);
  const sigPath = join(dir, `msg_${n}.sig`);
  writeFileSync(signers, `tester ${formatPublicKeyLine(key.publicKey)}\n`);
  writeFileSync(sigPath, sshsigArmour(key, signData(key, alg, sshsigSignedData(message))));
  const r = sshKeygen(['-Y', 'verify', '-f', signers, '-I', 'tester', '-n', NAMESPACE, '-s', sigPath], {
    input: message,
    allowFailure: true,
  });
  return r.status === 0;
}

describe('signatures with every key type', () => {
  for (const spec of KEY_SPECS) {
    for (const alg of signatureAlgorithmsFor(spec.type as PrivateKey['type'])) {
      it(`${spec.label} signs and verifies ${alg}`, () => {
        const key = keyOf(spec.label);
        const data = Buffer.from(`exchange hash for ${alg}`);
        const sig = signData(key, alg, data);
        assert.equal(splitBlob(sig).name, alg);
        assert.equal(verifySignature(key.publicKey, alg, sig, data), true);
        assert.equal(verifySignature(key.publicKey, alg, sig, Buffer.from('other data')), false);
        // Flip one bit in the middle of the inner signature.
        const bad = Buffer.from(sig);
        bad[bad.length - 20]! ^= 0x10;
        assert.equal(verifySignature(key.publicKey, alg, bad, data), false);
        // Another algorithm name given than the blob carries.
        const other: SignatureAlgorithm =
          alg === 'rsa-sha2-256'
            ? 'rsa-sha2-512'
            : alg === 'ssh-ed25519'
              ? 'ecdsa-sha2-nistp256'
              : 'rsa-sha2-256';
        assert.equal(verifySignature(key.publicKey, other, sig, data), false);
      });
    }
  }

  it('the RSA signatures use the hash RFC 8332 names (checked with node directly)', () => {
    const key = keyOf('rsa2048');
    const data = Buffer.from('hash check');
    for (const [alg, hash] of [
      ['rsa-sha2-256', 'sha256'],
      ['rsa-sha2-512', 'sha512'],
      ['ssh-rsa', 'sha1'],
    ] as const) {
      const { sig } = splitBlob(signData(key, alg, data));
      assert.equal(sig.length, 256);
      assert.equal(nodeVerify(hash, data, key.publicKey.keyObject, sig), true, alg);
    }
  });

  it('the ECDSA signature is two minimal mpints', () => {
    for (const label of ['ecdsa256', 'ecdsa384', 'ecdsa521']) {
      for (let i = 0; i < 20; i++) {
        const { sig } = splitBlob(signData(keyOf(label), keyOf(label).type, Buffer.from([i])));
        const r = new SshReader(sig);
        for (const m of [r.mpintBytes(), r.mpintBytes()]) {
          assert.ok(m.length > 0);
          assert.equal(m[0]! & 0x80, 0, 'positive');
          if (m[0] === 0) assert.ok(m[1]! & 0x80, 'no needless leading zero');
        }
        r.done('ecdsa signature');
      }
    }
  });
});

describe('interop with ssh-keygen -Y (PROTOCOL.sshsig)', () => {
  for (const spec of KEY_SPECS) {
    it(`ssh-keygen verifies our ${spec.label} signatures`, () => {
      const key = keyOf(spec.label);
      const algs = spec.type === 'ssh-rsa' ? (['rsa-sha2-512', 'rsa-sha2-256'] as const) : [key.type];
      // Several messages, so that ECDSA r and s of every size (leading zero or not) occur.
      const rounds = spec.type.startsWith('ecdsa') ? 12 : 2;
      for (const alg of algs) {
        for (let i = 0; i < rounds; i++) {
          assert.equal(
            opensshVerifies(key, alg, Buffer.from(`message ${i} for ${alg}`)),
            true,
            `${alg} #${i}`,
          );
        }
      }
      // And it refuses one over other data: the check is real.
      const sigPath = join(dir, `wrong_${fileCounter++}.sig`);
      const signers = join(dir, `allowed_${fileCounter++}`);
      writeFileSync(signers, `tester ${formatPublicKeyLine(key.publicKey)}\n`);
      writeFileSync(sigPath, sshsigArmour(key, signData(key, algs[0], sshsigSignedData(Buffer.from('one')))));
      const r = sshKeygen(['-Y', 'verify', '-f', signers, '-I', 'tester', '-n', NAMESPACE, '-s', sigPath], {
        input: 'two',
        allowFailure: true,
      });
      assert.notEqual(r.status, 0);
    });

    it(`we verify ssh-keygen's ${spec.label} signatures`, () => {
      const k = keys.get(spec.label)!;
      const message = Buffer.from(`signed by OpenSSH with ${spec.label}\n`);
      const msgPath = join(dir, `openssh_msg_${fileCounter++}`);
      writeFileSync(msgPath, message);
      sshKeygen(['-Y', 'sign', '-q', '-f', k.path, '-n', NAMESPACE, msgPath]);
      const sig = sshsigUnarmour(readFileSync(`${msgPath}.sig`, 'utf8'));
      const alg = splitBlob(sig).name as SignatureAlgorithm;
      assert.equal(alg, spec.type === 'ssh-rsa' ? 'rsa-sha2-512' : spec.type);
      assert.equal(verifySignature(k.key.publicKey, alg, sig, sshsigSignedData(message)), true);
      assert.equal(
        verifySignature(k.key.publicKey, alg, sig, sshsigSignedData(Buffer.from('tampered'))),
        false,
      );
    });
  }
});

describe('malformed signatures verify false', () => {
  const data = Buffer.from('data');

  it('empty, truncated and trailing blobs', () => {
    const key = keyOf('ed25519');
    const sig = signData(key, 'ssh-ed25519', data);
    assert.equal(verifySignature(key.publicKey, 'ssh-ed25519', Buffer.alloc(0), data), false);
    assert.equal(verifySignature(key.publicKey, 'ssh-ed25519', sig.subarray(0, sig.length - 1), data), false);
    assert.equal(
      verifySignature(key.publicKey, 'ssh-ed25519', Buffer.concat([sig, Buffer.of(0)]), data),
      false,
    );
    assert.equal(verifySignature(key.publicKey, 'ssh-ed25519', Buffer.from('garbage garbage'), data), false);
    const { sig: inner } = splitBlob(sig);
    assert.equal(
      verifySignature(key.publicKey, 'ssh-ed25519', blob('ssh-ed25519', inner.subarray(0, 63)), data),
      false,
    );
  });

  it('algorithms that do not fit the key', () => {
    const ec384 = keyOf('ecdsa384');
    const { sig } = splitBlob(signData(ec384, 'ecdsa-sha2-nistp384', data));
    assert.equal(
      verifySignature(ec384.publicKey, 'ecdsa-sha2-nistp256', blob('ecdsa-sha2-nistp256', sig), data),
      false,
    );
    const ed = keyOf('ed25519');
    const edSig = splitBlob(signData(ed, 'ssh-ed25519', data)).sig;
    assert.equal(verifySignature(ed.publicKey, 'rsa-sha2-256', blob('rsa-sha2-256', edSig), data), false);
    const rsa = keyOf('rsa2048');
    const rsaSig = splitBlob(signData(rsa, 'rsa-sha2-256', data)).sig;
    assert.equal(verifySignature(rsa.publicKey, 'ssh-ed25519', blob('ssh-ed25519', rsaSig), data), false);
    assert.equal(
      verifySignature(rsa.publicKey, 'bogus' as SignatureAlgorithm, blob('bogus', rsaSig), data),
      false,
    );
  });

  it('signData refuses an algorithm that does not fit the key', () => {
    assert.throws(
      () => signData(keyOf('ed25519'), 'rsa-sha2-256', data),
      isBadKey(/cannot make rsa-sha2-256/),
    );
    assert.throws(() => signData(keyOf('ecdsa256'), 'ecdsa-sha2-nistp384', data), isBadKey(/cannot make/));
  });

  it('ECDSA r/s that are too long, zero, negative or followed by junk', () => {
    const key = keyOf('ecdsa256');
    const alg = 'ecdsa-sha2-nistp256';
    const { sig } = splitBlob(signData(key, alg, data));
    const r0 = new SshReader(sig);
    const r = Buffer.from(r0.mpintBytes());
    const s = Buffer.from(r0.mpintBytes());
    const make = (f: (w: SshWriter) => void): Buffer => {
      const w = new SshWriter();
      f(w);
      return blob(alg, w.finish());
    };
    assert.equal(
      verifySignature(
        key.publicKey,
        alg,
        make((w) => w.string(r).string(s)),
        data,
      ),
      true,
    );
    assert.equal(
      verifySignature(
        key.publicKey,
        alg,
        make((w) => w.string(r).string(s).byte(0)),
        data,
      ),
      false,
    );
    assert.equal(
      verifySignature(
        key.publicKey,
        alg,
        make((w) => w.string(Buffer.alloc(33, 1)).string(s)),
        data,
      ),
      false,
    );
    assert.equal(
      verifySignature(
        key.publicKey,
        alg,
        make((w) => w.uint32(0).string(s)),
        data,
      ),
      false,
    );
    assert.equal(
      verifySignature(
        key.publicKey,
        alg,
        make((w) => w.string(r).string(Buffer.of(0x80, 1))),
        data,
      ),
      false,
    );
    assert.equal(
      verifySignature(
        key.publicKey,
        alg,
        make((w) => w.string(r)),
        data,
      ),
      false,
    );
  });

  it('RSA signatures longer than the modulus fail; shorter ones are zero-padded like OpenSSH', () => {
    const key = keyOf('rsa2048');
    const alg = 'rsa-sha2-256';
    let found: { data: Buffer; sig: Buffer } | undefined;
    for (let i = 0; i < 5000 && found === undefined; i++) {
      const d = Buffer.from(`try ${i}`);
      const { sig } = splitBlob(signData(key, alg, d));
      if (sig[0] === 0) found = { data: d, sig };
    }
    assert.ok(found, 'a signature with a leading zero byte turns up within 5000 tries');
    assert.equal(verifySignature(key.publicKey, alg, blob(alg, found.sig.subarray(1)), found.data), true);
    assert.equal(
      verifySignature(key.publicKey, alg, blob(alg, Buffer.concat([Buffer.of(0), found.sig])), found.data),
      false,
    );
    assert.equal(verifySignature(key.publicKey, alg, blob(alg, Buffer.alloc(0)), found.data), false);
  });
});
