/** Our ssh_client_channel behaviour against OpenSSH's sshd: a `cat` command and a subsystem. */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as clientChannel from '../../src/channel/client.js';
import * as ssh from '../../src/index.js';
import { echoClient } from '../channel/client-behaviour.js';
import { waitFor } from '../facade/helpers.js';
import {
  interopSuite,
  makeTempDir,
  removeTempDir,
  sshKeygen,
  startSshd,
  type SshdHandle,
} from './openssh.js';

interopSuite('the client channel behaviour against OpenSSH sshd', () => {
  let dir: string;
  let userDir: string;
  let sshd: SshdHandle;
  let conn: ssh.Connection;

  before(async () => {
    dir = await makeTempDir('client-channel-sshd-');
    userDir = join(dir, 'user');
    await mkdir(userDir);
    const key = await sshKeygen('ed25519', join(userDir, 'id_ed25519'));
    sshd = await startSshd({
      authorizedKeys: key.publicLine + '\n',
      extraConfig: ['Subsystem upper /usr/bin/stdbuf -o0 /usr/bin/tr a-z A-Z'],
      logLevel: 'VERBOSE',
    });
    await writeFile(join(userDir, 'known_hosts'), sshd.knownHostsLine());
    conn = await ssh.connect(sshd.host, sshd.port, { user: sshd.user, userDir });
  });
  after(async () => {
    if (conn) await ssh.close(conn);
    await sshd?.stop();
    await removeTempDir(dir);
  });

  test('a handler on `cat`: cast sends, data comes back to handleSshMsg, call reads it, EOF ends it with exit 0', async () => {
    const log: string[] = [];
    const ch = await conn.sessionChannel();
    assert.equal(await ch.exec('cat'), 'success');
    const ref = await clientChannel.start(conn, ch.channelId, echoClient(log), ['cat']);
    clientChannel.cast(ref, 'send round trip\n');
    await waitFor(() => log.includes('ssh data'), 'the echo from sshd');
    assert.equal(await clientChannel.call(ref, 'get'), 'round trip\n');
    clientChannel.cast(ref, 'eof');
    assert.equal(await ref.terminated, 'normal');
    assert.ok(log.includes('ssh eof') && log.includes('ssh exitStatus'), log.join(', '));
  });

  test('a handler on a subsystem of sshd', async () => {
    const log: string[] = [];
    const ch = await conn.sessionChannel();
    assert.equal(await ch.subsystem('upper'), 'success');
    const ref = await clientChannel.start(conn, ch.channelId, echoClient(log));
    clientChannel.cast(ref, 'send quiet\n');
    await waitFor(() => log.includes('ssh data'), 'the upper-cased line from sshd');
    assert.equal(await clientChannel.call(ref, 'get'), 'QUIET\n');
    clientChannel.cast(ref, 'eof');
    assert.equal(await ref.terminated, 'normal');
    await assert.rejects(clientChannel.call(ref, 'get'), /is closed/, 'a call once it is gone');
  });
});
