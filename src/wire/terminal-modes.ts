import { SshReader } from './reader.js';
import { SshWriter } from './writer.js';

/** RFC 4254 §8 terminal mode opcodes, by their lower-case mnemonic (the seed's atoms). */
export const TERMINAL_MODE_OPCODES: Readonly<Record<string, number>> = {
  vintr: 1,
  vquit: 2,
  verase: 3,
  vkill: 4,
  veof: 5,
  veol: 6,
  veol2: 7,
  vstart: 8,
  vstop: 9,
  vsusp: 10,
  vdsusp: 11,
  vreprint: 12,
  vwerase: 13,
  vlnext: 14,
  vflush: 15,
  vswtch: 16,
  vstatus: 17,
  vdiscard: 18,
  ignpar: 30,
  parmrk: 31,
  inpck: 32,
  istrip: 33,
  inlcr: 34,
  igncr: 35,
  icrnl: 36,
  iuclc: 37,
  ixon: 38,
  ixany: 39,
  ixoff: 40,
  imaxbel: 41,
  iutf8: 42,
  isig: 50,
  icanon: 51,
  xcase: 52,
  echo: 53,
  echoe: 54,
  echok: 55,
  echonl: 56,
  noflsh: 57,
  tostop: 58,
  iexten: 59,
  echoctl: 60,
  echoke: 61,
  pendin: 62,
  opost: 70,
  olcuc: 71,
  onlcr: 72,
  ocrnl: 73,
  onocr: 74,
  onlret: 75,
  cs7: 90,
  cs8: 91,
  parenb: 92,
  parodd: 93,
  tty_op_ispeed: 128,
  tty_op_ospeed: 129,
};

const NAMES = new Map(Object.entries(TERMINAL_MODE_OPCODES).map(([k, v]) => [v, k]));

/** One mode: its mnemonic when RFC 4254 names it, else the opcode. */
export type TerminalMode = [opcode: string | number, value: number];

/** More modes than any terminal has (RFC 4254 §8 defines 64): a request with more is refused. */
export const MAX_TERMINAL_MODES = 256;

/**
 * Decodes the `encoded terminal modes` string; stops at TTY_OP_END or at opcodes 160+ whose
 * arguments are undefined. Returns undefined when there are more than MAX_TERMINAL_MODES.
 */
export function decodeTerminalModes(modes: Buffer): TerminalMode[] | undefined {
  const r = new SshReader(modes);
  const out: TerminalMode[] = [];
  while (r.remaining > 0) {
    if (out.length === MAX_TERMINAL_MODES) return undefined;
    const op = r.byte();
    if (op === 0 || op >= 160 || r.remaining < 4) break;
    out.push([NAMES.get(op) ?? op, r.uint32()]);
  }
  return out;
}

export function encodeTerminalModes(modes: readonly TerminalMode[]): Buffer {
  const w = new SshWriter(5 * modes.length + 1);
  for (const [op, value] of modes) {
    const code = typeof op === 'number' ? op : TERMINAL_MODE_OPCODES[op];
    if (code === undefined || code <= 0 || code >= 160) continue;
    w.byte(code).uint32(value);
  }
  return w.byte(0).finish();
}
