/**
 * Agent: Seashell's daemon on 127.0.0.1 (a port of its own choosing), serving the bench commands
 * through an `sshCli` channel handler:
 *   sink [N]   read and discard stdin; at EOF exit 0 (1 if N was given and a different count arrived)
 *   source N   write N zero bytes, then EOF and exit 0
 *   true       exit 0
 *   echo ARGS  write ARGS and a newline, exit 0
 * Usage: node seashell-daemon.js --system-dir <host keys> --user-dir <authorized_keys dir>
 */
import * as ssh from '../../src/index.js';
import type { SessionChannel as Channel, ChannelMessage, ServerChannelHandler } from '../../src/index.js';
import { arg, parseCommand, serve, sleep, ZEROS } from './protocol.js';

interface State {
  channel?: Channel;
  sinking: boolean;
  expect?: number;
  received: number;
}

async function finish(ch: Channel, status: number): Promise<void> {
  await Promise.all([ch.sendEof(), ch.exitStatus(status)]);
}

const benchCli: ServerChannelHandler<State> = {
  init: () => ({ ok: { sinking: false, received: 0 } }),
  handleMsg(m, s) {
    const up = m as { type?: string; channel?: Channel };
    if (up?.type === 'channelUp') s.channel = up.channel;
    return { ok: s };
  },
  async handleSshMsg(m: ChannelMessage, s) {
    const ch = s.channel!;
    switch (m.type) {
      case 'exec': {
        const c = parseCommand(m.command);
        if (c.name === 'sink') {
          ch.replyRequest(m.wantReply, 'success');
          s.sinking = true;
          s.expect = c.n;
          return { ok: s };
        }
        if (c.name === 'source' && c.n !== undefined) {
          ch.replyRequest(m.wantReply, 'success');
          for (let sent = 0; sent < c.n;) {
            const n = Math.min(ZEROS.length, c.n - sent);
            await ch.send(ZEROS.subarray(0, n));
            sent += n;
          }
          await finish(ch, 0);
          return { stop: m.channelId, state: s };
        }
        if (c.name === 'true' || c.name === 'echo') {
          ch.replyRequest(m.wantReply, 'success');
          if (c.name === 'echo') await ch.send(c.rest + '\n');
          await finish(ch, 0);
          return { stop: m.channelId, state: s };
        }
        ch.replyRequest(m.wantReply, 'failure');
        return { ok: s };
      }
      case 'data':
        s.received += m.data.length;
        return { ok: s };
      case 'eof':
        if (!s.sinking) return { ok: s };
        await finish(ch, s.expect === undefined || s.expect === s.received ? 0 : 1);
        return { stop: m.channelId, state: s };
      case 'env':
      case 'pty':
      case 'shell':
        ch.replyRequest(m.wantReply, 'failure');
        return { ok: s };
      default:
        return { ok: s };
    }
  },
};

const systemDir = arg('system-dir');
const userDir = arg('user-dir');
if (!systemDir || !userDir) {
  process.stderr.write('usage: seashell-daemon --system-dir DIR --user-dir DIR\n');
  process.exit(2);
}

// The bench opens hundreds of connections at once from one address (127.0.0.1): the admission a
// public daemon needs (MaxStartups, the per-source cap and penalties) would refuse most of them.
const daemon = await ssh.daemon('127.0.0.1', 0, {
  systemDir,
  userDir,
  sshCli: benchCli,
  maxStartups: 10_000,
  perSourceMaxStartups: Infinity,
  perSourcePenalties: false,
});
const info = await ssh.daemonInfo(daemon);
const defaults = ssh.defaultAlgorithms();

/** Open connections, when the Daemon exposes the count. */
function connections(): number | undefined {
  const n = (daemon as unknown as { connectionCount?: unknown }).connectionCount;
  return typeof n === 'number' ? n : undefined;
}

serve(
  {
    port: info.port,
    version: ssh.VERSION,
    kex: defaults.kex,
    cipher: defaults.cipher.clientToServer,
    mac: defaults.mac.clientToServer,
    compression: defaults.compression.clientToServer,
    sftpd: typeof (ssh as unknown as Record<string, unknown>)['sftpd'] === 'object',
  },
  {
    /** Waits (bounded) until the daemon has no connection left, so that their CPU is all spent. */
    settle: async () => {
      const deadline = Date.now() + 3000;
      while ((connections() ?? 0) > 0 && Date.now() < deadline) await sleep(5);
      return { connections: connections() ?? null };
    },
    connections: () => ({ connections: connections() ?? null }),
  },
  () => daemon.stop(),
);
