// A client channel handler (the seed's ssh_client_channel): it collects a command's output and
// answers a call() with the lines once the command has exited ({ noreply } now, reply() later);
// a cast() (no answer) switches it to upper case on the way.
// Run: HOST=127.0.0.1 PORT=2222 USER_NAME=alice PASSWORD=wonderland node examples/client-channel.mjs
import * as ssh from 'seashell-ssh';

/** @type {import('seashell-ssh').ClientChannelHandler<{ text: string, exited: boolean, upper: boolean, waiting?: unknown }>} */
const collector = {
  init: () => ({ ok: { text: '', exited: false, upper: false } }),
  handleMsg: (_m, s) => ({ ok: s }),
  handleSshMsg: (m, s) => {
    if (m.type === 'data') {
      const text = m.data.toString();
      return { ok: { ...s, text: s.text + (s.upper ? text.toUpperCase() : text) } };
    }
    if (m.type === 'exitStatus') {
      if (s.waiting) ssh.clientChannel.reply(s.waiting, lines(s.text));
      return { ok: { ...s, exited: true, waiting: undefined } };
    }
    return { ok: s };
  },
  handleCall: (_question, from, s) =>
    s.exited ? { reply: lines(s.text), state: s } : { noreply: { ...s, waiting: from } },
  handleCast: (m, s) => ({ noreply: m === 'upper' ? { ...s, upper: true } : s }),
};
const lines = (text) => text.split('\n').filter(Boolean);

const conn = await ssh.connect(process.env.HOST ?? '127.0.0.1', Number(process.env.PORT ?? 22), {
  user: process.env.USER_NAME,
  password: process.env.PASSWORD,
  silentlyAcceptHosts: true,
  userDir: process.env.USER_DIR,
});
const channel = await conn.sessionChannel();
const ref = await ssh.clientChannel.start(conn, channel.channelId, collector);
ssh.clientChannel.cast(ref, 'upper'); // handled before the call below: one message at a time, in order
const answer = ssh.clientChannel.call(ref, 'lines', 10_000); // answered when the command exits
await channel.exec('report');
console.log(await answer);
await ssh.close(conn);
