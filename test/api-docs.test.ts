/**
 * The API reference builds (`npm run docs`, TypeDoc over src/index.ts) with no warning: every
 * export and every member reachable from one has a doc comment, every type a public signature
 * names is exported, and every {@link} resolves, so an undocumented export fails the suite.
 * That includes the fields of inline object types (the members of the ChannelMessage union, the
 * results of the behaviour callbacks): typedoc.json may not exempt anything from the check.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Terminal colour codes TypeDoc puts around its log levels. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

test('typedoc.json checks every export and exempts nothing', async () => {
  const config = JSON.parse(await readFile(join(ROOT, 'typedoc.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(config.validation, { notExported: true, invalidLink: true, notDocumented: true });
  assert.equal(config.treatWarningsAsErrors, true);
  assert.equal(config.out, 'docs/api');
  assert.equal(config.intentionallyNotDocumented, undefined, 'no export may be exempted from documentation');
});

test('the API reference builds from the doc comments with no warning', async () => {
  const out = await mkdtemp(join(tmpdir(), 'seashell-apidocs-'));
  try {
    const typedoc = join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc');
    const r = await promisify(execFile)(process.execPath, [typedoc, '--out', out], {
      cwd: ROOT,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { code?: number; stdout?: string; stderr?: string }) => e);
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.replace(ANSI, '');
    assert.equal((r as { code?: number }).code ?? 0, 0, output);
    assert.deepEqual(
      output.split('\n').filter((l) => /\[(warning|error)\]/.test(l)),
      [],
      'TypeDoc warnings',
    );
    assert.ok((await readdir(out)).includes('index.html'), 'docs written');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
