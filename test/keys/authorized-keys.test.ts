import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  findAuthorizedKey,
  isKeyAuthorized,
  parseAuthorizedKeys,
  parseKeyOptions,
} from '../../src/keys/authorized-keys.js';
import { parsePublicKeyLine } from '../../src/keys/public-key.js';
import type { PublicKey } from '../../src/keys/types.js';
import type { GeneratedKey } from './helpers.js';
import { KEY_SPECS, generateWithSshKeygen, isBadKey, makeTempDir, removeDir } from './helpers.js';

let dir: string;
const lines = new Map<string, GeneratedKey>();

before(() => {
  dir = makeTempDir();
  for (const spec of KEY_SPECS) lines.set(spec.label, generateWithSshKeygen(dir, `id_${spec.label}`, spec));
  lines.set('other', generateWithSshKeygen(dir, 'id_other', KEY_SPECS[0]!));
  lines.set('ca', generateWithSshKeygen(dir, 'id_ca', KEY_SPECS[0]!));
});
after(() => removeDir(dir));

function line(label: string): string {
  return lines.get(label)!.publicLine;
}

function keyOf(label: string): PublicKey {
  return parsePublicKeyLine(line(label)).key;
}

/** The "type base64" part of a .pub line, without its comment. */
function bare(label: string): string {
  return line(label).split(' ').slice(0, 2).join(' ');
}

function file(): string {
  return [
    '# authorized_keys for tests',
    '',
    `${line('ed25519')}`,
    `restrict,command="echo \\"a, b\\" , c",from="10.0.0.1,192.168.*" ${bare('ecdsa256')} comment with spaces`,
    `   no-pty,environment="X=1 2" ${bare('rsa2048')}`,
    'ssh-dss AAAAB3NzaC1kc3MAAACBAP unsupported',
    'this line is junk',
    `command="unterminated ${bare('ecdsa384')}`,
    `bad option ${bare('ecdsa384')}`,
    `cert-authority ${bare('ca')} a CA`,
    `\t${bare('ecdsa521')}\r`,
    '',
  ].join('\n');
}

describe('parseAuthorizedKeys', () => {
  it('reads keys, options and comments and skips what it cannot use', () => {
    const entries = parseAuthorizedKeys(file());
    assert.deepEqual(
      entries.map((e) => [e.line, e.key.type, e.options, e.comment]),
      [
        [3, 'ssh-ed25519', '', lines.get('ed25519')!.comment],
        [
          4,
          'ecdsa-sha2-nistp256',
          'restrict,command="echo \\"a, b\\" , c",from="10.0.0.1,192.168.*"',
          'comment with spaces',
        ],
        [5, 'ssh-rsa', 'no-pty,environment="X=1 2"', ''],
        [10, 'ssh-ed25519', 'cert-authority', 'a CA'],
        [11, 'ecdsa-sha2-nistp521', '', ''],
      ],
    );
    assert.deepEqual(entries[1]!.key.blob, keyOf('ecdsa256').blob);
  });

  it('returns nothing for empty and comment-only files', () => {
    assert.deepEqual(parseAuthorizedKeys(''), []);
    assert.deepEqual(parseAuthorizedKeys('# nothing\n\n   \n'), []);
  });
});

describe('findAuthorizedKey / isKeyAuthorized', () => {
  it('finds keys with and without options', () => {
    assert.equal(isKeyAuthorized(file(), keyOf('ed25519')), true);
    assert.equal(isKeyAuthorized(file(), keyOf('ecdsa521')), true);
    const restricted = findAuthorizedKey(file(), keyOf('ecdsa256'));
    assert.ok(restricted);
    assert.equal(restricted.line, 4);
    assert.match(restricted.options, /^restrict,/);
    assert.equal(findAuthorizedKey(file(), keyOf('rsa2048'))?.options, 'no-pty,environment="X=1 2"');
  });

  it('does not authorize keys that are absent, only on broken lines, or only CAs', () => {
    assert.equal(isKeyAuthorized(file(), keyOf('other')), false);
    assert.equal(isKeyAuthorized(file(), keyOf('ecdsa384')), false);
    assert.equal(isKeyAuthorized(file(), keyOf('ca')), false);
    assert.equal(isKeyAuthorized('', keyOf('ed25519')), false);
  });
});

describe('parseKeyOptions', () => {
  it('splits at commas outside quotes and dequotes values', () => {
    assert.deepEqual(
      parseKeyOptions('restrict,command="echo \\"a, b\\" , c",from="10.0.0.1,192.168.*",pty'),
      [
        { name: 'restrict', value: undefined },
        { name: 'command', value: 'echo "a, b" , c' },
        { name: 'from', value: '10.0.0.1,192.168.*' },
        { name: 'pty', value: undefined },
      ],
    );
    assert.deepEqual(parseKeyOptions(''), []);
  });

  it('rejects malformed options', () => {
    assert.throws(() => parseKeyOptions('command="open'), isBadKey(/unterminated/));
    assert.throws(() => parseKeyOptions('command=unquoted'), isBadKey(/double quotes/));
    assert.throws(() => parseKeyOptions('a,,b'), isBadKey(/bad option name/));
    assert.throws(() => parseKeyOptions('a,'), isBadKey(/unexpected/));
    assert.throws(() => parseKeyOptions('command="x"y'), isBadKey(/unexpected "y"/));
  });
});
