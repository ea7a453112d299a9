import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ssh from '../../src/index.js';
import { defaultGexGroups } from '../../src/transport/kex/dh-gex.js';
import { connectTo, makeEnv, startDaemon, type Env } from './helpers.js';

const GEX = { kex: ['diffie-hellman-group-exchange-sha256'] };

describe("DH group exchange options: the client's dhGex, the daemon's dhGexGroups and dhGexLimits", () => {
  let env: Env;
  before(async () => (env = await makeEnv()));
  after(async () => env.cleanup());

  async function negotiate(daemonOpts: ssh.DaemonOptions, clientOpts: ssh.ClientOptions) {
    const d = await startDaemon(env, { password: 'pw', preferredAlgorithms: GEX, ...daemonOpts });
    try {
      const conn = await connectTo(d, env, { password: 'pw', preferredAlgorithms: GEX, ...clientOpts });
      const kex = ssh.connectionInfo(conn).algorithms?.kex;
      await ssh.close(conn);
      return kex;
    } finally {
      await d.stop();
    }
  }

  test('the three forms of dhGexGroups each serve a group exchange', async () => {
    const g = defaultGexGroups()[1]!; // 3072 bits
    const termsFile = join(env.dir, 'groups.terms');
    await writeFile(termsFile, `{${g.size}, ${g.g}, ${g.p}}.\n`);
    const moduliFile = join(env.dir, 'moduli');
    await writeFile(moduliFile, `20260101000000 2 6 100 ${g.size - 1} 2 ${g.p.toString(16).toUpperCase()}\n`);
    for (const groups of [
      [[g.size, g.g, g.p]],
      { file: termsFile },
      { sshModuliFile: moduliFile },
    ] as ssh.DaemonOptions['dhGexGroups'][]) {
      assert.equal(await negotiate({ dhGexGroups: groups }, { dhGex: [2048, 3072, 4096] }), GEX.kex[0]);
    }
  });

  test('ranges that do not meet end the connection with KEY_EXCHANGE_FAILED naming the sizes', async () => {
    await assert.rejects(
      negotiate({ dhGexLimits: [6144, 8192] }, { dhGex: [1024, 2048, 4096] }),
      (e: ssh.SshError) =>
        e.code === 'DISCONNECTED' || e.code === 'KEY_EXCHANGE_FAILED'
          ? /6144 and 4096|no DH group/.test(e.message)
          : false,
    );
    // And the daemon kept serving: a request that fits goes through on a new daemon with the same limits.
    assert.equal(await negotiate({ dhGexLimits: [2048, 4096] }, { dhGex: [1024, 2048, 8192] }), GEX.kex[0]);
  });

  test('bad option values are BAD_OPTION naming the option', async () => {
    await assert.rejects(ssh.connect('127.0.0.1', 1, { dhGex: [4096, 2048, 1024] }), /option dhGex must be/);
    await assert.rejects(startDaemon(env, { dhGexLimits: [8192, 1024] }), /option dhGexLimits must be/);
    await assert.rejects(
      startDaemon(env, { dhGexGroups: { file: join(env.dir, 'missing') } }),
      /option dhGexGroups: .*missing/,
    );
    await assert.rejects(
      startDaemon(env, { dhGexGroups: [[1024, 2, 23]] }),
      /option dhGexGroups: a group: a group of 1024 bits has a 5-bit modulus/,
    );
  });
});
