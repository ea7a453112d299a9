/**
 * The package as a user installs it: `npm pack` of this repository, installed by tarball into a
 * fresh project under `dir` that has no access to the repository's sources or devDependencies.
 * Shared by the pack test and the examples test, which runs every example from such a project.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const exec = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

export interface Packed {
  /** The tarball's path. */
  tarball: string;
  /** The paths inside the tarball. */
  files: string[];
  /** A project (package.json with type module) that installed the tarball. */
  project: string;
}

export async function packAndInstall(dir: string): Promise<Packed> {
  // --ignore-scripts: the suite already built dist/; rebuilding it here would race other tests.
  const { stdout } = await exec(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  const info = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  const tarball = join(dir, info[0]!.filename);
  const files = info[0]!.files.map((f) => f.path);
  const project = join(dir, 'project');
  await mkdir(project);
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'user-project', private: true, type: 'module' }),
  );
  await exec(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
    cwd: project,
    maxBuffer: 16 * 1024 * 1024,
  });
  return { tarball, files, project };
}
