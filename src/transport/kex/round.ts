import { createHash } from 'node:crypto';
import { DisconnectReason, protocolError } from '../../errors.js';
import { SshReader } from '../../wire/reader.js';
import { SshWriter } from '../../wire/writer.js';
import type { HashFields, KexInput, KexMethodSpec, KexOutcome, KexRound, KexStep } from './types.js';

/**
 * The exchange hash of every family (RFC 4253 §8, RFC 4419 §3, RFC 5656 §4, RFC 8731 §3,
 * draft-ietf-sshm-mlkem-hybrid-kex §2.4): HASH(V_C || V_S || I_C || I_S || K_S || <family fields> || K).
 */
export function exchangeHash(
  hash: KexMethodSpec['hash'],
  input: KexInput,
  hostKey: Buffer,
  fields: HashFields,
  k: Buffer,
): Buffer {
  const w = new SshWriter(2048 + input.ic.length + input.is.length)
    .string(input.vc)
    .string(input.vs)
    .string(input.ic)
    .string(input.is)
    .string(hostKey);
  fields(w);
  w.raw(k);
  return createHash(hash).update(w.finish()).digest();
}

/**
 * The key agreement inside a one-round-trip exchange: the client's value goes in the INIT
 * message, the server's in the REPLY. Values are unsigned bytes; how they are encoded on the wire
 * and in the hash (string or mpint) is the round's `mpint` flag.
 */
export interface Agreement {
  /** Client: our value for the INIT message. */
  clientValue(): Buffer;
  /** Client: K (encoded) from the server's value. */
  clientSecret(serverValue: Buffer): Buffer;
  /** Server: our reply value and K (encoded) from the client's value. */
  serverReply(clientValue: Buffer): { value: Buffer; k: Buffer };
}

export function kexFailed(message: string) {
  return protocolError(message, DisconnectReason.KEY_EXCHANGE_FAILED);
}

/**
 * The one-round-trip shape shared by ECDH (RFC 5656 §4), curve25519/448 (RFC 8731), fixed DH groups
 * (RFC 4253 §8), the last step of group exchange (RFC 4419 §3) and the ML-KEM hybrid:
 *   client → INIT(value C)   server → REPLY(string K_S, value S, string signature)
 */
export class OneRoundTrip implements KexRound {
  private finished = false;

  constructor(
    private readonly spec: KexMethodSpec,
    private readonly input: KexInput,
    private readonly agreement: Agreement,
    private readonly opts: {
      /** Message numbers: 30/31 for every family here but GEX (32/33). */
      init: number;
      reply: number;
      /** Values are mpints (DH) rather than strings (ECDH, hybrid). */
      mpint: boolean;
      /** Fields hashed before the two values (GEX: min, n, max, p, g). */
      before?: HashFields;
      /** Names the family in errors. */
      what: string;
    },
  ) {}

  start(): Buffer[] {
    if (this.input.role === 'server') return [];
    const c = this.agreement.clientValue();
    return [this.value(new SshWriter(16 + c.length).byte(this.opts.init), c).finish()];
  }

  receive(payload: Buffer): KexStep {
    const type = payload[0];
    const server = this.input.role === 'server';
    const want = server ? this.opts.init : this.opts.reply;
    if (this.finished || type !== want)
      throw protocolError(`unexpected key exchange message ${type} in ${this.opts.what}`);
    this.finished = true;
    const r = new SshReader(payload, 1);
    if (server) {
      const c = this.read(r, 'client value');
      r.done(`${this.opts.what} INIT`);
      const { value: s, k } = this.agreement.serverReply(c);
      const hk = this.input.hostKey;
      if (!hk) throw kexFailed('no host key for the negotiated algorithm');
      const h = exchangeHash(this.spec.hash, this.input, hk.blob, this.fields(c, s), k);
      const signature = hk.sign(h);
      const w = new SshWriter(64 + hk.blob.length + s.length + signature.length)
        .byte(this.opts.reply)
        .string(hk.blob);
      this.value(w, s).string(signature);
      const done: KexOutcome = { k, h, hostKey: hk.blob, signature };
      return { send: [w.finish()], done };
    }
    const hostKey = r.string('K_S');
    const s = this.read(r, 'server value');
    const signature = r.string('signature');
    r.done(`${this.opts.what} REPLY`);
    const c = this.agreement.clientValue();
    const k = this.agreement.clientSecret(s);
    const h = exchangeHash(this.spec.hash, this.input, hostKey, this.fields(c, s), k);
    return { done: { k, h, hostKey, signature } };
  }

  private value(w: SshWriter, v: Buffer): SshWriter {
    return this.opts.mpint ? w.mpintFromUnsigned(v) : w.string(v);
  }

  private read(r: SshReader, what: string): Buffer {
    if (!this.opts.mpint) return r.string(what);
    const b = r.mpintBytes();
    if (b.length > 0 && b[0]! & 0x80) throw kexFailed(`${this.opts.what}: negative ${what}`);
    return b;
  }

  private fields(c: Buffer, s: Buffer): HashFields {
    return (w) => {
      this.opts.before?.(w);
      this.value(w, c);
      this.value(w, s);
    };
  }
}
