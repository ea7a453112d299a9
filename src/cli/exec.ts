import { inspect } from 'node:util';
import type { ExecFun, ExecResult } from '../options.js';

/** What an exec produced: text for stdout or stderr, and the seed's exit status (0 or -1). */
export interface ExecOutcome {
  stdout: Buffer;
  stderr: Buffer;
  exitStatus: number;
}

/** The seed: "The term in the return value is formatted to a string if it is a non-string type." */
export function formatTerm(value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (value instanceof Error) return Buffer.from(`${value.name}: ${value.message}`, 'utf8');
  return Buffer.from(inspect(value, { depth: 4, breakLength: 100 }), 'utf8');
}

/** `{ok, R}` to stdout without a trailing newline; `{error, R}` to stderr with one; exit 0 / -1. */
export function outcomeOf(result: ExecResult): ExecOutcome {
  if (result && typeof result === 'object' && 'ok' in result) {
    return { stdout: formatTerm(result.ok), stderr: Buffer.alloc(0), exitStatus: 0 };
  }
  if (result && typeof result === 'object' && 'error' in result) {
    return {
      stdout: Buffer.alloc(0),
      stderr: Buffer.concat([formatTerm(result.error), Buffer.from('\n')]),
      exitStatus: -1,
    };
  }
  return {
    stdout: Buffer.alloc(0),
    stderr: Buffer.from(`exec function returned neither {ok} nor {error}: ${inspect(result)}\n`),
    exitStatus: -1,
  };
}

/** Calls an exec_fun/1,2,3 with as many arguments as it declares (the seed's arity rule). */
export async function runExecFun(
  fun: ExecFun,
  command: string,
  user: string,
  peer: { address: string; port: number },
): Promise<ExecOutcome> {
  try {
    const f = fun as (...a: unknown[]) => ExecResult | Promise<ExecResult>;
    const args = fun.length >= 3 ? [command, user, peer] : fun.length === 2 ? [command, user] : [command];
    return outcomeOf(await f(...args));
  } catch (e) {
    return outcomeOf({ error: e });
  }
}
