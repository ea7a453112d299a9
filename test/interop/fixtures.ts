import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChannelMessage, ServerChannelHandler } from '../../src/channel/behaviour.js';
import type { SessionChannel as Channel } from '../../src/channel/session-channel.js';
import { formatOpenSshPrivateKey, generatePrivateKey } from '../../src/keys/openssh-format.js';
import { formatPublicKeyLine } from '../../src/keys/public-key.js';

/** Host keys for a test daemon, written as OpenSSH files into `dir`; returns their public lines. */
export async function writeHostKeys(
  dir: string,
  types: ('ed25519' | 'ecdsa' | 'rsa' | 'ed448' | 'dsa')[] = ['ed25519', 'ecdsa', 'rsa'],
) {
  await mkdir(dir, { recursive: true });
  const lines: string[] = [];
  for (const type of types) {
    const key = generatePrivateKey(type, type === 'rsa' ? { bits: 2048 } : {});
    const path = join(dir, `ssh_host_${type}_key`);
    await writeFile(path, formatOpenSshPrivateKey(key), { mode: 0o600 });
    const line = formatPublicKeyLine(key.publicKey);
    await writeFile(`${path}.pub`, line + '\n');
    lines.push(line);
  }
  return lines;
}

interface CatState {
  channel?: Channel;
  bytes: number;
}

/**
 * A CLI for test daemons: `cat` copies stdin to stdout until EOF, waiting on each send so the
 * window only opens as fast as the data goes back out; `bytes N` writes N zero bytes; `status N`
 * exits with N and writes "to stderr" on stderr; `echo WORDS` writes WORDS and a newline. Anything
 * else fails the exec request.
 */
export const catCli: ServerChannelHandler<CatState> = {
  init: () => ({ ok: { bytes: 0 } }),
  handleMsg(m, s) {
    const up = m as { type?: string; channel?: Channel };
    if (up?.type === 'channelUp') s.channel = up.channel;
    return { ok: s };
  },
  async handleSshMsg(m: ChannelMessage, s) {
    const ch = s.channel!;
    switch (m.type) {
      case 'exec': {
        const [cmd, arg] = m.command.split(' ');
        if (cmd === 'cat') {
          ch.replyRequest(m.wantReply, 'success');
          return { ok: s };
        }
        if (cmd === 'bytes' || cmd === 'status' || cmd === 'echo') {
          ch.replyRequest(m.wantReply, 'success');
          if (cmd === 'echo') await ch.send(m.command.slice(5) + '\n');
          else if (cmd === 'bytes') await ch.send(Buffer.alloc(Number(arg)));
          else await ch.send('to stderr\n', { dataType: 1 });
          await ch.sendEof();
          await ch.exitStatus(cmd === 'status' ? Number(arg) : 0);
          return { stop: m.channelId, state: s };
        }
        ch.replyRequest(m.wantReply, 'failure');
        return { ok: s };
      }
      case 'data':
        s.bytes += m.data.length;
        await ch.send(m.data);
        return { ok: s };
      case 'eof':
        await ch.sendEof();
        await ch.exitStatus(0);
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

/** Everything a client channel produced until it closed. */
export async function collect(
  ch: Channel,
): Promise<{ stdout: Buffer; stderr: Buffer; exitStatus?: number; eof: boolean }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let exitStatus: number | undefined;
  let eof = false;
  for await (const m of ch) {
    if (m.type === 'data') (m.dataType === 1 ? err : out).push(m.data);
    else if (m.type === 'exitStatus') exitStatus = m.status;
    else if (m.type === 'eof') eof = true;
  }
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), exitStatus, eof };
}
