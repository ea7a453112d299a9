// Node 20's runner has no globs and treats every .js under test/ as a test file;
// this passes it exactly the compiled *.test.js files (or those under the given paths).
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(path, out) {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path).sort()) collect(join(path, name), out);
  } else if (path.endsWith('.test.js')) {
    out.push(path);
  }
  return out;
}

const roots = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = (roots.length ? roots : ['dist/test']).flatMap((r) => collect(r, []));
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
// The tests run in a session of their own, without the controlling terminal: a client that
// would ask on the terminal (a password, a host key) finds nobody to ask, as on CI, instead of
// waiting for someone to type. Ctrl-C and SIGTERM are passed on to the whole group.
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...flags, ...files], {
  stdio: 'inherit',
  detached: true,
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group has ended already
    }
  });
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
