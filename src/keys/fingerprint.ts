import { createHash } from 'node:crypto';
import type { PublicKey } from './types.js';

/** Digests a fingerprint can use (the seed's fp_digest_alg; 'sha' and 'sha1' are both SHA-1). */
export type FingerprintHash = 'md5' | 'sha' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

function digest(key: PublicKey, hash: FingerprintHash): Buffer {
  return createHash(hash === 'sha' ? 'sha1' : hash)
    .update(key.blob)
    .digest();
}

/** The name OpenSSH gives the hash in fingerprints and under randomart: MD5, SHA1, SHA256, … */
function hashLabel(hash: FingerprintHash): string {
  return (hash === 'sha' ? 'sha1' : hash).toUpperCase();
}

/**
 * The fingerprint of a key blob, as Erlang's public_key:ssh_hostkey_fingerprint/2 and OpenSSH
 * print it: `SHA256:<base64 without padding>` (likewise SHA1/SHA224/SHA384/SHA512), and for md5
 * lowercase hex pairs joined by ':' without a prefix (ssh-keygen -E md5 adds "MD5:", see
 * `opensshFingerprint`).
 */
export function fingerprint(key: PublicKey, hash: FingerprintHash = 'sha256'): string {
  const d = digest(key, hash);
  if (hash === 'md5') return d.toString('hex').match(/../g)!.join(':');
  return `${hashLabel(hash)}:${d.toString('base64').replace(/=+$/, '')}`;
}

/** The fingerprint exactly as `ssh-keygen -l -E hash` prints it: md5 as `MD5:aa:bb:…`. */
export function opensshFingerprint(key: PublicKey, hash: FingerprintHash = 'sha256'): string {
  const fp = fingerprint(key, hash);
  return hash === 'md5' ? `MD5:${fp}` : fp;
}

/** The key's size in bits as ssh-keygen reports it (sshkey_size): modulus, curve, or 256/456 for EdDSA. */
export function keyBits(key: PublicKey): number {
  switch (key.type) {
    case 'ssh-ed25519':
      return 256;
    case 'ssh-ed448':
      return 456;
    case 'ecdsa-sha2-nistp256':
      return 256;
    case 'ecdsa-sha2-nistp384':
      return 384;
    case 'ecdsa-sha2-nistp521':
      return 521;
    default:
      return key.keyObject.asymmetricKeyDetails?.modulusLength ?? 0;
  }
}

/** The key type's short name in ssh-keygen's output (sshkey_type): ED25519, ECDSA, RSA, DSA. */
export function keyTypeLabel(key: PublicKey): string {
  if (key.type.startsWith('ecdsa-')) return 'ECDSA';
  if (key.type === 'ssh-dss') return 'DSA';
  return key.type.replace(/^ssh-/, '').toUpperCase();
}

/** The line `ssh-keygen -l -E hash -f key.pub` prints: bits, fingerprint, comment, (TYPE). */
export function fingerprintLine(key: PublicKey, comment: string, hash: FingerprintHash = 'sha256'): string {
  return `${keyBits(key)} ${opensshFingerprint(key, hash)} ${comment || 'no comment'} (${keyTypeLabel(key)})`;
}

const WIDTH = 17;
const HEIGHT = 9;
/** Visit counts 0..14 drawn by these, then 'S' (start) and 'E' (end). */
const SYMBOLS = ' .o+=*BOX@%&#/^SE';

/** A border line of the picture with `label` centred as OpenSSH places it (left of centre if odd). */
function border(label: string): string {
  const text = label.slice(0, WIDTH);
  const left = Math.floor((WIDTH - text.length) / 2);
  return `+${'-'.repeat(left)}${text}${'-'.repeat(WIDTH - left - text.length)}+`;
}

/**
 * The randomart picture `ssh-keygen -lv` draws (the "drunken bishop" of Loss, Limmer and von
 * Gernler): a walk from the centre of a 17×9 field, two bits of the digest per step (low bits
 * first; bit 0 moves right or left, bit 1 down or up, stopping at the walls), each cell drawn by
 * how often it was visited, 'S' where the walk began and 'E' where it ended. Framed by
 * `[TYPE bits]` above and `[HASH]` below; lines joined by '\n', no final newline.
 */
export function randomart(key: PublicKey, hash: FingerprintHash = 'sha256'): string {
  const field = Array.from({ length: WIDTH }, () => new Array<number>(HEIGHT).fill(0));
  const maxCount = SYMBOLS.length - 3;
  let x = (WIDTH - 1) / 2;
  let y = (HEIGHT - 1) / 2;
  for (let byte of digest(key, hash)) {
    for (let step = 0; step < 4; step++, byte >>= 2) {
      x = Math.min(Math.max(x + (byte & 1 ? 1 : -1), 0), WIDTH - 1);
      y = Math.min(Math.max(y + (byte & 2 ? 1 : -1), 0), HEIGHT - 1);
      if (field[x]![y]! < maxCount) field[x]![y]!++;
    }
  }
  field[(WIDTH - 1) / 2]![(HEIGHT - 1) / 2] = SYMBOLS.length - 2;
  field[x]![y] = SYMBOLS.length - 1;
  let title = `[${keyTypeLabel(key)} ${keyBits(key)}]`;
  if (title.length > WIDTH) title = `[${keyTypeLabel(key)}]`;
  const lines = [border(title)];
  for (let row = 0; row < HEIGHT; row++) {
    let line = '|';
    for (let col = 0; col < WIDTH; col++) line += SYMBOLS[field[col]![row]!];
    lines.push(`${line}|`);
  }
  lines.push(border(`[${hashLabel(hash)}]`));
  return lines.join('\n');
}
