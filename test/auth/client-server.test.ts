import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClientAuthConfig } from '../../src/auth/client.js';
import { MAX_AUTH_FAILURES, type ServerAuthConfig } from '../../src/auth/server.js';
import { DisconnectReason, SshError } from '../../src/errors.js';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import type { PrivateKey, PublicKey, SignatureAlgorithm } from '../../src/keys/types.js';
import { signData } from '../../src/keys/signature.js';
import {
  decodeUserauthFailure,
  decodeUserauthRequest,
  encodeUserauthBanner,
  encodeUserauthNone,
  encodeUserauthPassword,
  encodeUserauthPkOk,
  encodeUserauthPublickey,
  publickeySignedData,
} from '../../src/wire/auth-messages.js';
import { encodeServiceAccept, encodeServiceRequest } from '../../src/wire/transport-messages.js';
import { SshWriter } from '../../src/wire/writer.js';
import { AuthPair } from './harness.js';

const ed = generatePrivateKey('ed25519');
const ed2 = generatePrivateKey('ed25519');
const ecdsa = generatePrivateKey('ecdsa');
const rsa = generatePrivateKey('rsa', { bits: 2048 });

const ALL_ALGS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'rsa-sha2-512', 'rsa-sha2-256'];

function serverConfig(over: Partial<ServerAuthConfig> = {}): ServerAuthConfig {
  return { methods: ['publickey', 'password'], publicKeyAlgorithms: ALL_ALGS, ...over };
}

function clientConfig(over: Partial<ClientAuthConfig> = {}): ClientAuthConfig {
  return { user: 'alice', methods: ['publickey', 'password'], keys: [], ...over };
}

function keyEntry(key: PrivateKey, ...algorithms: SignatureAlgorithm[]) {
  return { key, algorithms: algorithms.length ? algorithms : [key.type as SignatureAlgorithm] };
}

const sameKey = (a: PublicKey) => (b: PublicKey) => a.blob.equals(b.blob);

/** The requests the client sent, decoded. */
function requests(pair: AuthPair) {
  return pair.clientSent.filter((p) => p[0] === 50).map((p) => decodeUserauthRequest(p));
}

describe('ClientAuth ↔ ServerAuth: publickey (RFC 4252 §7)', () => {
  test('a key held here goes signed at once, without a query, and succeeds', async () => {
    const pair = new AuthPair(clientConfig({ keys: [keyEntry(ed)] }), serverConfig(), {
      isAuthorizedKey: async (user, key) => user === 'alice' && sameKey(ed.publicKey)(key),
    });
    pair.client.start();
    await pair.run();
    assert.deepEqual(pair.trace, [
      'C>S SERVICE_REQUEST',
      'S>C SERVICE_ACCEPT',
      'C>S REQUEST', // publickey with signature, pipelined after SERVICE_REQUEST
      'S>C SUCCESS',
    ]);
    const reqs = requests(pair);
    assert.equal(reqs.length, 1);
    const [signed] = reqs;
    assert.ok(signed?.method === 'publickey');
    assert.ok(signed.signature && signed.signature.length > 0);
    assert.equal(signed.algorithm, 'ssh-ed25519');
    assert.ok(signed.keyBlob.equals(ed.publicKey.blob));
    assert.equal(pair.clientSuccess, 'publickey');
    assert.deepEqual(pair.serverSuccess, { user: 'alice', method: 'publickey' });
    assert.equal(pair.server.isAuthenticated, true);
  });

  test('a key signed elsewhere (an agent): its signer is awaited; one that fails moves on to the next key', async () => {
    const remote = (key: PrivateKey, fail: boolean) => ({
      key: { type: key.type, publicKey: key.publicKey },
      algorithms: [key.type as SignatureAlgorithm],
      sign: async (alg: SignatureAlgorithm, data: Buffer) => {
        await new Promise((r) => setTimeout(r, 5));
        if (fail) throw new Error('agent refused');
        return signData(key, alg, data);
      },
    });
    const pair = new AuthPair(
      clientConfig({ keys: [remote(ed2, true), remote(ed, false)] }),
      serverConfig(),
      {
        isAuthorizedKey: async () => true,
      },
    );
    pair.client.start();
    // Each signature arrives a few ms later: run the exchange until it settles (bounded).
    for (let i = 0; i < 50 && pair.clientSuccess === undefined; i++) {
      await pair.run();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(pair.clientSuccess, 'publickey');
    const signed = requests(pair).filter((r) => r.method === 'publickey' && r.signature);
    assert.equal(signed.length, 1);
    assert.ok(signed[0]!.method === 'publickey' && signed[0]!.keyBlob.equals(ed.publicKey.blob));
    // An agent's key is first offered as a query: the agent signs only what the server accepts.
    assert.deepEqual(pair.trace.slice(2, 7), [
      'C>S REQUEST',
      'S>C PK_OK',
      'C>S REQUEST',
      'S>C PK_OK',
      'C>S REQUEST',
    ]);
    const first = requests(pair)[0];
    assert.ok(first?.method === 'publickey' && first.signature === undefined);
  });

  test('a key the server refuses gets FAILURE, then the next key is tried', async () => {
    const pair = new AuthPair(
      clientConfig({ keys: [keyEntry(ed2), keyEntry(ecdsa), keyEntry(ed)] }),
      serverConfig(),
      {
        isAuthorizedKey: async (_user, key) => sameKey(ed.publicKey)(key),
      },
    );
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, 'publickey');
    const tried = pair.authorizedQueries.map((q) => q.key.blob.toString('base64'));
    assert.deepEqual(tried, [
      ed2.publicKey.blob.toString('base64'),
      ecdsa.publicKey.blob.toString('base64'),
      ed.publicKey.blob.toString('base64'),
    ]);
    assert.deepEqual(
      pair.serverFailures.map((f) => f.why),
      ['key not authorized', 'key not authorized'],
    );
    assert.deepEqual(pair.trace.slice(2), [
      'C>S REQUEST',
      'S>C FAILURE',
      'C>S REQUEST',
      'S>C FAILURE',
      'C>S REQUEST',
      'S>C SUCCESS',
    ]);
    // Each key held here went signed: the refused ones were refused before their signature was checked.
    assert.ok(requests(pair).every((r) => r.method === 'publickey' && r.signature));
  });

  test('an unauthorized key is refused before its signature is looked at', async () => {
    const pair = new AuthPair(clientConfig(), serverConfig(), { isAuthorizedKey: async () => false });
    pair.client.start();
    await pair.run();
    // A junk signature: were it verified first, the reason would be that it does not verify.
    pair.inject(
      encodeUserauthPublickey(
        'mallory',
        'ssh-connection',
        'ssh-ed25519',
        ed.publicKey.blob,
        Buffer.from('junk'),
      ),
    );
    await pair.run();
    assert.equal(pair.serverSuccess, undefined);
    assert.equal(pair.serverFailures.at(-1)?.why, 'key not authorized');
  });

  test('an RSA key under 2048 bits is refused before it is looked up', async () => {
    const small = generatePrivateKey('rsa', { bits: 1024 });
    let lookedUp = false;
    const pair = new AuthPair(clientConfig(), serverConfig(), {
      isAuthorizedKey: async () => ((lookedUp = true), true),
    });
    pair.client.start();
    await pair.run();
    pair.inject(encodeUserauthPublickey('mallory', 'ssh-connection', 'rsa-sha2-256', small.publicKey.blob));
    await pair.run();
    assert.equal(lookedUp, false);
    assert.equal(pair.serverFailures.at(-1)?.why, 'RSA key of 1024 bits is below the minimum of 2048');
  });

  test('a signature by another key is refused', async () => {
    const pair = new AuthPair(clientConfig(), serverConfig(), {
      isAuthorizedKey: async (_u, key) => sameKey(ed.publicKey)(key),
    });
    pair.client.start();
    await pair.run();
    // The client has no key and no password: it gave up after `none`.
    assert.equal(pair.exhausted?.code, 'AUTH_FAILED');
    // Forge: ed's public key with ed2's signature over the right data.
    const data = publickeySignedData(
      pair.sessionId,
      'mallory',
      'ssh-connection',
      'ssh-ed25519',
      ed.publicKey.blob,
    );
    const forged = encodeUserauthPublickey(
      'mallory',
      'ssh-connection',
      'ssh-ed25519',
      ed.publicKey.blob,
      signData(ed2, 'ssh-ed25519', data),
    );
    pair.inject(forged);
    await pair.run();
    assert.equal(pair.serverSuccess, undefined);
    assert.deepEqual(pair.serverFailures.at(-1), {
      user: 'mallory',
      method: 'publickey',
      why: 'signature does not verify',
    });
    assert.equal(pair.trace.at(-1), 'S>C FAILURE');
    // The same request signed by the right key over another session id is refused too.
    const otherSession = publickeySignedData(
      Buffer.alloc(32, 1),
      'mallory',
      'ssh-connection',
      'ssh-ed25519',
      ed.publicKey.blob,
    );
    pair.inject(
      encodeUserauthPublickey(
        'mallory',
        'ssh-connection',
        'ssh-ed25519',
        ed.publicKey.blob,
        signData(ed, 'ssh-ed25519', otherSession),
      ),
    );
    await pair.run();
    assert.equal(pair.serverSuccess, undefined);
    // And over this session it is accepted.
    pair.inject(
      encodeUserauthPublickey(
        'mallory',
        'ssh-connection',
        'ssh-ed25519',
        ed.publicKey.blob,
        signData(ed, 'ssh-ed25519', data),
      ),
    );
    await pair.run();
    assert.deepEqual(pair.serverSuccess, { user: 'mallory', method: 'publickey' });
  });

  test('server-sig-algs decides the RSA signature algorithm (RFC 8308 §3.1, RFC 8332)', async () => {
    const cases: [string[] | undefined, SignatureAlgorithm | undefined][] = [
      [undefined, 'rsa-sha2-512'],
      [['ssh-ed25519', 'rsa-sha2-256'], 'rsa-sha2-256'],
      [['rsa-sha2-512', 'rsa-sha2-256'], 'rsa-sha2-512'],
      [['ssh-ed25519'], undefined],
    ];
    for (const [serverSigAlgs, expected] of cases) {
      const pair = new AuthPair(
        clientConfig({ keys: [keyEntry(rsa, 'rsa-sha2-512', 'rsa-sha2-256')] }),
        serverConfig(),
        {
          isAuthorizedKey: async (_u, key) => sameKey(rsa.publicKey)(key),
        },
      );
      pair.serverSigAlgs = serverSigAlgs;
      pair.client.start();
      await pair.run();
      const algs = requests(pair).flatMap((r) => (r.method === 'publickey' ? [r.algorithm] : []));
      if (expected) {
        assert.deepEqual(algs, [expected], `server-sig-algs ${serverSigAlgs}`);
        assert.equal(pair.clientSuccess, 'publickey');
      } else {
        assert.deepEqual(algs, [], 'no algorithm the server accepts: the key is not offered');
        assert.equal(pair.exhausted?.code, 'AUTH_FAILED');
      }
    }
  });

  test('the server refuses an algorithm it does not accept or one that does not fit the key', async () => {
    const pair = new AuthPair(
      clientConfig({ keys: [keyEntry(rsa, 'rsa-sha2-512')] }),
      serverConfig({ methods: ['publickey'], publicKeyAlgorithms: ['ssh-ed25519', 'rsa-sha2-256'] }),
      { isAuthorizedKey: async () => true },
    );
    pair.client.start();
    await pair.run();
    assert.equal(pair.exhausted?.code, 'AUTH_FAILED');
    assert.match(pair.serverFailures[0]!.why, /algorithm rsa-sha2-512 not accepted/);
    pair.inject(encodeUserauthPublickey('alice', 'ssh-connection', 'rsa-sha2-256', ed.publicKey.blob));
    await pair.run();
    assert.match(pair.serverFailures[1]!.why, /not accepted for a ssh-ed25519 key/);
    assert.equal(pair.authorizedQueries.length, 0, 'the key store is not asked about unusable requests');
  });
});

describe('ClientAuth ↔ ServerAuth: password (RFC 4252 §8)', () => {
  test('succeeds with the right password', async () => {
    const pair = new AuthPair(clientConfig({ password: 'open sesame' }), serverConfig(), {
      checkPassword: async (user, pw) => user === 'alice' && pw === 'open sesame',
    });
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, 'password');
    assert.deepEqual(pair.serverSuccess, { user: 'alice', method: 'password' });
    assert.deepEqual(pair.passwordChecks, [{ user: 'alice', password: 'open sesame' }]);
  });

  test('keys are tried before the password, in authMethods order', async () => {
    const pair = new AuthPair(clientConfig({ keys: [keyEntry(ed2)], password: 'pw' }), serverConfig(), {
      checkPassword: async () => true,
    });
    pair.client.start();
    await pair.run();
    assert.deepEqual(
      requests(pair).map((r) => r.method),
      ['publickey', 'password'],
    );
    const reversed = new AuthPair(
      clientConfig({ methods: ['password', 'publickey'], keys: [keyEntry(ed2)], password: 'pw' }),
      serverConfig(),
      {
        checkPassword: async () => true,
      },
    );
    reversed.client.start();
    await reversed.run();
    assert.deepEqual(
      requests(reversed).map((r) => r.method),
      ['password'],
    );
  });

  test('a wrong password leaves nothing to try: AUTH_FAILED with NO_MORE_AUTH_METHODS_AVAILABLE', async () => {
    const pair = new AuthPair(clientConfig({ password: 'wrong', keys: [keyEntry(ed2)] }), serverConfig());
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, undefined);
    assert.ok(pair.exhausted instanceof SshError);
    assert.equal(pair.exhausted.code, 'AUTH_FAILED');
    assert.equal(pair.exhausted.reason, DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE);
    assert.match(pair.exhausted.message, /user 'alice'/);
    assert.match(pair.exhausted.message, /tried publickey \(ssh-ed25519\), password/);
  });

  test('the client only uses methods the server lists', async () => {
    const pair = new AuthPair(
      clientConfig({ password: 'pw', keys: [keyEntry(ed)] }),
      serverConfig({ methods: ['publickey'] }),
    );
    pair.client.start();
    await pair.run();
    assert.deepEqual(
      requests(pair).map((r) => r.method),
      ['publickey'],
    );
    assert.equal(pair.exhausted?.code, 'AUTH_FAILED');
    assert.deepEqual(pair.passwordChecks, []);
  });

  test("'disconnect' from the password check disconnects at once", async () => {
    const pair = new AuthPair(clientConfig({ password: 'x' }), serverConfig(), {
      checkPassword: async () => 'disconnect',
    });
    pair.client.start();
    await pair.run();
    assert.equal(pair.disconnected?.reason, DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE);
    assert.ok(!pair.trace.includes('S>C SUCCESS'));
    assert.equal(pair.trace.at(-1), 'C>S REQUEST', 'no FAILURE was sent after the disconnect');
  });

  test('a password change request is refused', async () => {
    const pair = new AuthPair(clientConfig(), serverConfig(), { checkPassword: async () => true });
    pair.client.start();
    await pair.run();
    pair.inject(
      new SshWriter()
        .byte(50)
        .string('alice')
        .string('ssh-connection')
        .string('password')
        .boolean(true)
        .string('old')
        .string('new')
        .finish(),
    );
    await pair.run();
    assert.equal(pair.serverSuccess, undefined);
    assert.equal(pair.serverFailures.at(-1)?.why, 'password change is not supported');
    assert.deepEqual(pair.passwordChecks, []);
  });
});

describe('ServerAuth limits and ordering', () => {
  test(`after ${MAX_AUTH_FAILURES} failures the server disconnects with NO_MORE_AUTH_METHODS_AVAILABLE`, async () => {
    const keys = Array.from({ length: 8 }, () => keyEntry(generatePrivateKey('ed25519')));
    const pair = new AuthPair(clientConfig({ keys }), serverConfig());
    pair.client.start();
    await pair.run();
    assert.deepEqual(pair.disconnected, {
      reason: DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE,
      description: 'too many authentication failures',
    });
    assert.equal(pair.serverFailures.length, MAX_AUTH_FAILURES);
    assert.equal(
      pair.authorizedQueries.length,
      MAX_AUTH_FAILURES,
      'keys after the limit are never looked at',
    );
    assert.equal(
      pair.trace.filter((t) => t === 'S>C FAILURE').length,
      MAX_AUTH_FAILURES - 1,
      'five refused keys are answered; the sixth failure is the disconnect',
    );
  });

  test('maxFailures is configurable and counts password failures too', async () => {
    const pair = new AuthPair(clientConfig(), serverConfig({ maxFailures: 2 }));
    pair.client.start();
    await pair.run();
    pair.inject(encodeUserauthPassword('alice', 'ssh-connection', 'a'));
    await pair.run();
    const afterOne = pair.disconnected;
    assert.equal(afterOne, undefined);
    pair.inject(encodeUserauthPassword('alice', 'ssh-connection', 'b'));
    await pair.run();
    assert.equal(pair.disconnected?.reason, DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE);
  });

  test('requests after success are ignored (RFC 4252 §5.1)', async () => {
    const pair = new AuthPair(clientConfig({ password: 'pw' }), serverConfig(), {
      checkPassword: async () => true,
    });
    pair.client.start();
    await pair.run();
    assert.equal(pair.clientSuccess, 'password');
    const traceLength = pair.trace.length;
    pair.inject(encodeUserauthPassword('root', 'ssh-connection', 'pw'));
    pair.inject(encodeUserauthPassword('alice', 'ssh-connection', 'nope'));
    await pair.run();
    assert.deepEqual(pair.trace.slice(traceLength), ['C>S REQUEST', 'C>S REQUEST'], 'no answer at all');
    assert.deepEqual(pair.serverSuccess, { user: 'alice', method: 'password' });
    assert.equal(pair.passwordChecks.length, 1);
    assert.equal(pair.serverFailures.length, 0);
  });

  test('each request is decided before the next one is read', async () => {
    let release: (() => void) | undefined;
    const order: string[] = [];
    const pair = new AuthPair(clientConfig(), serverConfig(), {
      checkPassword: (_u, pw) => {
        order.push(`check ${pw}`);
        if (pw !== 'slow') return Promise.resolve(false);
        return new Promise<boolean>((resolve) => (release = () => resolve(false)));
      },
    });
    pair.client.start();
    await pair.run();
    pair.inject(encodeUserauthPassword('alice', 'ssh-connection', 'slow'));
    pair.inject(encodeUserauthPassword('alice', 'ssh-connection', 'fast'));
    const running = pair.run();
    await new Promise<void>((r) => setImmediate(r));
    assert.deepEqual(order, ['check slow'], 'the second request waits');
    release!();
    await running;
    assert.deepEqual(order, ['check slow', 'check fast']);
    assert.deepEqual(pair.trace.slice(-4), ['C>S REQUEST', 'S>C FAILURE', 'C>S REQUEST', 'S>C FAILURE']);
  });

  test('a key lookup that throws is answered with FAILURE, not silence', async () => {
    const pair = new AuthPair(clientConfig({ keys: [keyEntry(ed2), keyEntry(ed)] }), serverConfig(), {
      isAuthorizedKey: async (_u, key) => {
        if (sameKey(ed2.publicKey)(key)) throw new Error('key store unavailable');
        return sameKey(ed.publicKey)(key);
      },
    });
    pair.client.start();
    await pair.run();
    assert.match(pair.serverFailures[0]!.why, /internal error: key store unavailable/);
    assert.equal(pair.clientSuccess, 'publickey', 'the client went on to its next key');
  });

  test('a service other than ssh-userauth, or a request for another service, is SERVICE_NOT_AVAILABLE', async () => {
    const a = new AuthPair(clientConfig(), serverConfig());
    a.inject(encodeServiceRequest('ssh-connection'));
    await a.run();
    assert.equal(a.disconnected?.reason, DisconnectReason.SERVICE_NOT_AVAILABLE);

    const b = new AuthPair(clientConfig(), serverConfig());
    b.inject(encodeServiceRequest('ssh-userauth'));
    b.inject(encodeUserauthPassword('alice', 'ssh-sftp-please', 'pw'));
    await b.run();
    assert.equal(b.disconnected?.reason, DisconnectReason.SERVICE_NOT_AVAILABLE);
    assert.match(b.disconnected!.description, /ssh-sftp-please/);
  });

  test('a USERAUTH_REQUEST before the service was accepted is a protocol error', () => {
    const pair = new AuthPair(clientConfig(), serverConfig());
    assert.throws(
      () => pair.server.handle(encodeUserauthPassword('alice', 'ssh-connection', 'pw')),
      (e: unknown) => e instanceof SshError && e.code === 'PROTOCOL_ERROR',
    );
  });

  test('an unknown method is answered with the method list and counts as a failure', async () => {
    const pair = new AuthPair(clientConfig(), serverConfig());
    pair.client.start();
    await pair.run();
    const before = pair.serverFailures.length;
    const sentBefore = pair.serverSent.length;
    pair.inject(
      new SshWriter().byte(50).string('alice').string('ssh-connection').string('hostbased').finish(),
    );
    await pair.run();
    assert.equal(pair.serverFailures.length, before + 1);
    assert.equal(pair.serverFailures.at(-1)?.method, 'hostbased');
    assert.deepEqual(decodeUserauthFailure(pair.serverSent[sentBefore]!), {
      methods: ['publickey', 'password'],
      partialSuccess: false,
    });
  });
});

describe('ClientAuth: banner and protocol checks', () => {
  test('a banner after SERVICE_ACCEPT reaches the application, and authentication goes on', async () => {
    const pair = new AuthPair(clientConfig({ password: 'pw' }), serverConfig(), {
      checkPassword: async () => true,
    });
    pair.client.start();
    // Deliver SERVICE_REQUEST and SERVICE_ACCEPT by hand, then slip a banner in first.
    pair.server.handle(pair.toServer.shift()!);
    pair.client.handle(pair.toClient.shift()!);
    pair.client.handle(encodeUserauthBanner('Authorized use only.\r\n'));
    await pair.run();
    assert.deepEqual(pair.banners, ['Authorized use only.\r\n']);
    assert.equal(pair.clientSuccess, 'password');
  });

  test('SUCCESS before any request, PK_OK for a key not offered and unknown messages are protocol errors', async () => {
    const isProtocolError = (e: unknown) => e instanceof SshError && e.code === 'PROTOCOL_ERROR';

    const early = new AuthPair(clientConfig(), serverConfig());
    early.client.start();
    assert.throws(() => early.client.handle(Buffer.from([52])), isProtocolError);

    const pk = new AuthPair(clientConfig({ keys: [keyEntry(ed)] }), serverConfig());
    pk.client.start();
    await new Promise<void>((resolve) => setImmediate(resolve)); // the pipelined first request goes out
    pk.client.handle(encodeServiceAccept('ssh-userauth'));
    // The query for `ed` is outstanding: a PK_OK naming another key is a protocol error.
    assert.throws(
      () => pk.client.handle(encodeUserauthPkOk('ssh-ed25519', ed2.publicKey.blob)),
      isProtocolError,
    );
    assert.throws(() => pk.client.handle(Buffer.from([55])), isProtocolError);
    assert.throws(() => pk.client.handle(encodeServiceAccept('ssh-userauth')), isProtocolError);
  });
});

describe('ServerAuth: the none method', () => {
  test('the first none is answered for free; later ones count as failures up to the limit', () => {
    const pair = new AuthPair(clientConfig(), serverConfig());
    pair.server.handle(encodeServiceRequest('ssh-userauth'));
    for (let i = 0; i < MAX_AUTH_FAILURES + 3 && !pair.disconnected; i++) {
      pair.server.handle(encodeUserauthNone('alice', 'ssh-connection'));
    }
    assert.equal(pair.serverFailures.length, MAX_AUTH_FAILURES, 'every none after the first failed');
    assert.ok(pair.serverFailures.every((f) => f.method === 'none'));
    assert.equal(pair.disconnected?.reason, DisconnectReason.NO_MORE_AUTH_METHODS_AVAILABLE);
    assert.equal(
      pair.serverSent.filter((p) => p[0] === 51).length,
      MAX_AUTH_FAILURES,
      'the free none and five more are answered',
    );
  });
});
