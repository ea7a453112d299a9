import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import {
  decodeUserauthBanner,
  decodeUserauthFailure,
  decodeUserauthPkOk,
  decodeUserauthRequest,
  encodeUserauthBanner,
  encodeUserauthFailure,
  encodeUserauthNone,
  encodeUserauthPassword,
  encodeUserauthPkOk,
  encodeUserauthPublickey,
  publickeySignedData,
} from '../../src/wire/auth-messages.js';
import { Msg } from '../../src/wire/numbers.js';
import { SshReader } from '../../src/wire/reader.js';
import { SshWriter } from '../../src/wire/writer.js';

function isProtocolError(e: unknown): boolean {
  return e instanceof SshError && e.code === 'PROTOCOL_ERROR';
}

function head(user: string, service: string, method: string): SshWriter {
  return new SshWriter().byte(Msg.USERAUTH_REQUEST).string(user).string(service).string(method);
}

describe('USERAUTH_REQUEST (RFC 4252 §5)', () => {
  test('none', () => {
    const p = encodeUserauthNone('alice', 'ssh-connection');
    assert.equal(p[0], Msg.USERAUTH_REQUEST);
    assert.deepEqual(decodeUserauthRequest(p), { method: 'none', user: 'alice', service: 'ssh-connection' });
  });

  test('password, with a UTF-8 user name and password', () => {
    const p = encodeUserauthPassword('ålice', 'ssh-connection', 'sécret');
    assert.deepEqual(decodeUserauthRequest(p), {
      method: 'password',
      user: 'ålice',
      service: 'ssh-connection',
      password: 'sécret',
    });
    // RFC 4252 §8: FALSE, then the password.
    const r = new SshReader(p, 1);
    r.string();
    r.string();
    r.string();
    assert.equal(r.boolean(), false);
  });

  test('password change request (RFC 4252 §8) decodes the new password', () => {
    const p = head('bob', 'ssh-connection', 'password').boolean(true).string('old').string('new').finish();
    assert.deepEqual(decodeUserauthRequest(p), {
      method: 'password',
      user: 'bob',
      service: 'ssh-connection',
      password: 'old',
      newPassword: 'new',
    });
  });

  test('publickey query and signed request', () => {
    const blob = randomBytes(51);
    const sig = randomBytes(83);
    const query = encodeUserauthPublickey('carol', 'ssh-connection', 'ssh-ed25519', blob);
    assert.deepEqual(decodeUserauthRequest(query), {
      method: 'publickey',
      user: 'carol',
      service: 'ssh-connection',
      algorithm: 'ssh-ed25519',
      keyBlob: blob,
    });
    const signed = encodeUserauthPublickey('carol', 'ssh-connection', 'ssh-ed25519', blob, sig);
    assert.deepEqual(decodeUserauthRequest(signed), {
      method: 'publickey',
      user: 'carol',
      service: 'ssh-connection',
      algorithm: 'ssh-ed25519',
      keyBlob: blob,
      signature: sig,
    });
  });

  test('keyboard-interactive (RFC 4256 §3.1) and unknown methods', () => {
    const ki = head('dave', 'ssh-connection', 'keyboard-interactive').string('').string('pam').finish();
    assert.deepEqual(decodeUserauthRequest(ki), {
      method: 'keyboard-interactive',
      user: 'dave',
      service: 'ssh-connection',
      language: '',
      submethods: 'pam',
    });
    const other = head('erin', 'ssh-connection', 'hostbased').string('whatever').finish();
    assert.deepEqual(decodeUserauthRequest(other), {
      method: 'other',
      name: 'hostbased',
      user: 'erin',
      service: 'ssh-connection',
    });
  });

  test('truncated requests are refused', () => {
    const blob = randomBytes(40);
    for (const p of [
      encodeUserauthPassword('u', 'ssh-connection', 'pw'),
      encodeUserauthPublickey('u', 'ssh-connection', 'ssh-ed25519', blob, randomBytes(64)),
      encodeUserauthPublickey('u', 'ssh-connection', 'ssh-ed25519', blob),
    ]) {
      assert.throws(() => decodeUserauthRequest(p.subarray(0, p.length - 1)), isProtocolError);
    }
    assert.throws(() => decodeUserauthRequest(Buffer.from([Msg.USERAUTH_REQUEST, 0, 0])), isProtocolError);
  });

  test('names longer than 1024 bytes are refused', () => {
    const long = 'x'.repeat(1025);
    for (const p of [
      encodeUserauthNone(long, 'ssh-connection'),
      encodeUserauthNone('u', long),
      head('u', 'ssh-connection', long).finish(),
    ]) {
      assert.throws(() => decodeUserauthRequest(p), isProtocolError);
    }
    assert.equal(decodeUserauthRequest(encodeUserauthNone('y'.repeat(1024), 's')).user.length, 1024);
  });
});

describe('publickey signed data (RFC 4252 §7)', () => {
  test('is session id, 50, user, service, "publickey", TRUE, algorithm, blob', () => {
    const sid = randomBytes(32);
    const blob = randomBytes(51);
    const data = publickeySignedData(sid, 'user', 'ssh-connection', 'rsa-sha2-256', blob);
    const expected = new SshWriter()
      .string(sid)
      .byte(50)
      .string('user')
      .string('ssh-connection')
      .string('publickey')
      .byte(1)
      .string('rsa-sha2-256')
      .string(blob)
      .finish();
    assert.deepEqual(data, expected);
    // The request with the signature is the same bytes after the session id, plus the signature.
    const req = encodeUserauthPublickey('user', 'ssh-connection', 'rsa-sha2-256', blob, Buffer.from('S'));
    assert.deepEqual(req.subarray(0, req.length - 5), data.subarray(4 + sid.length));
  });
});

describe('USERAUTH_FAILURE, BANNER, PK_OK', () => {
  test('FAILURE round-trips the method list and partial success', () => {
    for (const partial of [false, true]) {
      const p = encodeUserauthFailure(['publickey', 'password'], partial);
      assert.equal(p[0], Msg.USERAUTH_FAILURE);
      assert.deepEqual(decodeUserauthFailure(p), {
        methods: ['publickey', 'password'],
        partialSuccess: partial,
      });
    }
    assert.deepEqual(decodeUserauthFailure(encodeUserauthFailure([])), {
      methods: [],
      partialSuccess: false,
    });
    const p = encodeUserauthFailure(['password']);
    assert.throws(() => decodeUserauthFailure(p.subarray(0, p.length - 1)), isProtocolError);
  });

  test('BANNER carries UTF-8 text and a language tag (RFC 4252 §5.4)', () => {
    const p = encodeUserauthBanner('Welcome ☺\r\n');
    assert.equal(p[0], Msg.USERAUTH_BANNER);
    assert.equal(decodeUserauthBanner(p), 'Welcome ☺\r\n');
    const r = new SshReader(p, 1);
    r.string();
    assert.equal(r.ascii(), '');
    r.done('banner');
  });

  test('PK_OK echoes the algorithm and the key blob (RFC 4252 §7)', () => {
    const blob = randomBytes(33);
    const p = encodeUserauthPkOk('ecdsa-sha2-nistp256', blob);
    assert.equal(p[0], 60);
    assert.deepEqual(decodeUserauthPkOk(p), { algorithm: 'ecdsa-sha2-nistp256', keyBlob: blob });
    assert.throws(() => decodeUserauthPkOk(p.subarray(0, 10)), isProtocolError);
  });
});
