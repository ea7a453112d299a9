/**
 * A TCP proxy on 127.0.0.1 that holds every byte for a fixed time in each direction: the bench's
 * stand-in for a long path (the SFTP issue's 50 ms round trip) where no network namespace with
 * `tc netem` can be made. Bytes keep their order; nothing is lost or reordered; bandwidth is not
 * limited, so what paces a transfer is the SSH channel window and the requests a client keeps in
 * flight, which is what the delayed runs are there to show.
 *
 * Reading from a side pauses while more than `QUEUE_LIMIT` bytes wait in that direction, so a fast
 * sender cannot make the proxy hold more than that.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

const QUEUE_LIMIT = 64 * 1024 * 1024;

export interface DelayProxy {
  port: number;
  stop(): Promise<void>;
}

/** Forwards `from` to `to`, each chunk written `delayMs` after it was read. */
function delayed(from: Socket, to: Socket, delayMs: number): void {
  const queue: { due: number; data: Buffer }[] = [];
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now) {
      const { data } = queue.shift()!;
      queued -= data.length;
      to.write(data);
    }
    if (queued <= QUEUE_LIMIT && from.isPaused()) from.resume();
    if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0]!.due - now));
    else if (ended) to.end();
  };
  from.on('data', (data: Buffer) => {
    queue.push({ due: performance.now() + delayMs, data });
    queued += data.length;
    if (queued > QUEUE_LIMIT) from.pause();
    timer ??= setTimeout(flush, delayMs);
  });
  from.on('end', () => {
    ended = true;
    if (queue.length === 0 && timer === undefined) to.end();
  });
  const stop = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    queue.length = 0;
  };
  // A side that goes away without an end (a reset) takes the other with it; an end is passed on
  // once the bytes before it are delivered.
  from.on('close', () => {
    if (ended) return;
    stop();
    to.destroy();
  });
  // Nothing more can be written to a side that closed; the other direction goes on (each side
  // closes once it has sent and received an end).
  to.on('close', stop);
}

/** Listens on 127.0.0.1 (port 0) and forwards each connection to `targetPort`, `oneWayMs` late each way. */
export async function startDelayProxy(targetPort: number, oneWayMs: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  // Half-open sockets: an end read from one side must not close the other side's writing before
  // the delayed bytes have been written.
  const server: Server = createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    track(client);
    const upstream = connect({ host: '127.0.0.1', port: targetPort, noDelay: true, allowHalfOpen: true });
    track(upstream);
    delayed(client, upstream, oneWayMs);
    delayed(upstream, client, oneWayMs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the delay proxy has no port');
  return {
    port: address.port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
