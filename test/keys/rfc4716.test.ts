import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import { formatRfc4716PublicKey, parsePublicKeyFile } from '../../src/keys/rfc4716.js';
import { KEY_SPECS, generateWithSshKeygen, isBadKey, makeTempDir, removeDir, sshKeygen } from './helpers.js';

let dir: string;
before(() => (dir = makeTempDir()));
after(() => removeDir(dir));

describe('RFC 4716 public keys, both ways with ssh-keygen', () => {
  for (const spec of KEY_SPECS) {
    it(`reads what ssh-keygen -e writes for ${spec.label}, and ssh-keygen -i reads ours`, () => {
      const g = generateWithSshKeygen(dir, `id_${spec.label}`, spec);
      const exported = sshKeygen(['-e', '-f', `${g.path}.pub`]).stdout;
      assert.match(exported, /^---- BEGIN SSH2 PUBLIC KEY ----/);
      const parsed = parsePublicKeyFile(exported);
      assert.equal(formatPublicKeyLine(parsed.key), g.publicLine.split(' ').slice(0, 2).join(' '));
      assert.match(parsed.comment, /-bit .*converted by/);
      const ours = formatRfc4716PublicKey(
        parsed.key,
        'a comment long enough to need a continuation line, '.repeat(2),
      );
      assert.ok(ours.split('\n').every((l) => l.length <= 72));
      const path = join(dir, `${spec.label}.rfc4716`);
      writeFileSync(path, ours);
      const back = sshKeygen(['-i', '-m', 'RFC4716', '-f', path]).stdout.trim();
      assert.equal(back, formatPublicKeyLine(parsed.key));
      assert.equal(parsePublicKeyFile(ours).comment.startsWith('a comment long enough'), true);
    });
  }

  it('also reads the one-line OpenSSH form, and refuses a broken RFC 4716 file clearly', () => {
    const key = generatePrivateKey('ed25519');
    assert.ok(
      parsePublicKeyFile(formatPublicKeyLine(key.publicKey, 'c') + '\n').key.blob.equals(key.publicKey.blob),
    );
    const good = formatRfc4716PublicKey(key.publicKey);
    assert.throws(
      () => parsePublicKeyFile(good.replace('---- END SSH2 PUBLIC KEY ----', '')),
      isBadKey(/no "---- END/),
    );
    assert.throws(
      () =>
        parsePublicKeyFile(
          `---- BEGIN SSH2 PUBLIC KEY ----\n${'x'.repeat(70)}: v\n---- END SSH2 PUBLIC KEY ----\n`,
        ),
      isBadKey(/header tag of 70/),
    );
  });
});
