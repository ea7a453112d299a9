/**
 * Valid traffic to mutate: the bytes and payloads a real client sends in a whole session, recorded
 * from an in-memory client/server Transport pair, and a server-side Transport/ConnectionCore set up
 * the way the daemon sets them up.
 *
 * Helper module, not a test file.
 */
import { randomBytes } from 'node:crypto';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import { signData } from '../../src/keys/signature.js';
import type { PrivateKey } from '../../src/keys/types.js';
import { resolveAlgorithms, type AlgorithmsOption } from '../../src/transport/algorithms.js';
import { Transport, type TransportHandler } from '../../src/transport/transport.js';
import {
  encodeUserauthNone,
  encodeUserauthPassword,
  encodeUserauthPublickey,
  publickeySignedData,
} from '../../src/wire/auth-messages.js';
import {
  encodeChannelOnly,
  encodeChannelOpen,
  encodeChannelRequest,
  encodeGlobalRequest,
  encodeWindowAdjust,
} from '../../src/wire/connection-messages.js';
import { Msg } from '../../src/wire/numbers.js';
import { encodeDebug, encodeIgnore, encodeServiceRequest } from '../../src/wire/transport-messages.js';

export const SERVER_IDENT = 'SSH-2.0-FuzzServer_1';
export const CLIENT_IDENT = 'SSH-2.0-FuzzClient_1';

let hostKeys: Map<string, PrivateKey> | undefined;
let userKey: PrivateKey | undefined;

/** An ed25519 host key (cheap to make and to sign with), generated once per process. */
export function fuzzHostKeys(): Map<string, PrivateKey> {
  hostKeys ??= new Map([['ssh-ed25519', generatePrivateKey('ed25519')]]);
  return hostKeys;
}

/** The key the fuzzed server treats as authorized: only a valid signature may log it in. */
export function fuzzUserKey(): PrivateKey {
  userKey ??= generatePrivateKey('ed25519');
  return userKey;
}

export function serverTransportConfig() {
  return {
    role: 'server' as const,
    identification: SERVER_IDENT,
    algorithms: resolveAlgorithms(),
    hostKeys: fuzzHostKeys(),
    extInfo: true,
    serverSigAlgs: ['ssh-ed25519'],
  };
}

export function clientTransport(
  handler: Partial<TransportHandler>,
  algorithms?: AlgorithmsOption,
): Transport {
  return new Transport(
    {
      role: 'client',
      identification: CLIENT_IDENT,
      algorithms: resolveAlgorithms(algorithms),
      extInfo: true,
    },
    {
      onMessage: () => {},
      onKexDone: () => {},
      onOutput: () => {},
      onClose: () => {},
      ...handler,
    },
  );
}

/**
 * The upper-layer payloads of a whole honest session: service request, the auth methods (a wrong
 * password, a publickey query, a publickey signature over a stale session id, the right
 * password), a global request, a session channel with its requests, data, EOF and CLOSE, and
 * transport-generic messages.
 */
export function sessionPayloads(): Buffer[] {
  const key = fuzzUserKey();
  const blob = key.publicKey.blob;
  const staleSig = signData(
    key,
    'ssh-ed25519',
    publickeySignedData(randomBytes(32), 'fuzz', 'ssh-connection', 'ssh-ed25519', blob),
  );
  return [
    encodeServiceRequest('ssh-userauth'),
    encodeUserauthNone('fuzz', 'ssh-connection'),
    encodeUserauthPassword('fuzz', 'ssh-connection', 'wrong'),
    encodeUserauthPublickey('fuzz', 'ssh-connection', 'ssh-ed25519', blob),
    encodeUserauthPublickey('fuzz', 'ssh-connection', 'ssh-ed25519', blob, staleSig),
    encodeUserauthPassword('fuzz', 'ssh-connection', 'right'),
    encodeGlobalRequest('keepalive@openssh.com', true),
    encodeChannelOpen({
      channelType: 'session',
      senderChannel: 3,
      initialWindow: 1 << 20,
      maxPacket: 32768,
      data: Buffer.alloc(0),
    }),
    encodeChannelRequest(0, {
      type: 'pty-req',
      wantReply: true,
      terminal: 'xterm',
      cols: 80,
      rows: 24,
      width: 0,
      height: 0,
      modes: Buffer.from([1, 0, 0, 0, 3, 128, 0, 0, 0x96, 0, 0]),
    }),
    encodeChannelRequest(0, { type: 'env', wantReply: false, name: 'LANG', value: 'C' }),
    encodeChannelRequest(0, { type: 'exec', wantReply: true, command: 'echo fuzz' }),
    Buffer.concat([Buffer.from([Msg.CHANNEL_DATA, 0, 0, 0, 0, 0, 0, 0, 5]), Buffer.from('hello')]),
    Buffer.concat([
      Buffer.from([Msg.CHANNEL_EXTENDED_DATA, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]),
      Buffer.from('ee'),
    ]),
    encodeWindowAdjust(0, 4096),
    encodeChannelRequest(0, {
      type: 'window-change',
      wantReply: false,
      cols: 100,
      rows: 40,
      width: 0,
      height: 0,
    }),
    encodeChannelRequest(0, { type: 'signal', wantReply: false, signal: 'INT' }),
    encodeChannelOnly(Msg.CHANNEL_EOF, 0),
    encodeChannelOnly(Msg.CHANNEL_CLOSE, 0),
    encodeIgnore(Buffer.from('padding')),
    encodeDebug(false, 'debug message'),
    Buffer.from([Msg.UNIMPLEMENTED, 0, 0, 0, 9]),
  ];
}

/** Moves bytes both ways between two transports until neither has anything left to say. */
export function shuttle(a: Transport, b: Transport, tapA?: (chunk: Buffer) => void, limit = 200): void {
  for (let i = 0; i < limit; i++) {
    const ao = a.takeOutput();
    const bo = b.takeOutput();
    if (ao.length === 0 && bo.length === 0) return;
    for (const c of ao) {
      tapA?.(c);
      b.receive(c);
    }
    for (const c of bo) a.receive(c);
  }
}

/**
 * Everything a client sent in one session against an in-memory server, as one byte stream:
 * identification, KEXINIT, KEX_ECDH_INIT, NEWKEYS, then the encrypted session payloads and a
 * client-initiated re-key in the middle.
 */
export function captureClientStream(algorithms?: AlgorithmsOption): Buffer {
  const client = clientTransport({}, algorithms);
  const server = new Transport(serverTransportConfig(), {
    onMessage: () => {},
    onKexDone: () => {},
    onOutput: () => {},
    onClose: () => {},
  });
  const sent: Buffer[] = [];
  const tap = (c: Buffer) => sent.push(Buffer.from(c));
  client.start();
  server.start();
  shuttle(client, server, tap);
  if (!client.sessionId) throw new Error('capture: the key exchange did not finish');
  const payloads = sessionPayloads();
  payloads.forEach((p, i) => {
    client.send(p);
    if (i === Math.floor(payloads.length / 2)) {
      shuttle(client, server, tap);
      client.rekey();
    }
  });
  shuttle(client, server, tap);
  if (client.isClosed || server.isClosed) throw new Error('capture: the session did not stay up');
  return Buffer.concat(sent);
}
