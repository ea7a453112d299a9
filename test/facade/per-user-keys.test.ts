/**
 * Publickey logins per user: the seed's one userDir authorizes its keys for every user name (the
 * documented default); a userDir function, or a keyCb, tells users apart; the command-line
 * daemon lets in only the account that runs it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';
import type { ServerKeyApi } from '../../src/keys/key-api.js';
import type { SshError } from '../../src/errors.js';
import * as ssh from '../../src/ssh.js';
import { clientOptions, makeEnv, portOf, startDaemon, type Env } from './helpers.js';

let env: Env;
let aliceDir: string;
let bobDir: string;

before(async () => {
  env = await makeEnv();
  const key = generatePrivateKey('ed25519');
  await writeFile(join(env.clientDir, 'id_ed25519'), formatOpenSshPrivateKey(key), { mode: 0o600 });
  const line = formatPublicKeyLine(key.publicKey) + '\n';
  aliceDir = join(env.dir, 'alice');
  bobDir = join(env.dir, 'bob');
  await Promise.all([mkdir(aliceDir), mkdir(bobDir)]);
  // The client's key is alice's; bob has an authorized_keys of his own with another key.
  await writeFile(join(aliceDir, 'authorized_keys'), line);
  await writeFile(
    join(bobDir, 'authorized_keys'),
    formatPublicKeyLine(generatePrivateKey('ed25519').publicKey) + '\n',
  );
  await writeFile(join(env.daemonUserDir, 'authorized_keys'), line);
});
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

async function login(port: number, user: string): Promise<string> {
  const opts = clientOptions(env, { user, authMethods: 'publickey' });
  return ssh.connect('127.0.0.1', port, opts).then(
    async (c) => {
      const who = ssh.connectionInfo(c, 'user') as string;
      await ssh.close(c);
      return `in as ${who}`;
    },
    (e: SshError) => e.code,
  );
}

test("the seed's one userDir: its authorized_keys authorize a key for every user name", async () => {
  const d = await startDaemon(env);
  const port = await portOf(d);
  assert.equal(await login(port, 'alice'), 'in as alice');
  assert.equal(await login(port, 'bob'), 'in as bob');
  await ssh.stopDaemon(d);
});

test('userDir as a function: a key authorized for alice is refused for bob and for a user with no dir', async () => {
  const asked: string[] = [];
  const d = await startDaemon(env, {
    userDir: (user) => {
      asked.push(user);
      return user === 'alice' ? aliceDir : user === 'bob' ? bobDir : false;
    },
  });
  const port = await portOf(d);
  assert.equal(await login(port, 'alice'), 'in as alice');
  assert.equal(await login(port, 'bob'), 'AUTH_FAILED');
  assert.equal(await login(port, 'carol'), 'AUTH_FAILED');
  assert.ok(asked.includes('bob') && asked.includes('carol'), `asked for ${asked.join(', ')}`);
  await ssh.stopDaemon(d);
});

test("userDir as a function reaches keyCb: isAuthKey gets the user's own directory", async () => {
  const seen: string[] = [];
  const keyCb: Partial<ServerKeyApi> = {
    isAuthKey: (_key, user, ctx) => {
      seen.push(`${user}:${ctx.userDir}`);
      return Promise.resolve(ctx.userDir === aliceDir);
    },
  };
  const d = await startDaemon(env, {
    userDir: (user) => (user === 'alice' ? aliceDir : user === 'bob' ? bobDir : false),
    keyCb,
  });
  const port = await portOf(d);
  assert.equal(await login(port, 'alice'), 'in as alice');
  assert.equal(await login(port, 'bob'), 'AUTH_FAILED');
  assert.ok(seen.includes(`alice:${aliceDir}`) && seen.includes(`bob:${bobDir}`), seen.join(', '));
  await ssh.stopDaemon(d);
});

test('a userDir function that throws refuses the key and the daemon goes on', async () => {
  const d = await startDaemon(env, {
    userDir: (user) => {
      if (user === 'mallory') throw new Error('no such user');
      return aliceDir;
    },
  });
  const port = await portOf(d);
  assert.equal(await login(port, 'mallory'), 'AUTH_FAILED');
  assert.equal(await login(port, 'alice'), 'in as alice');
  await ssh.stopDaemon(d);
});

test('a userDir that is neither a string, false nor a function is refused by name', async () => {
  await assert.rejects(
    startDaemon(env, { userDir: 42 as unknown as string }),
    (e: SshError) => e.code === 'BAD_OPTION' && /userDir/.test(e.message),
  );
});

test('the command-line daemon lets in the account that runs it and no other user name', async () => {
  const home = join(env.dir, 'home');
  await mkdir(join(home, '.ssh'), { recursive: true });
  await writeFile(
    join(home, '.ssh', 'authorized_keys'),
    await import('node:fs/promises').then((f) => f.readFile(join(aliceDir, 'authorized_keys'))),
  );
  const bin = fileURLToPath(new URL('../../src/bin/seashell.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [bin, 'daemon', '--port', '0', '--host', '127.0.0.1', '--dir', join(env.dir, 'cli-keys')],
    { env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no port in: ${out}`)), 30_000);
      child.stdout.on('data', () => {
        const m = /listening on [^\s]+:(\d+)/.exec(out);
        if (m && /connect with/.test(out)) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => reject(new Error(`daemon exited ${code}: ${out}`)));
    });
    const me = userInfo().username;
    assert.match(out, new RegExp(`${me} \\(the account running this daemon, and no other user name\\)`));
    const other = me === 'alice' ? 'bob' : 'alice';
    assert.equal(await login(port, me), `in as ${me}`);
    assert.equal(await login(port, other), 'AUTH_FAILED');
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
});
