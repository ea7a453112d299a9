import { randomBytes } from 'node:crypto';
import { hashHostName, isHashedHostField, matchHashedHost, matchPatternList } from './host-patterns.js';
import { formatPublicKeyLine, parsePublicKeyLine, publicKeysEqual } from './public-key.js';
import type { KeyType, PublicKey } from './types.js';
import type { LineProblem } from './authorized-keys.js';

/**
 * How known_hosts names a host (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT; OpenSSH put_host_port):
 * the bare name on the default port 22 (or 0, meaning the default), else `[host]:port`.
 */
export function hostPattern(host: string, port: number): string {
  return port === 22 || port === 0 ? host : `[${host}]:${port}`;
}

export type KnownHostsMarker = 'cert-authority' | 'revoked';

export interface KnownHostsEntry {
  /** `@cert-authority` / `@revoked`, or undefined for a plain host key line. */
  readonly marker: KnownHostsMarker | undefined;
  /** The host field as written: comma-separated patterns, or one `|1|salt|hash`. */
  readonly hosts: string;
  readonly key: PublicKey;
  readonly comment: string;
  /** 1-based line number. */
  readonly line: number;
}

export type KnownHostStatus = 'match' | 'mismatch' | 'revoked' | 'unknown';

/**
 * Parses a known_hosts file (sshd(8) SSH_KNOWN_HOSTS FILE FORMAT): `[marker] hosts keytype
 * base64 [comment]`. Blank lines and `#` comments are skipped, and so are lines that are
 * malformed, carry an unknown marker, or hold a key type this library does not support.
 */
export function parseKnownHosts(text: string, onProblem?: LineProblem): KnownHostsEntry[] {
  return parseEntries(text, () => true, onProblem);
}

/** The entries whose host field matches `host`:`port` (hashed, or patterns with `!` and wildcards). */
export function knownHostsEntriesFor(text: string, host: string, port: number): KnownHostsEntry[] {
  const name = hostPattern(host.toLowerCase(), port);
  return parseEntries(text, (hosts) =>
    isHashedHostField(hosts) ? matchHashedHost(name, hosts) : matchPatternList(name, hosts),
  );
}

/** Splits the lines, and parses the key only of those whose host field `wanted` accepts. */
function parseEntries(
  text: string,
  wanted: (hosts: string) => boolean,
  onProblem?: LineProblem,
): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fields = splitLine(lines[i]!);
    if (typeof fields === 'string') onProblem?.(i + 1, fields);
    if (fields === undefined || typeof fields === 'string' || !wanted(fields.hosts)) continue;
    try {
      const { key, comment } = parsePublicKeyLine(fields.keyText);
      entries.push({ marker: fields.marker, hosts: fields.hosts, key, comment, line: i + 1 });
    } catch (e) {
      // A key that does not parse, or of a type not supported here: skip the line.
      onProblem?.(i + 1, (e as Error).message);
    }
  }
  return entries;
}

/** The fields of a line; undefined for a blank or comment line; a string says why it is malformed. */
function splitLine(
  raw: string,
): { marker: KnownHostsMarker | undefined; hosts: string; keyText: string } | string | undefined {
  let rest = raw.replace(/\r$/, '').replace(/^[ \t]+/, '');
  if (rest === '' || rest.startsWith('#')) return undefined;
  let marker: KnownHostsMarker | undefined;
  if (rest.startsWith('@')) {
    const m = /^@(\S+)[ \t]+/.exec(rest);
    if (m === null || (m[1] !== 'cert-authority' && m[1] !== 'revoked'))
      return `unknown marker ${JSON.stringify(rest.split(/[ \t]/)[0]!.slice(0, 40))}`;
    marker = m[1];
    rest = rest.slice(m[0].length);
  }
  const m = /^(\S+)[ \t]+/.exec(rest);
  return m === null
    ? 'no key after the host names'
    : { marker, hosts: m[1]!, keyText: rest.slice(m[0].length) };
}

/** The recorded key of that type that differs from the one offered, for a mismatch message. */
export function mismatchedEntry(
  text: string,
  host: string,
  port: number,
  key: PublicKey,
): KnownHostsEntry | undefined {
  return knownHostsEntriesFor(text, host, port).find(
    (e) => e.marker === undefined && e.key.type === key.type && !publicKeysEqual(e.key, key),
  );
}

/**
 * What known_hosts says about `key` for `host`:`port`, as OpenSSH's check_key_in_hostkeys:
 * 'revoked' if a matching `@revoked` line holds the key (whatever else the file says); 'match'
 * if a host line holds it; 'mismatch' if the host has lines of the same key type, none equal;
 * else 'unknown'. `@cert-authority` lines are parsed and kept (a save appends, so they stay)
 * but trust no plain key, as in OpenSSH; certificates are not supported yet.
 */
export function checkKnownHosts(text: string, host: string, port: number, key: PublicKey): KnownHostStatus {
  let status: KnownHostStatus = 'unknown';
  for (const e of knownHostsEntriesFor(text, host, port)) {
    if (e.marker === 'revoked') {
      if (publicKeysEqual(e.key, key)) return 'revoked';
    } else if (e.marker === undefined && e.key.type === key.type && status !== 'match') {
      status = publicKeysEqual(e.key, key) ? 'match' : 'mismatch';
    }
  }
  return status;
}

/** The types of the host keys recorded for `host`:`port`, in file order, without duplicates. */
export function knownKeyTypesFor(text: string, host: string, port: number): KeyType[] {
  const types: KeyType[] = [];
  for (const e of knownHostsEntriesFor(text, host, port)) {
    if (e.marker === undefined && !types.includes(e.key.type)) types.push(e.key.type);
  }
  return types;
}

/**
 * A known_hosts line for the host, lowercased as OpenSSH records it; no newline. `hashed` writes
 * the host field as OpenSSH's HashKnownHosts does (`|1|salt|HMAC-SHA1(salt, host)`).
 */
export function formatKnownHostsLine(host: string, port: number, key: PublicKey, hashed = false): string {
  const name = hostPattern(host.toLowerCase(), port);
  return `${hashed ? hashHostName(name, randomBytes(20)) : name} ${formatPublicKeyLine(key)}`;
}
