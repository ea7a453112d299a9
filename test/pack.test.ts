/**
 * The package as a user gets it: `npm pack` makes the tarball, which holds only the built
 * JavaScript, its declarations, README, LICENSE and package.json; it installs into a fresh project
 * with no access to this repository, and a program there imports it by name, starts a daemon and
 * runs a command through it (on a Node without ML-KEM in node:crypto that key exchange loads
 * `@noble/post-quantum` on first use, through require(esm)). CommonJS `require()` is tried too:
 * every Node that `engines` admits (20.19+, 22.12+) can require ES modules.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exec, packAndInstall, ROOT } from './packed.js';

const PROGRAM = `
import * as ssh from 'seashell-ssh';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const dir = mkdtempSync(join(tmpdir(), 'packed-'));
writeFileSync(join(dir, 'ssh_host_ed25519_key'), ssh.formatOpenSshPrivateKey(ssh.generatePrivateKey('ed25519')), { mode: 0o600 });
const d = await ssh.daemon('127.0.0.1', 0, { systemDir: dir, password: 'pw', exec: (c) => ({ ok: 'packed ' + c }) });
const c = await ssh.connect('127.0.0.1', (await ssh.daemonInfo(d)).port, { user: 'u', password: 'pw', silentlyAcceptHosts: true, saveAcceptedHost: false, userDir: dir });
const ch = await c.sessionChannel();
await ch.exec('works');
let out = '';
for await (const m of ch) if (m.type === 'data') out += m.data;
await ssh.close(c);
await ssh.stopDaemon(d);
console.log(out);
`;

describe('the packed package', () => {
  let dir: string;
  let files: string[];
  let project: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'seashell-pack-'));
    ({ files, project } = await packAndInstall(dir));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('holds only what users need', () => {
    assert.ok(files.includes('package.json') && files.includes('README.md') && files.includes('LICENSE'));
    assert.ok(files.includes('dist/src/index.js') && files.includes('dist/src/index.d.ts'));
    const stray = files.filter(
      (f) => !['package.json', 'README.md', 'LICENSE'].includes(f) && !f.startsWith('dist/src/'),
    );
    assert.deepEqual(stray, [], 'no sources, tests, benches or examples');
    assert.deepEqual(
      files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
      [],
    );
  });

  test('installs into a fresh project and works there, imported by name (ESM)', async () => {
    const project = join(dir, 'project');
    await writeFile(join(project, 'main.mjs'), PROGRAM);
    const { stdout } = await exec(process.execPath, ['main.mjs'], { cwd: project });
    assert.equal(stdout, 'packed works\n');
  });

  test('require() from CommonJS', async () => {
    const project = join(dir, 'project');
    await writeFile(
      join(project, 'main.cjs'),
      "const ssh = require('seashell-ssh');\nconsole.log(typeof ssh.connect, typeof ssh.daemon, ssh.VERSION);\n",
    );
    const { stdout } = await exec(process.execPath, ['main.cjs'], { cwd: project });
    assert.match(stdout, /^function function \d+\.\d+\.\d+/);
  });

  test('the declarations leave out every member marked @internal', async () => {
    const internals = await internalMembers();
    assert.ok(internals.length >= 10, `found ${internals.length} @internal members`);
    assert.ok(internals.some((m) => m.file === 'edge/connection.ts' && m.name === 'core'));
    const installed = join(project, 'node_modules', 'seashell-ssh', 'dist', 'src');
    const leaked: string[] = [];
    for (const { file, name } of internals) {
      const dts = await readFile(join(installed, file.replace(/\.ts$/, '.d.ts')), 'utf8');
      const declared = new RegExp(`^\\s*(?:${MODIFIERS})*${name}\\b\\??\\s*[(:<=;]`, 'm');
      if (declared.test(dts)) leaked.push(`${file}: ${name}`);
    }
    assert.deepEqual(leaked, []);
  });
});

const MODIFIERS =
  '(?:export |declare |readonly |protected |private |public |static |abstract |async |get |set |interface |type |class |function |const )';

/** Every declaration in src/ whose doc comment says @internal: its file (under src/) and name. */
async function internalMembers(): Promise<{ file: string; name: string }[]> {
  const out: { file: string; name: string }[] = [];
  const src = join(ROOT, 'src');
  for (const file of (await readdir(src, { recursive: true })).filter((f) => f.endsWith('.ts'))) {
    const text = await readFile(join(src, file), 'utf8');
    for (const m of text.matchAll(/@internal/g)) {
      // The declaration follows the end of the comment that holds the tag.
      const after = text.slice(text.indexOf('*/', m.index) + 2);
      const decl = new RegExp(`^\\s*${MODIFIERS}*([A-Za-z_$][\\w$]*)`).exec(after);
      if (decl && decl[1] !== 'constructor') out.push({ file, name: decl[1]! });
    }
  }
  return out;
}
