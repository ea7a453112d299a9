import assert from 'node:assert/strict';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import * as ssh from '../../src/ssh.js';
import { collect, makeEnv, type Env } from './helpers.js';

let env: Env;
before(async () => (env = await makeEnv()));
after(async () => {
  await ssh.stop();
  await env.cleanup();
});

test('connect(socket) and daemon(socket) run SSH over sockets the caller opened', async () => {
  const accepted = new Promise<Socket>((resolve) => {
    const server = createServer((s) => {
      server.close();
      resolve(s);
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      clientSocket = netConnect(port, '127.0.0.1');
    });
  });
  let clientSocket: Socket | undefined;
  const serverSocket = await accepted;
  const d = await ssh.daemon(serverSocket, {
    systemDir: env.systemDir,
    userDir: env.daemonUserDir,
    password: 'pw',
    exec: (cmd, user) => ({ ok: `${user} ran ${cmd}` }),
  });
  assert.equal((await ssh.daemonInfo(d)).port, serverSocket.localPort);
  const conn = await ssh.connect(clientSocket!, {
    user: 'sam',
    password: 'pw',
    userDir: env.clientDir,
    silentlyAcceptHosts: true,
    saveAcceptedHost: false,
  });
  const ch = await conn.sessionChannel();
  assert.equal(await ch.exec('hello'), 'success');
  const r = await collect(ch);
  assert.equal(r.stdout.toString(), 'sam ran hello');
  assert.equal(ssh.connectionInfo(conn, 'user'), 'sam');
  await ssh.close(conn);
  await ssh.stopDaemon(d);
});
