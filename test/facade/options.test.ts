import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SshError } from '../../src/errors.js';
import type { ClientOptions, DaemonOptions } from '../../src/options.js';
import * as ssh from '../../src/ssh.js';
import { makeEnv, type Env } from './helpers.js';

function badOption(re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof SshError, `expected an SshError, got ${String(e)}`);
    assert.equal(e.code, 'BAD_OPTION');
    assert.match(e.message, re);
    return true;
  };
}

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

describe('connect options are validated before anything is opened', () => {
  // Port 9 (discard) on 127.0.0.1: nothing listens there, so reaching the socket would fail differently.
  const connect = (o: unknown) => ssh.connect('127.0.0.1', 9, o as ClientOptions);

  test('an unknown option is BAD_OPTION naming it', async () => {
    await assert.rejects(
      connect({ silentlyAcceptHost: true }),
      badOption(/unknown client option 'silentlyAcceptHost'/),
    );
    await assert.rejects(connect({ user: 'a', nosuch: 1 }), badOption(/'nosuch'/));
    // A daemon-only option is unknown to a client.
    await assert.rejects(connect({ systemDir: '/etc/ssh' }), badOption(/'systemDir'/));
  });

  test('a value of the wrong type is BAD_OPTION naming the option', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ user: 42 }, /option user must be a string, got 42/],
      [{ password: ['x'] }, /option password must be a string/],
      [{ silentlyAcceptHosts: 'yes' }, /option silentlyAcceptHosts/],
      [{ silentlyAcceptHosts: ['sha999', () => true] }, /option silentlyAcceptHosts/],
      [{ saveAcceptedHost: 1 }, /option saveAcceptedHost must be a boolean/],
      [{ connectTimeout: -5 }, /option connectTimeout/],
      [{ connectTimeout: 1.5 }, /option connectTimeout/],
      [{ authMethods: 'publickey,telepathy' }, /option authMethods/],
      [{ prefPublicKeyAlgs: 'ssh-ed25519' }, /option prefPublicKeyAlgs must be an array of strings/],
      [{ idString: 'has space' }, /idString/],
      [{ idString: { random: [0, 5] } }, /idString/],
      [{ idString: { random: [9, 3] } }, /idString/],
      [{ rekeyLimit: 'often' }, /option rekeyLimit/],
      [{ userDir: 0 }, /option userDir must be a string/],
      [{ idleTime: -1 }, /option idleTime/],
      [{ inet: 'ipv4' }, /option inet must be 'inet' or 'inet6'/],
      [{ fd: -3 }, /option fd must be a file descriptor number/],
      [{ unexpectedfun: 'report' }, /option unexpectedfun must be a function/],
      [{ keyboardInteractive: ['pw'] }, /option keyboardInteractive must be a function/],
      [{ recvExtInfo: 'true' }, /option recvExtInfo must be a boolean/],
    ];
    for (const [opts, re] of cases) await assert.rejects(connect(opts), badOption(re), JSON.stringify(opts));
  });

  test('options object itself must be an object', async () => {
    await assert.rejects(connect('user=a'), badOption(/client options must be an object/));
    await assert.rejects(connect([]), badOption(/client options must be an object/));
  });

  test('algorithm options are checked: unknown names in preferredAlgorithms are refused', async () => {
    await assert.rejects(
      connect({ preferredAlgorithms: { cipher: ['blowfish-cbc'] } }),
      badOption(/blowfish-cbc/),
    );
    await assert.rejects(connect({ modifyAlgorithms: { append: {} } }), badOption(/modifyAlgorithms/));
  });

  test('the passphrase options of every key file, dsaPassPhrase (the seed) and ed448PassPhrase too, take strings', async () => {
    for (const name of [
      'rsaPassPhrase',
      'ecdsaPassPhrase',
      'ed25519PassPhrase',
      'dsaPassPhrase',
      'ed448PassPhrase',
    ]) {
      await assert.rejects(connect({ [name]: 42 }), badOption(new RegExp(`option ${name} must be a string`)));
    }
  });

  test('a bad negotiation timeout or call shape is BAD_OPTION', async () => {
    await assert.rejects(ssh.connect('127.0.0.1', 9, {}, -1), badOption(/negotiation timeout/));
    await assert.rejects(
      (ssh.connect as (...a: unknown[]) => Promise<unknown>)(22, '127.0.0.1'),
      badOption(/connect takes/),
    );
  });
});

describe('daemon options are validated before anything listens', () => {
  const daemon = (o: unknown) =>
    ssh.daemon('127.0.0.1', 0, { systemDir: env.systemDir, ...(o as DaemonOptions) });

  test('an unknown option is BAD_OPTION naming it', async () => {
    await assert.rejects(daemon({ maxSession: 3 }), badOption(/unknown daemon option 'maxSession'/));
    // A client-only option is unknown to a daemon.
    await assert.rejects(daemon({ silentlyAcceptHosts: true }), badOption(/'silentlyAcceptHosts'/));
  });

  test('a value of the wrong type is BAD_OPTION naming the option', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ userPasswords: [['alice']] }, /option userPasswords must be an array of \[user, password\] pairs/],
      [{ userPasswords: { alice: 'pw' } }, /option userPasswords must be an array/],
      [{ pwdfun: 'yes' }, /option pwdfun must be a function/],
      [{ exec: {} }, /option exec must be a function/],
      [{ sshCli: 'cli' }, /option sshCli/],
      [{ sshCli: { init: () => ({ ok: 1 }) } }, /option sshCli/],
      [{ subsystems: [['sftp']] }, /option subsystems/],
      [{ subsystems: [['echo', { nope: true }]] }, /subsystems\[echo\]/],
      [{ negotiationTimeout: 'soon' }, /option negotiationTimeout/],
      [{ maxSessions: 0 }, /option maxSessions must be a positive integer/],
      [{ maxChannels: 2.5 }, /option maxChannels must be a positive integer/],
      [{ minimalRemoteMaxPacketSize: -1 }, /option minimalRemoteMaxPacketSize/],
      [{ sendExtInfo: 0 }, /option sendExtInfo must be a boolean/],
      [{ failfun: true }, /option failfun must be a function/],
      [{ profile: 7 }, /option profile must be a string/],
    ];
    for (const [opts, re] of cases) await assert.rejects(daemon(opts), badOption(re), JSON.stringify(opts));
  });

  test("a client's passphrase option is unknown to a daemon", async () => {
    await assert.rejects(daemon({ dsaPassPhrase: 'x' }), badOption(/unknown daemon option 'dsaPassPhrase'/));
  });

  test('unknown algorithms are refused; a bad host address or port too', async () => {
    await assert.rejects(
      daemon({ preferredAlgorithms: { kex: ['diffie-hellman-group2-sha1'] } }),
      badOption(/group2/),
    );
    await assert.rejects(
      ssh.daemon('example.com', 0, { systemDir: env.systemDir }),
      badOption(/daemon host/),
    );
    await assert.rejects(
      ssh.daemon('127.0.0.1', 70000, { systemDir: env.systemDir }),
      badOption(/port must be/),
    );
  });

  test('a daemon without any usable host key is BAD_KEY', async () => {
    await assert.rejects(ssh.daemon('127.0.0.1', 0, { systemDir: env.clientDir }), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.code, 'BAD_KEY');
      assert.match(e.message, /no usable host key/);
      return true;
    });
  });
});

describe('defaultAlgorithms and start', () => {
  test('defaultAlgorithms lists every category, and returns a fresh copy each time', () => {
    const a = ssh.defaultAlgorithms();
    assert.ok(a.kex.includes('curve25519-sha256'));
    assert.ok(a.publicKey.includes('ssh-ed25519'));
    assert.ok(a.cipher.clientToServer.includes('chacha20-poly1305@openssh.com'));
    assert.ok(a.mac.serverToClient.includes('hmac-sha2-256'));
    assert.deepEqual(a.compression, {
      clientToServer: ['none', 'zlib@openssh.com'],
      serverToClient: ['none', 'zlib@openssh.com'],
    });
    a.kex.length = 0;
    assert.ok(ssh.defaultAlgorithms().kex.length > 0);
  });

  test('start resolves', async () => {
    await ssh.start();
  });
});
