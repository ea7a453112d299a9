import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SshWriter } from '../../src/wire/writer.js';
import {
  formatOpenSshPrivateKey,
  generatePrivateKey,
  parsePrivateKey,
} from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine, parsePublicKeyLine } from '../../src/keys/public-key.js';
import type { PrivateKey } from '../../src/keys/types.js';
import type { GeneratedKey } from './helpers.js';
import { KEY_SPECS, generateWithSshKeygen, isBadKey, makeTempDir, removeDir, sshKeygen } from './helpers.js';

let dir: string;
const keys = new Map<string, GeneratedKey>();
let fileCounter = 0;

before(() => {
  dir = makeTempDir();
  for (const spec of KEY_SPECS) keys.set(spec.label, generateWithSshKeygen(dir, `id_${spec.label}`, spec));
});
after(() => removeDir(dir));

function gen(label: string): GeneratedKey {
  const k = keys.get(label);
  assert.ok(k, `no key ${label}`);
  return k;
}

function specOf(label: string): (typeof KEY_SPECS)[number] {
  const s = KEY_SPECS.find((x) => x.label === label);
  assert.ok(s);
  return s;
}

/** Writes a private key file (mode 0600, as ssh-keygen insists) and returns its path. */
function writeKeyFile(text: string): string {
  const path = join(dir, `written_${fileCounter++}`);
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** What `ssh-keygen -y -f` derives from our file: its public key line. */
function sshKeygenPublicLine(text: string): string {
  return sshKeygen(['-y', '-f', writeKeyFile(text)]).stdout.trim();
}

function armour(body: Buffer): string {
  const b64 = body.toString('base64').replace(/.{70}/g, '$&\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

function dearmour(text: string): Buffer {
  return Buffer.from(text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** Builds an openssh-key-v1 blob by hand (PROTOCOL.key) so that tests can break any part of it. */
function buildOpenSsh(parts: {
  cipher?: string;
  kdf?: string;
  count?: number;
  publicBlob: Buffer;
  checks?: [number, number];
  fields: (w: SshWriter) => void;
  comment?: string;
  padding?: (n: number) => number[];
}): Buffer {
  const s = new SshWriter();
  const [c1, c2] = parts.checks ?? [0x01020304, 0x01020304];
  s.uint32(c1).uint32(c2);
  parts.fields(s);
  s.string(parts.comment ?? 'hand made');
  const padLen = (8 - (s.length % 8)) % 8;
  const pad = parts.padding ? parts.padding(padLen) : Array.from({ length: padLen }, (_, i) => i + 1);
  for (const b of pad) s.byte(b);
  return new SshWriter()
    .raw(Buffer.from('openssh-key-v1\0', 'latin1'))
    .string(parts.cipher ?? 'none')
    .string(parts.kdf ?? 'none')
    .string(Buffer.alloc(0))
    .uint32(parts.count ?? 1)
    .string(parts.publicBlob)
    .string(s.finish())
    .finish();
}

function jwkOf(key: PrivateKey): Record<string, Buffer> {
  const jwk = key.keyObject.export({ format: 'jwk' }) as Record<string, unknown>;
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(jwk))
    if (typeof v === 'string' && k !== 'kty' && k !== 'crv') out[k] = Buffer.from(v, 'base64url');
  return out;
}

describe('OpenSSH private keys made by ssh-keygen', () => {
  for (const spec of KEY_SPECS) {
    it(`parses the ${spec.label} key and matches its .pub file`, () => {
      const g = gen(spec.label);
      const key = parsePrivateKey(g.privateText);
      assert.equal(key.type, spec.type);
      assert.equal(key.comment, g.comment);
      assert.equal(key.keyObject.type, 'private');
      assert.equal(formatPublicKeyLine(key.publicKey, key.comment), g.publicLine);
      // The same key from a Buffer.
      assert.deepEqual(parsePrivateKey(readFileSync(g.path)).publicKey.blob, key.publicKey.blob);
    });

    it(`writes the ${spec.label} key back so that ssh-keygen -y reads it`, () => {
      const g = gen(spec.label);
      const key = parsePrivateKey(g.privateText);
      const text = formatOpenSshPrivateKey(key);
      assert.equal(sshKeygenPublicLine(text), g.publicLine);
      // Same layout as ssh-keygen's: 70-column lines, same length (only the check integers differ).
      const ours = text.split('\n');
      const theirs = g.privateText.split('\n');
      assert.equal(ours.length, theirs.length);
      for (const line of ours.slice(1, -3)) assert.equal(line.length, 70);
      const again = parsePrivateKey(text);
      assert.ok(again.keyObject.equals(key.keyObject));
      assert.equal(again.comment, g.comment);
      assert.equal(parsePrivateKey(formatOpenSshPrivateKey(key, 'other')).comment, 'other');
    });

    it(`lets ssh-keygen convert our ${spec.label} file to PEM with the same private key`, () => {
      if (spec.type === 'ssh-ed25519') {
        // OpenSSH cannot write Ed25519 as PEM; compare the seed instead.
        const key = parsePrivateKey(gen(spec.label).privateText);
        const raw = dearmour(gen(spec.label).privateText);
        assert.ok(raw.includes(jwkOf(key)['d']!), 'the 32-byte seed is in the file');
        return;
      }
      const key = parsePrivateKey(gen(spec.label).privateText);
      const path = writeKeyFile(formatOpenSshPrivateKey(key));
      sshKeygen(['-q', '-p', '-N', '', '-P', '', '-m', 'PEM', '-f', path]);
      const pemText = readFileSync(path, 'utf8');
      assert.match(pemText, /-----BEGIN (RSA|EC) PRIVATE KEY-----/);
      assert.ok(parsePrivateKey(pemText).keyObject.equals(key.keyObject));
    });
  }

  // -a 2: two bcrypt rounds keep the suite quick (the KDF is pure JavaScript, ~65 ms a round);
  // one key keeps ssh-keygen's default of 16.
  for (const [label, cipher, rounds] of [
    ['ed25519', undefined, '16'],
    ['ed25519', 'aes128-ctr', '2'],
    ['ecdsa256', 'aes256-cbc', '2'],
    ['ecdsa384', 'aes256-gcm@openssh.com', '2'],
    ['ecdsa521', 'aes192-ctr', '2'],
    ['rsa2048', 'aes128-gcm@openssh.com', '2'],
  ] as const) {
    it(`reads a ${label} key ssh-keygen encrypted with ${cipher ?? 'its default cipher'} (${rounds} rounds)`, () => {
      const extra = ['-a', rounds, ...(cipher ? ['-Z', cipher] : [])];
      const g = generateWithSshKeygen(
        dir,
        `id_enc_${fileCounter++}`,
        specOf(label),
        extra,
        'secret passphrase',
      );
      assert.match(
        dearmour(g.privateText).subarray(15, 60).toString('latin1'),
        new RegExp(cipher ?? 'aes256-ctr'),
      );
      const key = parsePrivateKey(g.privateText, 'secret passphrase');
      assert.equal(formatPublicKeyLine(key.publicKey), g.publicLine.split(' ').slice(0, 2).join(' '));
      assert.equal(key.comment, g.comment);
      assert.throws(
        () => parsePrivateKey(g.privateText),
        isBadKey(/a passphrase is needed to decrypt this key/),
      );
      assert.throws(() => parsePrivateKey(g.privateText, 'wrong'), isBadKey(/wrong passphrase/));
    });
  }

  it('reads a key ssh-keygen encrypted with chacha20-poly1305@openssh.com, and refuses a changed tag', () => {
    for (const label of ['ed25519', 'ecdsa384', 'rsa2048']) {
      const g = generateWithSshKeygen(
        dir,
        `id_chacha_${fileCounter++}`,
        specOf(label),
        ['-a', '2', '-Z', 'chacha20-poly1305@openssh.com'],
        'pw',
      );
      assert.match(dearmour(g.privateText).subarray(15, 60).toString('latin1'), /chacha20-poly1305/);
      const key = parsePrivateKey(g.privateText, 'pw');
      assert.equal(formatPublicKeyLine(key.publicKey), g.publicLine.split(' ').slice(0, 2).join(' '));
      assert.equal(key.comment, g.comment);
      assert.throws(() => parsePrivateKey(g.privateText, 'wrong'), isBadKey(/wrong passphrase/));
      const blob = dearmour(g.privateText);
      blob[blob.length - 1]! ^= 1; // the tag's last byte
      assert.throws(() => parsePrivateKey(armour(blob), 'pw'), isBadKey(/authentication tag does not match/));
    }
  });

  it('names a key-file cipher it cannot decrypt, and refuses absurd bcrypt rounds', () => {
    const g = generateWithSshKeygen(
      dir,
      'id_cipher',
      specOf('ed25519'),
      ['-a', '2', '-Z', 'aes128-ctr'],
      'pw',
    );
    const blob = dearmour(g.privateText);
    const name = Buffer.from('aes128-ctr');
    blob.write('blowfish!!', blob.indexOf(name), 'latin1');
    assert.throws(
      () => parsePrivateKey(armour(blob), 'pw'),
      isBadKey(/encrypted with blowfish!!, which Seashell/),
    );
    // The rounds field of a real file raised to 2^31: refused before any work.
    const rounds = dearmour(
      generateWithSshKeygen(dir, 'id_rounds', specOf('ed25519'), ['-a', '2'], 'pw').privateText,
    );
    const at = rounds.indexOf(Buffer.from([0, 0, 0, 2]), 40);
    rounds.writeUInt32BE(0x80000000, at);
    assert.throws(() => parsePrivateKey(armour(rounds), 'pw'), isBadKey(/bcrypt rounds 2147483648 outside/));
  });

  for (const cipher of ['aes256-ctr', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com']) {
    it(`writes an encrypted key (${cipher}) that ssh-keygen -y reads with the passphrase`, () => {
      const key = generatePrivateKey('ed25519', { comment: 'ours' });
      const text = formatOpenSshPrivateKey(key, 'ours', { passphrase: 'open sesame', cipher, rounds: 2 });
      const path = writeKeyFile(text);
      const line = sshKeygen(['-y', '-P', 'open sesame', '-f', path]).stdout.trim();
      assert.equal(line.split(' ').slice(0, 2).join(' '), formatPublicKeyLine(key.publicKey));
      assert.equal(sshKeygen(['-y', '-P', 'wrong', '-f', path], { allowFailure: true }).status !== 0, true);
      assert.ok(parsePrivateKey(text, 'open sesame').keyObject.equals(key.keyObject));
    });
  }
});

describe('PEM and DER private keys', () => {
  const pemCases: [string, string, string[], RegExp][] = [
    ['PKCS#1 RSA', 'rsa2048', ['-m', 'PEM'], /BEGIN RSA PRIVATE KEY/],
    ['SEC1 EC', 'ecdsa384', ['-m', 'PEM'], /BEGIN EC PRIVATE KEY/],
    ['PKCS#8 RSA', 'rsa2048', ['-m', 'PKCS8'], /BEGIN PRIVATE KEY/],
    ['PKCS#8 EC', 'ecdsa521', ['-m', 'PKCS8'], /BEGIN PRIVATE KEY/],
  ];
  for (const [name, label, args, header] of pemCases) {
    it(`reads ${name} from ssh-keygen`, () => {
      const g = generateWithSshKeygen(dir, `pem_${fileCounter++}`, specOf(label), args);
      assert.match(g.privateText, header);
      const key = parsePrivateKey(g.privateText);
      assert.equal(
        formatPublicKeyLine(key.publicKey),
        parsePublicKeyLine(g.publicLine).key.type + ' ' + g.publicLine.split(' ')[1],
      );
      assert.equal(key.comment, '');
    });
  }

  it('reads encrypted PKCS#1 and PKCS#8 with the passphrase, and says what is wrong without it', () => {
    for (const [label, args] of [
      ['rsa2048', ['-m', 'PEM']],
      ['ecdsa256', ['-m', 'PKCS8']],
    ] as const) {
      const g = generateWithSshKeygen(dir, `pem_${fileCounter++}`, specOf(label), [...args], 'secret1');
      assert.match(g.privateText, /ENCRYPTED/);
      const key = parsePrivateKey(g.privateText, 'secret1');
      assert.deepEqual(key.publicKey.blob, parsePublicKeyLine(g.publicLine).key.blob);
      assert.throws(() => parsePrivateKey(g.privateText), isBadKey(/encrypted and no passphrase was given/));
      assert.throws(
        () => parsePrivateKey(g.privateText, 'wrong one'),
        isBadKey(/cannot read PEM private key: wrong passphrase/),
      );
    }
  });

  it('reads Ed25519 PKCS#8 PEM and DER, PKCS#1 and SEC1 DER', () => {
    const ed = generateKeyPairSync('ed25519').privateKey;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const inputs: [Buffer | string, string][] = [
      [ed.export({ type: 'pkcs8', format: 'pem' }) as string, 'ssh-ed25519'],
      [ed.export({ type: 'pkcs8', format: 'der' }), 'ssh-ed25519'],
      [rsa.export({ type: 'pkcs1', format: 'der' }), 'ssh-rsa'],
      [ec.export({ type: 'sec1', format: 'der' }), 'ecdsa-sha2-nistp256'],
    ];
    for (const [input, type] of inputs) assert.equal(parsePrivateKey(input).type, type);
  });

  it('refuses PEM keys of types SSH does not use here, and public keys', () => {
    const x448 = generateKeyPairSync('x448').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    assert.throws(() => parsePrivateKey(x448), isBadKey(/unsupported key type x448/));
    const pub = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => parsePrivateKey(pub), isBadKey(/cannot read PEM private key/));
    assert.throws(() => parsePrivateKey('hello'), isBadKey(/not a private key/));
  });
});

describe('generatePrivateKey', () => {
  const cases: [string, () => PrivateKey, string][] = [
    ['ed25519', () => generatePrivateKey('ed25519', { comment: 'gen ed' }), 'ssh-ed25519'],
    ['ecdsa default', () => generatePrivateKey('ecdsa', { comment: 'gen ec' }), 'ecdsa-sha2-nistp256'],
    [
      'ecdsa nistp384',
      () => generatePrivateKey('ecdsa', { curve: 'nistp384', comment: 'x' }),
      'ecdsa-sha2-nistp384',
    ],
    ['ecdsa 521 bits', () => generatePrivateKey('ecdsa', { bits: 521, comment: 'x' }), 'ecdsa-sha2-nistp521'],
    ['rsa 2048', () => generatePrivateKey('rsa', { bits: 2048, comment: 'gen rsa' }), 'ssh-rsa'],
    ['dsa (1024-bit p, 160-bit q)', () => generatePrivateKey('dsa', { comment: 'gen dsa' }), 'ssh-dss'],
  ];
  for (const [name, make, type] of cases) {
    it(`makes ${name} keys that ssh-keygen reads`, () => {
      const key = make();
      assert.equal(key.type, type);
      assert.equal(
        sshKeygenPublicLine(formatOpenSshPrivateKey(key)),
        formatPublicKeyLine(key.publicKey, key.comment),
      );
    });
  }

  it('defaults RSA to 3072 bits', () => {
    assert.equal(generatePrivateKey('rsa').keyObject.asymmetricKeyDetails?.modulusLength, 3072);
  });

  it('rejects bad options', () => {
    const badOption = (e: unknown): boolean => (e as { code?: string }).code === 'BAD_OPTION';
    assert.throws(() => generatePrivateKey('rsa', { bits: 512 }), badOption);
    assert.throws(() => generatePrivateKey('ecdsa', { bits: 255 }), badOption);
    assert.throws(() => generatePrivateKey('ecdsa', { bits: 384, curve: 'nistp256' }), badOption);
    assert.throws(() => generatePrivateKey('ed25519-sk' as 'rsa'), badOption);
  });
});

describe('damaged OpenSSH private keys', () => {
  const ed = (): PrivateKey => parsePrivateKey(gen('ed25519').privateText);
  const edFields =
    (key: PrivateKey, seedOverride?: Buffer) =>
    (w: SshWriter): void => {
      const j = jwkOf(key);
      w.string('ssh-ed25519')
        .string(j['x']!)
        .string(Buffer.concat([seedOverride ?? j['d']!, j['x']!]));
    };

  it('accepts a hand-built key (the builder is right)', () => {
    const key = ed();
    const text = armour(buildOpenSsh({ publicBlob: key.publicKey.blob, fields: edFields(key) }));
    assert.ok(parsePrivateKey(text).keyObject.equals(key.keyObject));
    assert.equal(sshKeygenPublicLine(text), formatPublicKeyLine(key.publicKey, 'hand made'));
  });

  const cases: [string, () => Buffer, RegExp][] = [
    [
      'differing check integers',
      () => buildOpenSsh({ publicBlob: ed().publicKey.blob, fields: edFields(ed()), checks: [1, 2] }),
      /check integers differ/,
    ],
    [
      'bad padding',
      () =>
        buildOpenSsh({
          publicBlob: ed().publicKey.blob,
          fields: edFields(ed()),
          comment: 'c',
          padding: (n) => {
            assert.ok(n > 0, 'this comment length leaves room for padding');
            return Array.from({ length: n }, (_, i) => (i === n - 1 ? 0xee : i + 1));
          },
        }),
      /bad padding/,
    ],
    [
      'a private section not padded to 8 bytes',
      () =>
        buildOpenSsh({
          publicBlob: ed().publicKey.blob,
          fields: edFields(ed()),
          comment: 'c',
          padding: (n) => Array.from({ length: (n + 1) % 8 }, (_, i) => i + 1),
        }),
      /8-byte blocks/,
    ],
    [
      'a public key that is not the private key',
      () =>
        buildOpenSsh({ publicBlob: generatePrivateKey('ed25519').publicKey.blob, fields: edFields(ed()) }),
      /public key does not match/,
    ],
    [
      'an ed25519 seed that is not the public key',
      () => buildOpenSsh({ publicBlob: ed().publicKey.blob, fields: edFields(ed(), Buffer.alloc(32, 7)) }),
      /does not match/,
    ],
    [
      'two keys',
      () => buildOpenSsh({ publicBlob: ed().publicKey.blob, fields: edFields(ed()), count: 2 }),
      /holds 2 keys/,
    ],
    [
      'a kdf without a cipher',
      () => buildOpenSsh({ publicBlob: ed().publicKey.blob, fields: edFields(ed()), kdf: 'bcrypt' }),
      /kdf "bcrypt"/,
    ],
    [
      'an RSA key whose p does not divide n',
      () => {
        const key = parsePrivateKey(gen('rsa2048').privateText);
        const j = jwkOf(key);
        const p = Buffer.from(j['p']!);
        p[p.length - 1]! ^= 2;
        return buildOpenSsh({
          publicBlob: key.publicKey.blob,
          fields: (w) => {
            w.string('ssh-rsa');
            for (const v of [j['n'], j['e'], j['d'], j['qi'], p, j['q']]) w.mpintFromUnsigned(v!);
          },
        });
      },
      /n is not p·q/,
    ],
    [
      'an ECDSA scalar that is not the point',
      () => {
        const key = parsePrivateKey(gen('ecdsa256').privateText);
        const j = jwkOf(key);
        const d = Buffer.from(j['d']!);
        d[5]! ^= 1;
        return buildOpenSsh({
          publicBlob: key.publicKey.blob,
          fields: (w) => {
            w.string('ecdsa-sha2-nistp256').string('nistp256');
            w.string(Buffer.concat([Buffer.of(4), j['x']!, j['y']!])).mpintFromUnsigned(d);
          },
        });
      },
      /does not match the private scalar/,
    ],
    [
      'an unknown key type',
      () =>
        buildOpenSsh({
          publicBlob: ed().publicKey.blob,
          fields: (w) => w.string('ssh-xmss@openssh.com').string(Buffer.alloc(20)),
        }),
      /unsupported private key type "ssh-xmss@openssh.com"/,
    ],
  ];
  for (const [name, make, pattern] of cases) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parsePrivateKey(armour(make())), isBadKey(pattern));
    });
  }

  it('rejects truncation, junk and a missing END line', () => {
    const body = dearmour(gen('ecdsa384').privateText);
    assert.throws(() => parsePrivateKey(armour(body.subarray(0, body.length - 40))), isBadKey(/truncated/));
    assert.throws(
      () => parsePrivateKey(armour(Buffer.from('not a key at all'))),
      isBadKey(/not an openssh-key-v1/),
    );
    assert.throws(
      () => parsePrivateKey(gen('ed25519').privateText.replace('-----END OPENSSH PRIVATE KEY-----', '')),
      isBadKey(/no "-----END OPENSSH PRIVATE KEY-----" line/),
    );
    assert.throws(
      () => parsePrivateKey(gen('ed25519').privateText.replace(/\n[A-Za-z0-9]/, '\n*')),
      isBadKey(/not valid base64/),
    );
  });
});
