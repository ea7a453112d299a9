import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClientAuthConfig } from '../../src/auth/client.js';
import { defaultKbdIntData } from '../../src/auth/keyboard-interactive.js';
import type { ServerAuthConfig } from '../../src/auth/server.js';
import { DisconnectReason, SshError } from '../../src/errors.js';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import { decodeUserauthFailure, decodeUserauthRequest } from '../../src/wire/auth-messages.js';
import {
  decodeInfoRequest,
  encodeInfoRequest,
  encodeInfoResponse,
  MAX_KBDINT_PROMPTS,
} from '../../src/wire/kbdint-messages.js';
import { SshWriter } from '../../src/wire/writer.js';
import { AuthPair } from './harness.js';

const ed = generatePrivateKey('ed25519');

function serverConfig(over: Partial<ServerAuthConfig> = {}): ServerAuthConfig {
  return {
    methods: ['publickey', 'keyboard-interactive', 'password'],
    publicKeyAlgorithms: ['ssh-ed25519'],
    ...over,
  };
}

function clientConfig(over: Partial<ClientAuthConfig> = {}): ClientAuthConfig {
  return { user: 'alice', methods: ['publickey', 'keyboard-interactive', 'password'], keys: [], ...over };
}

const isProtocolError = (e: unknown) => e instanceof SshError && e.code === 'PROTOCOL_ERROR';

describe('keyboard-interactive (RFC 4256)', () => {
  test('the server sends its text as one INFO_REQUEST and checks the answer as a password', async () => {
    const pair = new AuthPair(clientConfig({ password: 'pw' }), serverConfig(), {
      checkPassword: async (_u, p) => p === 'pw',
      kbdIntData: (user) => defaultKbdIntData(user),
    });
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, 'keyboard-interactive');
    assert.deepEqual(pair.serverSuccess, { user: 'alice', method: 'keyboard-interactive' });
    const info = pair.serverSent.find((p) => p[0] === 60)!;
    assert.deepEqual(decodeInfoRequest(info), {
      name: 'SSH server',
      instruction: 'Enter password for "alice"',
      prompts: [{ prompt: 'password: ', echo: false }],
    });
    assert.deepEqual(pair.passwordChecks, [{ user: 'alice', password: 'pw' }]);
    assert.ok(pair.trace.includes('C>S INFO_RESPONSE'));
  });

  test('a wrong answer fails, then the password method is tried, both counted', async () => {
    const pair = new AuthPair(clientConfig({ password: 'bad' }), serverConfig(), {
      checkPassword: async () => false,
      kbdIntData: (user) => defaultKbdIntData(user),
    });
    pair.client.start();
    await pair.run();
    assert.deepEqual(
      pair.serverFailures.map((f) => [f.method, f.why]),
      [
        ['keyboard-interactive', 'wrong password'],
        ['password', 'wrong password'],
      ],
    );
    assert.match(pair.exhausted!.message, /tried keyboard-interactive, password/);
  });

  test('the keyboardInteractive callback answers every prompt, asynchronously', async () => {
    const seen: unknown[] = [];
    const pair = new AuthPair(
      clientConfig({
        keyboardInteractive: async (name, instruction, prompts) => {
          seen.push({ name, instruction, prompts });
          return ['otp-123'];
        },
      }),
      serverConfig(),
      {
        checkPassword: async (_u, p) => p === 'otp-123',
        kbdIntData: () => ({ name: 'OTP', instruction: 'Token please', prompt: 'Token: ', echo: true }),
      },
    );
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, 'keyboard-interactive');
    assert.deepEqual(seen, [
      { name: 'OTP', instruction: 'Token please', prompts: [{ prompt: 'Token: ', echo: true }] },
    ]);
  });

  test('without a callback, a prompt that echoes is not answered with the password: the next method goes on', async () => {
    const pair = new AuthPair(clientConfig({ password: 'pw' }), serverConfig(), {
      checkPassword: async (_u, p) => p === 'pw',
      kbdIntData: () => ({ name: '', instruction: '', prompt: 'Login: ', echo: true }),
    });
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, 'password');
    assert.equal(pair.trace.filter((t) => t === 'C>S INFO_RESPONSE').length, 0, 'no answer sent');
    assert.deepEqual(pair.serverFailures, [], 'the abandoned exchange is not a failure');
  });

  test('a callback answering the wrong number of answers gives up the method', async () => {
    const pair = new AuthPair(
      clientConfig({
        keyboardInteractive: () => ['a', 'b'],
        password: 'pw',
        methods: ['keyboard-interactive', 'password'],
      }),
      serverConfig(),
      { checkPassword: async (_u, p) => p === 'pw', kbdIntData: (u) => defaultKbdIntData(u) },
    );
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, 'password');
    assert.equal(pair.passwordChecks.length, 1);
  });

  test('an INFO_RESPONSE with no exchange under way, or two answers, is refused', async () => {
    const pair = new AuthPair(clientConfig(), serverConfig(), { kbdIntData: (u) => defaultKbdIntData(u) });
    pair.client.start();
    await pair.run();
    assert.throws(() => pair.server.handle(encodeInfoResponse(['x'])), isProtocolError);

    const two = new AuthPair(
      clientConfig({ keyboardInteractive: () => ['x'], methods: ['keyboard-interactive'] }),
      serverConfig(),
      {
        kbdIntData: (u) => defaultKbdIntData(u),
        checkPassword: async () => true,
      },
    );
    two.client.start();
    await two.run();
    assert.equal(two.clientSuccess, 'keyboard-interactive');
    const three = new AuthPair(clientConfig(), serverConfig(), { kbdIntData: (u) => defaultKbdIntData(u) });
    three.client.start();
    await three.run();
    three.inject(
      new SshWriter()
        .byte(50)
        .string('alice')
        .string('ssh-connection')
        .string('keyboard-interactive')
        .string('')
        .string('')
        .finish(),
    );
    await three.run();
    three.inject(encodeInfoResponse(['a', 'b']));
    await three.run();
    assert.equal(three.serverFailures.at(-1)?.why, '2 answers to one prompt');
    assert.deepEqual(three.passwordChecks, [], 'nothing was checked');
  });

  test(`an INFO_REQUEST with more than ${MAX_KBDINT_PROMPTS} prompts is a protocol error on the client`, async () => {
    const pair = new AuthPair(
      clientConfig({ keyboardInteractive: () => [], methods: ['keyboard-interactive'] }),
      serverConfig(),
    );
    pair.client.start();
    await new Promise<void>((r) => setImmediate(r));
    pair.client.handle(Buffer.from([6, 0, 0, 0, 12, ...Buffer.from('ssh-userauth')]));
    const many = encodeInfoRequest({
      name: '',
      instruction: '',
      prompts: Array.from({ length: MAX_KBDINT_PROMPTS + 1 }, () => ({ prompt: 'p', echo: false })),
    });
    assert.throws(() => pair.client.handle(many), isProtocolError);
  });

  test('a daemon without keyboard-interactive data refuses the method', async () => {
    const pair = new AuthPair(
      clientConfig({ password: 'pw', methods: ['keyboard-interactive'] }),
      serverConfig(),
      {
        checkPassword: async () => true,
      },
    );
    pair.client.start();
    await pair.run();
    assert.equal(pair.serverFailures[0]?.why, 'keyboard-interactive is not offered');
    assert.equal(pair.clientSuccess, undefined);
  });
});

describe('password change (RFC 4252 §8)', () => {
  const expiring = {
    checkPassword: async (_u: string, p: string) => (p === 'old' ? ('expired' as const) : false),
    changePassword: async (_u: string, o: string, n: string) => o === 'old' && n === 'new',
  };

  test('the passwordChange callback answers PASSWD_CHANGEREQ with a new password', async () => {
    const prompts: string[] = [];
    const pair = new AuthPair(
      clientConfig({
        methods: ['password'],
        password: 'old',
        passwordChange: async (prompt) => (prompts.push(prompt), 'new'),
      }),
      serverConfig(),
      expiring,
    );
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, 'password');
    assert.deepEqual(prompts, ['Your password has expired; enter a new one.']);
    const last = decodeUserauthRequest(pair.clientSent.filter((p) => p[0] === 50).at(-1)!);
    assert.deepEqual(last, {
      method: 'password',
      user: 'alice',
      service: 'ssh-connection',
      password: 'old',
      newPassword: 'new',
    });
  });

  test('without a callback the change is refused cleanly: AUTH_FAILED says why', async () => {
    const pair = new AuthPair(
      clientConfig({ methods: ['password'], password: 'old' }),
      serverConfig(),
      expiring,
    );
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, undefined);
    assert.equal(pair.exhausted?.code, 'AUTH_FAILED');
    assert.match(pair.exhausted!.message, /asked for a password change/);
    assert.equal(pair.disconnected, undefined);
  });

  test('a callback that declines refuses too', async () => {
    const pair = new AuthPair(
      clientConfig({ methods: ['password'], password: 'old', passwordChange: () => undefined }),
      serverConfig(),
      expiring,
    );
    pair.client.start();
    await pair.run();
    assert.match(pair.exhausted!.message, /change declined/);
  });
});

describe('partial success (RFC 4252 §5.1)', () => {
  test('a chain of publickey then password: the key alone is a partial success', async () => {
    const pair = new AuthPair(
      clientConfig({ keys: [{ key: ed, algorithms: ['ssh-ed25519'] }], password: 'pw' }),
      serverConfig({ methods: ['publickey', 'password'], chains: [['publickey', 'password']] }),
      { isAuthorizedKey: async () => true, checkPassword: async (_u, p) => p === 'pw' },
    );
    pair.client.start();
    await pair.run();
    const partial = pair.serverSent
      .filter((p) => p[0] === 51)
      .map(decodeUserauthFailure)
      .at(-1)!;
    assert.deepEqual(partial, { methods: ['password'], partialSuccess: true });
    assert.deepEqual(pair.serverSuccess, { user: 'alice', method: 'password' });
    assert.equal(pair.clientSuccess, 'password');
  });

  test('without the second factor the login is not complete', async () => {
    const pair = new AuthPair(
      clientConfig({ keys: [{ key: ed, algorithms: ['ssh-ed25519'] }] }),
      serverConfig({ methods: ['publickey', 'password'], chains: [['publickey', 'password']] }),
      { isAuthorizedKey: async () => true },
    );
    pair.client.start();
    await pair.run();
    assert.equal(pair.serverSuccess, undefined);
    assert.match(pair.exhausted!.message, /after a partial success/);
    assert.equal(pair.exhausted!.reason, DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE);
  });
});
