/**
 * The documentation stays true to the code: docs/errors.md lists exactly the SshError codes the
 * library has, and every relative link in README.md and docs/ points at a file that exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('docs/errors.md lists every SshError code, and only those', () => {
  const source = readFileSync(join(ROOT, 'src/errors.ts'), 'utf8');
  const start = source.indexOf('export type SshErrorCode');
  const union = source.slice(start, source.indexOf('\nexport', start + 1));
  const codes = [...union.matchAll(/\| '([A-Z_]+)'/g)].map((m) => m[1]).sort();
  assert.ok(codes.length >= 20, `found ${codes.length} codes in src/errors.ts`);
  const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `([A-Z_]+)`\s+\|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(documented, codes);
});

test('relative links in README.md and docs/ resolve', () => {
  const files = [
    'README.md',
    'CHANGELOG.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const broken: string[] = [];
  for (const f of files) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue; // http(s), mailto
      if (!existsSync(join(ROOT, dirname(f), target))) broken.push(`${f}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});
