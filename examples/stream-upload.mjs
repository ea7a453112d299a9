// Stream a big file up over SFTP with Node streams: `pipeline` moves it chunk by chunk and waits
// whenever the remote side is behind (the SFTP write stream keeps a bounded number of WRITE
// requests in flight), so memory stays flat however big the file is. A Transform in the middle
// counts the bytes and hashes them on the way, to print progress and a SHA-256 to check against.
// Run: HOST=127.0.0.1 PORT=2222 USER_NAME=alice PASSWORD=wonderland node examples/stream-upload.mjs ./big.iso /tmp/big.iso
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as ssh from 'seashell-ssh';

const [local, remote] = process.argv.slice(2);
const size = (await stat(local)).size;

const conn = await ssh.connect(process.env.HOST ?? '127.0.0.1', Number(process.env.PORT ?? 22), {
  user: process.env.USER_NAME,
  password: process.env.PASSWORD,
  silentlyAcceptHosts: true,
  userDir: process.env.USER_DIR,
});
const sftp = await ssh.sftp.startChannel(conn);

const hash = createHash('sha256');
let sent = 0;
let shown = -1;
const meter = new Transform({
  transform(chunk, _encoding, done) {
    hash.update(chunk);
    sent += chunk.length;
    const percent = Math.floor((sent / size) * 100);
    if (percent !== shown) process.stderr.write(`\r${(shown = percent)}%`);
    done(null, chunk);
  },
});

await pipeline(createReadStream(local), meter, sftp.createWriteStream(remote));
process.stderr.write('\n');

const { size: remoteSize } = await sftp.stat(remote);
console.log(`${sent} bytes sent, ${remoteSize} on the server, sha256 ${hash.digest('hex')}`);
await ssh.sftp.stopChannel(sftp);
await ssh.close(conn);
