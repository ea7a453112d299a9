/**
 * What a contestant is to the measures: a server that listens on 127.0.0.1 and can be asked for its
 * CPU time and memory, or a client that runs one kind of operation against a server and says what
 * it cost on its side.
 */
import type { MemorySample } from '../lib/proc.js';

export type ServerId = 'seashell' | 'sshd' | 'ssh2' | 'ssh2-js';
export type ClientId = 'seashell' | 'ssh' | 'ssh2' | 'ssh2-js';

/** Why a row has no number: the feature is missing in Seashell, or elsewhere. */
export interface Missing {
  status: 'not built yet' | 'not available';
  why: string;
}

export type Feature =
  | { kind: 'kex'; name: string }
  | { kind: 'cipher'; name: string }
  | { kind: 'mac'; name: string }
  | { kind: 'compression'; name: string }
  | { kind: 'sftp' }
  | { kind: 'hold' };

export interface Algorithms {
  kex: string;
  cipher: string;
  mac?: string;
  /** A compression method both ways (zlib@openssh.com: after authentication). */
  compression?: string;
}

/** The remote commands a server understands for each bench operation. */
export interface Commands {
  /** Read stdin to its end and discard it; `bytes` lets a server check the count. */
  sink(bytes?: number): string;
  /** Write `bytes` bytes to stdout. */
  source(bytes: number): string;
  /** Exit 0 at once. */
  true: string;
  /** Print a short line. */
  echo: string;
}

export interface ServerHandle {
  id: ServerId;
  label: string;
  /** Set when this server could not be started (then nothing else is used). */
  missing?: Missing;
  port: number;
  commands: Commands;
  /** What this server supports, or why not. */
  supports(f: Feature): Missing | undefined;
  /** CPU seconds used so far by the server (all its processes). */
  cpuSeconds(): Promise<number>;
  /**
   * Anonymous memory of the server's processes (`gc` first for garbage-collected servers); for Node
   * servers also the V8 heap and the young generation's resident bytes.
   */
  memory(gc: boolean): Promise<MemorySample & { heap?: NodeJS.MemoryUsage; young?: number }>;
  /** Waits until the server has finished with the connections that were closed. */
  settle(): Promise<void>;
  /** How it runs, for the report. */
  describe(): string;
  stop(): Promise<void>;
}

export interface OpCost {
  /** Wall time on the client side, ms. */
  ms: number;
  /** CPU seconds on the client side. */
  cpuS: number;
}

export interface HandshakeBatch {
  msEach: number[];
  cpuS: number;
}

export interface Load {
  /** Stops the load; rejects if it failed meanwhile (then nothing measured under it counts). */
  stop(): Promise<void>;
}

export interface Prober {
  probe(count: number): Promise<number[]>;
  close(): Promise<void>;
}

export interface Holder {
  held: number;
  release(): Promise<void>;
}

export interface ClientHandle {
  id: ClientId;
  label: string;
  missing?: Missing;
  supports(f: Feature): Missing | undefined;
  /** One connection, exec, `bytes` bytes up (to `sink`) or down (from `source`), close. */
  transfer(server: ServerHandle, direction: 'up' | 'down', bytes: number, algs: Algorithms): Promise<OpCost>;
  /** `count` sequential connections: kex, publickey auth, exec `true`, close. */
  handshakes(server: ServerHandle, count: number, algs: Algorithms): Promise<HandshakeBatch>;
  /** One SFTP upload (put) or download (get) with the client's default settings. */
  sftp(server: ServerHandle, direction: 'put' | 'get', local: string, remote: string): Promise<OpCost>;
  /** Opens `count` authenticated connections without channels and keeps them. */
  hold(server: ServerHandle, count: number, algs: Algorithms): Promise<Holder>;
  /** Starts `count` connections, each pushing data into `sink` until stopped. */
  startLoad(server: ServerHandle, count: number, algs: Algorithms): Promise<Load>;
  /** A connection of its own on which `echo` round trips are timed. */
  openProber(server: ServerHandle, algs: Algorithms): Promise<Prober>;
  /** How it runs, for the report. */
  describe(): string;
  stop(): Promise<void>;
}
