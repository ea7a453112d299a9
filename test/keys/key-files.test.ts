/**
 * generateKeyFile / writeKeyPair: what ssh-keygen -t … -f writes, checked by ssh-keygen itself
 * (-y derives the public key from our private file, with the passphrase when encrypted; -l reads
 * our .pub), the file modes 0600/0644, and our own parser reading both back.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKeyFile, writeKeyPair } from '../../src/keys/key-files.js';
import { generatePrivateKey, parsePrivateKey } from '../../src/keys/openssh-format.js';
import { fingerprintLine } from '../../src/keys/fingerprint.js';
import { parsePublicKeyLine } from '../../src/keys/public-key.js';
import { makeTempDir, removeDir, sshKeygen } from './helpers.js';

let dir: string;
before(() => (dir = makeTempDir()));
after(() => removeDir(dir));

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('generateKeyFile writes what ssh-keygen reads', () => {
  const cases = [
    ['ed25519', {}],
    ['ecdsa', { bits: 256 }],
    ['ecdsa', { bits: 384 }],
    ['ecdsa', { curve: 'nistp521' }],
    ['rsa', { bits: 2048 }],
  ] as const;
  for (const [type, gen] of cases) {
    for (const passphrase of [undefined, 'correct horse']) {
      const label = `${type} ${JSON.stringify(gen)} ${passphrase ? 'encrypted' : 'plain'}`;
      it(label, async () => {
        const path = join(dir, `id_${type}_${Object.values(gen).join('')}_${passphrase ? 'enc' : 'plain'}`);
        const key = await generateKeyFile(path, type, {
          ...gen,
          comment: `made by seashell`,
          passphrase,
          rounds: 2,
        });
        assert.equal(mode(path), 0o600);
        assert.equal(mode(`${path}.pub`), 0o644);
        const pubLine = readFileSync(`${path}.pub`, 'utf8');
        assert.match(pubLine, / made by seashell\n$/);
        const pub = parsePublicKeyLine(pubLine.trim());
        assert.ok(pub.key.blob.equals(key.publicKey.blob));
        // ssh-keygen -y prints the public key it derives from the private file.
        const derived = sshKeygen(['-y', '-P', passphrase ?? '', '-f', path]).stdout.trim();
        assert.equal(derived.split(' ').slice(0, 2).join(' '), pubLine.split(' ').slice(0, 2).join(' '));
        if (passphrase) {
          assert.notEqual(sshKeygen(['-y', '-P', 'wrong', '-f', path], { allowFailure: true }).status, 0);
          assert.match(readFileSync(path, 'utf8'), /BEGIN OPENSSH PRIVATE KEY/);
        }
        // ssh-keygen -l on our .pub prints what fingerprintLine does.
        assert.equal(
          sshKeygen(['-l', '-f', `${path}.pub`]).stdout.trim(),
          fingerprintLine(pub.key, pub.comment),
        );
        const back = parsePrivateKey(readFileSync(path), passphrase);
        assert.ok(back.keyObject.equals(key.keyObject));
        assert.equal(back.comment, 'made by seashell');
      });
    }
  }

  it('writeKeyPair replaces existing files whole, keeps 0600 under a permissive umask, and writes chacha20-poly1305', async () => {
    const path = join(dir, 'id_replace');
    writeFileSync(path, 'old contents that are longer than nothing', { mode: 0o644 });
    writeFileSync(`${path}.pub`, 'old');
    const key = generatePrivateKey('ed25519', { comment: 'c' });
    const old = process.umask(0);
    try {
      await writeKeyPair(path, key, { passphrase: 'pw', cipher: 'chacha20-poly1305@openssh.com', rounds: 2 });
    } finally {
      process.umask(old);
    }
    assert.equal(mode(path), 0o600);
    assert.equal(mode(`${path}.pub`), 0o644);
    assert.ok(parsePrivateKey(readFileSync(path), 'pw').keyObject.equals(key.keyObject));
    const derived = sshKeygen(['-y', '-P', 'pw', '-f', path]).stdout.trim();
    assert.equal(
      derived.split(' ').slice(0, 2).join(' '),
      readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' '),
    );
    // A key without a comment: the .pub has none either (ssh-keygen -l says "no comment").
    await writeKeyPair(join(dir, 'id_nocomment'), generatePrivateKey('ed25519'));
    assert.equal(readFileSync(join(dir, 'id_nocomment.pub'), 'utf8').trim().split(' ').length, 2);
    assert.match(sshKeygen(['-l', '-f', join(dir, 'id_nocomment.pub')]).stdout, /no comment/);
  });
});

describe('a daemon without a usable host key', () => {
  it('says which host key files exist and why they cannot be used', async () => {
    const { daemon } = await import('../../src/index.js');
    const systemDir = join(dir, 'system-unusable');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(systemDir);
    await generateKeyFile(join(systemDir, 'ssh_host_ed25519_key'), 'ed25519', {
      passphrase: 'host pw',
      rounds: 1,
    });
    writeFileSync(join(systemDir, 'ssh_host_rsa_key'), 'not a key\n', { mode: 0o600 });
    await assert.rejects(
      daemon('127.0.0.1', 0, { systemDir, userDir: dir }),
      (e: Error & { code?: string }) =>
        e.code === 'BAD_KEY' &&
        e.message.includes(`${join(systemDir, 'ssh_host_ed25519_key')}: a passphrase is needed`) &&
        e.message.includes(`${join(systemDir, 'ssh_host_rsa_key')}: not a private key`),
    );
  });
});
