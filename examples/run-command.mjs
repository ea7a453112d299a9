// Run one command on a server and print what it wrote and how it exited.
// Run: HOST=127.0.0.1 PORT=2222 USER_NAME=alice PASSWORD=wonderland node examples/run-command.mjs 'uptime'
import * as ssh from 'seashell-ssh';

const conn = await ssh.connect(process.env.HOST ?? '127.0.0.1', Number(process.env.PORT ?? 22), {
  user: process.env.USER_NAME,
  password: process.env.PASSWORD,
  // Trust on first use, remembered in ~/.ssh/known_hosts (or userDir): as `ssh -o StrictHostKeyChecking=accept-new`.
  silentlyAcceptHosts: true,
  userDir: process.env.USER_DIR,
});
const channel = await conn.sessionChannel();
await channel.exec(process.argv[2] ?? 'echo hello');
let exitStatus;
for await (const m of channel) {
  if (m.type === 'data') process.stdout.write(m.data);
  else if (m.type === 'exitStatus') exitStatus = m.status;
}
await ssh.close(conn);
console.log(`[exit status ${exitStatus}]`);
