import { randomInt } from 'node:crypto';
import { DisconnectReason, SshError, protocolError } from '../errors.js';

/** RFC 4253 §4.2: identification lines are at most 255 bytes; like OpenSSH we tolerate up to 8 KiB. */
const MAX_LINE = 8192;
/** Bound on the lines a server may send before its identification (RFC 4253 §4.2 allows some). */
const MAX_PRE_LINES = 1024;
const MAX_PRE_BYTES = 64 * 1024;

/** The seed's `id_string` option: the software-version part of the identification line. */
export type IdStringOption =
  | string
  | 'random'
  | {
      /** A random string of at least `min` and at most `max` characters (the seed's `{random, Nmin, Nmax}`). */
      random: [min: number, max: number];
    };

const RANDOM_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function randomIdent(min: number, max: number): string {
  const n = randomInt(min, max + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += RANDOM_CHARS[randomInt(RANDOM_CHARS.length)];
  return s;
}

/** The full identification line without CR LF, e.g. `SSH-2.0-Seashell_0.1.0` (RFC 4253 §4.2). */
export function identification(opt: IdStringOption | undefined, defaultSoftware: string): string {
  let software: string;
  if (opt === undefined) software = defaultSoftware;
  else if (opt === 'random') software = randomIdent(8, 16);
  else if (typeof opt === 'string') software = opt;
  else software = randomIdent(opt.random[0], opt.random[1]);
  return `SSH-2.0-${software}`;
}

export function validateIdString(opt: unknown): IdStringOption | undefined {
  if (opt === undefined) return undefined;
  if (typeof opt === 'string') {
    // Printable US-ASCII without spaces or '-'-free constraints beyond RFC 4253 §4.2: no spaces, no controls.
    if (opt.length === 0 || opt.length > 200 || !/^[\x21-\x7e]+$/.test(opt)) {
      throw new SshError(
        'BAD_OPTION',
        `idString must be 1-200 printable ASCII characters without spaces, got ${JSON.stringify(opt)}`,
      );
    }
    return opt;
  }
  if (typeof opt === 'object' && opt !== null && 'random' in opt) {
    const r = (opt as { random: unknown }).random;
    if (
      Array.isArray(r) &&
      r.length === 2 &&
      r.every((n) => Number.isInteger(n) && n >= 1 && n <= 200) &&
      (r[0] as number) <= (r[1] as number)
    ) {
      return { random: [r[0] as number, r[1] as number] };
    }
  }
  throw new SshError(
    'BAD_OPTION',
    "idString must be a string, 'random' or { random: [min, max] } with 1 <= min <= max <= 200",
  );
}

export interface VersionResult {
  /** The peer's identification line without CR LF. */
  line: string;
  /** Bytes after the line: the start of the binary packet stream. */
  rest: Buffer;
}

/**
 * Collects the peer's identification line. A server's peer (the client) must open with `SSH-`;
 * a client skips a bounded number of other lines from the server first.
 */
export class VersionReader {
  private buf: Buffer = Buffer.alloc(0);
  private preLines = 0;
  private preBytes = 0;

  constructor(private readonly peerIsServer: boolean) {}

  /** Feeds bytes; returns the identification once complete, else undefined. Throws SshError on a bad peer. */
  push(chunk: Buffer): VersionResult | undefined {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) {
        if (this.buf.length > MAX_LINE) throw protocolError('identification line too long or missing');
        return undefined;
      }
      if (nl + 1 > MAX_LINE) throw protocolError('identification line too long');
      const end = nl > 0 && this.buf[nl - 1] === 0x0d ? nl - 1 : nl;
      const raw = this.buf.subarray(0, end);
      const rest = this.buf.subarray(nl + 1);
      if (raw.subarray(0, 4).toString('latin1') === 'SSH-') {
        if (raw.includes(0)) throw protocolError('identification line contains a NUL byte');
        const line = raw.toString('latin1');
        const m = /^SSH-([^-]+)-/.exec(line);
        if (!m || (m[1] !== '2.0' && m[1] !== '1.99')) {
          throw new SshError(
            'PROTOCOL_ERROR',
            `unsupported protocol version in ${JSON.stringify(line.slice(0, 80))}`,
            {
              reason: DisconnectReason.PROTOCOL_VERSION_NOT_SUPPORTED,
            },
          );
        }
        return { line, rest: Buffer.from(rest) };
      }
      if (!this.peerIsServer) throw protocolError('invalid SSH identification string');
      this.preLines++;
      this.preBytes += nl + 1;
      if (this.preLines > MAX_PRE_LINES || this.preBytes > MAX_PRE_BYTES) {
        throw protocolError('too many lines before the server identification');
      }
      this.buf = rest;
    }
  }
}
