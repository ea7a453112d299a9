import { SshError } from '../../errors.js';
import { checkGroup, parseGroupTerms, parseModuli } from './dh-gex.js';
import type { GexGroup, GexSettings } from './types.js';

/** The seed's explicit_group(): {Size, G, P} as a tuple; G and P as bigint, number or decimal/0x string. */
export type ExplicitGroup = [size: number, g: bigint | number | string, p: bigint | number | string];

/** The seed's dh_gex_groups: a list of groups, `{ file }` of `{Size,G,P}.` terms, or `{ sshModuliFile }`. */
export type DhGexGroupsOption =
  | ExplicitGroup[]
  | {
      /** A file of Erlang `{Size,G,P}.` terms (the seed's `{file, Filename}`). */
      file: string;
    }
  | {
      /** A file in OpenSSH's moduli format (the seed's `{ssh_moduli_file, Filename}`). */
      sshModuliFile: string;
    };

/** The client's dh_gex: [min, n, max] group sizes in bits. */
export type DhGexOption = [min: number, n: number, max: number];

const bad = (name: string, what: string) => new SshError('BAD_OPTION', `option ${name} must be ${what}`);
const isBits = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65536;

export function checkDhGex(v: unknown, name: string): void {
  if (!Array.isArray(v) || v.length !== 3 || !v.every(isBits) || !(v[0] <= v[1] && v[1] <= v[2]))
    throw bad(name, '[min, n, max] bit sizes with min <= n <= max');
}

export function checkDhGexLimits(v: unknown, name: string): void {
  if (!Array.isArray(v) || v.length !== 2 || !v.every(isBits) || v[0] > v[1])
    throw bad(name, '[min, max] bit sizes with min <= max');
}

export function checkDhGexGroups(v: unknown, name: string): void {
  const o = v as Record<string, unknown>;
  if (Array.isArray(v)) {
    if (v.length === 0 || !v.every((g) => Array.isArray(g) && g.length === 3))
      throw bad(name, 'a non-empty list of [size, g, p]');
  } else if (
    typeof v !== 'object' ||
    v === null ||
    !(typeof o.file === 'string' || typeof o.sshModuliFile === 'string')
  ) {
    throw bad(name, 'a list of [size, g, p], { file } or { sshModuliFile }');
  }
}

function big(v: bigint | number | string): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

/** The daemon's groups and limits, files read (with `read`) when the daemon starts, as the seed says. */
export function resolveDaemonGex(
  groups: DhGexGroupsOption | undefined,
  limits: [number, number] | undefined,
  read: (path: string) => string,
): GexSettings | undefined {
  if (!groups && !limits) return undefined;
  let list: GexGroup[] | undefined;
  const where = (w: string, f: () => GexGroup[]) => {
    try {
      return f();
    } catch (e) {
      throw new SshError('BAD_OPTION', `option dhGexGroups: ${w}: ${(e as Error).message}`);
    }
  };
  if (Array.isArray(groups))
    list = where('a group', () => groups.map(([s, g, p]) => checkGroup(s, big(g), big(p))));
  else if (groups && 'file' in groups) list = where(groups.file, () => parseGroupTerms(read(groups.file)));
  else if (groups && 'sshModuliFile' in groups)
    list = where(groups.sshModuliFile, () => parseModuli(read(groups.sshModuliFile)));
  return { groups: list, limits };
}
