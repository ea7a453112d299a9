import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Daemon } from '../../src/daemon.js';
import { SshError } from '../../src/errors.js';
import { fingerprint } from '../../src/keys/fingerprint.js';
import { formatKnownHostsLine } from '../../src/keys/known-hosts.js';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import type { ClientOptions } from '../../src/options.js';
import * as ssh from '../../src/ssh.js';
import { makeEnv, portOf, startDaemon, waitFor, type Env } from './helpers.js';

let env: Env;
let daemon: Daemon;
let port: number;
let knownHosts: string;

before(async () => {
  env = await makeEnv();
  daemon = await startDaemon(env, { password: 'pw' });
  port = await portOf(daemon);
  knownHosts = join(env.clientDir, 'known_hosts');
});

afterEach(async () => {
  await rm(knownHosts, { force: true });
});

after(async () => {
  await ssh.stopDaemon(daemon);
  await env.cleanup();
});

/** Connects with only the given host-key options (the helpers' defaults would accept anything). */
async function connect(opts: ClientOptions) {
  const conn = await ssh.connect('127.0.0.1', port, {
    userDir: env.clientDir,
    user: 'u',
    password: 'pw',
    ...opts,
  });
  await ssh.close(conn);
}

async function knownHostsText(): Promise<string> {
  return readFile(knownHosts, 'utf8').catch(() => '');
}

function notVerified(e: unknown): boolean {
  assert.ok(e instanceof SshError, String(e));
  assert.equal(e.code, 'HOST_KEY_NOT_VERIFIED');
  return true;
}

describe('host key verification on connect', () => {
  test('an unknown host is refused by default with HOST_KEY_NOT_VERIFIED', async () => {
    await assert.rejects(connect({}), (e: unknown) => {
      notVerified(e);
      assert.match((e as Error).message, /is not in .*known_hosts/);
      assert.match(
        (e as Error).message,
        new RegExp(fingerprint(env.hostKey.publicKey).replace(/[+/]/g, '.')),
      );
      return true;
    });
    await assert.rejects(connect({ silentlyAcceptHosts: false }), notVerified);
    assert.equal(await knownHostsText(), '');
  });

  test('a host already in known_hosts is accepted without any option', async () => {
    await writeFile(knownHosts, formatKnownHostsLine('127.0.0.1', port, env.hostKey.publicKey) + '\n');
    await connect({});
  });

  test('silentlyAcceptHosts: true accepts and saves the key; the next connect needs nothing', async () => {
    await connect({ silentlyAcceptHosts: true });
    const text = await knownHostsText();
    assert.match(text, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${port} ssh-ed25519 `, 'm'));
    assert.ok(text.includes(env.hostKey.publicKey.blob.toString('base64')));
    await connect({});
    assert.equal(await knownHostsText(), text, 'a known host is not saved twice');
  });

  test('saveAcceptedHost: false accepts without saving', async () => {
    await connect({ silentlyAcceptHosts: true, saveAcceptedHost: false });
    assert.equal(await knownHostsText(), '');
    await assert.rejects(connect({}), notVerified);
  });

  test('an accept callback gets the peer name and the SHA256 fingerprint', async () => {
    const calls: unknown[][] = [];
    await connect({
      silentlyAcceptHosts: (peer, fp) => {
        calls.push([peer, fp]);
        return true;
      },
    });
    assert.deepEqual(calls, [['127.0.0.1', fingerprint(env.hostKey.publicKey, 'sha256')]]);
    assert.match(calls[0]![1] as string, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.notEqual(await knownHostsText(), '', 'an accepted key is saved');
  });

  test('an accept callback returning false (or something not true) refuses the key', async () => {
    await assert.rejects(connect({ silentlyAcceptHosts: () => false }), notVerified);
    await assert.rejects(
      connect({ silentlyAcceptHosts: (() => 'yes') as unknown as () => boolean }),
      notVerified,
    );
    await assert.rejects(connect({ silentlyAcceptHosts: async () => false }), notVerified);
    assert.equal(await knownHostsText(), '');
  });

  test('an accept callback that throws refuses the key', async () => {
    await assert.rejects(
      connect({
        silentlyAcceptHosts: () => {
          throw new Error('no terminal');
        },
      }),
      (e: unknown) => notVerified(e) && /no terminal/.test((e as Error).message),
    );
  });

  test("['md5', cb] gives the callback the MD5 fingerprint", async () => {
    let got: unknown;
    await connect({
      silentlyAcceptHosts: [
        'md5',
        (_peer, fp) => {
          got = fp;
          return true;
        },
      ],
    });
    assert.equal(got, fingerprint(env.hostKey.publicKey, 'md5'));
    assert.match(got as string, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
  });

  test("[['sha256', 'md5', 'sha512'], cb] gives a list of fingerprints in that order", async () => {
    let got: unknown;
    await connect({
      silentlyAcceptHosts: [
        ['sha256', 'md5', 'sha512'],
        (_peer, fp) => {
          got = fp;
          return true;
        },
      ],
    });
    const k = env.hostKey.publicKey;
    assert.deepEqual(got, [fingerprint(k, 'sha256'), fingerprint(k, 'md5'), fingerprint(k, 'sha512')]);
    assert.match((got as string[])[2]!, /^SHA512:/);
  });

  test('a changed host key is refused even with silentlyAcceptHosts: true, and known_hosts is left alone', async () => {
    const other = generatePrivateKey('ed25519');
    const recorded = formatKnownHostsLine('127.0.0.1', port, other.publicKey) + '\n';
    await writeFile(knownHosts, recorded);
    let asked = false;
    for (const accept of [
      true,
      () => {
        asked = true;
        return true;
      },
    ]) {
      await assert.rejects(connect({ silentlyAcceptHosts: accept }), (e: unknown) => {
        assert.ok(e instanceof SshError && e.code === 'HOST_KEY_MISMATCH', String(e));
        const m = (e as Error).message;
        assert.match(m, /HOST KEY MISMATCH/);
        // Both fingerprints, and the file and line to edit, as OpenSSH's warning has them.
        assert.ok(m.includes(fingerprint(env.hostKey.publicKey, 'sha256')), m);
        assert.ok(m.includes(fingerprint(other.publicKey, 'sha256')), m);
        assert.ok(m.includes(`${knownHosts}:1`), m);
        return true;
      });
    }
    assert.equal(asked, false, 'a mismatch is not a question for the accept callback');
    assert.equal(await knownHostsText(), recorded);
  });

  test('a host key marked @revoked is refused with HOST_KEY_REVOKED, whatever else the file says', async () => {
    const line = formatKnownHostsLine('127.0.0.1', port, env.hostKey.publicKey);
    await writeFile(knownHosts, `${line}\n@revoked ${line}\n`);
    await assert.rejects(connect({ silentlyAcceptHosts: true }), (e: unknown) => {
      assert.ok(e instanceof SshError && e.code === 'HOST_KEY_REVOKED', String(e));
      assert.match((e as Error).message, /@revoked/);
      return true;
    });
  });

  test('a key recorded for another port does not count for this one', async () => {
    await writeFile(knownHosts, formatKnownHostsLine('127.0.0.1', port + 1, env.hostKey.publicKey) + '\n');
    await assert.rejects(connect({}), notVerified);
  });

  test('the daemon sees the refusal as a HOST_KEY_NOT_VERIFIABLE disconnect', async () => {
    const reasons: string[] = [];
    const d = await startDaemon(env, { password: 'pw', disconnectfun: (r) => reasons.push(r) });
    const p = await portOf(d);
    await assert.rejects(
      ssh.connect('127.0.0.1', p, { userDir: env.clientDir, user: 'u', password: 'pw' }),
      notVerified,
    );
    await waitFor(() => reasons.length > 0, 'the daemon to see the disconnect');
    await ssh.stopDaemon(d);
    assert.equal(reasons.length, 1);
    assert.match(reasons[0]!, /HOST_KEY_NOT_VERIFIABLE/);
    // Nothing of the client's machine goes on the wire: not the known_hosts path, not the home.
    assert.match(reasons[0]!, /host key not accepted/);
    assert.ok(!reasons[0]!.includes(env.clientDir) && !reasons[0]!.includes('known_hosts'), reasons[0]);
  });

  test('hashKnownHosts saves the host hashed, as OpenSSH writes it: ssh-keygen -F finds it, we match it', async () => {
    await connect({ silentlyAcceptHosts: true, hashKnownHosts: true });
    const text = await knownHostsText();
    assert.match(text, /^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-ed25519 /);
    assert.ok(!text.includes('127.0.0.1'));
    const found = spawnSync('ssh-keygen', ['-F', `[127.0.0.1]:${port}`, '-f', knownHosts], {
      encoding: 'utf8',
    });
    assert.equal(found.status, 0, found.stderr);
    assert.match(found.stdout, /Host \[127\.0\.0\.1\]:\d+ found: line 1/);
    await connect({});
    assert.equal(await knownHostsText(), text, 'matched, not saved again');
  });

  test('the known_hosts directory is created when the host is saved', async () => {
    const fresh = join(env.dir, 'fresh-user-dir');
    await mkdir(fresh).catch(() => {});
    await rm(fresh, { recursive: true, force: true });
    const conn = await ssh.connect('127.0.0.1', port, {
      userDir: fresh,
      user: 'u',
      password: 'pw',
      silentlyAcceptHosts: true,
    });
    await ssh.close(conn);
    assert.match(await readFile(join(fresh, 'known_hosts'), 'utf8'), /ssh-ed25519/);
  });
});
