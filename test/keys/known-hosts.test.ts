import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashHostName, matchPattern, matchPatternList } from '../../src/keys/host-patterns.js';
import {
  checkKnownHosts,
  formatKnownHostsLine,
  hostPattern,
  knownHostsEntriesFor,
  knownKeyTypesFor,
  parseKnownHosts,
} from '../../src/keys/known-hosts.js';
import { parsePublicKeyLine } from '../../src/keys/public-key.js';
import type { PublicKey } from '../../src/keys/types.js';
import { KEY_SPECS, generateWithSshKeygen, makeTempDir, removeDir, sshKeygen } from './helpers.js';

let dir: string;
const keys = new Map<string, PublicKey>();
let plainPath: string;
let hashedPath: string;
let plain: string;
let hashed: string;

const spec = (label: string): (typeof KEY_SPECS)[number] => KEY_SPECS.find((s) => s.label === label)!;

function k(name: string): PublicKey {
  const key = keys.get(name);
  assert.ok(key, `no key ${name}`);
  return key;
}

function b(name: string): string {
  const key = k(name);
  return `${key.type} ${key.blob.toString('base64')}`;
}

before(() => {
  dir = makeTempDir();
  const make: [string, string][] = [
    ['A', 'ed25519'],
    ['A2', 'ed25519'],
    ['B', 'ecdsa256'],
    ['B2', 'ecdsa256'],
    ['C', 'rsa2048'],
    ['R', 'ed25519'],
    ['E384', 'ecdsa384'],
  ];
  for (const [name, label] of make) {
    keys.set(name, parsePublicKeyLine(generateWithSshKeygen(dir, `key_${name}`, spec(label)).publicLine).key);
  }
  plain = [
    '# known hosts for tests',
    `example.com,192.0.2.1 ${b('A')}`,
    `[example.com]:2222 ${b('B')} port 2222`,
    `*.wild.test,!bad.wild.test ${b('A')}`,
    `host?.qm.test ${b('C')}`,
    `@revoked * ${b('R')}`,
    `@cert-authority *.ca.test ${b('A')}`,
    `multi.test ${b('A')}`,
    `multi.test ${b('C')}`,
    `multi.test ${b('A2')}`,
    `[2001:db8::1]:2200 ${b('C')}`,
    '',
  ].join('\n');
  // Lines that must be skipped; ssh-keygen -H refuses to hash a file containing them, so they go in after.
  const junk = [
    'garbage line',
    `@unknown-marker example.com ${b('A2')}`,
    `broken.test ssh-ed25519 AAAA`,
    '',
  ].join('\n');
  plainPath = join(dir, 'known_hosts');
  hashedPath = join(dir, 'known_hosts_hashed');
  writeFileSync(hashedPath, plain);
  sshKeygen(['-H', '-f', hashedPath]);
  appendFileSync(hashedPath, junk);
  writeFileSync(plainPath, plain + junk);
  plain = readFileSync(plainPath, 'utf8');
  hashed = readFileSync(hashedPath, 'utf8');
});
after(() => removeDir(dir));

describe('hostPattern and formatKnownHostsLine', () => {
  it('names non-default ports in brackets', () => {
    assert.equal(hostPattern('example.com', 22), 'example.com');
    assert.equal(hostPattern('example.com', 2222), '[example.com]:2222');
    assert.equal(hostPattern('2001:db8::1', 22), '2001:db8::1');
    assert.equal(hostPattern('2001:db8::1', 830), '[2001:db8::1]:830');
  });

  it('formats plain lines that read back (and that ssh-keygen -F finds)', () => {
    const line = formatKnownHostsLine('Example.COM', 2222, k('E384'));
    assert.equal(line, `[example.com]:2222 ${b('E384')}`);
    assert.equal(checkKnownHosts(line, 'example.com', 2222, k('E384')), 'match');
    const path = join(dir, 'formatted');
    writeFileSync(path, line + '\n');
    assert.match(sshKeygen(['-F', '[example.com]:2222', '-f', path]).stdout, /found: line 1/);
  });
});

describe('checkKnownHosts', () => {
  const cases: [string, string, number, string, string][] = [
    ['plain name', 'example.com', 22, 'A', 'match'],
    ['upper-case name', 'EXAMPLE.com', 22, 'A', 'match'],
    ['second name of a list', '192.0.2.1', 22, 'A', 'match'],
    ['other key of the same type', 'example.com', 22, 'A2', 'mismatch'],
    ['key type not recorded', 'example.com', 22, 'B', 'unknown'],
    ['[host]:port', 'example.com', 2222, 'B', 'match'],
    ['[host]:port, other key', 'example.com', 2222, 'B2', 'mismatch'],
    ['[host]:port, other curve', 'example.com', 2222, 'E384', 'unknown'],
    ['port 22 entry on another port', 'example.com', 2200, 'A', 'unknown'],
    ['wildcard', 'foo.wild.test', 22, 'A', 'match'],
    ['wildcard, deeper', 'a.b.wild.test', 22, 'A', 'match'],
    ['wildcard, other key', 'foo.wild.test', 22, 'A2', 'mismatch'],
    ['negated name', 'bad.wild.test', 22, 'A', 'unknown'],
    ['wildcard does not match the bare domain', 'wild.test', 22, 'A', 'unknown'],
    ['wildcard on another port', 'foo.wild.test', 2222, 'A', 'unknown'],
    ['? matches one character', 'host1.qm.test', 22, 'C', 'match'],
    ['? matches exactly one', 'host12.qm.test', 22, 'C', 'unknown'],
    ['revoked key anywhere', 'anything.test', 22, 'R', 'revoked'],
    ['revoked key on a non-default port', 'example.com', 2222, 'R', 'revoked'],
    ['cert-authority lines are ignored', 'x.ca.test', 22, 'A', 'unknown'],
    ['any matching line wins over mismatches', 'multi.test', 22, 'A2', 'match'],
    ['IPv6 with port', '2001:db8::1', 2200, 'C', 'match'],
    ['unknown host', 'nowhere.test', 22, 'A', 'unknown'],
    ['a line whose key does not parse', 'broken.test', 22, 'A', 'unknown'],
  ];
  for (const [name, host, port, key, expected] of cases) {
    it(`${name}: ${hostPattern(host, port)} ${key} → ${expected}`, () => {
      assert.equal(checkKnownHosts(plain, host, port, k(key)), expected);
      // ssh-keygen -H hashes the plain names; wildcards and markers stay as they are.
      assert.equal(checkKnownHosts(hashed, host, port, k(key)), expected, 'hashed file');
    });
  }

  it('has hashed entries to check against', () => {
    assert.match(hashed, /^\|1\|/m);
    assert.doesNotMatch(hashed, /^example\.com/m);
    assert.ok(parseKnownHosts(hashed).some((e) => e.hosts.startsWith('|1|')));
  });

  it('revocation wins over a matching line', () => {
    const text = `revoked.test ${b('A')}\n@revoked revoked.test ${b('A')}\n`;
    assert.equal(checkKnownHosts(text, 'revoked.test', 22, k('A')), 'revoked');
    assert.equal(checkKnownHosts(text, 'other.test', 22, k('A')), 'unknown');
  });

  it('matches hashed lines made here too, and not with a wrong salt', () => {
    const salt = randomBytes(20);
    const line = `${hashHostName('[h.test]:2022', salt)} ${b('C')}`;
    assert.equal(checkKnownHosts(line, 'h.test', 2022, k('C')), 'match');
    assert.equal(checkKnownHosts(line, 'h.test', 22, k('C')), 'unknown');
    const broken = line.replace(/^\|1\|[^|]+/, `|1|${randomBytes(20).toString('base64')}`);
    assert.equal(checkKnownHosts(broken, 'h.test', 2022, k('C')), 'unknown');
    assert.equal(checkKnownHosts(`|1|bad ${b('C')}`, 'h.test', 2022, k('C')), 'unknown');
  });
});

describe('agreement with ssh-keygen -F', () => {
  const queries: [string, number][] = [
    ['example.com', 22],
    ['192.0.2.1', 22],
    ['example.com', 2222],
    ['foo.wild.test', 22],
    ['bad.wild.test', 22],
    ['host1.qm.test', 22],
    ['x.ca.test', 22],
    ['multi.test', 22],
    ['2001:db8::1', 2200],
    ['nowhere.test', 22],
  ];
  for (const [host, port] of queries) {
    it(`finds the same lines for ${hostPattern(host, port)}`, () => {
      for (const path of [plainPath, hashedPath]) {
        const text = readFileSync(path, 'utf8');
        const r = sshKeygen(['-F', hostPattern(host, port), '-f', path], { allowFailure: true });
        const theirs = [...r.stdout.matchAll(/found: line (\d+)/g)].map((m) => Number(m[1]));
        const ours = knownHostsEntriesFor(text, host, port).map((e) => e.line);
        assert.deepEqual(ours, theirs, path);
      }
    });
  }
});

describe('knownKeyTypesFor', () => {
  it('lists recorded types in file order without duplicates', () => {
    for (const text of [plain, hashed]) {
      assert.deepEqual(knownKeyTypesFor(text, 'multi.test', 22), ['ssh-ed25519', 'ssh-rsa']);
      assert.deepEqual(knownKeyTypesFor(text, 'example.com', 22), ['ssh-ed25519']);
      assert.deepEqual(knownKeyTypesFor(text, 'example.com', 2222), ['ecdsa-sha2-nistp256']);
      assert.deepEqual(knownKeyTypesFor(text, 'anything.test', 22), []);
      assert.deepEqual(knownKeyTypesFor(text, 'x.ca.test', 22), []);
    }
  });
});

describe('host patterns', () => {
  it('matches * and ? like OpenSSH', () => {
    assert.equal(matchPattern('abc', 'a*c'), true);
    assert.equal(matchPattern('ac', 'a*c'), true);
    assert.equal(matchPattern('abcbc', '*bc'), true);
    assert.equal(matchPattern('abd', 'a*c'), false);
    assert.equal(matchPattern('', '*'), true);
    assert.equal(matchPattern('a', '?'), true);
    assert.equal(matchPattern('', '?'), false);
    assert.equal(matchPattern('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab', '*a*a*a*a*a*a*a*a*c'), false);
  });

  it('applies negation over the whole list', () => {
    assert.equal(matchPatternList('x.test', '!x.test,*.test'), false);
    assert.equal(matchPatternList('y.test', '!x.test,*.test'), true);
    assert.equal(matchPatternList('y.test', '!x.test'), false);
    assert.equal(matchPatternList('Y.TEST', 'y.test'), true);
  });
});
