/**
 * keyCb: the key APIs backed by something other than files (here, memory), on both sides: the
 * daemon's host key and authorized keys per user, the client's known hosts and user key. Nothing
 * is read from or written to userDir or systemDir.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import { publicKeysEqual } from '../../src/keys/public-key.js';
import { signatureAlgorithmFits } from '../../src/keys/signature.js';
import type { PrivateKey, PublicKey } from '../../src/keys/types.js';

let empty: string;
before(async () => (empty = await mkdtemp(join(tmpdir(), 'seashell-keycb-'))));
after(async () => rm(empty, { recursive: true, force: true }));

test('memory-backed key APIs on both sides: per-user authorized keys, known hosts recorded in memory', async () => {
  const hostKey = generatePrivateKey('ed25519');
  const alice = generatePrivateKey('ecdsa');
  const bob = generatePrivateKey('ed25519');
  const authorized = new Map<string, PublicKey[]>([['alice', [alice.publicKey]]]);
  const serverCalls: string[] = [];
  const server: ssh.ServerKeyApi = {
    hostKey: async (alg) => (alg === 'ssh-ed25519' ? hostKey : undefined),
    isAuthKey: async (key, user) => {
      serverCalls.push(user);
      return (authorized.get(user) ?? []).some((k) => publicKeysEqual(k, key));
    },
  };
  const d = await ssh.daemon('127.0.0.1', 0, {
    systemDir: join(empty, 'no-such-system-dir'),
    userDir: join(empty, 'no-such-user-dir'),
    keyCb: server,
    exec: (c, user) => ({ ok: `${user}: ${c}` }),
    perSourcePenalties: false,
  });
  const port = (await ssh.daemonInfo(d)).port;

  const known = new Map<string, PublicKey>();
  const clientFor = (key: PrivateKey): ssh.ClientKeyApi => ({
    isHostKey: async (k, host, p) => {
      const rec = known.get(`${host}:${p}`);
      return rec !== undefined && publicKeysEqual(rec, k);
    },
    addHostKey: async (host, p, k) => void known.set(`${host}:${p}`, k),
    userKey: async (alg) => (signatureAlgorithmFits(key.type, alg) ? key : undefined),
  });
  const opts = (user: string, key: PrivateKey) => ({
    user,
    keyCb: clientFor(key),
    userDir: join(empty, 'client-nothing-here'),
    silentlyAcceptHosts: true,
    agent: false,
  });

  const c = await ssh.connect('127.0.0.1', port, opts('alice', alice));
  const ch = await c.sessionChannel();
  assert.equal(await ch.exec('hi'), 'success');
  const out: Buffer[] = [];
  for await (const m of ch) if (m.type === 'data') out.push(m.data);
  assert.equal(Buffer.concat(out).toString(), 'alice: hi');
  await ssh.close(c);
  assert.ok(
    publicKeysEqual(known.get(`127.0.0.1:${port}`)!, hostKey.publicKey),
    'the accepted host key went to memory',
  );

  // bob's key is authorized for nobody; alice's key does not log in as bob.
  await assert.rejects(
    ssh.connect('127.0.0.1', port, opts('bob', bob)),
    (e: ssh.SshError) => e.code === 'AUTH_FAILED',
  );
  await assert.rejects(
    ssh.connect('127.0.0.1', port, opts('bob', alice)),
    (e: ssh.SshError) => e.code === 'AUTH_FAILED',
  );
  assert.ok(serverCalls.includes('bob') && serverCalls.includes('alice'));
  // A changed host key is caught by the memory-backed check too.
  known.set(`127.0.0.1:${port}`, bob.publicKey);
  await assert.rejects(
    ssh.connect('127.0.0.1', port, { ...opts('alice', alice), silentlyAcceptHosts: false }),
    (e: ssh.SshError) => e.code === 'HOST_KEY_NOT_VERIFIED',
  );
  await ssh.stopDaemon(d);
  assert.deepEqual(await readdir(empty), [], 'no file was written');
});
