import { protocolError } from '../errors.js';
import { Msg } from './numbers.js';
import { SshReader } from './reader.js';
import { SshWriter } from './writer.js';

/** RFC 4253 §7.1 algorithm negotiation lists, in wire order. */
export interface KexInitLists {
  kex: string[];
  hostKey: string[];
  cipherC2S: string[];
  cipherS2C: string[];
  macC2S: string[];
  macS2C: string[];
  compressionC2S: string[];
  compressionS2C: string[];
  languageC2S: string[];
  languageS2C: string[];
}

export interface KexInit extends KexInitLists {
  cookie: Buffer;
  firstKexPacketFollows: boolean;
  /** The whole payload: I_C / I_S in the exchange hash are the exact bytes received or sent. */
  payload: Buffer;
}

const LIST_KEYS: (keyof KexInitLists)[] = [
  'kex',
  'hostKey',
  'cipherC2S',
  'cipherS2C',
  'macC2S',
  'macS2C',
  'compressionC2S',
  'compressionS2C',
  'languageC2S',
  'languageS2C',
];

/** Name-lists longer than this are refused: no honest peer sends one, and it bounds parsing work. */
const MAX_NAME_LIST = 64 * 1024;

export function encodeKexInit(cookie: Buffer, lists: KexInitLists, firstKexPacketFollows = false): Buffer {
  const w = new SshWriter(1024).byte(Msg.KEXINIT).raw(cookie);
  for (const k of LIST_KEYS) w.nameList(lists[k]);
  return w.boolean(firstKexPacketFollows).uint32(0).finish();
}

export function decodeKexInit(payload: Buffer): KexInit {
  const r = new SshReader(payload, 1);
  const cookie = r.raw(16, 'kexinit cookie');
  const list = (what: keyof KexInitLists): string[] => {
    const s = r.string(what);
    if (s.length > MAX_NAME_LIST) throw protocolError(`KEXINIT ${what} list is ${s.length} bytes long`);
    return s.length === 0 ? [] : s.toString('latin1').split(',');
  };
  // One object literal in wire order: a fixed shape, cheaper to build than keyed assignments.
  const k: KexInit = {
    kex: list('kex'),
    hostKey: list('hostKey'),
    cipherC2S: list('cipherC2S'),
    cipherS2C: list('cipherS2C'),
    macC2S: list('macC2S'),
    macS2C: list('macS2C'),
    compressionC2S: list('compressionC2S'),
    compressionS2C: list('compressionS2C'),
    languageC2S: list('languageC2S'),
    languageS2C: list('languageS2C'),
    cookie,
    firstKexPacketFollows: r.boolean(),
    payload,
  };
  r.uint32(); // reserved
  // RFC 4253 §7.1 has no extension fields; trailing bytes are tolerated as OpenSSH does.
  return k;
}

export interface Disconnect {
  reason: number;
  description: string;
  language: string;
}

export function encodeDisconnect(reason: number, description: string): Buffer {
  return new SshWriter(64 + description.length)
    .byte(Msg.DISCONNECT)
    .uint32(reason)
    .string(description)
    .string('')
    .finish();
}

export function decodeDisconnect(payload: Buffer): Disconnect {
  const r = new SshReader(payload, 1);
  const reason = r.uint32();
  const description = r.utf8('description');
  const language = r.remaining > 0 ? r.ascii('language') : '';
  return { reason, description, language };
}

export function encodeIgnore(data: Buffer = Buffer.alloc(0)): Buffer {
  return new SshWriter(8 + data.length).byte(Msg.IGNORE).string(data).finish();
}

export interface Debug {
  alwaysDisplay: boolean;
  message: string;
  language: string;
}

export function encodeDebug(alwaysDisplay: boolean, message: string): Buffer {
  return new SshWriter(32 + message.length)
    .byte(Msg.DEBUG)
    .boolean(alwaysDisplay)
    .string(message)
    .string('')
    .finish();
}

export function decodeDebug(payload: Buffer): Debug {
  const r = new SshReader(payload, 1);
  return { alwaysDisplay: r.boolean(), message: r.utf8('message'), language: r.ascii('language') };
}

export function encodeUnimplemented(seq: number): Buffer {
  return new SshWriter(8).byte(Msg.UNIMPLEMENTED).uint32(seq).finish();
}

export function encodeServiceRequest(name: string): Buffer {
  return new SshWriter(32).byte(Msg.SERVICE_REQUEST).string(name).finish();
}

export function encodeServiceAccept(name: string): Buffer {
  return new SshWriter(32).byte(Msg.SERVICE_ACCEPT).string(name).finish();
}

export function decodeServiceName(payload: Buffer): string {
  const r = new SshReader(payload, 1);
  return r.ascii('service name');
}

/** RFC 8308 §2.3: a list of extension names and values. */
export function encodeExtInfo(extensions: ReadonlyMap<string, Buffer | string>): Buffer {
  const w = new SshWriter(256).byte(Msg.EXT_INFO).uint32(extensions.size);
  for (const [name, value] of extensions) w.string(name).string(value);
  return w.finish();
}

export function decodeExtInfo(payload: Buffer): Map<string, Buffer> {
  const r = new SshReader(payload, 1);
  const n = r.uint32();
  if (n > 1024) throw protocolError(`EXT_INFO announces ${n} extensions`);
  const out = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) out.set(r.ascii('extension name'), r.string('extension value'));
  return out;
}

/** RFC 5656 §4 / RFC 8731 §3: SSH_MSG_KEX_ECDH_INIT carries the client's ephemeral public key. */
export function encodeKexEcdhInit(clientPublic: Buffer): Buffer {
  return new SshWriter(8 + clientPublic.length).byte(Msg.KEX_ECDH_INIT).string(clientPublic).finish();
}

export function decodeKexEcdhInit(payload: Buffer): Buffer {
  const r = new SshReader(payload, 1);
  const q = r.string('Q_C');
  r.done('KEX_ECDH_INIT');
  return q;
}

export interface KexEcdhReply {
  hostKey: Buffer;
  serverPublic: Buffer;
  signature: Buffer;
}

export function encodeKexEcdhReply(m: KexEcdhReply): Buffer {
  return new SshWriter(64 + m.hostKey.length + m.serverPublic.length + m.signature.length)
    .byte(Msg.KEX_ECDH_REPLY)
    .string(m.hostKey)
    .string(m.serverPublic)
    .string(m.signature)
    .finish();
}

export function decodeKexEcdhReply(payload: Buffer): KexEcdhReply {
  const r = new SshReader(payload, 1);
  const m = { hostKey: r.string('K_S'), serverPublic: r.string('Q_S'), signature: r.string('signature') };
  r.done('KEX_ECDH_REPLY');
  return m;
}
