import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileKeyApi } from '../../src/keys/key-api.js';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';

test('isAuthKey follows edits to authorized_keys although it caches the parsed file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'seashell-authkeys-'));
  try {
    const ctx = { userDir: dir, systemDir: dir };
    const a = generatePrivateKey('ed25519').publicKey;
    const b = generatePrivateKey('ecdsa').publicKey;
    const file = join(dir, 'authorized_keys');
    assert.equal(await fileKeyApi.isAuthKey(a, 'u', ctx), false, 'no file: nothing is authorized');

    await writeFile(file, formatPublicKeyLine(a) + '\n');
    assert.equal(await fileKeyApi.isAuthKey(a, 'u', ctx), true);
    assert.equal(await fileKeyApi.isAuthKey(a, 'u', ctx), true, 'the cached answer holds');
    assert.equal(await fileKeyApi.isAuthKey(b, 'u', ctx), false);

    // A key that is only a certificate authority, and a line with options we cannot read, authorize nothing.
    await writeFile(
      file,
      `cert-authority ${formatPublicKeyLine(b)}\nfrom="unterminated ${formatPublicKeyLine(a)}\n`,
    );
    assert.equal(await fileKeyApi.isAuthKey(b, 'u', ctx), false);
    assert.equal(await fileKeyApi.isAuthKey(a, 'u', ctx), false, 'the rewritten file no longer authorizes a');

    await writeFile(file, `command="true",no-pty ${formatPublicKeyLine(b)} comment\n`);
    assert.equal(await fileKeyApi.isAuthKey(b, 'u', ctx), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
