/**
 * The documentation stays true to the code: docs/errors.md lists exactly the SshError codes the
 * library has, and every relative link in README.md and docs/ points at a file that exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
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

/** The markdown files whose links are checked. */
function markdownFiles(): string[] {
  return [
    'README.md',
    'CHANGELOG.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
}

/** Markdown without its fenced code blocks (a `](x)` inside code is not a link). */
function withoutFences(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/**
 * The anchors GitHub gives a file's headings: the heading's text (code spans and link text kept,
 * link targets and emphasis marks dropped), lower-cased, with everything but letters, digits,
 * spaces, hyphens and underscores removed and spaces turned into hyphens; a repeated slug gets
 * -1, -2, ... after it.
 */
function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of withoutFences(text).matchAll(/^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$/gm)) {
    const plain = m[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[`*]/g, '')
      .toLowerCase();
    const slug = plain.replace(/[^\p{L}\p{N}\p{M} _-]/gu, '').replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

test('GitHub heading anchors, as the link check computes them', () => {
  const anchors = headingAnchors(
    '# The API, from Erlang to TypeScript\n## `ssh:connect/3,4` and `connect`\n## Limits (daemon)\n' +
      '```sh\n# not a heading\n```\n## Limits (daemon)\n### [Links](x.md) & *more*\n',
  );
  assert.deepEqual(
    [...anchors],
    [
      'the-api-from-erlang-to-typescript',
      'sshconnect34-and-connect',
      'limits-daemon',
      'limits-daemon-1',
      'links--more',
    ],
  );
});

test('relative links and #anchors in README.md, CHANGELOG.md and docs/ resolve', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const f of markdownFiles()) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    // Inline links and images; the target ends at the first space (a title may follow) or ')'.
    for (const m of withoutFences(text).matchAll(/\]\(<?([^)\s>]*)>?(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http(s), mailto: not checked (no network)
      checked++;
      const hash = target.indexOf('#');
      const path = hash === -1 ? target : target.slice(0, hash);
      const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const file = path === '' ? join(ROOT, f) : join(ROOT, dirname(f), decodeURIComponent(path));
      if (!existsSync(file)) {
        broken.push(`${f}: ${target} (no such file)`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!file.endsWith('.md') || statSync(file).isDirectory()) {
        broken.push(`${f}: ${target} (an anchor into something not markdown)`);
        continue;
      }
      if (!headingAnchors(readFileSync(file, 'utf8')).has(anchor)) {
        broken.push(`${f}: ${target} (no heading gives #${anchor})`);
      }
    }
  }
  assert.ok(checked >= 5, `only ${checked} relative links found`);
  assert.deepEqual(broken, []);
});

test("README's first screen links to every file in docs/, the examples and the changelog", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  // The first screen: everything before the third level-two heading (Install, Two commands).
  const headings = [...readme.matchAll(/^## /gm)];
  assert.ok(headings.length >= 3);
  const first = readme.slice(0, headings[2]!.index);
  const wanted = [
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
    'examples/',
    'CHANGELOG.md',
  ];
  const missing = wanted.filter((w) => !first.includes(`](${w})`));
  assert.deepEqual(missing, []);
});
