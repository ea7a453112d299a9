import { protocolError } from '../errors.js';
import { Msg } from '../wire/numbers.js';
import type { UserauthRequest } from '../wire/auth-messages.js';
import {
  decodeInfoRequest,
  decodeInfoResponse,
  encodeInfoRequest,
  encodeInfoResponse,
  encodeUserauthKbdInt,
  type KbdIntPrompt,
} from '../wire/kbdint-messages.js';
import {
  CONNECTION_SERVICE,
  type ClientAuthMethod,
  type ClientMethodContext,
  type KbdIntData,
  type ServerAuthMethod,
  type ServerMethodContext,
  type Verdict,
} from './method.js';

/** Bytes of one answer from the `keyboardInteractive` callback beyond this are refused. */
const MAX_ANSWER = 1024;
/** Keyboard-interactive requests one connection makes with a callback to answer (OpenSSH's NumberOfPasswordPrompts). */
const CALLBACK_TRIES = 3;

/**
 * RFC 4256, client. Each INFO_REQUEST is answered from the `keyboardInteractive` callback when
 * there is one; otherwise a single prompt that does not echo gets the `password` option (once),
 * a request with no prompts an empty response (§3.4), and anything else `askKbdInt` (the
 * terminal). What none of them can answer gives the method up: the next one is tried (a new
 * request ends the exchange, §3.1). At most three requests per connection.
 */
export class KbdIntClient implements ClientAuthMethod {
  readonly name = 'keyboard-interactive';
  private tries = 0;
  /** The password option answered a prompt already (a second request would only repeat it). */
  private passwordSent = false;
  /** askKbdInt found nobody to ask: it is not asked again. */
  private noOneToAsk = false;

  start(ctx: ClientMethodContext): boolean {
    const { keyboardInteractive, password, askKbdInt } = ctx.config;
    const canAnswer =
      keyboardInteractive !== undefined ||
      (password !== undefined && !this.passwordSent) ||
      (askKbdInt !== undefined && !this.noOneToAsk);
    if (!canAnswer || this.tries >= CALLBACK_TRIES) return false;
    this.tries++;
    ctx.tried('keyboard-interactive');
    ctx.send(encodeUserauthKbdInt(ctx.config.user, CONNECTION_SERVICE));
    return true;
  }

  message(payload: Buffer, ctx: ClientMethodContext): void {
    if (payload[0] !== Msg.USERAUTH_INFO_REQUEST) {
      throw protocolError(`unexpected message ${payload[0]} during keyboard-interactive`);
    }
    const req = decodeInfoRequest(payload);
    // The callback first; else the password option for a single no-echo prompt (or nothing for
    // no prompt, §3.4); else the terminal.
    const { keyboardInteractive, askKbdInt } = ctx.config;
    const password = this.passwordSent ? undefined : ctx.config.password;
    const defaults = keyboardInteractive ? undefined : defaultAnswers(req.prompts, password);
    if (defaults) {
      if (defaults.length > 0) this.passwordSent = true;
      ctx.send(encodeInfoResponse(defaults));
      return;
    }
    const terminal = !keyboardInteractive && !this.noOneToAsk ? askKbdInt : undefined;
    const answerer = keyboardInteractive ?? terminal;
    if (!answerer) {
      ctx.tried(
        `keyboard-interactive (cannot answer ${describe(req.prompts)} without a keyboardInteractive callback or a terminal)`,
      );
      ctx.giveUp();
      return;
    }
    Promise.resolve()
      .then(() => answerer(req.name, req.instruction, req.prompts))
      .then(
        (answers) => {
          if (ctx.done) return;
          if (answers === undefined && terminal) {
            this.noOneToAsk = true;
            ctx.tried(`keyboard-interactive (no terminal to answer ${describe(req.prompts)} on)`);
            ctx.giveUp();
            return;
          }
          // A request without prompts (PAM's last step through sshd) is answered with an empty
          // response whatever array the callback gave: it was called to show name and instruction.
          if (Array.isArray(answers) && req.prompts.length === 0) {
            ctx.send(encodeInfoResponse([]));
            return;
          }
          if (
            !Array.isArray(answers) ||
            answers.length !== req.prompts.length ||
            answers.some((a) => typeof a !== 'string' || Buffer.byteLength(a) > MAX_ANSWER)
          ) {
            ctx.tried(`keyboard-interactive (no answers for ${describe(req.prompts)})`);
            ctx.giveUp();
            return;
          }
          ctx.send(encodeInfoResponse(answers));
        },
        (e: unknown) => {
          if (ctx.done) return;
          ctx.tried(`keyboard-interactive (keyboardInteractive failed: ${(e as Error)?.message ?? e})`);
          ctx.giveUp();
        },
      );
  }
}

function defaultAnswers(prompts: KbdIntPrompt[], password: string | undefined): string[] | undefined {
  if (prompts.length === 0) return [];
  if (prompts.length === 1 && !prompts[0]!.echo && password !== undefined) return [password];
  return undefined;
}

function describe(prompts: KbdIntPrompt[]): string {
  return `${prompts.length} prompt(s): ${prompts.map((p) => JSON.stringify(p.prompt.slice(0, 40))).join(', ')}`;
}

/**
 * RFC 4256, server: one INFO_REQUEST with the daemon's text (the seed's
 * auth_method_kb_interactive_data), and its one answer checked as a password.
 */
export class KbdIntServer implements ServerAuthMethod {
  private user: string | undefined;

  abandon(): void {
    this.user = undefined;
  }

  async request(req: UserauthRequest, ctx: ServerMethodContext): Promise<Verdict> {
    if (req.method !== 'keyboard-interactive' || !ctx.link.kbdIntData) {
      return { result: 'failure', why: 'keyboard-interactive is not offered' };
    }
    const d = await ctx.link.kbdIntData(req.user, req.service);
    this.user = req.user;
    ctx.send(
      encodeInfoRequest({
        name: d.name,
        instruction: d.instruction,
        prompts: [{ prompt: d.prompt, echo: d.echo }],
      }),
    );
    return { result: 'continue' };
  }

  message(payload: Buffer, ctx: ServerMethodContext): Promise<Verdict> {
    const user = this.user;
    if (payload[0] !== Msg.USERAUTH_INFO_RESPONSE || user === undefined) {
      throw protocolError(`unexpected message ${payload[0]} during keyboard-interactive`);
    }
    this.user = undefined;
    const answers = decodeInfoResponse(payload);
    return this.check(user, answers, ctx);
  }

  private async check(user: string, answers: string[], ctx: ServerMethodContext): Promise<Verdict> {
    if (answers.length !== 1) {
      return { result: 'failure', why: `${answers.length} answers to one prompt` };
    }
    const v = await ctx.link.checkPassword(user, answers[0]!);
    if (v === 'disconnect') return { result: 'disconnect', why: 'disconnected by the password check' };
    return v === true ? { result: 'success' } : { result: 'failure', why: 'wrong password' };
  }
}

/** The seed's default auth_method_kb_interactive_data: {"SSH server", "Enter password for \"User\"", "password: ", false}. */
export function defaultKbdIntData(user: string): KbdIntData {
  return {
    name: 'SSH server',
    instruction: `Enter password for "${user}"`,
    prompt: 'password: ',
    echo: false,
  };
}
