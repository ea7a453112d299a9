import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import { identification, validateIdString, VersionReader } from '../../src/transport/version.js';

const isError = (code: string, pattern: RegExp) => (e: unknown) =>
  e instanceof SshError && e.code === code && pattern.test(e.message);

describe('identification exchange (RFC 4253 §4.2)', () => {
  test('a client skips lines a server sends before its identification', () => {
    const r = new VersionReader(true);
    assert.equal(r.push(Buffer.from('Welcome to the lab.\r\nPlease be nice\n')), undefined);
    const got = r.push(Buffer.from('SSH-2.0-OpenSSH_9.2 Debian\r\n\x00\x00\x01\x00rest'));
    assert.equal(got?.line, 'SSH-2.0-OpenSSH_9.2 Debian');
    assert.deepEqual(got?.rest, Buffer.from('\x00\x00\x01\x00rest', 'latin1'));
  });

  test('the identification may arrive a byte at a time and end with LF alone', () => {
    const r = new VersionReader(true);
    const text = 'SSH-1.99-compat\n';
    let got;
    for (const ch of text) got = r.push(Buffer.from(ch));
    assert.equal(got?.line, 'SSH-1.99-compat');
  });

  test('lines before the identification are bounded', () => {
    const r = new VersionReader(true);
    assert.throws(
      () => {
        for (let i = 0; i < 2000; i++) r.push(Buffer.from('noise\r\n'));
      },
      isError('PROTOCOL_ERROR', /too many lines before the server identification/),
    );
    const long = new VersionReader(true);
    assert.throws(
      () => long.push(Buffer.alloc(9000, 0x41)),
      isError('PROTOCOL_ERROR', /identification line too long/),
    );
  });

  test('a server accepts nothing but the identification from a client', () => {
    assert.throws(
      () => new VersionReader(false).push(Buffer.from('GET / HTTP/1.1\r\n')),
      isError('PROTOCOL_ERROR', /invalid SSH identification string/),
    );
  });

  test('protocol versions other than 2.0 and 1.99 are refused with PROTOCOL_VERSION_NOT_SUPPORTED', () => {
    assert.throws(
      () => new VersionReader(true).push(Buffer.from('SSH-1.5-old\r\n')),
      (e: unknown) => e instanceof SshError && e.reasonName === 'PROTOCOL_VERSION_NOT_SUPPORTED',
    );
    assert.throws(
      () => new VersionReader(true).push(Buffer.from('SSH-2.0-a\0b\r\n')),
      isError('PROTOCOL_ERROR', /NUL/),
    );
  });

  test('idString: a string, random, and random within bounds', () => {
    assert.equal(identification('MyServer_1.0', 'Seashell_x'), 'SSH-2.0-MyServer_1.0');
    assert.equal(identification(undefined, 'Seashell_0.1.0'), 'SSH-2.0-Seashell_0.1.0');
    const a = identification('random', 'x');
    const b = identification('random', 'x');
    assert.match(a, /^SSH-2\.0-[A-Za-z0-9]{8,16}$/);
    assert.notEqual(a, b);
    for (let i = 0; i < 20; i++)
      assert.match(identification({ random: [3, 5] }, 'x'), /^SSH-2\.0-[A-Za-z0-9]{3,5}$/);
    assert.throws(() => validateIdString('has space'), isError('BAD_OPTION', /idString/));
    assert.throws(() => validateIdString({ random: [5, 3] }), isError('BAD_OPTION', /idString/));
  });
});
