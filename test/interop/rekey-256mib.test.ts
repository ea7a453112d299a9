/**
 * 256 MiB through a connection that re-keys every 1 MiB, for each cipher family and with
 * compression on, checked by sha256 (issue 14): OpenSSH's ssh with RekeyLimit=1M through our
 * daemon's `cat` (256 MiB each way), and our client with rekeyLimit 1 MiB sending 256 MiB to
 * sshd's `sha256sum`. Every re-key runs the default key exchange (mlkem768x25519-sha256 where
 * both sides have it, else curve25519-sha256), so this is some 500 key exchanges per case. With
 * compression the data is compressible (random 4 KiB blocks, each repeated over a MiB), and
 * every NEWKEYS starts new zlib streams on both sides (RFC 4253 §6.2).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import type { ChannelMessage, ServerChannelHandler } from '../../src/channel/behaviour.js';
import type { SessionChannel as Channel } from '../../src/channel/session-channel.js';
import { writeHostKeys } from './fixtures.js';
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
} from './openssh.js';

const MiB = 1024 * 1024;
const TOTAL = 256 * MiB;

/**
 * One MiB that deflates well but is never the same twice: a fresh random 4 KiB block repeated.
 * (Random bytes would measure zlib on incompressible data, some 6 MiB/s in pako: minutes of CI.)
 */
/** Counts the lines of a stream that contain `needle`, and the commonest line openings, as chunks come. */
function lineCounter(needle: string): { push: (chunk: Buffer) => void; count: number; commonest(): string } {
  let carry = '';
  const openings = new Map<string, number>();
  const counter = {
    count: 0,
    push: (chunk: Buffer) => {
      const lines = (carry + chunk.toString('latin1')).split('\n');
      carry = lines.pop()!;
      for (const line of lines) {
        if (line.includes(needle)) counter.count++;
        const k = line.slice(0, 48);
        if (openings.has(k) || openings.size < 500) openings.set(k, (openings.get(k) ?? 0) + 1);
      }
    },
    commonest: () =>
      [...openings]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([k, n]) => `${n}× ${JSON.stringify(k)}`)
        .join(', '),
  };
  return counter;
}

function compressibleMiB(): Buffer {
  const block = randomBytes(4096);
  const out = Buffer.allocUnsafe(MiB);
  for (let at = 0; at < MiB; at += block.length) block.copy(out, at);
  return out;
}

/** A 256 MiB stream of `next()` blocks and its sha256 (as randomSource, with other data). */
function blockSource(next: () => Buffer): { stream: Readable; sha256(): string } {
  const hash = createHash('sha256');
  let produced = 0;
  let digest: string | undefined;
  const stream = new Readable({
    read() {
      if (produced >= TOTAL) {
        digest ??= hash.digest('hex');
        this.push(null);
        return;
      }
      const chunk = next();
      produced += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => digest ?? '(not read to the end)' };
}

interface CliState {
  channel?: Channel;
  /** 'cat' echoes stdin; 'sha256sum' hashes it and answers with the digest at EOF. */
  mode?: 'cat' | 'sha256sum';
  hash: Hash;
}

/**
 * The daemon's CLI here: `cat` (stdin back out) and `sha256sum`, which reads stdin to its end and
 * answers as coreutils does (`<hex>  -`), so that most cases move 256 MiB once, not twice.
 */
const cli: ServerChannelHandler<CliState> = {
  init: () => ({ ok: { hash: createHash('sha256') } }),
  handleMsg(m, s) {
    const up = m as { type?: string; channel?: Channel };
    if (up?.type === 'channelUp') s.channel = up.channel;
    return { ok: s };
  },
  async handleSshMsg(m: ChannelMessage, s) {
    const ch = s.channel!;
    switch (m.type) {
      case 'exec':
        if (m.command === 'cat' || m.command === 'sha256sum') s.mode = m.command;
        ch.replyRequest(m.wantReply, s.mode ? 'success' : 'failure');
        return { ok: s };
      case 'data':
        if (s.mode === 'cat') await ch.send(m.data);
        else s.hash.update(m.data);
        return { ok: s };
      case 'eof':
        if (s.mode === 'sha256sum') await ch.send(`${s.hash.digest('hex')}  -\n`);
        await ch.sendEof();
        await ch.exitStatus(0);
        return { stop: m.channelId, state: s };
      default:
        return { ok: s };
    }
  },
};

interface Family {
  label: string;
  cipher: string;
  mac?: string;
  compression?: boolean;
  /** Through `cat` (256 MiB each way) rather than into `sha256sum`. */
  echo?: boolean;
}

const FAMILIES: Family[] = [
  { label: 'AES-GCM', cipher: 'aes128-gcm@openssh.com', echo: true },
  { label: 'ChaCha20-Poly1305', cipher: 'chacha20-poly1305@openssh.com' },
  { label: 'AES-CTR + HMAC (encrypt-then-MAC)', cipher: 'aes128-ctr', mac: 'hmac-sha2-256-etm@openssh.com' },
  { label: 'AES-CBC + HMAC', cipher: 'aes256-cbc', mac: 'hmac-sha2-256' },
  {
    label: 'AES-GCM with zlib@openssh.com compression',
    cipher: 'aes128-gcm@openssh.com',
    compression: true,
    echo: true,
  },
];

interopSuite('256 MiB through a connection that re-keys every 1 MiB, per cipher family', () => {
  let dir: string;
  let userDir: string;
  let daemon: ssh.Daemon;
  let sshArgs: string[];
  let publicLine: string;

  before(async () => {
    dir = await makeTempDir('rekey-256-');
    userDir = join(dir, 'user');
    const systemDir = join(dir, 'system');
    await mkdir(userDir);
    const key = await sshKeygen('ed25519', join(userDir, 'id_ed25519'));
    publicLine = key.publicLine;
    await writeFile(join(userDir, 'authorized_keys'), key.publicLine + '\n');
    const hostLines = await writeHostKeys(systemDir, ['ed25519']);
    daemon = await ssh.daemon('127.0.0.1', 0, {
      systemDir,
      userDir,
      sshCli: cli,
      // Everything, so that ssh's forced choice is there (the CBC modes are not offered by default).
      modifyAlgorithms: [{ append: { cipher: ['aes256-cbc'] } }],
    });
    const { port } = await ssh.daemonInfo(daemon);
    const knownHostsFile = join(dir, 'known_hosts');
    await writeFile(knownHostsFile, formatKnownHosts('127.0.0.1', port, hostLines));
    sshArgs = sshBaseArgs({ port, identityFile: key.privateKey, knownHostsFile, user: 'tester' });
  });

  after(async () => {
    await daemon?.stop();
    await removeTempDir(dir);
  });

  for (const f of FAMILIES) {
    test(
      `ssh -o RekeyLimit=1M -c ${f.cipher}${f.mac ? ` -m ${f.mac}` : ''}${f.compression ? ' -C' : ''} → Seashell daemon: 256 MiB ${f.echo ? 'through cat both ways' : 'into sha256sum'} intact`,
      { timeout: 300_000 },
      async () => {
        const source = f.compression ? blockSource(compressibleMiB) : randomSource(TOTAL);
        const newkeys = lineCounter('SSH2_MSG_NEWKEYS received');
        const forced = ['-c', f.cipher, ...(f.mac ? ['-m', f.mac] : []), ...(f.compression ? ['-C'] : [])];
        const r = await runSshHashed(
          [
            ...forced,
            '-o',
            'RekeyLimit=1M',
            '-o',
            'LogLevel=DEBUG1',
            ...sshArgs,
            '127.0.0.1',
            f.echo ? 'cat' : 'sha256sum',
          ],
          { input: source.stream, timeoutMs: 280_000, onStderr: newkeys.push },
        );
        assert.equal(r.code, 0, r.stderr.slice(-2000));
        if (f.echo) {
          assert.equal(r.stdoutBytes, TOTAL);
          assert.equal(r.stdoutSha256, source.sha256());
        } else {
          assert.equal(r.stdoutSha256, createHash('sha256').update(`${source.sha256()}  -\n`).digest('hex'));
        }
        assert.match(
          r.stderr,
          new RegExp(`kex: client->server cipher: ${f.cipher.replace(/[.@]/g, '\\$&')}`),
        );
        if (f.compression) assert.match(r.stderr, /compression: zlib@openssh.com/);
        // ssh re-keys after each 1 MiB it sends or receives on the wire: its packet.c counts the
        // packets as sent, after compression. Without compression that is 256 times at least;
        // with it, this data (a 4 KiB block repeated) shrinks to little more than the framing of
        // each packet, so the count follows how the echo was cut into packets: 57, 180 and about 860
        // in different runs. Many re-keys, each restarting both zlib streams, is
        // what that case is here to show. Counted on the whole of stderr, not what the result
        // keeps of it.
        const least = f.compression ? 16 : 256;
        assert.ok(
          newkeys.count >= least,
          `ssh saw ${newkeys.count} NEWKEYS; its commonest lines: ${newkeys.commonest()}`,
        );
      },
    );

    test(
      `Seashell client (rekeyLimit 1 MiB) → sshd (Ciphers ${f.cipher}${f.mac ? `, MACs ${f.mac}` : ''}${f.compression ? ', Compression yes' : ''}): 256 MiB into sha256sum intact`,
      { timeout: 300_000 },
      async () => {
        const sshd = await startSshd({
          authorizedKeys: publicLine + '\n',
          extraConfig: [
            `Ciphers ${f.cipher}`,
            ...(f.mac ? [`MACs ${f.mac}`] : []),
            `Compression ${f.compression ? 'yes' : 'no'}`,
          ],
          logLevel: 'ERROR',
          hostKeyTypes: ['ed25519'],
        });
        try {
          await writeFile(join(userDir, 'known_hosts'), sshd.knownHostsLine());
          const conn = await ssh.connect(sshd.host, sshd.port, {
            user: sshd.user,
            userDir,
            agent: false,
            rekeyLimit: MiB,
            preferredAlgorithms: {
              cipher: [f.cipher],
              ...(f.mac ? { mac: [f.mac] } : {}),
              compression: f.compression ? ['zlib@openssh.com'] : ['none'],
            },
          });
          try {
            const info = ssh.connectionInfo(conn).algorithms;
            assert.equal(info?.cipherC2S, f.cipher);
            assert.equal(info?.compressionC2S, f.compression ? 'zlib@openssh.com' : 'none');
            const ch = await conn.sessionChannel();
            assert.equal(await ch.exec('sha256sum'), 'success');
            const chunks: Buffer[] = [];
            const reading = (async () => {
              for await (const chunk of ch.stdout) chunks.push(chunk as Buffer);
            })();
            const sent = createHash('sha256');
            for (let left = TOTAL; left > 0; left -= MiB) {
              const block = f.compression ? compressibleMiB() : randomBytes(MiB);
              sent.update(block);
              if (!ch.stdin.write(block)) await new Promise((r) => ch.stdin.once('drain', r));
            }
            ch.stdin.end();
            await reading;
            assert.equal(Buffer.concat(chunks).toString().split(' ')[0], sent.digest('hex'));
            const rekeys = ssh.connectionInfo(conn, 'rekeys') as number;
            assert.ok(rekeys >= 250, `${rekeys} re-keys`);
          } finally {
            await ssh.close(conn);
          }
        } finally {
          await sshd.stop();
        }
      },
    );
  }
});
