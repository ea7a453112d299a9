import { connect, type Socket } from 'node:net';
import { SshError } from '../errors.js';
import { SshReader } from '../wire/reader.js';
import { SshWriter } from '../wire/writer.js';
import { encodePrivateFields } from './openssh-private.js';
import { parsePublicKeyBlob } from './public-key.js';
import type { PrivateKey, PublicKey, SignatureAlgorithm } from './types.js';

/**
 * An ssh-agent client (draft-ietf-sshm-ssh-agent; OpenSSH's PROTOCOL.agent): messages framed as
 * uint32 length + payload over the agent's Unix socket, one request at a time, answered in order.
 */
const Agent = {
  FAILURE: 5,
  SUCCESS: 6,
  REQUEST_IDENTITIES: 11,
  IDENTITIES_ANSWER: 12,
  SIGN_REQUEST: 13,
  SIGN_RESPONSE: 14,
  ADD_IDENTITY: 17,
  REMOVE_IDENTITY: 18,
  REMOVE_ALL_IDENTITIES: 19,
  LOCK: 22,
  UNLOCK: 23,
  ADD_ID_CONSTRAINED: 25,
} as const;

/** Sign request flags: which RSA signature to make (the key alone says ssh-rsa, SHA-1). */
const RSA_SHA2_256 = 2;
const RSA_SHA2_512 = 4;
const CONSTRAIN_LIFETIME = 1;
const CONSTRAIN_CONFIRM = 2;

/** A reply larger than this is refused: an agent holding thousands of RSA keys stays well under. */
const MAX_REPLY = 256 * 1024;
/** How long one request may wait for the agent (a confirm constraint waits on a person). */
const REQUEST_TIMEOUT_MS = 60_000;

/** A key the agent holds: its public key (parsed when this library can use it) and comment. */
export interface AgentIdentity {
  /** The public key blob. */
  blob: Buffer;
  /** The comment the key was added with. */
  comment: string;
  /** Undefined for key types Seashell cannot use (e.g. certificates, DSA). */
  publicKey?: PublicKey;
}

/** Constraints and comment for `AgentClient.add`. */
export interface AddOptions {
  /** Seconds the agent keeps the key. */
  lifetime?: number;
  /** The agent asks for confirmation (ssh-askpass) each time the key is used. */
  confirm?: boolean;
  /** The comment the agent lists (default the key's own). */
  comment?: string;
}

function agentError(message: string, cause?: unknown): SshError {
  return new SshError('AGENT_ERROR', message, cause === undefined ? undefined : { cause });
}

/** A connection to a running ssh-agent. */
export class AgentClient {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly pending: {
    resolve: (p: Buffer) => void;
    reject: (e: SshError) => void;
    timer: NodeJS.Timeout;
  }[] = [];
  private failed: SshError | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('error', (e) => this.fail(agentError(`the agent connection failed: ${e.message}`, e)));
    socket.on('close', () => this.fail(agentError('the agent closed the connection')));
  }

  /** Connects to the agent at `path` (default `SSH_AUTH_SOCK`). */
  static connect(path: string | undefined = process.env.SSH_AUTH_SOCK): Promise<AgentClient> {
    if (!path) return Promise.reject(agentError('no agent: SSH_AUTH_SOCK is not set'));
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('error', (e) => reject(agentError(`cannot reach the agent at ${path}: ${e.message}`, e)));
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(new AgentClient(s));
      });
    });
  }

  /** The keys the agent holds (SSH_AGENTC_REQUEST_IDENTITIES). */
  async list(): Promise<AgentIdentity[]> {
    const p = await this.request(Buffer.of(Agent.REQUEST_IDENTITIES), Agent.IDENTITIES_ANSWER);
    const r = new SshReader(p, 1);
    const n = r.uint32();
    if (n > 4096) throw agentError(`the agent claims ${n} keys`);
    const out: AgentIdentity[] = [];
    for (let i = 0; i < n; i++) {
      const blob = Buffer.from(r.string('key blob'));
      const comment = r.utf8('comment');
      let publicKey: PublicKey | undefined;
      try {
        publicKey = parsePublicKeyBlob(blob);
      } catch {
        publicKey = undefined;
      }
      out.push({ blob, comment, publicKey });
    }
    return out;
  }

  /** An SSH signature blob (RFC 4253 §6.6) over `data` by the agent's key `key`. */
  async sign(key: PublicKey | Buffer, algorithm: SignatureAlgorithm, data: Buffer): Promise<Buffer> {
    const blob = Buffer.isBuffer(key) ? key : key.blob;
    const flags =
      algorithm === 'rsa-sha2-256' ? RSA_SHA2_256 : algorithm === 'rsa-sha2-512' ? RSA_SHA2_512 : 0;
    const req = new SshWriter(blob.length + data.length + 32)
      .byte(Agent.SIGN_REQUEST)
      .string(blob)
      .string(data)
      .uint32(flags)
      .finish();
    const p = await this.request(req, Agent.SIGN_RESPONSE);
    const r = new SshReader(p, 1);
    const sig = Buffer.from(r.string('signature'));
    const made = new SshReader(sig).ascii('signature algorithm');
    if (made !== algorithm) throw agentError(`the agent made a ${made} signature, not ${algorithm}`);
    return sig;
  }

  /** Gives the agent a private key (SSH_AGENTC_ADD_IDENTITY, or ADD_ID_CONSTRAINED with options). */
  async add(key: PrivateKey, options: AddOptions = {}): Promise<void> {
    const constrained = options.lifetime !== undefined || options.confirm === true;
    const w = new SshWriter(2048).byte(constrained ? Agent.ADD_ID_CONSTRAINED : Agent.ADD_IDENTITY);
    encodePrivateFields(w, key);
    w.string(options.comment ?? key.comment);
    if (options.lifetime !== undefined) {
      if (!Number.isInteger(options.lifetime) || options.lifetime < 1 || options.lifetime > 0xffffffff)
        throw new SshError(
          'BAD_OPTION',
          `lifetime must be a positive number of seconds, got ${options.lifetime}`,
        );
      w.byte(CONSTRAIN_LIFETIME).uint32(options.lifetime);
    }
    if (options.confirm) w.byte(CONSTRAIN_CONFIRM);
    await this.request(w.finish(), Agent.SUCCESS, 'add the key');
  }

  /** Removes one key (SSH_AGENTC_REMOVE_IDENTITY). */
  async remove(key: PublicKey | Buffer): Promise<void> {
    const blob = Buffer.isBuffer(key) ? key : key.blob;
    const req = new SshWriter(blob.length + 16).byte(Agent.REMOVE_IDENTITY).string(blob).finish();
    await this.request(req, Agent.SUCCESS, 'remove the key');
  }

  /** Removes every key (SSH_AGENTC_REMOVE_ALL_IDENTITIES). */
  async removeAll(): Promise<void> {
    await this.request(Buffer.of(Agent.REMOVE_ALL_IDENTITIES), Agent.SUCCESS, 'remove all keys');
  }

  /** Locks the agent with a password: it lists no keys and signs nothing until unlocked. */
  async lock(password: string): Promise<void> {
    await this.request(new SshWriter(64).byte(Agent.LOCK).string(password).finish(), Agent.SUCCESS, 'lock');
  }

  /** Unlocks an agent locked with `lock` (SSH_AGENTC_UNLOCK). */
  async unlock(password: string): Promise<void> {
    const req = new SshWriter(64).byte(Agent.UNLOCK).string(password).finish();
    await this.request(req, Agent.SUCCESS, 'unlock (wrong password?)');
  }

  /** Closes the socket to the agent. */
  close(): void {
    this.socket.destroy();
  }

  private request(payload: Buffer, expect: number, what?: string): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(agentError(`the agent did not answer within ${REQUEST_TIMEOUT_MS} ms`)),
        REQUEST_TIMEOUT_MS,
      );
      timer.unref();
      this.pending.push({ resolve, reject, timer });
      const frame = Buffer.alloc(4);
      frame.writeUInt32BE(payload.length);
      this.socket.write(Buffer.concat([frame, payload]));
    }).then((reply) => {
      if (reply[0] === expect) return reply;
      if (reply[0] === Agent.FAILURE) throw agentError(`the agent refused to ${what ?? 'answer'}`);
      throw agentError(`unexpected agent message ${reply[0]} (expected ${expect})`);
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 4) {
      const n = this.buffer.readUInt32BE(0);
      if (n === 0 || n > MAX_REPLY) {
        this.fail(agentError(`agent reply of ${n} bytes`));
        this.socket.destroy();
        return;
      }
      if (this.buffer.length < 4 + n) return;
      const payload = this.buffer.subarray(4, 4 + n);
      this.buffer = this.buffer.subarray(4 + n);
      const p = this.pending.shift();
      if (!p) {
        this.fail(agentError('the agent sent a reply to nothing'));
        this.socket.destroy();
        return;
      }
      clearTimeout(p.timer);
      p.resolve(Buffer.from(payload));
    }
  }

  private fail(e: SshError): void {
    this.failed ??= e;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(e);
    }
  }
}
