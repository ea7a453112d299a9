// A server channel handler (the seed's ssh_server_channel) as the daemon's whole CLI (`sshCli`):
// it serves both `exec` and `shell` itself. The service adds numbers up:
//   ssh -p PORT alice@127.0.0.1 'sum 1 2 3'     prints 6
//   ssh -p PORT alice@127.0.0.1                 a "tally" shell: each line's numbers are added to
//                                               a running total; `quit` or Ctrl-D ends it
// It shows the handler's life: `channelUp` first, the kept pty and env requests, replies to
// requests that want one, a `timeout` for an idle shell, and `terminate` once the channel closes.
// Run: SEASHELL_DIR=./demo node examples/server-channel.mjs   (IDLE_MS sets the idle limit)
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ssh from 'seashell-ssh';

const idleMs = Number(process.env.IDLE_MS ?? 60_000);

/**
 * @typedef {{
 *   channel?: import('seashell-ssh').SessionChannel,
 *   user?: string,
 *   pty?: { terminal: string, cols: number, rows: number },
 *   mode?: 'exec' | 'shell',
 *   pending: string,
 *   total: number,
 * }} State
 */

/** @type {import('seashell-ssh').ServerChannelHandler<State>} */
const tally = {
  init: () => ({ ok: { pending: '', total: 0 } }),

  handleMsg: async (m, s) => {
    if (m?.type === 'channelUp') {
      // The first message: the channel to talk on, and the connection it came by.
      const user = ssh.connectionInfo(m.connection, 'user');
      return { ok: { ...s, channel: m.channel, user } };
    }
    if (m === ssh.TIMEOUT && s.mode === 'shell') {
      // Nothing arrived for idleMs: say so and end the session.
      await s.channel.send(`\r\nidle for ${idleMs} ms, bye (total ${s.total})\r\n`);
      return end(s, 2);
    }
    return { ok: s };
  },

  handleSshMsg: async (m, s) => {
    const ch = s.channel;
    switch (m.type) {
      case 'pty':
        // Asked before the shell; the daemon has answered it already (wantReply is then false).
        ch.replyRequest(m.wantReply, 'success');
        return { ok: { ...s, pty: { terminal: m.terminal, cols: m.cols, rows: m.rows } } };
      case 'windowChange':
        return { ok: s.pty ? { ...s, pty: { ...s.pty, cols: m.cols, rows: m.rows } } : s };
      case 'env':
        ch.replyRequest(m.wantReply, 'success'); // only names the daemon's acceptEnv lets through
        return { ok: s };
      case 'exec': {
        ch.replyRequest(m.wantReply, 'success');
        const [verb, ...args] = m.command.trim().split(/\s+/);
        if (verb !== 'sum') {
          await ch.send(`unknown command: ${verb} (try: sum 1 2 3)\n`, { dataType: 1 });
          return end({ ...s, mode: 'exec' }, 1);
        }
        await ch.send(`${add(0, args)}\n`);
        return end({ ...s, mode: 'exec' }, 0);
      }
      case 'shell': {
        ch.replyRequest(m.wantReply, 'success');
        const where = s.pty ? ` on a ${s.pty.cols}x${s.pty.rows} ${s.pty.terminal}` : '';
        await ch.send(`tally for ${s.user}${where}; numbers add up, quit ends\n${prompt(s)}`);
        return { ok: { ...s, mode: 'shell' }, timeout: idleMs };
      }
      case 'data': {
        if (s.mode !== 'shell') return { ok: s };
        let state = { ...s, pending: s.pending + m.data.toString() };
        let nl;
        while ((nl = state.pending.search(/[\r\n]/)) !== -1) {
          const line = state.pending.slice(0, nl).trim();
          state = { ...state, pending: state.pending.slice(nl + 1) };
          if (line === 'quit') return end(state, 0);
          if (line === '') continue;
          state = { ...state, total: add(state.total, line.split(/\s+/)) };
          await ch.send(`${eol(state)}= ${state.total}${eol(state)}${prompt(state)}`);
        }
        return { ok: state, timeout: idleMs };
      }
      case 'eof':
        return end(s, 0);
      case 'signal':
        // `ssh` sends none by itself; our client's channel.signal('INT') does.
        await ch.exitSignal(m.signal, 'interrupted');
        await ch.close();
        return { stop: ch.channelId, state: s };
      default:
        return { ok: s };
    }
  },

  terminate: (reason, s) => {
    // Runs exactly once, after the channel has closed: the place to free what init took.
    if (s.mode === 'shell') console.log(`${s.user}'s tally ended at ${s.total} (${String(reason)})`);
  },
};

function add(total, words) {
  for (const w of words) {
    const n = Number(w);
    if (Number.isFinite(n)) total += n;
  }
  return total;
}
const prompt = (s) => (s.pty ? '> ' : '');
const eol = (s) => (s.pty ? '\r\n' : '\n');

/** Ends the session: the total (for a shell), end of output, an exit status, and the channel stops. */
async function end(s, status) {
  const ch = s.channel;
  if (s.mode === 'shell' && status === 0) await ch.send(`total ${s.total}${eol(s)}`);
  await ch.sendEof();
  await ch.exitStatus(status);
  return { stop: ch.channelId, state: s };
}

const dir = process.env.SEASHELL_DIR ?? './seashell-demo';
await mkdir(join(dir, 'system'), { recursive: true });
await writeFile(
  join(dir, 'system', 'ssh_host_ed25519_key'),
  ssh.formatOpenSshPrivateKey(ssh.generatePrivateKey('ed25519')),
  { mode: 0o600 },
);
const daemon = await ssh.daemon('127.0.0.1', Number(process.env.PORT ?? 0), {
  systemDir: join(dir, 'system'),
  userDir: false, // no authorized_keys: password users only
  userPasswords: [['alice', 'wonderland']],
  sshCli: tally,
  subsystems: [], // no SFTP either: this daemon serves the tally and nothing else
});
console.log(`listening on port ${(await ssh.daemonInfo(daemon)).port}`);
process.on('SIGTERM', () => ssh.stopDaemon(daemon).then(() => process.exit(0)));
