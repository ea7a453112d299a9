import type { SshError } from '../../src/errors.js';
import { generatePrivateKey } from '../../src/keys/openssh-format.js';
import type { PrivateKey } from '../../src/keys/types.js';
import { resolveAlgorithms, type AlgorithmsOption } from '../../src/transport/algorithms.js';
import { Transport, type TransportHandler } from '../../src/transport/transport.js';

/** A recording handler: what one side of an in-memory transport pair saw. */
export interface Side {
  transport: Transport;
  messages: Buffer[];
  kexDone: boolean[];
  closed?: { error: SshError; byPeer: boolean };
  hostKeyAlgorithm?: string;
}

let cachedHostKeys: Map<string, PrivateKey> | undefined;

export function testHostKeys(): Map<string, PrivateKey> {
  if (!cachedHostKeys) {
    const ed = generatePrivateKey('ed25519');
    const ec = generatePrivateKey('ecdsa');
    const rsa = generatePrivateKey('rsa', { bits: 2048 });
    cachedHostKeys = new Map([
      ['ssh-ed25519', ed],
      ['ecdsa-sha2-nistp256', ec],
      ['rsa-sha2-512', rsa],
      ['rsa-sha2-256', rsa],
    ]);
  }
  return cachedHostKeys;
}

function side(
  role: 'client' | 'server',
  prefs: AlgorithmsOption | undefined,
  extra: Partial<TransportHandler>,
  rekey: { rekeyBytes?: number; rekeyMs?: number; now?: () => number } = {},
): Side {
  const s = { messages: [], kexDone: [] } as unknown as Side;
  const handler: TransportHandler = {
    onMessage: (p) => s.messages.push(Buffer.from(p)),
    onKexDone: (first) => s.kexDone.push(first),
    onOutput: () => {},
    onClose: (error, byPeer) => (s.closed = { error, byPeer }),
    ...extra,
  };
  s.transport = new Transport(
    {
      role,
      identification: `SSH-2.0-Test_${role}`,
      algorithms: resolveAlgorithms(prefs),
      hostKeys: role === 'server' ? testHostKeys() : undefined,
      extInfo: true,
      serverSigAlgs: ['ssh-ed25519'],
      ...rekey,
    },
    handler,
  );
  return s;
}

/** Moves bytes between the two sides until neither has output left. */
export function shuttle(a: Side, b: Side, limit = 1000): void {
  for (let i = 0; i < limit; i++) {
    const ao = a.transport.takeOutput();
    const bo = b.transport.takeOutput();
    if (ao.length === 0 && bo.length === 0) return;
    for (const c of ao) b.transport.receive(c);
    for (const c of bo) a.transport.receive(c);
  }
  throw new Error('shuttle did not settle');
}

export function transportPair(
  opts: {
    client?: AlgorithmsOption;
    server?: AlgorithmsOption;
    acceptHostKey?: boolean;
    clientRekey?: { rekeyBytes?: number; rekeyMs?: number };
    /** The clock of both sides (default Date.now). */
    now?: () => number;
    /** Callbacks of the server's handler to replace the recording ones. */
    serverHandler?: Partial<TransportHandler>;
  } = {},
) {
  const client: Side = side(
    'client',
    opts.client,
    {
      verifyHostKey: (_key, alg) => {
        client.hostKeyAlgorithm = alg;
        client.transport.hostKeyVerdict(opts.acceptHostKey ?? true);
      },
    },
    { ...opts.clientRekey, now: opts.now },
  );
  const server: Side = side('server', opts.server, opts.serverHandler ?? {}, { now: opts.now });
  client.transport.start();
  server.transport.start();
  return { client, server };
}
