import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  formatOpenSshPrivateKey,
  generatePrivateKey,
  parsePrivateKey,
} from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine, parsePublicKeyBlob, parsePublicKeyLine } from '../../src/keys/public-key.js';
import { signData, verifySignature } from '../../src/keys/signature.js';
import { SshReader } from '../../src/wire/reader.js';
import { SshWriter } from '../../src/wire/writer.js';
import { isBadKey, makeTempDir, removeDir, sshKeygen } from './helpers.js';

/**
 * ssh-ed448 (RFC 8709) and ssh-dss (RFC 4253 §6.6) keys: blobs, openssh-key-v1 files, signatures.
 * OpenSSH 9.2 has DSA (its ssh-keygen makes and reads the files); it never had Ed448, so Ed448
 * is checked against RFC 8709's sizes and against ourselves.
 */
describe('ssh-ed448 keys (peer: Seashell itself; OpenSSH has no Ed448)', () => {
  it('blob, public line and openssh-key-v1 file round trip, plain and encrypted', () => {
    const key = generatePrivateKey('ed448', { comment: 'ed448 test' });
    assert.equal(key.type, 'ssh-ed448');
    // RFC 8709 §4: string "ssh-ed448", string key (57 bytes).
    const r = new SshReader(key.publicKey.blob);
    assert.equal(r.ascii('type'), 'ssh-ed448');
    assert.equal(r.string('key').length, 57);
    const line = formatPublicKeyLine(key.publicKey, key.comment);
    assert.ok(parsePublicKeyLine(line).key.blob.equals(key.publicKey.blob));
    for (const passphrase of [undefined, 'secret']) {
      const text = formatOpenSshPrivateKey(
        key,
        undefined,
        passphrase === undefined ? undefined : { passphrase, rounds: 2 },
      );
      const back = parsePrivateKey(text, passphrase);
      assert.equal(back.type, 'ssh-ed448');
      assert.equal(back.comment, 'ed448 test');
      assert.ok(back.publicKey.blob.equals(key.publicKey.blob));
      const data = randomBytes(100);
      assert.ok(verifySignature(key.publicKey, 'ssh-ed448', signData(back, 'ssh-ed448', data), data));
    }
  });

  it('signs 114-byte signatures that verify only over the signed data and with the right key', () => {
    const key = generatePrivateKey('ed448');
    const other = generatePrivateKey('ed448');
    const data = Buffer.from('exchange hash');
    const sig = signData(key, 'ssh-ed448', data);
    const r = new SshReader(sig);
    assert.equal(r.ascii('alg'), 'ssh-ed448');
    assert.equal(r.string('sig').length, 114);
    assert.ok(verifySignature(key.publicKey, 'ssh-ed448', sig, data));
    assert.equal(verifySignature(key.publicKey, 'ssh-ed448', sig, Buffer.from('exchange hasH')), false);
    assert.equal(verifySignature(other.publicKey, 'ssh-ed448', sig, data), false);
    assert.equal(verifySignature(key.publicKey, 'ssh-ed25519', sig, data), false);
    const short = new SshWriter().string('ssh-ed448').string(Buffer.alloc(113)).finish();
    assert.equal(verifySignature(key.publicKey, 'ssh-ed448', short, data), false);
  });

  it('refuses a 56-byte key and a private half that does not end with its public key', () => {
    assert.throws(
      () => parsePublicKeyBlob(new SshWriter().string('ssh-ed448').string(Buffer.alloc(56)).finish()),
      isBadKey(/ed448 public key is 56 bytes, not 57/),
    );
    const key = generatePrivateKey('ed448');
    const text = formatOpenSshPrivateKey(key);
    const b64 = text
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('');
    const raw = Buffer.from(b64, 'base64');
    // Flip the last byte of the public key copy inside the private section (just before the comment).
    const at = raw.lastIndexOf(key.publicKey.blob.subarray(-57));
    assert.ok(at > 0);
    raw[at + 56] ^= 1;
    const damaged = `-----BEGIN OPENSSH PRIVATE KEY-----\n${raw.toString('base64')}\n-----END OPENSSH PRIVATE KEY-----\n`;
    assert.throws(() => parsePrivateKey(damaged), isBadKey(/ed448|public key does not match/));
  });
});

describe('ssh-dss keys (peer: OpenSSH 9.2 ssh-keygen)', () => {
  let dir: string;
  before(() => (dir = makeTempDir()));
  after(() => removeDir(dir));

  it('reads the files ssh-keygen -t dsa makes, plain and encrypted, and signs what verifies', () => {
    for (const passphrase of ['', 'pass phrase']) {
      const path = join(dir, `id_dsa_${passphrase.length}`);
      sshKeygen(['-q', '-t', 'dsa', '-N', passphrase, '-C', 'dsa test', '-f', path]);
      const key = parsePrivateKey(readFileSync(path, 'utf8'), passphrase || undefined);
      assert.equal(key.type, 'ssh-dss');
      assert.equal(
        formatPublicKeyLine(key.publicKey, key.comment),
        readFileSync(`${path}.pub`, 'utf8').trim(),
      );
      const data = randomBytes(64);
      const sig = signData(key, 'ssh-dss', data);
      const r = new SshReader(sig);
      assert.equal(r.ascii('alg'), 'ssh-dss');
      assert.equal(r.string('sig').length, 40, 'RFC 4253 §6.6: r || s, 20 bytes each');
      assert.ok(verifySignature(key.publicKey, 'ssh-dss', sig, data));
      assert.equal(
        verifySignature(key.publicKey, 'ssh-dss', sig, Buffer.concat([data, Buffer.of(0)])),
        false,
      );
    }
  });

  it('writes files ssh-keygen reads back, plain and encrypted', () => {
    const key = generatePrivateKey('dsa', { comment: 'ours' });
    for (const passphrase of ['', 'pw']) {
      const path = join(dir, `ours_${passphrase.length}`);
      const text = formatOpenSshPrivateKey(
        key,
        undefined,
        passphrase ? { passphrase, rounds: 2 } : undefined,
      );
      writeFileSync(path, text, { mode: 0o600 }); // ssh-keygen refuses files others can read
      const out = sshKeygen(['-y', '-P', passphrase, '-f', path]).stdout.trim();
      assert.equal(out.split(' ').slice(0, 2).join(' '), formatPublicKeyLine(key.publicKey));
    }
  });

  it('refuses DSA keys of sizes OpenSSH refuses and parts that do not belong together', () => {
    const key = generatePrivateKey('dsa');
    const r = new SshReader(key.publicKey.blob);
    r.ascii('type');
    const [p, q, g, y] = [r.mpint(), r.mpint(), r.mpint(), r.mpint()];
    const blob = (pp: bigint, qq: bigint, gg: bigint, yy: bigint) =>
      new SshWriter().string('ssh-dss').mpint(pp).mpint(qq).mpint(gg).mpint(yy).finish();
    assert.ok(parsePublicKeyBlob(blob(p, q, g, y)).blob.equals(key.publicKey.blob));
    assert.throws(() => parsePublicKeyBlob(blob(p * 2n + 1n, q, g, y)), isBadKey(/1024-bit p/));
    assert.throws(() => parsePublicKeyBlob(blob(p, q + 2n ** 160n, g, y)), isBadKey(/160-bit q/));
    assert.throws(() => parsePublicKeyBlob(blob(p, q, g, p)), isBadKey(/out of range/));
  });
});
