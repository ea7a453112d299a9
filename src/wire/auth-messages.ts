import { protocolError } from '../errors.js';
import { Msg } from './numbers.js';
import { SshReader } from './reader.js';
import { SshWriter } from './writer.js';

/** RFC 4252 §5: SSH_MSG_USERAUTH_REQUEST, by method. */
export type UserauthRequest =
  | { method: 'none'; user: string; service: string }
  | { method: 'password'; user: string; service: string; password: string; newPassword?: string }
  | {
      method: 'publickey';
      user: string;
      service: string;
      algorithm: string;
      keyBlob: Buffer;
      signature?: Buffer;
    }
  | { method: 'keyboard-interactive'; user: string; service: string; language: string; submethods: string }
  | { method: 'other'; name: string; user: string; service: string };

/** User names and service names longer than this are refused outright. */
const MAX_NAME = 1024;

export function decodeUserauthRequest(payload: Buffer): UserauthRequest {
  const r = new SshReader(payload, 1);
  const userBytes = r.string('user name');
  const service = r.ascii('service name');
  const method = r.ascii('method name');
  if (userBytes.length > MAX_NAME || service.length > MAX_NAME || method.length > MAX_NAME) {
    throw protocolError('USERAUTH_REQUEST field too long');
  }
  const user = userBytes.toString('utf8');
  switch (method) {
    case 'none':
      return { method, user, service };
    case 'password': {
      const change = r.boolean();
      const password = r.utf8('password');
      return change
        ? { method, user, service, password, newPassword: r.utf8('new password') }
        : { method, user, service, password };
    }
    case 'publickey': {
      const hasSignature = r.boolean();
      const algorithm = r.ascii('public key algorithm');
      const keyBlob = r.string('public key blob');
      return hasSignature
        ? { method, user, service, algorithm, keyBlob, signature: r.string('signature') }
        : { method, user, service, algorithm, keyBlob };
    }
    case 'keyboard-interactive':
      return { method, user, service, language: r.ascii('language'), submethods: r.utf8('submethods') };
    default:
      return { method: 'other', name: method, user, service };
  }
}

function requestHead(user: string, service: string, method: string): SshWriter {
  return new SshWriter(256).byte(Msg.USERAUTH_REQUEST).string(user).string(service).string(method);
}

export function encodeUserauthNone(user: string, service: string): Buffer {
  return requestHead(user, service, 'none').finish();
}

export function encodeUserauthPassword(user: string, service: string, password: string): Buffer {
  return requestHead(user, service, 'password').boolean(false).string(password).finish();
}

export function encodeUserauthPublickey(
  user: string,
  service: string,
  algorithm: string,
  keyBlob: Buffer,
  signature?: Buffer,
): Buffer {
  const w = requestHead(user, service, 'publickey')
    .boolean(signature !== undefined)
    .string(algorithm)
    .string(keyBlob);
  if (signature) w.string(signature);
  return w.finish();
}

/** RFC 4252 §7: what a publickey signature covers. */
export function publickeySignedData(
  sessionId: Buffer,
  user: string,
  service: string,
  algorithm: string,
  keyBlob: Buffer,
): Buffer {
  return new SshWriter(512)
    .string(sessionId)
    .byte(Msg.USERAUTH_REQUEST)
    .string(user)
    .string(service)
    .string('publickey')
    .boolean(true)
    .string(algorithm)
    .string(keyBlob)
    .finish();
}

export interface UserauthFailure {
  methods: string[];
  partialSuccess: boolean;
}

export function encodeUserauthFailure(methods: readonly string[], partialSuccess = false): Buffer {
  return new SshWriter(64).byte(Msg.USERAUTH_FAILURE).nameList(methods).boolean(partialSuccess).finish();
}

export function decodeUserauthFailure(payload: Buffer): UserauthFailure {
  const r = new SshReader(payload, 1);
  return { methods: r.nameList('authentications that can continue'), partialSuccess: r.boolean() };
}

export function encodeUserauthBanner(message: string): Buffer {
  return new SshWriter(64 + message.length).byte(Msg.USERAUTH_BANNER).string(message).string('').finish();
}

export function decodeUserauthBanner(payload: Buffer): string {
  return new SshReader(payload, 1).utf8('banner');
}

export function encodeUserauthPkOk(algorithm: string, keyBlob: Buffer): Buffer {
  return new SshWriter(64 + keyBlob.length)
    .byte(Msg.USERAUTH_PK_OK)
    .string(algorithm)
    .string(keyBlob)
    .finish();
}

export function decodeUserauthPkOk(payload: Buffer): { algorithm: string; keyBlob: Buffer } {
  const r = new SshReader(payload, 1);
  return { algorithm: r.ascii('algorithm'), keyBlob: r.string('key blob') };
}
