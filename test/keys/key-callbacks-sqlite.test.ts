/**
 * keyCb in the seed's module form, `[module, opts]`, with the keys in an SQLite database: the
 * module is a class instance (its callbacks live on the prototype) and finds the database in
 * `ctx.keyCbPrivate`, as Erlang's key_cb_private. The daemon's host key and each user's
 * authorized keys, the client's known hosts and user key: all rows of tables, no key file.
 *
 * Two SQLite engines, the same test:
 * - sql.js (SQLite compiled to WebAssembly; a devDependency): no native build, so it runs on
 *   every Node the project supports, Node 20 included. Its database lives in memory and is
 *   written to a file with export(); the test reopens that file and finds the rows.
 * - node:sqlite (Node 22.5 and later, unflagged from 22.13): a database file written by SQLite
 *   itself. Skipped, saying so, where this Node has no node:sqlite.
 * better-sqlite3 was not chosen: it is a native addon whose install fetches a prebuilt binary or
 * compiles with node-gyp, and its current line needs Node 22.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import initSqlJs from 'sql.js';
import * as ssh from '../../src/index.js';
import {
  formatOpenSshPrivateKey,
  generatePrivateKey,
  parsePrivateKey,
} from '../../src/keys/openssh-format.js';
import {
  formatPublicKeyLine,
  keyTypeForSignatureAlgorithm,
  parsePublicKeyLine,
} from '../../src/keys/public-key.js';
import { signatureAlgorithmFits } from '../../src/keys/signature.js';
import type { KeyApiContext } from '../../src/keys/key-api.js';
import type { PrivateKey, PublicKey, SignatureAlgorithm } from '../../src/keys/types.js';

type Row = Record<string, unknown>;

/** The little of SQL the key store needs, over either engine. */
interface Sql {
  run(sql: string, params?: unknown[]): void;
  all(sql: string, params?: unknown[]): Row[];
  /** Writes the database to its file (sql.js keeps it in memory until then). */
  save(): Promise<void>;
  close(): void;
}

const SCHEMA = [
  'CREATE TABLE host_keys (type TEXT PRIMARY KEY, private_key TEXT NOT NULL)',
  'CREATE TABLE authorized_keys (user TEXT NOT NULL, key TEXT NOT NULL)',
  'CREATE TABLE known_hosts (host TEXT NOT NULL, port INTEGER NOT NULL, key TEXT NOT NULL)',
  'CREATE TABLE user_keys (type TEXT PRIMARY KEY, private_key TEXT NOT NULL)',
];

interface Engine {
  name: string;
  open(path: string): Promise<Sql>;
  /** Why this engine cannot run here, or undefined. */
  unavailable(): Promise<string | undefined>;
}

const sqlJs: Engine = {
  name: 'sql.js (SQLite in WebAssembly)',
  unavailable: () => Promise.resolve(undefined),
  async open(path) {
    const SQL = await initSqlJs();
    let data: Buffer | undefined;
    try {
      data = await readFile(path);
    } catch {
      data = undefined;
    }
    const db = new SQL.Database(data);
    return {
      run: (sql, params = []) => void db.run(sql, params as initSqlJs.BindParams),
      all(sql, params = []) {
        const st = db.prepare(sql);
        st.bind(params as initSqlJs.BindParams);
        const rows: Row[] = [];
        while (st.step()) rows.push(st.getAsObject());
        st.free();
        return rows;
      },
      save: () => writeFile(path, db.export()),
      close: () => db.close(),
    };
  },
};

interface NodeSqliteModule {
  DatabaseSync: new (path: string) => {
    exec(sql: string): void;
    prepare(sql: string): { run(...p: unknown[]): unknown; all(...p: unknown[]): Row[] };
    close(): void;
  };
}

async function loadNodeSqlite(): Promise<NodeSqliteModule | undefined> {
  try {
    // A variable specifier: @types/node 20 does not know the module.
    const name = 'node:sqlite';
    return (await import(name)) as NodeSqliteModule;
  } catch {
    return undefined;
  }
}

const nodeSqlite: Engine = {
  name: 'node:sqlite',
  async unavailable() {
    return (await loadNodeSqlite())
      ? undefined
      : `node:sqlite is not in Node ${process.versions.node} (it came with 22.5; the sql.js run covers this Node)`;
  },
  async open(path) {
    const { DatabaseSync } = (await loadNodeSqlite())!;
    const db = new DatabaseSync(path);
    return {
      run: (sql, params = []) => void db.prepare(sql).run(...params),
      all: (sql, params = []) =>
        db
          .prepare(sql)
          .all(...params)
          .map((r) => ({ ...r })),
      save: () => Promise.resolve(),
      close: () => db.close(),
    };
  },
};

/** keyCb's private options (the seed's key_cb_private): the database and who asked what. */
interface StoreOptions {
  sql: Sql;
  calls: string[];
}

/**
 * A key API module as a class: both behaviours, every key in a table. Its methods read the
 * database from ctx.keyCbPrivate; `this` is the instance (the library binds the callbacks).
 */
class SqliteKeyStore implements ssh.ClientKeyApi, ssh.ServerKeyApi {
  readonly label = 'sqlite key store';

  private store(ctx: KeyApiContext): StoreOptions {
    assert.equal(this.label, 'sqlite key store', 'called with the instance as this');
    return ctx.keyCbPrivate as StoreOptions;
  }

  async hostKey(alg: SignatureAlgorithm, ctx: KeyApiContext): Promise<PrivateKey | undefined> {
    const { sql, calls } = this.store(ctx);
    calls.push(`hostKey ${alg}`);
    const row = sql.all('SELECT private_key FROM host_keys WHERE type = ?', [
      keyTypeForSignatureAlgorithm(alg),
    ])[0];
    return row === undefined ? undefined : parsePrivateKey(String(row.private_key));
  }

  async isAuthKey(key: PublicKey, user: string, ctx: KeyApiContext): Promise<boolean> {
    const { sql, calls } = this.store(ctx);
    calls.push(`isAuthKey ${user}`);
    return (
      sql.all('SELECT 1 FROM authorized_keys WHERE user = ? AND key = ?', [user, formatPublicKeyLine(key)])
        .length > 0
    );
  }

  async isHostKey(key: PublicKey, host: string, port: number, _alg: SignatureAlgorithm, ctx: KeyApiContext) {
    const { sql, calls } = this.store(ctx);
    calls.push(`isHostKey ${host}`);
    return (
      sql.all('SELECT 1 FROM known_hosts WHERE host = ? AND port = ? AND key = ?', [
        host,
        port,
        formatPublicKeyLine(key),
      ]).length > 0
    );
  }

  async addHostKey(host: string, port: number, key: PublicKey, ctx: KeyApiContext): Promise<void> {
    const { sql, calls } = this.store(ctx);
    calls.push(`addHostKey ${host}`);
    sql.run('INSERT INTO known_hosts (host, port, key) VALUES (?, ?, ?)', [
      host,
      port,
      formatPublicKeyLine(key),
    ]);
    await sql.save();
  }

  async userKey(alg: SignatureAlgorithm, ctx: KeyApiContext): Promise<PrivateKey | undefined> {
    const { sql, calls } = this.store(ctx);
    calls.push(`userKey ${alg}`);
    for (const row of sql.all('SELECT private_key FROM user_keys')) {
      const key = parsePrivateKey(String(row.private_key));
      if (signatureAlgorithmFits(key.type, alg)) return key;
    }
    return undefined;
  }
}

let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), 'seashell-sqlite-'))));
after(async () => rm(dir, { recursive: true, force: true }));

for (const engine of [sqlJs, nodeSqlite]) {
  describe(`keyCb [module, opts] with keys in SQLite through ${engine.name}`, () => {
    test('host key, authorized keys, known hosts and user keys come from and go to the database', async (t) => {
      const why = await engine.unavailable();
      if (why !== undefined) {
        t.skip(why);
        return;
      }
      const file = join(dir, `${engine.name.replace(/\W+/g, '_')}.db`);
      const server = await engine.open(join(dir, `server-${engine.name.replace(/\W+/g, '_')}.db`));
      const client = await engine.open(file);
      for (const s of SCHEMA) {
        server.run(s);
        client.run(s);
      }
      const hostKey = generatePrivateKey('ecdsa', { curve: 'nistp384' });
      const alice = generatePrivateKey('ed25519');
      server.run('INSERT INTO host_keys VALUES (?, ?)', [hostKey.type, formatOpenSshPrivateKey(hostKey)]);
      server.run('INSERT INTO authorized_keys VALUES (?, ?)', [
        'alice',
        formatPublicKeyLine(alice.publicKey),
      ]);
      client.run('INSERT INTO user_keys VALUES (?, ?)', [alice.type, formatOpenSshPrivateKey(alice)]);
      const serverCalls: string[] = [];
      const clientCalls: string[] = [];
      const store = new SqliteKeyStore();

      const nowhere = join(dir, 'no-files-here');
      const d = await ssh.daemon('127.0.0.1', 0, {
        systemDir: nowhere,
        userDir: nowhere,
        keyCb: [store, { sql: server, calls: serverCalls }],
        exec: (cmd, user) => ({ ok: `${user} ran ${cmd}` }),
        perSourcePenalties: false,
      });
      try {
        const port = (await ssh.daemonInfo(d)).port;
        const opts = (user: string, accept: boolean): ssh.ClientOptions => ({
          user,
          userDir: nowhere,
          agent: false,
          silentlyAcceptHosts: accept,
          keyCb: [store, { sql: client, calls: clientCalls }],
        });
        const run = async (user: string, accept: boolean): Promise<string> => {
          const c = await ssh.connect('127.0.0.1', port, opts(user, accept));
          try {
            const ch = await c.sessionChannel();
            assert.equal(await ch.exec('id'), 'success');
            const out: Buffer[] = [];
            for await (const m of ch) if (m.type === 'data') out.push(m.data);
            return Buffer.concat(out).toString();
          } finally {
            await ssh.close(c);
          }
        };

        assert.equal(await run('alice', true), 'alice ran id');
        assert.ok(serverCalls.includes('hostKey ecdsa-sha2-nistp384'), serverCalls.join());
        assert.ok(serverCalls.includes('isAuthKey alice'));
        assert.ok(clientCalls.includes('userKey ssh-ed25519'));
        assert.ok(clientCalls.includes('addHostKey 127.0.0.1'));
        // The accepted host key is a row now; the next login needs no acceptance.
        const rows = client.all('SELECT host, port, key FROM known_hosts');
        assert.deepEqual(rows, [{ host: '127.0.0.1', port, key: formatPublicKeyLine(hostKey.publicKey) }]);
        assert.equal(await run('alice', false), 'alice ran id');

        // bob has no row in authorized_keys: refused.
        await assert.rejects(run('bob', false), (e: ssh.SshError) => e.code === 'AUTH_FAILED');
        assert.ok(serverCalls.includes('isAuthKey bob'));

        // A changed host key in the database refuses the connection.
        client.run('UPDATE known_hosts SET key = ?', [formatPublicKeyLine(alice.publicKey)]);
        await assert.rejects(run('alice', false), (e: ssh.SshError) => e.code === 'HOST_KEY_NOT_VERIFIED');
        client.run('DELETE FROM known_hosts');
        await client.save();
      } finally {
        await ssh.stopDaemon(d);
        server.close();
        client.close();
      }
      // The database file holds the rows written through the module; no key file anywhere.
      const again = await engine.open(file);
      assert.equal(again.all('SELECT COUNT(*) AS n FROM user_keys')[0]!.n, 1);
      assert.equal(
        parsePublicKeyLine(formatPublicKeyLine(alice.publicKey)).key.blob.equals(
          parsePrivateKey(String(again.all('SELECT private_key FROM user_keys')[0]!.private_key)).publicKey
            .blob,
        ),
        true,
      );
      again.close();
      assert.ok(
        !(await readdir(dir)).includes('no-files-here'),
        'nothing was written to userDir or systemDir',
      );
    });
  });
}

test('keyCb is refused unless it is an object or [object, opts]', async () => {
  for (const bad of [42, 'ssh_file', [], [{}], [{}, 1, 2], [null, {}]]) {
    await assert.rejects(
      ssh.connect('127.0.0.1', 1, { keyCb: bad as never }),
      (e: ssh.SshError) => e.code === 'BAD_OPTION' && /keyCb/.test(e.message),
    );
  }
});
