import { encodeTerminalModes, type TerminalMode } from '../wire/terminal-modes.js';
import { Channel, type RequestStatus } from './channel.js';

/** Options of `ptyAlloc` (the seed's ptty_alloc options). */
export interface PtyOptions {
  /** TERM (default: this process's TERM, else vt100). */
  term?: string;
  /** Columns (default 80). */
  width?: number;
  /** Rows (default 24). */
  height?: number;
  /** Width in pixels (default 0: unknown). */
  pixelWidth?: number;
  /** Height in pixels (default 0: unknown). */
  pixelHeight?: number;
  /** RFC 4254 §8 modes by mnemonic (`['echo', 0]`) or opcode. */
  modes?: TerminalMode[];
}

/**
 * A session channel (RFC 4254 §6): a channel with the session requests on top. A client asks for
 * a pty, environment, a shell, a command or a subsystem, and sends signals and window changes; a
 * server reports how the command ended with `exitStatus` or `exitSignal`.
 */
export class SessionChannel extends Channel {
  /** Runs a command (RFC 4254 §6.5); its output, exit status and close arrive as messages. */
  exec(command: string, timeout?: number): Promise<RequestStatus> {
    return this.sendRequest({ type: 'exec', wantReply: true, command }, timeout);
  }

  /** Starts the user's shell (RFC 4254 §6.5). */
  shell(timeout?: number): Promise<RequestStatus> {
    return this.sendRequest({ type: 'shell', wantReply: true }, timeout);
  }

  /** Starts a subsystem, e.g. `sftp` (RFC 4254 §6.5). */
  subsystem(name: string, timeout?: number): Promise<RequestStatus> {
    return this.sendRequest({ type: 'subsystem', wantReply: true, name }, timeout);
  }

  /** Passes an environment variable to the shell or command to come (RFC 4254 §6.4). */
  setenv(name: string, value: string, timeout?: number): Promise<RequestStatus> {
    return this.sendRequest({ type: 'env', wantReply: true, name, value }, timeout);
  }

  /** Asks for a pseudo-terminal (RFC 4254 §6.2; the seed's ptty_alloc). */
  ptyAlloc(options: PtyOptions = {}, timeout?: number): Promise<RequestStatus> {
    return this.sendRequest(
      {
        type: 'pty-req',
        wantReply: true,
        terminal: options.term ?? process.env.TERM ?? 'vt100',
        cols: options.width ?? 80,
        rows: options.height ?? 24,
        width: options.pixelWidth ?? 0,
        height: options.pixelHeight ?? 0,
        modes: encodeTerminalModes(options.modes ?? []),
      },
      timeout,
    );
  }

  /** Tells the server the terminal's new size (RFC 4254 §6.7); resolves once written to the socket. */
  async windowChange(cols: number, rows: number, width = 0, height = 0): Promise<void> {
    await this.sendRequest({ type: 'window-change', wantReply: false, cols, rows, width, height });
  }

  /** Delivers a signal (RFC 4254 §6.9): a name without "SIG", e.g. "INT"; resolves once written. */
  async signal(signal: string): Promise<void> {
    await this.sendRequest({ type: 'signal', wantReply: false, signal });
  }

  /** Sends a BREAK of `breakLength` milliseconds (RFC 4335); resolves with the server's answer. */
  sendBreak(breakLength = 0, timeout?: number): Promise<RequestStatus> {
    return this.sendRequest({ type: 'break', wantReply: true, breakLength }, timeout);
  }

  /** Server side: tells the client whether it may do ^S/^Q flow control (RFC 4254 §6.8). */
  async xonXoff(clientCanDo: boolean): Promise<void> {
    await this.sendRequest({ type: 'xon-xoff', wantReply: false, clientCanDo });
  }

  /**
   * Server side: the exit status of the command (RFC 4254 §6.10), after the data queued before
   * it; -1 goes out as 0xFFFFFFFF. Resolves once it has been handed to the socket.
   */
  exitStatus(status: number): Promise<void> {
    return this.sent((done) =>
      this.mux.request(
        this.mc,
        { type: 'exit-status', wantReply: false, status: status >>> 0 },
        undefined,
        done,
      ),
    );
  }

  /** Server side: the signal that ended the command (RFC 4254 §6.10); resolves as `exitStatus`. */
  exitSignal(signal: string, errorMessage = '', coreDumped = false): Promise<void> {
    return this.sent((done) =>
      this.mux.request(
        this.mc,
        { type: 'exit-signal', wantReply: false, signal, coreDumped, errorMessage, language: '' },
        undefined,
        done,
      ),
    );
  }
}
