import { protocolError } from '../errors.js';
import { Msg } from './numbers.js';
import { SshReader } from './reader.js';
import { SshWriter } from './writer.js';

/** Prompts in one INFO_REQUEST or answers in one INFO_RESPONSE beyond this are refused. */
export const MAX_KBDINT_PROMPTS = 64;
/** Bytes of a name, instruction, prompt or answer beyond this are refused. */
const MAX_TEXT = 8192;

export interface KbdIntPrompt {
  prompt: string;
  echo: boolean;
}

/** RFC 4256 §3.2: SSH_MSG_USERAUTH_INFO_REQUEST. */
export interface InfoRequest {
  name: string;
  instruction: string;
  prompts: KbdIntPrompt[];
}

function text(r: SshReader, what: string): string {
  const b = r.string(what);
  if (b.length > MAX_TEXT) throw protocolError(`${what} of ${b.length} bytes is too long`);
  return b.toString('utf8');
}

function count(r: SshReader, what: string): number {
  const n = r.uint32();
  if (n > MAX_KBDINT_PROMPTS) throw protocolError(`${n} ${what} (at most ${MAX_KBDINT_PROMPTS})`);
  return n;
}

export function encodeUserauthKbdInt(user: string, service: string, submethods = ''): Buffer {
  return new SshWriter(128)
    .byte(Msg.USERAUTH_REQUEST)
    .string(user)
    .string(service)
    .string('keyboard-interactive')
    .string('') // language tag, deprecated (RFC 4256 §3.1)
    .string(submethods)
    .finish();
}

export function encodeInfoRequest(req: InfoRequest): Buffer {
  const w = new SshWriter(128)
    .byte(Msg.USERAUTH_INFO_REQUEST)
    .string(req.name)
    .string(req.instruction)
    .string('') // language tag
    .uint32(req.prompts.length);
  for (const p of req.prompts) w.string(p.prompt).boolean(p.echo);
  return w.finish();
}

export function decodeInfoRequest(payload: Buffer): InfoRequest {
  const r = new SshReader(payload, 1);
  const name = text(r, 'name');
  const instruction = text(r, 'instruction');
  r.string('language tag');
  const n = count(r, 'prompts');
  const prompts: KbdIntPrompt[] = [];
  for (let i = 0; i < n; i++) prompts.push({ prompt: text(r, 'prompt'), echo: r.boolean() });
  return { name, instruction, prompts };
}

/** RFC 4256 §3.4: SSH_MSG_USERAUTH_INFO_RESPONSE. */
export function encodeInfoResponse(answers: readonly string[]): Buffer {
  const w = new SshWriter(64).byte(Msg.USERAUTH_INFO_RESPONSE).uint32(answers.length);
  for (const a of answers) w.string(a);
  return w.finish();
}

export function decodeInfoResponse(payload: Buffer): string[] {
  const r = new SshReader(payload, 1);
  const n = count(r, 'responses');
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(text(r, 'response'));
  return out;
}

/** RFC 4252 §8: SSH_MSG_USERAUTH_PASSWD_CHANGEREQ (message 60 while a password request is current). */
export function encodePasswdChangeReq(prompt: string): Buffer {
  return new SshWriter(64).byte(60).string(prompt).string('').finish();
}

export function decodePasswdChangeReq(payload: Buffer): string {
  return text(new SshReader(payload, 1), 'password change prompt');
}

/** RFC 4252 §8: a password request that changes the password. */
export function encodeUserauthPasswordChange(
  user: string,
  service: string,
  oldPassword: string,
  newPassword: string,
): Buffer {
  return new SshWriter(128)
    .byte(Msg.USERAUTH_REQUEST)
    .string(user)
    .string(service)
    .string('password')
    .boolean(true)
    .string(oldPassword)
    .string(newPassword)
    .finish();
}
