import { badKey } from './encoding.js';
import { parsePublicKeyLine, publicKeysEqual } from './public-key.js';
import type { PublicKey } from './types.js';

export interface AuthorizedKeyEntry {
  readonly key: PublicKey;
  /** The options field exactly as written (`restrict,command="…"`), or '' when there is none. */
  readonly options: string;
  readonly comment: string;
  /** 1-based line number. */
  readonly line: number;
}

export interface KeyOption {
  /** As written; OpenSSH compares option names case-insensitively. */
  readonly name: string;
  /** The dequoted value of `name="value"`, or undefined for a flag such as `restrict`. */
  readonly value: string | undefined;
}

/** Told of a line that was skipped because it cannot be read: its 1-based number and why. */
export type LineProblem = (line: number, why: string) => void;

/**
 * Parses an authorized_keys file (sshd(8) AUTHORIZED_KEYS FILE FORMAT): per line an optional
 * options field, then key type, base64 key and comment. Blank lines and `#` comments are
 * skipped, and so, without an error, are malformed lines and key types this library lacks (as
 * sshd skips them); `onProblem` hears of each such line and why.
 */
export function parseAuthorizedKeys(text: string, onProblem?: LineProblem): AuthorizedKeyEntry[] {
  const entries: AuthorizedKeyEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const entry = parseLine(lines[i]!, i + 1, onProblem);
    if (entry !== undefined) entries.push(entry);
  }
  return entries;
}

function parseLine(raw: string, line: number, onProblem?: LineProblem): AuthorizedKeyEntry | undefined {
  const text = raw.replace(/\r$/, '').replace(/^[ \t]+/, '');
  if (text === '' || text.startsWith('#')) return undefined;
  // Like sshd: try the line as a key; failing that, step over an options field and try again.
  let why = '';
  const direct = tryKeyLine(text, (w) => (why = w));
  if (direct !== undefined) return { ...direct, options: '', line };
  const end = optionsEnd(text);
  if (end === undefined) return void onProblem?.(line, 'a quoted option value is not closed');
  if (!/^[ \t]/.test(text.slice(end))) return void onProblem?.(line, why || 'no key after the options');
  const options = text.slice(0, end);
  try {
    parseKeyOptions(options);
  } catch (e) {
    return void onProblem?.(line, `${why}; read as options: ${(e as Error).message}`);
  }
  const keyed = tryKeyLine(text.slice(end), (w) => (why = w));
  if (keyed === undefined) return void onProblem?.(line, why);
  return { ...keyed, options, line };
}

function tryKeyLine(s: string, why: (w: string) => void): { key: PublicKey; comment: string } | undefined {
  try {
    return parsePublicKeyLine(s);
  } catch (e) {
    why((e as Error).message);
    return undefined;
  }
}

/**
 * Where the options field ends: at the first space or tab outside double quotes, where `\"`
 * does not end a quoted string (OpenSSH sshkey_advance_past_options). Undefined if a quote is
 * left open.
 */
function optionsEnd(s: string): number | undefined {
  let quoted = false;
  let i = 0;
  for (; i < s.length && (quoted || (s[i] !== ' ' && s[i] !== '\t')); i++) {
    if (s[i] === '\\' && s[i + 1] === '"') i++;
    else if (s[i] === '"') quoted = !quoted;
  }
  return quoted ? undefined : i;
}

/**
 * Splits an options field into `name` flags and `name="value"` options (sshd(8): commas
 * separate options; a value is double-quoted and may contain `\"`). Throws BAD_KEY if malformed.
 */
export function parseKeyOptions(options: string): KeyOption[] {
  const out: KeyOption[] = [];
  let i = 0;
  while (i < options.length) {
    const name = /^[A-Za-z0-9_-]+/.exec(options.slice(i))?.[0];
    if (name === undefined) throw badKey(`bad option name at column ${i + 1}`);
    i += name.length;
    let value: string | undefined;
    if (options[i] === '=') {
      if (options[i + 1] !== '"') throw badKey(`the value of option ${name} must be in double quotes`);
      i += 2;
      value = '';
      for (;;) {
        if (i >= options.length) throw badKey(`unterminated quoted value of option ${name}`);
        if (options[i] === '\\' && options[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (options[i] === '"') {
          i++;
          break;
        } else {
          value += options[i++];
        }
      }
    }
    out.push({ name, value });
    if (i === options.length) break;
    if (options[i] !== ',' || i + 1 === options.length)
      throw badKey(`unexpected "${options[i]}" after option ${name}`);
    i++;
  }
  return out;
}

function hasOption(options: string, name: string): boolean {
  if (options === '') return false;
  return parseKeyOptions(options).some((o) => o.name.toLowerCase() === name);
}

/**
 * The first entry that authorizes `key` itself. Entries with options (restrict, command=,
 * from=, …) match; their options are returned for the caller to enforce. A `cert-authority`
 * entry trusts the key only as a CA for certificates, so it never authorizes the plain key.
 */
export function findAuthorizedKey(text: string, key: PublicKey): AuthorizedKeyEntry | undefined {
  return parseAuthorizedKeys(text).find(
    (e) => publicKeysEqual(e.key, key) && !hasOption(e.options, 'cert-authority'),
  );
}

export function isKeyAuthorized(text: string, key: PublicKey): boolean {
  return findAuthorizedKey(text, key) !== undefined;
}
