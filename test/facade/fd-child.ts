/**
 * A child process for fd.test.ts: runs a daemon on the listening socket it inherited as fd 3
 * (`daemon <systemDir>`), or a client over the connected socket it inherited as fd 3
 * (`client`), using the `fd` option. Prints what happened on stdout.
 */
import * as ssh from '../../src/ssh.js';

const [mode, systemDir] = process.argv.slice(2);
if (mode === 'daemon') {
  const d = await ssh.daemon(0, { fd: 3, systemDir, password: 'pw', userDir: false });
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => void d.stop().then(() => process.exit(0)));
} else {
  const conn = await ssh.connect('ignored.invalid', 1, {
    fd: 3,
    user: 'u',
    password: 'pw',
    userDir: false,
    silentlyAcceptHosts: true,
  });
  const ch = await conn.sessionChannel();
  await ch.exec('6 * 7');
  let out = '';
  for await (const m of ch) if (m.type === 'data') out += m.data.toString();
  process.stdout.write(`result ${out.trim()}\n`);
  await ssh.close(conn);
  process.exit(0);
}
