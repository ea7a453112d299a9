import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, createSecretKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SshError } from '../../src/errors.js';
import { SshWriter } from '../../src/wire/writer.js';
import {
  formatPublicKeyLine,
  isSignatureAlgorithm,
  keyTypeForSignatureAlgorithm,
  parsePublicKeyBlob,
  parsePublicKeyLine,
  publicKeyFromKeyObject,
  publicKeysEqual,
  signatureAlgorithmsFor,
} from '../../src/keys/public-key.js';
import type { GeneratedKey } from './helpers.js';
import { KEY_SPECS, generateWithSshKeygen, isBadKey, makeTempDir, removeDir, sshKeygen } from './helpers.js';

let dir: string;
const keys = new Map<string, GeneratedKey>();

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

function blobOf(label: string): Buffer {
  return Buffer.from(gen(label).publicLine.split(' ')[1]!, 'base64');
}

describe('public keys made by ssh-keygen', () => {
  for (const spec of KEY_SPECS) {
    it(`parses and re-formats the ${spec.label} .pub line`, () => {
      const g = gen(spec.label);
      const { key, comment } = parsePublicKeyLine(g.publicLine);
      assert.equal(key.type, spec.type);
      assert.equal(comment, g.comment);
      assert.deepEqual(key.blob, blobOf(spec.label));
      assert.equal(formatPublicKeyLine(key, comment), g.publicLine);
      assert.equal(formatPublicKeyLine(key), g.publicLine.split(' ').slice(0, 2).join(' '));
      assert.equal(key.keyObject.type, 'public');
    });

    it(`builds the same ${spec.label} blob back from the node KeyObject`, () => {
      const key = parsePublicKeyBlob(blobOf(spec.label));
      assert.deepEqual(publicKeyFromKeyObject(key.keyObject).blob, key.blob);
      const viaPem = createPublicKey(key.keyObject.export({ type: 'spki', format: 'pem' }));
      assert.deepEqual(publicKeyFromKeyObject(viaPem).blob, key.blob);
    });
  }

  for (const label of ['ecdsa256', 'ecdsa384', 'ecdsa521', 'rsa2048']) {
    it(`makes the same ${label} KeyObject as ssh-keygen -e -m PKCS8`, () => {
      const spki = sshKeygen(['-e', '-m', 'PKCS8', '-f', `${gen(label).path}.pub`]).stdout;
      const key = parsePublicKeyBlob(blobOf(label));
      assert.equal(key.keyObject.export({ type: 'spki', format: 'pem' }).toString().trim(), spki.trim());
    });
  }

  it('makes the ed25519 KeyObject from the blob bytes', () => {
    const key = parsePublicKeyBlob(blobOf('ed25519'));
    const jwk = key.keyObject.export({ format: 'jwk' });
    assert.equal(jwk.crv, 'Ed25519');
    assert.deepEqual(Buffer.from(jwk.x!, 'base64url'), blobOf('ed25519').subarray(-32));
  });

  it('keeps its own copy of the blob', () => {
    const input = Buffer.from(blobOf('ed25519'));
    const key = parsePublicKeyBlob(input);
    input.fill(0);
    assert.deepEqual(key.blob, blobOf('ed25519'));
  });

  it('compares keys by blob', () => {
    const a = parsePublicKeyBlob(blobOf('ed25519'));
    const b = parsePublicKeyLine(gen('ed25519').publicLine).key;
    assert.equal(publicKeysEqual(a, b), true);
    assert.equal(publicKeysEqual(a, parsePublicKeyBlob(blobOf('rsa2048'))), false);
  });
});

describe('malformed public key blobs', () => {
  const cases: [string, () => Buffer, RegExp][] = [
    ['an empty buffer', () => Buffer.alloc(0), /truncated/],
    [
      'an unknown type',
      () => new SshWriter().string('ssh-xmss@openssh.com').string(Buffer.alloc(20)).finish(),
      /unsupported key type "ssh-xmss@openssh.com"/,
    ],
    ['trailing bytes', () => Buffer.concat([blobOf('ed25519'), Buffer.of(0)]), /trailing/],
    ['a truncated key', () => blobOf('ecdsa384').subarray(0, -1), /truncated/],
    [
      'a 31-byte ed25519 key',
      () => new SshWriter().string('ssh-ed25519').string(Buffer.alloc(31, 1)).finish(),
      /31 bytes/,
    ],
    [
      'an ecdsa curve that differs from the type',
      () => {
        const w = new SshWriter().string('ecdsa-sha2-nistp256').string('nistp384');
        return w.string(Buffer.alloc(65, 4)).finish();
      },
      /names curve "nistp384"/,
    ],
    [
      'an ecdsa point of the wrong length',
      () => {
        const blob = blobOf('ecdsa256');
        const point = blob.subarray(-65);
        return new SshWriter()
          .string('ecdsa-sha2-nistp256')
          .string('nistp256')
          .string(point.subarray(0, 64))
          .finish();
      },
      /must be 65 bytes/,
    ],
    [
      'a compressed ecdsa point',
      () => {
        const point = Buffer.from(blobOf('ecdsa256').subarray(-65));
        point[0] = 0x02;
        return new SshWriter().string('ecdsa-sha2-nistp256').string('nistp256').string(point).finish();
      },
      /uncompressed/,
    ],
    [
      'an ecdsa point off the curve',
      () => {
        const blob = Buffer.from(blobOf('ecdsa521'));
        blob[blob.length - 1]! ^= 1;
        return blob;
      },
      /not on the curve/,
    ],
    [
      'a 768-bit RSA modulus',
      () => {
        const jwk = generateKeyPairSync('rsa', { modulusLength: 768 }).publicKey.export({ format: 'jwk' });
        return new SshWriter()
          .string('ssh-rsa')
          .mpintFromUnsigned(Buffer.from(jwk.e!, 'base64url'))
          .mpintFromUnsigned(Buffer.from(jwk.n!, 'base64url'))
          .finish();
      },
      /768 bits is too small/,
    ],
    [
      'a non-minimal RSA mpint',
      () => {
        const r = blobOf('rsa2048');
        // string "ssh-rsa" (11 bytes), then mpint e = 00 00 00 03 01 00 01: add a zero byte.
        assert.deepEqual(r.subarray(11, 18), Buffer.from('00000003010001', 'hex'));
        return Buffer.concat([r.subarray(0, 11), Buffer.from('0000000400010001', 'hex'), r.subarray(18)]);
      },
      /not minimally encoded/,
    ],
    [
      'a negative RSA modulus',
      () => {
        const n = Buffer.alloc(256, 0xff);
        return new SshWriter()
          .string('ssh-rsa')
          .string(Buffer.of(1, 0, 1))
          .string(n)
          .finish();
      },
      /negative/,
    ],
    [
      'an even RSA exponent',
      () => {
        const r = Buffer.from(blobOf('rsa2048'));
        r[17] = 0x02;
        return r;
      },
      /exponent/,
    ],
  ];
  for (const [name, make, pattern] of cases) {
    it(`rejects ${name} with BAD_KEY`, () => {
      assert.throws(() => parsePublicKeyBlob(make()), isBadKey(pattern));
    });
  }

  it('throws SshError instances', () => {
    assert.throws(() => parsePublicKeyBlob(Buffer.of(1, 2)), SshError);
  });
});

describe('public key lines', () => {
  it('rejects a type field that differs from the blob', () => {
    const [, b64] = gen('ed25519').publicLine.split(' ');
    assert.throws(
      () => parsePublicKeyLine(`ssh-rsa ${b64}`),
      isBadKey(/says "ssh-rsa" but the key is ssh-ed25519/),
    );
  });

  it('rejects bad base64 and missing fields', () => {
    assert.throws(() => parsePublicKeyLine('ssh-ed25519 AAAA$$$$'), isBadKey(/base64/));
    assert.throws(() => parsePublicKeyLine('ssh-ed25519'), isBadKey(/public key line/));
    assert.throws(() => parsePublicKeyLine(''), isBadKey(/public key line/));
  });

  it('accepts a line without comment, with tabs, and with a trailing newline', () => {
    const [type, b64] = gen('ecdsa256').publicLine.split(' ');
    assert.equal(parsePublicKeyLine(`${type}\t${b64}\n`).comment, '');
    assert.equal(parsePublicKeyLine(`${type} ${b64}  two words \r\n`).comment, 'two words');
  });
});

describe('algorithm names', () => {
  it('lists the signature algorithms of each key type', () => {
    assert.deepEqual(signatureAlgorithmsFor('ssh-rsa'), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.deepEqual(signatureAlgorithmsFor('ssh-ed25519'), ['ssh-ed25519']);
    assert.deepEqual(signatureAlgorithmsFor('ecdsa-sha2-nistp384'), ['ecdsa-sha2-nistp384']);
  });

  it('maps signature algorithms to key types', () => {
    assert.equal(keyTypeForSignatureAlgorithm('rsa-sha2-256'), 'ssh-rsa');
    assert.equal(keyTypeForSignatureAlgorithm('rsa-sha2-512'), 'ssh-rsa');
    assert.equal(keyTypeForSignatureAlgorithm('ssh-rsa'), 'ssh-rsa');
    assert.equal(keyTypeForSignatureAlgorithm('ecdsa-sha2-nistp521'), 'ecdsa-sha2-nistp521');
    assert.equal(keyTypeForSignatureAlgorithm('ssh-ed25519'), 'ssh-ed25519');
    assert.equal(keyTypeForSignatureAlgorithm('ssh-dss'), 'ssh-dss');
    assert.equal(keyTypeForSignatureAlgorithm('ssh-ed448'), 'ssh-ed448');
    assert.equal(keyTypeForSignatureAlgorithm('ssh-xmss@openssh.com'), undefined);
    assert.equal(keyTypeForSignatureAlgorithm('ssh-ed25519-cert-v01@openssh.com'), undefined);
    assert.equal(isSignatureAlgorithm('rsa-sha2-512'), true);
    assert.equal(isSignatureAlgorithm('x'), false);
  });
});

describe('publicKeyFromKeyObject', () => {
  it('accepts private KeyObjects', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const fromPrivate = publicKeyFromKeyObject(privateKey);
    assert.equal(fromPrivate.type, 'ecdsa-sha2-nistp384');
    assert.deepEqual(fromPrivate.blob, publicKeyFromKeyObject(publicKey).blob);
  });

  it('rejects curves and types SSH does not use here', () => {
    assert.throws(
      () => publicKeyFromKeyObject(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey),
      isBadKey(/unsupported EC curve secp256k1/),
    );
    assert.throws(
      () => publicKeyFromKeyObject(generateKeyPairSync('x448').publicKey),
      isBadKey(/unsupported key type x448/),
    );
    assert.throws(() => publicKeyFromKeyObject(createSecretKey(Buffer.alloc(16))), isBadKey(/secret/));
  });
});
