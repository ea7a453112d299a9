import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fingerprint, fingerprintLine, randomart } from '../../src/keys/fingerprint.js';
import { parsePublicKeyLine } from '../../src/keys/public-key.js';
import type { GeneratedKey } from './helpers.js';
import { KEY_SPECS, generateWithSshKeygen, makeTempDir, removeDir, sshKeygen } from './helpers.js';

let dir: string;
const keys: GeneratedKey[] = [];

before(() => {
  dir = makeTempDir();
  for (const spec of KEY_SPECS) keys.push(generateWithSshKeygen(dir, `id_${spec.label}`, spec));
});
after(() => removeDir(dir));

/** The fingerprint field of `ssh-keygen -l [-E hash] -f file.pub`: "<bits> <fp> <comment> (<TYPE>)". */
function sshKeygenFingerprint(path: string, hash: string): string {
  const out = sshKeygen(['-l', '-E', hash, '-f', `${path}.pub`]).stdout.trim();
  return out.split(' ')[1]!;
}

describe('fingerprints equal ssh-keygen -l', () => {
  for (const spec of KEY_SPECS) {
    it(`for ${spec.label}`, () => {
      const g = keys.find((k) => k.spec === spec)!;
      const { key } = parsePublicKeyLine(g.publicLine);
      assert.equal(fingerprint(key), sshKeygenFingerprint(g.path, 'sha256'));
      assert.equal(fingerprint(key, 'sha256'), sshKeygenFingerprint(g.path, 'sha256'));
      assert.equal(`MD5:${fingerprint(key, 'md5')}`, sshKeygenFingerprint(g.path, 'md5'));
      assert.equal(fingerprint(key, 'sha1'), sshKeygenFingerprint(g.path, 'sha1'));
      assert.equal(fingerprint(key, 'sha384'), sshKeygenFingerprint(g.path, 'sha384'));
      assert.equal(fingerprint(key, 'sha512'), sshKeygenFingerprint(g.path, 'sha512'));
    });
  }
});

describe('ssh-keygen -l and -lv output, line and randomart, for every type and hash', () => {
  // ssh-keygen knows md5, sha1, sha256, sha384 and sha512 (-E); the seed's sha224 has no peer.
  for (const spec of KEY_SPECS) {
    it(`for ${spec.label}`, () => {
      const g = keys.find((k) => k.spec === spec)!;
      const { key, comment } = parsePublicKeyLine(g.publicLine);
      for (const hash of ['md5', 'sha1', 'sha256', 'sha384', 'sha512'] as const) {
        const plain = sshKeygen(['-l', '-E', hash, '-f', `${g.path}.pub`]).stdout.trim();
        assert.equal(fingerprintLine(key, comment, hash), plain, `${spec.label} ${hash}`);
        const [line, ...art] = sshKeygen(['-lv', '-E', hash, '-f', `${g.path}.pub`])
          .stdout.trimEnd()
          .split('\n');
        assert.equal(line, plain);
        assert.equal(randomart(key, hash), art.join('\n'), `${spec.label} ${hash} randomart`);
      }
      assert.equal(randomart(key, 'sha'), randomart(key, 'sha1'));
      assert.match(randomart(key, 'sha224'), /\+----\[SHA224\]-----\+$/);
      assert.notEqual(randomart(key, 'sha256'), randomart(key, 'sha512'));
    });
  }
});

describe('fingerprint formats', () => {
  it('md5 is lowercase hex pairs without prefix; sha is SHA1; sha224 is unpadded base64', () => {
    const { key } = parsePublicKeyLine(keys[0]!.publicLine);
    const md5 = fingerprint(key, 'md5');
    assert.match(md5, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    assert.equal(md5.replace(/:/g, ''), createHash('md5').update(key.blob).digest('hex'));
    assert.equal(fingerprint(key, 'sha'), fingerprint(key, 'sha1'));
    assert.match(fingerprint(key, 'sha'), /^SHA1:[A-Za-z0-9+/]{27}$/);
    const sha224 = createHash('sha224').update(key.blob).digest('base64');
    assert.equal(fingerprint(key, 'sha224'), `SHA224:${sha224.replace(/=+$/, '')}`);
    assert.doesNotMatch(fingerprint(key, 'sha224'), /=/);
  });
});
