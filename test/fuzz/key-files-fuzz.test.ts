/**
 * Fuzzed and truncated key files, authorized_keys and known_hosts: the loader never crashes.
 * A private key file is read, or refused with a BAD_KEY SshError that names the file; every line
 * of an authorized_keys or known_hosts file that is not blank or a comment either gives an entry
 * or a BAD_KEY SshError naming `file:line`, never both, never an exception.
 *
 * Bounded by count (scaled by FUZZ_SCALE) and by time (each part stops after its budget); the
 * seed (FUZZ_SEED) and case number are in every failure, so a case can be replayed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import { parseAuthorizedKeys } from '../../src/keys/authorized-keys.js';
import {
  authorizedKeysProblems,
  knownHostsProblems,
  parsePrivateKeyFile,
} from '../../src/keys/key-file-check.js';
import { hashHostName } from '../../src/keys/host-patterns.js';
import { parseKnownHosts } from '../../src/keys/known-hosts.js';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import { Rng, baseSeed, caseSeed, scaled } from './prng.js';

const SEED = baseSeed(0x6b65_7973);
const BUDGET_MS = 5_000;
const FILE = '/home/fuzz/.ssh/id_fuzz';
const PASS = 'fuzz pass';

const ed = generatePrivateKey('ed25519', { comment: 'fuzz ed25519' });
const ec = generatePrivateKey('ecdsa', { curve: 'nistp384' });
const rsa = generatePrivateKey('rsa', { bits: 1024 * 2 });

const ARMOUR = /-----BEGIN OPENSSH PRIVATE KEY-----\n([\s\S]*?)\n-----END OPENSSH PRIVATE KEY-----/;

function armour(blob: Buffer): string {
  const b64 = blob.toString('base64').replace(/.{70}/g, '$&\n');
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** Private key seeds: [text, passphrase to try with]. */
const keySeeds: [string, string | undefined][] = [
  [formatOpenSshPrivateKey(ed), undefined],
  [formatOpenSshPrivateKey(ec), undefined],
  [formatOpenSshPrivateKey(rsa), undefined],
  [formatOpenSshPrivateKey(ed, 'c', { passphrase: PASS, rounds: 1 }), PASS],
  [
    formatOpenSshPrivateKey(ec, 'c', {
      passphrase: PASS,
      rounds: 1,
      cipher: 'chacha20-poly1305@openssh.com',
    }),
    PASS,
  ],
  [formatOpenSshPrivateKey(ed, 'c', { passphrase: PASS, rounds: 1, cipher: 'aes256-gcm@openssh.com' }), PASS],
  [rsa.keyObject.export({ type: 'pkcs1', format: 'pem' }) as string, undefined],
  [ec.keyObject.export({ type: 'sec1', format: 'pem' }) as string, undefined],
  [ed.keyObject.export({ type: 'pkcs8', format: 'pem' }) as string, undefined],
  [
    ec.keyObject.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: PASS }) as string,
    PASS,
  ],
  [
    rsa.keyObject.export({
      type: 'pkcs1',
      format: 'pem',
      cipher: 'des-ede3-cbc',
      passphrase: PASS,
    }) as string,
    PASS,
  ],
];

/** One mutation of a key file: of its decoded blob where it has one (to reach deep), else of its text. */
function mutateKey(rng: Rng, text: string): string | Buffer {
  const m = ARMOUR.exec(text);
  if (m && rng.chance(0.7)) {
    const blob = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
    switch (rng.int(4)) {
      case 0:
        return armour(blob.subarray(0, rng.int(blob.length)));
      case 1: {
        const b = Buffer.from(blob);
        for (let n = rng.range(1, 4); n > 0; n--) b[rng.int(b.length)] ^= 1 << rng.int(8);
        return armour(b);
      }
      case 2: {
        // A length field or count set to an edge value.
        const b = Buffer.from(blob);
        const at = rng.int(Math.max(1, b.length - 4));
        b.writeUInt32BE(rng.pick([0, 1, 0x7fffffff, 0xffffffff, b.length, rng.next()]), at);
        return armour(b);
      }
      default:
        return armour(Buffer.concat([blob, rng.bytes(rng.range(1, 64))]));
    }
  }
  const data = Buffer.from(text);
  switch (rng.int(4)) {
    case 0:
      return data.subarray(0, rng.int(data.length));
    case 1: {
      const b = Buffer.from(data);
      for (let n = rng.range(1, 6); n > 0; n--) b[rng.int(b.length)] = rng.next() & 0xff;
      return b;
    }
    case 2:
      return rng.bytes(rng.range(0, 300));
    default: {
      const lines = text.split('\n');
      lines.splice(rng.int(lines.length), rng.range(1, 3));
      return lines.join('\n');
    }
  }
}

/** A text file mutated line-wise and byte-wise. */
function mutateLines(rng: Rng, text: string, other: string): string {
  const lines = text.split('\n');
  for (let n = rng.range(1, 4); n > 0; n--) {
    const i = rng.int(lines.length);
    const line = lines[i]!;
    switch (rng.int(7)) {
      case 0:
        lines[i] = line.slice(0, rng.int(line.length + 1));
        break;
      case 1: {
        const chars = [...line];
        chars[rng.int(Math.max(1, chars.length))] = String.fromCharCode(
          rng.pick([0, 9, 32, 34, 35, 44, 61, 64, 92, 124, rng.range(33, 126), rng.range(128, 0x2fff)]),
        );
        lines[i] = chars.join('');
        break;
      }
      case 2:
        lines.splice(i, 0, line);
        break;
      case 3:
        lines[i] = rng.bytes(rng.range(0, 80)).toString('latin1');
        break;
      case 4:
        lines[i] = other.split('\n')[rng.int(other.split('\n').length)]!;
        break;
      case 5:
        lines[i] = line.replace(/ /g, rng.chance(0.5) ? '\t' : '  ');
        break;
      default:
        lines[i] = `${line.slice(0, rng.int(line.length + 1))}"${line.slice(rng.int(line.length + 1))}`;
    }
  }
  return lines.join(rng.chance(0.2) ? '\r\n' : '\n');
}

const ED = formatPublicKeyLine(ed.publicKey, 'ed');
const EC = formatPublicKeyLine(ec.publicKey);
const RSA = formatPublicKeyLine(rsa.publicKey, 'rsa key');
const AUTHORIZED = [
  '# comment',
  ED,
  `restrict,command="echo \\"hi\\"",from="10.0.0.0/8,!10.1.*" ${EC}`,
  `no-pty,environment="A=b",expiry-time="20300101" ${RSA}`,
  '',
  `cert-authority,principals="a,b" ${ED}`,
].join('\n');
const KNOWN = [
  `example.com,192.0.2.1 ${ED}`,
  `[example.com]:2222 ${EC}`,
  `*.wild.test,!bad.wild.test ${RSA}`,
  `@revoked * ${EC}`,
  `@cert-authority *.ca.test ${ED}`,
  `${hashHostName('hashed.test', Buffer.alloc(20, 7))} ${ED}`,
  '# comment',
].join('\n');

/** Runs `one` for case i = 0, 1, … until `count` cases or the time budget is spent; returns how many ran. */
function bounded(count: number, one: (rng: Rng, i: number) => void): number {
  const start = Date.now();
  let i = 0;
  for (; i < count && Date.now() - start < BUDGET_MS; i++) one(new Rng(caseSeed(SEED, i)), i);
  return i;
}

function where(i: number): string {
  return `FUZZ_SEED=${SEED} case ${i}`;
}

describe('fuzzed and truncated key files never crash the loader', () => {
  test('private key files: read, or BAD_KEY naming the file', () => {
    for (const [text, pass] of keySeeds) assert.ok(parsePrivateKeyFile(text, FILE, pass), 'seeds read');
    let refused = 0;
    const ran = bounded(scaled(1500), (rng, i) => {
      const [text, pass] = rng.pick(keySeeds);
      const input = mutateKey(rng, text);
      // With the passphrase only sometimes: bcrypt costs a few ms even at one round.
      const passphrase = pass !== undefined && rng.chance(0.3) ? pass : undefined;
      try {
        parsePrivateKeyFile(input, FILE, passphrase);
      } catch (e) {
        assert.ok(e instanceof SshError, `${where(i)}: ${String(e)}`);
        assert.equal(e.code, 'BAD_KEY', where(i));
        assert.ok(
          e.message.startsWith(`${FILE}: `) && e.message.length > FILE.length + 4,
          `${where(i)}: ${e.message}`,
        );
        refused++;
      }
    });
    assert.ok(ran >= Math.min(200, scaled(1500)), `only ${ran} cases ran`);
    assert.ok(refused > ran / 2, `${refused} of ${ran} refused: the mutations reach the checks`);
  });

  for (const [name, seed, other, entries, problems] of [
    ['authorized_keys', AUTHORIZED, KNOWN, parseAuthorizedKeys, authorizedKeysProblems],
    ['known_hosts', KNOWN, AUTHORIZED, parseKnownHosts, knownHostsProblems],
  ] as const) {
    test(`${name}: every line is an entry or a BAD_KEY naming file and line`, () => {
      const file = `/home/fuzz/.ssh/${name}`;
      assert.deepEqual(problems(seed, file), [], 'the seed is clean');
      let reported = 0;
      const ran = bounded(scaled(1500), (rng, i) => {
        const text = mutateLines(rng, seed, other);
        const got = (entries as (t: string) => { line: number }[])(text).map((e) => e.line);
        const errs = problems(text, file);
        const bad = errs.map((e) => {
          assert.ok(e instanceof SshError && e.code === 'BAD_KEY', where(i));
          const m = new RegExp(`^${file.replace(/[.]/g, '\\.')}:(\\d+): .+`, 's').exec(e.message);
          assert.ok(m, `${where(i)}: ${e.message}`);
          return Number(m[1]);
        });
        // Lines that are not blank or comments: each an entry or a problem, never both.
        const lines = text.split('\n');
        for (let n = 1; n <= lines.length; n++) {
          const t = lines[n - 1]!.replace(/\r$/, '').replace(/^[ \t]+/, '');
          const meaningful = t !== '' && !t.startsWith('#');
          const count = got.filter((l) => l === n).length + bad.filter((l) => l === n).length;
          assert.equal(count, meaningful ? 1 : 0, `${where(i)} line ${n}: ${JSON.stringify(lines[n - 1])}`);
        }
        reported += errs.length;
      });
      assert.ok(ran >= Math.min(200, scaled(1500)), `only ${ran} cases ran`);
      assert.ok(reported > 0, 'some mutated lines were reported');
    });
  }
});
