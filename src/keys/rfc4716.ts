import { createPublicKey } from 'node:crypto';
import { badKey, decodeBase64, wrapBase64 } from './encoding.js';
import { parsePublicKeyBlob, parsePublicKeyLine, publicKeyFromKeyObject } from './public-key.js';
import type { PublicKey } from './types.js';

/**
 * The SSH public key file format of RFC 4716 ("---- BEGIN SSH2 PUBLIC KEY ----"), which
 * `ssh-keygen -e` writes and commercial SSH products use, beside OpenSSH's one-line form.
 */
const BEGIN = '---- BEGIN SSH2 PUBLIC KEY ----';
const END = '---- END SSH2 PUBLIC KEY ----';
/** RFC 4716 §3: lines are at most 72 bytes; a header tag at most 64, a value at most 1024. */
const MAX_LINE = 72;

/**
 * Reads a public key file: RFC 4716, OpenSSH's `type base64 comment` line, or the PEM forms
 * `ssh-keygen -e -m PKCS8` (`BEGIN PUBLIC KEY`, X.509 SubjectPublicKeyInfo) and `-m PEM`
 * (`BEGIN RSA PUBLIC KEY`, PKCS#1) write, which carry no comment.
 */
export function parsePublicKeyFile(text: string): {
  /** The public key. */
  key: PublicKey;
  /** The key's comment (empty when it has none). */
  comment: string;
} {
  const trimmed = text.trim();
  if (/^-----BEGIN (RSA )?PUBLIC KEY-----/.test(trimmed)) {
    const pkcs1 = trimmed.startsWith('-----BEGIN RSA');
    let keyObject;
    try {
      keyObject = createPublicKey({ key: trimmed, format: 'pem', ...(pkcs1 ? { type: 'pkcs1' } : {}) });
    } catch (e) {
      throw badKey(`cannot read PEM public key: ${(e as Error).message}`, e);
    }
    return { key: publicKeyFromKeyObject(keyObject), comment: '' };
  }
  if (!trimmed.startsWith(BEGIN)) return parsePublicKeyLine(trimmed.split(/\r?\n/)[0] ?? '');
  const lines = trimmed.split(/\r?\n/);
  const end = lines.indexOf(END);
  if (end < 0) throw badKey(`RFC 4716 public key has no "${END}" line`);
  let comment = '';
  let i = 1;
  // §3.3: headers "Tag: value" until the first line without a colon; "\" continues a line.
  for (; i < end; i++) {
    let line = lines[i]!;
    if (!line.includes(':')) break;
    while (line.endsWith('\\') && i + 1 < end) line = line.slice(0, -1) + lines[++i]!;
    const colon = line.indexOf(':');
    const tag = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (tag.length === 0 || tag.length > 64) throw badKey(`RFC 4716 header tag of ${tag.length} bytes`);
    if (value.length > 1024) throw badKey(`RFC 4716 header value of ${value.length} bytes`);
    if (tag.toLowerCase() === 'comment') comment = value.replace(/^"(.*)"$/, '$1');
  }
  const body = lines.slice(i, end).join('');
  if (body.length === 0) throw badKey('RFC 4716 public key has no key data');
  return { key: parsePublicKeyBlob(decodeBase64(body, 'RFC 4716 key data')), comment };
}

/** Writes `key` as RFC 4716 (what `ssh-keygen -e -f` prints), with a Comment header if given. */
export function formatRfc4716PublicKey(key: PublicKey, comment?: string): string {
  const out = [BEGIN];
  if (comment) {
    // A header line longer than 72 bytes continues on the next with a trailing backslash.
    let h = `Comment: "${comment.replace(/"/g, "'")}"`;
    while (h.length > MAX_LINE) {
      out.push(h.slice(0, MAX_LINE - 1) + '\\');
      h = h.slice(MAX_LINE - 1);
    }
    out.push(h);
  }
  out.push(...wrapBase64(key.blob, 70), END);
  return out.join('\n') + '\n';
}
