import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileKeyApi } from '../../src/keys/key-api.js';
import type { KeyApiContext } from '../../src/keys/key-api.js';
import { formatKnownHostsLine } from '../../src/keys/known-hosts.js';
import { parsePublicKeyLine } from '../../src/keys/public-key.js';
import type { PublicKey } from '../../src/keys/types.js';
import type { GeneratedKey } from './helpers.js';
import { KEY_SPECS, generateWithSshKeygen, makeTempDir, removeDir } from './helpers.js';

let root: string;
let ctx: KeyApiContext;
const g = new Map<string, GeneratedKey>();

const spec = (label: string): (typeof KEY_SPECS)[number] => KEY_SPECS.find((s) => s.label === label)!;

function gen(name: string): GeneratedKey {
  const k = g.get(name);
  assert.ok(k, `no key ${name}`);
  return k;
}

function pub(name: string): PublicKey {
  return parsePublicKeyLine(gen(name).publicLine).key;
}

before(() => {
  root = makeTempDir();
  ctx = { userDir: join(root, 'user'), systemDir: join(root, 'system') };
  for (const d of ['user', 'system', 'spare']) mkdirSync(join(root, d));
  const make: [string, string, string, string?][] = [
    ['host_ed', 'system/ssh_host_ed25519_key', 'ed25519'],
    ['host_ec', 'system/ssh_host_ecdsa_key', 'ecdsa384'],
    ['host_rsa', 'system/ssh_host_rsa_key', 'rsa2048'],
    ['user_ed', 'user/id_ed25519', 'ed25519'],
    ['user_ec', 'user/id_ecdsa', 'ecdsa256', 'a passphrase'],
    ['user_rsa', 'spare/id_rsa', 'rsa2048'],
    ['other', 'spare/other', 'ed25519'],
    ['server_ed', 'spare/server_ed', 'ed25519'],
    ['server_ed2', 'spare/server_ed2', 'ed25519'],
    ['replacement', 'spare/replacement', 'ed25519'],
  ];
  for (const [name, path, label, passphrase] of make) {
    const [sub, file] = path.split('/') as [string, string];
    g.set(name, generateWithSshKeygen(join(root, sub), file, spec(label), [], passphrase ?? ''));
  }
  writeFileSync(join(ctx.userDir, 'authorized_keys'), `# mine\nrestrict ${gen('user_ed').publicLine}\n`);
  writeFileSync(join(ctx.userDir, 'authorized_keys2'), `${gen('user_rsa').publicLine}\n`);
  writeFileSync(
    join(ctx.userDir, 'known_hosts'),
    [
      formatKnownHostsLine('server.test', 22, pub('server_ed')),
      formatKnownHostsLine('server.test', 2222, pub('host_rsa')),
      '',
    ].join('\n'),
  );
});
after(() => removeDir(root));

describe('fileKeyApi.hostKey', () => {
  it('finds the host key for each algorithm', async () => {
    assert.deepEqual((await fileKeyApi.hostKey('ssh-ed25519', ctx))?.publicKey.blob, pub('host_ed').blob);
    assert.deepEqual(
      (await fileKeyApi.hostKey('ecdsa-sha2-nistp384', ctx))?.publicKey.blob,
      pub('host_ec').blob,
    );
    for (const alg of ['rsa-sha2-256', 'rsa-sha2-512', 'ssh-rsa'] as const) {
      assert.deepEqual((await fileKeyApi.hostKey(alg, ctx))?.publicKey.blob, pub('host_rsa').blob, alg);
    }
  });

  it('has no key for a curve other than the file holds, or without files', async () => {
    assert.equal(await fileKeyApi.hostKey('ecdsa-sha2-nistp256', ctx), undefined);
    assert.equal(
      await fileKeyApi.hostKey('ssh-ed25519', { ...ctx, systemDir: join(root, 'missing') }),
      undefined,
    );
  });

  it('reuses the parsed key until the file changes', async () => {
    const dir = join(root, 'cache');
    mkdirSync(dir);
    const path = join(dir, 'ssh_host_ed25519_key');
    writeFileSync(path, gen('host_ed').privateText, { mode: 0o600 });
    const c = { ...ctx, systemDir: dir };
    const first = await fileKeyApi.hostKey('ssh-ed25519', c);
    assert.ok(first);
    assert.equal(await fileKeyApi.hostKey('ssh-ed25519', c), first, 'same object from the cache');
    // Replace the file (a new inode) with another key.
    writeFileSync(`${path}.new`, gen('replacement').privateText, { mode: 0o600 });
    renameSync(`${path}.new`, path);
    const second = await fileKeyApi.hostKey('ssh-ed25519', c);
    assert.deepEqual(second?.publicKey.blob, pub('replacement').blob);
    // Corrupt it: no key, no exception.
    writeFileSync(path, 'not a key');
    assert.equal(await fileKeyApi.hostKey('ssh-ed25519', c), undefined);
    rmSync(path);
    assert.equal(await fileKeyApi.hostKey('ssh-ed25519', c), undefined);
  });
});

describe('fileKeyApi.userKey', () => {
  it('reads id_ed25519; an encrypted or missing key is no key', async () => {
    const ed = await fileKeyApi.userKey('ssh-ed25519', ctx);
    assert.deepEqual(ed?.publicKey.blob, pub('user_ed').blob);
    assert.equal(ed?.comment, gen('user_ed').comment);
    assert.equal(await fileKeyApi.userKey('ecdsa-sha2-nistp256', ctx), undefined);
    assert.equal(await fileKeyApi.userKey('rsa-sha2-512', ctx), undefined);
    const withRsa = { ...ctx, userDir: join(root, 'spare') };
    assert.deepEqual(
      (await fileKeyApi.userKey('rsa-sha2-512', withRsa))?.publicKey.blob,
      pub('user_rsa').blob,
    );
  });

  it('treats an unreadable key file as no key', async () => {
    // A directory where the key should be: readFile fails even for root, as chmod 0 would not.
    const dir = join(root, 'unreadable');
    mkdirSync(join(dir, 'id_ed25519'), { recursive: true });
    assert.equal(await fileKeyApi.userKey('ssh-ed25519', { ...ctx, userDir: dir }), undefined);
  });
});

describe('fileKeyApi.isAuthKey', () => {
  it('accepts keys from authorized_keys and authorized_keys2 only', async () => {
    assert.equal(await fileKeyApi.isAuthKey(pub('user_ed'), 'alice', ctx), true);
    assert.equal(await fileKeyApi.isAuthKey(pub('user_rsa'), 'alice', ctx), true);
    assert.equal(await fileKeyApi.isAuthKey(pub('other'), 'alice', ctx), false);
    assert.equal(
      await fileKeyApi.isAuthKey(pub('user_ed'), 'alice', { ...ctx, userDir: join(root, 'none') }),
      false,
    );
  });
});

describe('fileKeyApi known hosts', () => {
  it('isHostKey is true only for a match with a fitting algorithm', async () => {
    assert.equal(await fileKeyApi.isHostKey(pub('server_ed'), 'server.test', 22, 'ssh-ed25519', ctx), true);
    assert.equal(await fileKeyApi.isHostKey(pub('server_ed2'), 'server.test', 22, 'ssh-ed25519', ctx), false);
    assert.equal(await fileKeyApi.isHostKey(pub('server_ed'), 'other.test', 22, 'ssh-ed25519', ctx), false);
    assert.equal(await fileKeyApi.isHostKey(pub('host_rsa'), 'server.test', 2222, 'rsa-sha2-256', ctx), true);
    assert.equal(await fileKeyApi.isHostKey(pub('server_ed'), 'server.test', 22, 'rsa-sha2-256', ctx), false);
    const none = { ...ctx, userDir: join(root, 'none') };
    assert.equal(await fileKeyApi.isHostKey(pub('server_ed'), 'server.test', 22, 'ssh-ed25519', none), false);
  });

  it('knownHostKeyTypes lists what known_hosts records', async () => {
    assert.deepEqual(await fileKeyApi.knownHostKeyTypes('server.test', 22, ctx), ['ssh-ed25519']);
    assert.deepEqual(await fileKeyApi.knownHostKeyTypes('server.test', 2222, ctx), ['ssh-rsa']);
    assert.deepEqual(
      await fileKeyApi.knownHostKeyTypes('server.test', 22, { ...ctx, userDir: join(root, 'none') }),
      [],
    );
  });

  it('addHostKey creates the directory (0700) and file (0600)', async () => {
    const c = { ...ctx, userDir: join(root, 'fresh', '.ssh') };
    await fileKeyApi.addHostKey('New.Test', 2022, pub('server_ed'), c);
    assert.equal(statSync(c.userDir).mode & 0o777, 0o700);
    const path = join(c.userDir, 'known_hosts');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8'), `${formatKnownHostsLine('new.test', 2022, pub('server_ed'))}\n`);
    assert.equal(await fileKeyApi.isHostKey(pub('server_ed'), 'new.test', 2022, 'ssh-ed25519', c), true);
  });

  it('addHostKey ends an unterminated last line first, and writes whole lines when racing', async () => {
    const dir = join(root, 'append');
    mkdirSync(dir);
    const path = join(dir, 'known_hosts');
    writeFileSync(path, '# no newline at the end');
    const c = { ...ctx, userDir: dir };
    await fileKeyApi.addHostKey('a.test', 22, pub('server_ed'), c);
    assert.equal(
      readFileSync(path, 'utf8'),
      `# no newline at the end\n${formatKnownHostsLine('a.test', 22, pub('server_ed'))}\n`,
    );
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => fileKeyApi.addHostKey(`h${i}.test`, 22, pub('host_rsa'), c)),
    );
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines.length, 22);
    for (let i = 0; i < 20; i++) {
      assert.ok(
        lines.includes(formatKnownHostsLine(`h${i}.test`, 22, pub('host_rsa'))),
        `line for h${i}.test`,
      );
    }
    assert.equal(await fileKeyApi.isHostKey(pub('host_rsa'), 'h7.test', 22, 'rsa-sha2-512', c), true);
  });
});
