import { createHmac } from 'node:crypto';

/**
 * `*` (any run of characters) and `?` (one character) glob matching, as OpenSSH's match_pattern
 * (ssh_config(5) PATTERNS). Iterative, backtracking only to the last `*`, so linear-ish in time.
 */
export function matchPattern(s: string, pattern: string): boolean {
  let si = 0;
  let pi = 0;
  let starP = -1;
  let starS = 0;
  while (si < s.length) {
    if (pi < pattern.length && (pattern[pi] === '?' || pattern[pi] === s[si])) {
      si++;
      pi++;
    } else if (pi < pattern.length && pattern[pi] === '*') {
      starP = pi++;
      starS = si;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pi < pattern.length && pattern[pi] === '*') pi++;
  return pi === pattern.length;
}

/**
 * Matches a (lowercased) name against a comma-separated pattern list, as OpenSSH's
 * match_pattern_list: a matching `!pattern` rejects the name outright; otherwise any matching
 * pattern accepts it. Case-insensitive.
 */
export function matchPatternList(name: string, list: string): boolean {
  const lower = name.toLowerCase();
  let positive = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!matchPattern(lower, pattern)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

const HASH_MAGIC = '|1|';

/** Whether a known_hosts host field is hashed (`|1|salt|hash`, sshd(8) SSH_KNOWN_HOSTS FILE FORMAT). */
export function isHashedHostField(field: string): boolean {
  return field.startsWith(HASH_MAGIC);
}

/**
 * Matches `|1|base64(salt)|base64(HMAC-SHA1(salt, name))` against a name (OpenSSH hostfile.c
 * host_hash). A malformed hashed field matches nothing.
 */
export function matchHashedHost(name: string, field: string): boolean {
  const parts = field.slice(HASH_MAGIC.length).split('|');
  if (parts.length !== 2) return false;
  const salt = Buffer.from(parts[0]!, 'base64');
  const expected = Buffer.from(parts[1]!, 'base64');
  if (salt.length !== 20 || expected.length !== 20) return false;
  return createHmac('sha1', salt).update(name).digest().equals(expected);
}

/** A hashed host field for `name` with the given 20-byte salt (what `ssh-keygen -H` writes). */
export function hashHostName(name: string, salt: Buffer): string {
  const mac = createHmac('sha1', salt).update(name).digest();
  return `${HASH_MAGIC}${salt.toString('base64')}|${mac.toString('base64')}`;
}
