// Upload a directory over SFTP with a progress line, list it back, and download it again.
// Run: HOST=127.0.0.1 PORT=2222 USER_NAME=alice PASSWORD=wonderland node examples/sftp-upload-dir.mjs ./local-dir remote-dir ./copy-dir
import * as ssh from 'seashell-ssh';

const [local, remote, copy] = process.argv.slice(2);
const conn = await ssh.connect(process.env.HOST ?? '127.0.0.1', Number(process.env.PORT ?? 22), {
  user: process.env.USER_NAME,
  password: process.env.PASSWORD,
  silentlyAcceptHosts: true,
  userDir: process.env.USER_DIR,
});
const sftp = await ssh.sftp.startChannel(conn);
await sftp.uploadDir(local, remote, {
  // Called as each file's chunks land: bytes of that file so far, its size, the rate.
  step: (done, total) => process.stderr.write(`\r${done} of ${total} bytes`),
});
process.stderr.write('\n');
const names = (await sftp.listDir(remote)).filter((n) => n !== '.' && n !== '..');
console.log(names.sort().join('\n'));
if (copy) {
  // And back down into `copy`, with the same kind of progress line.
  await sftp.downloadDir(remote, copy, {
    step: (done, total) => process.stderr.write(`\r${done} of ${total} bytes down`),
  });
  process.stderr.write('\n');
}
await ssh.sftp.stopChannel(sftp);
await ssh.close(conn);
