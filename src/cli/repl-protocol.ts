/** What the daemon's thread and a REPL worker (repl-worker.ts) say to each other. */

/** What the daemon passes to a REPL worker. */
export interface ReplWorkerData {
  flow: Int32Array;
  /** Present when the client asked for a pty. */
  pty?: { columns: number; rows: number; onlcr: boolean; colors: boolean };
  historySize: number;
}

/** Daemon → worker. */
export type ReplInbound =
  | { t: 'in'; data: Uint8Array }
  | { t: 'eof' }
  | { t: 'sigint' }
  | { t: 'resize'; columns: number; rows: number }
  /** The evaluation was terminated in place; drop the Ctrl-C already sent as a key, if asked. */
  | { t: 'interrupted'; dropCtrlC: boolean }
  /** Nothing: it only makes an idle worker run, so that a pending debugger pause takes effect. */
  | { t: 'poke' };

/** Worker → daemon, besides output pieces. */
export type ReplOutbound = { t: 'ack'; n: number } | { t: 'exit' };

/** The name under which the daemon's interrupter finds the safety check (see repl-interrupt.ts). */
export const INTERRUPT_CHECK = Symbol.for('seashell.repl.interruptCheck');
