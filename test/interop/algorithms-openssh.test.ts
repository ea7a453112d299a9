import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import {
  CIPHERS,
  COMPRESSION,
  KEX_METHODS,
  MACS,
  PUBLIC_KEY_ALGORITHMS,
} from '../../src/transport/algorithms.js';
import { RFC5647_GCM } from '../../src/transport/cipher/aes-gcm.js';
import { catCli, writeHostKeys } from './fixtures.js';
import {
  formatKnownHosts,
  interopSuite,
  makeTempDir,
  randomSource,
  removeTempDir,
  runSshHashed,
  sshBaseArgs,
  sshKeygen,
  startSshd,
  type SshdHandle,
} from './openssh.js';

/**
 * Every algorithm negotiated against OpenSSH both ways, each with a data round trip: our client
 * against sshd with the algorithm forced in its sshd_config, and OpenSSH's ssh forced with
 * -o KexAlgorithms= / -c / -m / -o HostKeyAlgorithms= against our daemon (which offers everything
 * it supports). Algorithms this machine's OpenSSH lacks are proven against ourselves in
 * test/transport/kex/ and named in the output below.
 */
interface Case {
  /** The category, as connectionInfo's algorithms and sshd_config name them. */
  kind: 'kex' | 'cipher' | 'mac' | 'hostKey' | 'compression';
  name: string;
}

/**
 * Not in OpenSSH 9.2 (sshd has had no pre-authentication `zlib` since 7.4; OpenSSH never took
 * RFC 5647's names, only its own aes*-gcm@openssh.com).
 */
const OPENSSH_LACKS = new Set([
  'mlkem768x25519-sha256',
  'curve448-sha512',
  'zlib',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
  'ssh-ed448',
]);
const SSHD_KEYWORD = {
  kex: 'KexAlgorithms',
  cipher: 'Ciphers',
  mac: 'MACs',
  hostKey: 'HostKeyAlgorithms',
  compression: 'Compression',
};
const SSH_OPTION = { ...SSHD_KEYWORD };

/** Our daemon keeps one ECDSA host key (ssh_host_ecdsa_key, nistp256 in these tests). */
const DAEMON_LACKS = new Set(['ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521']);
const CASES: Case[] = [
  ...[...KEX_METHODS.keys()].map((name) => ({ kind: 'kex' as const, name })),
  ...[...CIPHERS.keys()].map((name) => ({ kind: 'cipher' as const, name })),
  ...[...MACS.keys()].map((name) => ({ kind: 'mac' as const, name })),
  ...PUBLIC_KEY_ALGORITHMS.map((name) => ({ kind: 'hostKey' as const, name })),
  ...COMPRESSION.filter((n) => n !== 'none').map((name) => ({ kind: 'compression' as const, name })),
].filter((c) => !OPENSSH_LACKS.has(c.name));

/** Our side's algorithm lists for one case: everything supported, with the case's name first. */
function ours(c: Case): ssh.AlgorithmsOption {
  const all = {
    kex: [...KEX_METHODS.keys()],
    cipher: [...CIPHERS.keys()],
    mac: [...MACS.keys()],
    publicKey: [...PUBLIC_KEY_ALGORITHMS],
  };
  const first = (l: string[]) => [c.name, ...l.filter((n) => n !== c.name)];
  if (c.kind === 'kex') return { ...all, kex: first(all.kex) };
  // A MAC is only negotiated beside a cipher that is not AEAD.
  if (c.kind === 'cipher') return { ...all, cipher: first(all.cipher) };
  if (c.kind === 'mac') return { ...all, mac: first(all.mac), cipher: ['aes128-ctr'] };
  if (c.kind === 'compression') return { ...all, compression: [c.name, 'none'] };
  return { ...all, publicKey: first(all.publicKey) };
}

function negotiatedName(c: Case, info: ssh.ConnectionInfo): string | undefined {
  const a = info.algorithms;
  if (!a) return undefined;
  if (c.kind === 'compression') return a.compressionC2S === a.compressionS2C ? a.compressionC2S : undefined;
  return c.kind === 'kex'
    ? a.kex
    : c.kind === 'cipher'
      ? a.cipherC2S
      : c.kind === 'mac'
        ? a.macC2S
        : a.hostKey;
}

interopSuite('every algorithm against OpenSSH, both directions', () => {
  let dir: string;
  let userDir: string;
  let systemDir: string;
  let daemon: ssh.Daemon;
  let sshArgs: string[];
  const sshds = new Map<string, SshdHandle>();
  let authorizedKey: string;

  before(async () => {
    dir = await makeTempDir('algorithms-');
    userDir = join(dir, 'user');
    systemDir = join(dir, 'system');
    await mkdir(userDir);
    const key = await sshKeygen('ed25519', join(userDir, 'id_ed25519'));
    authorizedKey = key.publicLine;
    await writeFile(join(userDir, 'authorized_keys'), key.publicLine + '\n');
    const hostLines = await writeHostKeys(systemDir, ['ed25519', 'ecdsa', 'rsa', 'dsa', 'ed448']);
    daemon = await ssh.daemon('127.0.0.1', 0, {
      systemDir,
      userDir,
      sshCli: catCli,
      preferredAlgorithms: {
        kex: [...KEX_METHODS.keys()],
        cipher: [...CIPHERS.keys()],
        mac: [...MACS.keys(), ...RFC5647_GCM],
        publicKey: [...PUBLIC_KEY_ALGORITHMS],
        compression: ['none', 'zlib@openssh.com', 'zlib'],
      },
    });
    const { port } = await ssh.daemonInfo(daemon);
    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, hostLines));
    sshArgs = sshBaseArgs({ port, identityFile: key.privateKey, knownHostsFile, user: 'tester' });
  });

  after(async () => {
    await daemon?.stop();
    for (const s of sshds.values()) await s.stop();
    await removeTempDir(dir);
  });

  for (const c of CASES) {
    test(`Seashell client → sshd (${SSHD_KEYWORD[c.kind]} ${c.name}): negotiated, 1 MiB through cat intact`, async () => {
      // sshd's Compression takes yes (zlib@openssh.com after authentication) or no.
      const config = [`${SSHD_KEYWORD[c.kind]} ${c.kind === 'compression' ? 'yes' : c.name}`];
      if (c.kind === 'mac') config.push('Ciphers aes128-ctr');
      // sshd's own host keys are ed25519, ecdsa nistp256 and rsa: other curves and DSA get a key of their own.
      const curve = /^ecdsa-sha2-nistp(384|521)$/.exec(c.name)?.[1];
      const extraKey = curve
        ? await sshKeygen('ecdsa', join(dir, `host_${curve}_${Date.now()}`), { bits: Number(curve) })
        : c.name === 'ssh-dss'
          ? await sshKeygen('dsa', join(dir, `host_dsa_${Date.now()}`))
          : undefined;
      if (extraKey) config.push(`HostKey ${extraKey.privateKey}`);
      const sshd = await startSshd({
        authorizedKeys: authorizedKey + '\n',
        extraConfig: config,
        logLevel: 'ERROR',
        // Fresh host keys per sshd: only the host key cases need more than the quick ed25519.
        hostKeyTypes: c.kind === 'hostKey' ? undefined : ['ed25519'],
      });
      sshds.set(c.name, sshd);
      try {
        const extraLine = extraKey ? formatKnownHosts(sshd.host, sshd.port, [extraKey.publicLine]) : '';
        await writeFile(join(userDir, 'known_hosts'), sshd.knownHostsLine() + extraLine);
        const conn = await ssh.connect(sshd.host, sshd.port, {
          user: sshd.user,
          userDir,
          preferredAlgorithms: ours(c),
        });
        try {
          assert.equal(negotiatedName(c, ssh.connectionInfo(conn)), c.name);
          await catRoundTrip(conn, 1024 * 1024);
        } finally {
          await ssh.close(conn);
        }
      } finally {
        sshds.delete(c.name);
        await sshd.stop();
      }
    });

    test(`ssh ${c.kind === 'compression' ? '-C' : `-o ${SSH_OPTION[c.kind]}=${c.name}`} → Seashell daemon: negotiated, 1 MiB through cat intact`, async (t) => {
      if (DAEMON_LACKS.has(c.name)) return t.skip('the test daemon has only a nistp256 ECDSA host key');
      const source = randomSource(1024 * 1024);
      // ssh -C offers zlib@openssh.com first (then zlib, none).
      const forced = c.kind === 'compression' ? ['-C'] : ['-o', `${SSH_OPTION[c.kind]}=${c.name}`];
      const extra = [...forced, '-o', 'LogLevel=DEBUG1'];
      if (c.kind === 'mac') extra.push('-c', 'aes128-ctr');
      const r = await runSshHashed([...extra, ...sshArgs, '127.0.0.1', 'cat'], {
        input: source.stream,
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, r.stderr);
      const seen = {
        kex: /kex: algorithm: (\S+)/,
        cipher: /kex: client->server cipher: (\S+)/,
        mac: /kex: client->server cipher: \S+ MAC: (\S+)/,
        hostKey: /kex: host key algorithm: (\S+)/,
        compression: /kex: client->server cipher: \S+ MAC: \S+ compression: (\S+)/,
      }[c.kind];
      assert.equal(r.stderr.match(seen)?.[1], c.name, r.stderr.slice(0, 2000));
      assert.equal(r.stdoutSha256, source.sha256());
    });
  }

  /** Each algorithm OpenSSH 9.2 lacks, as our client asks for it, and what connectionInfo must then show. */
  const ownSide: { name: string; ask: ssh.AlgorithmsOption; expect: Partial<Record<string, string>> }[] = [
    ...['mlkem768x25519-sha256', 'curve448-sha512'].map((name) => ({
      name,
      ask: { kex: [name] },
      expect: { kex: name },
    })),
    {
      name: 'zlib',
      ask: { compression: ['zlib'] },
      expect: { compressionC2S: 'zlib', compressionS2C: 'zlib' },
    },
    { name: 'ssh-ed448 host key', ask: { publicKey: ['ssh-ed448'] }, expect: { hostKey: 'ssh-ed448' } },
    ...[...RFC5647_GCM].flatMap((name) => [
      // RFC 5647 §5.1: chosen as the cipher, it is the MAC too; chosen as the MAC, the cipher too.
      {
        name: `${name} (as cipher)`,
        ask: { cipher: [name] },
        expect: { cipherC2S: name, cipherS2C: name, macC2S: name, macS2C: name },
      },
      {
        name: `${name} (as MAC beside aes128-ctr)`,
        ask: { cipher: ['aes128-ctr'], mac: [name] },
        expect: { cipherC2S: name, cipherS2C: name, macC2S: name, macS2C: name },
      },
    ]),
  ];
  for (const c of ownSide) {
    test(`Seashell client → Seashell daemon (OpenSSH 9.2 lacks it; peer: Seashell itself): ${c.name}: negotiated, 1 MiB through cat intact`, async () => {
      const conn = await ssh.connect('127.0.0.1', (await ssh.daemonInfo(daemon)).port, {
        user: 'tester',
        userDir,
        silentlyAcceptHosts: true,
        saveAcceptedHost: false,
        preferredAlgorithms: c.ask,
        // The user key is ed25519, whatever the host key list asks for.
        prefPublicKeyAlgs: ['ssh-ed25519'],
      });
      try {
        const got = ssh.connectionInfo(conn).algorithms as unknown as Record<string, string>;
        for (const [k, v] of Object.entries(c.expect)) assert.equal(got[k], v, k);
        await catRoundTrip(conn, 1024 * 1024);
      } finally {
        await ssh.close(conn);
      }
    });
  }
});

async function catRoundTrip(conn: ssh.Connection, total: number): Promise<void> {
  const ch = await conn.sessionChannel();
  assert.equal(await ch.exec('cat'), 'success');
  const sent = createHash('sha256');
  const got = createHash('sha256');
  let received = 0;
  const reading = (async () => {
    for await (const chunk of ch.stdout) {
      got.update(chunk as Buffer);
      received += (chunk as Buffer).length;
    }
  })();
  const block = randomBytes(total);
  sent.update(block);
  ch.stdin.end(block);
  await reading;
  assert.equal(received, total);
  assert.equal(got.digest('hex'), sent.digest('hex'));
}
