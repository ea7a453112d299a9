import { randomBytes } from 'node:crypto';
import { DisconnectReason, SshError, disconnectReasonName, protocolError } from '../errors.js';
import { parsePublicKeyBlob } from '../keys/public-key.js';
import { signData, verifySignature } from '../keys/signature.js';
import type { PrivateKey, PublicKey, SignatureAlgorithm } from '../keys/types.js';
import { Msg } from '../wire/numbers.js';
import {
  decodeDebug,
  decodeDisconnect,
  decodeExtInfo,
  decodeKexInit,
  encodeDisconnect,
  encodeExtInfo,
  encodeKexInit,
  encodeUnimplemented,
  type Debug,
  type KexInit,
  type KexInitLists,
} from '../wire/transport-messages.js';
import {
  CIPHERS,
  EXT_INFO_C,
  EXT_INFO_S,
  gexSettingsOf,
  KEX_METHODS,
  KEX_STRICT_C,
  KEX_STRICT_S,
  MACS,
  type AlgorithmSet,
} from './algorithms.js';
import type { PacketOpener, PacketSealer } from './cipher/types.js';
import { PayloadCompressor, PayloadDecompressor, compressionStart } from './compression.js';
import { deriveKey } from './derive.js';
import type { GexSettings, KexMethodSpec, KexOutcome, KexRound } from './kex/types.js';
import { guessWasWrong, negotiate, type Negotiated } from './negotiate.js';
import { PacketDeframer, PacketFramer, type OpenPacket } from './packet.js';
import { PeerRekeyLimit } from './rekey-limit.js';
import { VersionReader } from './version.js';

export type Role = 'client' | 'server';

export interface TransportConfig {
  role: Role;
  /** Our identification line without CR LF (see version.ts `identification`). */
  identification: string;
  algorithms: AlgorithmSet;
  /** Server: host keys by signature algorithm (an RSA key serves rsa-sha2-256 and rsa-sha2-512). */
  hostKeys?: ReadonlyMap<string, PrivateKey>;
  /** Client: offer ext-info-c (the seed's recv_ext_info). Server: offer ext-info-s and send EXT_INFO (send_ext_info). */
  extInfo: boolean;
  /** Server: the `server-sig-algs` extension value (RFC 8308 §3.1). */
  serverSigAlgs?: readonly string[];
  /** Start a new key exchange after this many bytes in both directions together. */
  rekeyBytes?: number;
  /**
   * Start a new key exchange once the keys are this old, checked when packets move (as OpenSSH
   * does: an idle connection keeps its keys, and needs no timer).
   */
  rekeyMs?: number;
  /** DH group exchange: the client's request sizes, the server's groups and limits (RFC 4419). */
  gex?: GexSettings;
  /**
   * The clock, in ms, for the re-key time limit and the peer's re-key allowance: the core reads
   * no clock of its own, so tests can drive time (default Date.now, given by the I/O edge).
   */
  now?: () => number;
  /**
   * Frees the memory of received chunks the transport has finished with (see
   * PacketDeframer.release); given by the I/O edge when its chunks are its own.
   */
  releaseInput?: (chunks: Buffer[]) => void;
}

/** Callbacks from the transport to the layers above and to the I/O edge. */
export interface TransportHandler {
  /** A message for the layers above (numbers 5-6 and 50 and up), with its sequence number. */
  onMessage(payload: Buffer, seq: number): void;
  /**
   * A message whose payload arrived in several pieces (it spanned socket chunks). Return true
   * when it was handled as pieces (channel data is); false makes the transport join them and
   * call `onMessage`. Called after the same checks as `onMessage`.
   */
  onScatteredMessage?(pieces: Buffer[], seq: number): boolean;
  /** A key exchange finished; `first` is true once per connection, when the session id is set. */
  onKexDone(first: boolean): void;
  /** Client, first key exchange: decide on the server's host key, then call `hostKeyVerdict`. */
  verifyHostKey?(key: PublicKey, algorithm: string): void;
  onExtInfo?(extensions: Map<string, Buffer>): void;
  onDebug?(message: Debug): void;
  /** Bytes are waiting in `takeOutput()`. */
  onOutput(): void;
  /**
   * What waits in `takeOutput()` has reached EARLY_WRITE bytes: the I/O edge may write it now,
   * from inside whatever call produced it, rather than when that call has finished.
   */
  onOutputGrown?(): void;
  /**
   * Input processing stopped (`true`) or started again (`false`): while it is stopped, the I/O
   * edge should stop reading the socket, or received bytes would pile up unprocessed.
   */
  onInputPaused?(paused: boolean): void;
  /** The transport is finished: the peer disconnected (`byPeer`), or we did because of `error`. */
  onClose(error: SshError, byPeer: boolean): void;
}

interface KexState {
  ours: KexInit;
  theirs?: KexInit;
  negotiated?: Negotiated;
  spec?: KexMethodSpec;
  round?: KexRound;
  /** Our ephemeral key, made by `prepareAhead` for the kex we prefer, before the peer's KEXINIT. */
  premade?: { make: () => unknown; key: unknown };
  ignoreNextKexPacket: boolean;
  pendingSealer?: PacketSealer;
  pendingOpener?: PacketOpener;
  sentNewKeys: boolean;
  gotNewKeys: boolean;
  first: boolean;
}

const SOFTWARE_LINE_END = '\r\n';

/**
 * Sealed output worth a write of its own at once (`onOutputGrown`). A WINDOW_ADJUST from a peer
 * we send bulk data to releases a few hundred KiB of queued data; sealing it all before writing
 * any kept the first byte back by the whole batch. Measured through a 50 ms proxy, OpenSSH's
 * `sftp` getting 32 MiB from our daemon (2 MiB window, one grant every ~170 KiB): from a grant
 * reaching the daemon to its first data leaving, median 1.3-1.9 ms before, 0.7-0.8 after (sshd
 * 0.4-0.7); the transfer took 1,033-1,048 ms before, 977-997 after (sshd 959-997). On loopback
 * the extra writes cost nothing measurable (5 rows, 3 rounds of 256 MiB each).
 */
const EARLY_WRITE = 64 * 1024;

/**
 * The SSH transport layer (RFC 4253) as a state machine without I/O: feed it received bytes with
 * `receive`, give it payloads with `send`, and write out what `takeOutput` returns.
 */
export class Transport {
  readonly role: Role;
  private readonly config: TransportConfig;
  private readonly handler: TransportHandler;
  private readonly framer = new PacketFramer();
  private readonly deframer = new PacketDeframer();
  /** Until the peer's identification line is read; dropped after so it holds no buffer. */
  private versionReader: VersionReader | undefined;
  private out: Buffer[] = [];
  private outBytes = 0;
  private deferred: Buffer[] = [];
  private kex: KexState | undefined;
  /** Input processing is paused while a decision (host key, authentication) is outstanding. */
  private pauses = 0;
  private pumping = false;
  private closed = false;
  private hostKeyBlob: Buffer | undefined;
  private awaitingHostKey = false;
  /** Peer identification line, once received. */
  peerIdentification: string | undefined;
  sessionId: Buffer | undefined;
  /** Set after the first NEWKEYS from the peer: before it, only transport messages are accepted. */
  private recvKeyed = false;
  private strict = false;
  /** Set by the layer above once the user is authenticated (re-keys are then allowed by traffic). */
  authenticated = false;
  private readonly peerRekeys = new PeerRekeyLimit();
  private peerWantsExtInfo = false;
  /** Compression of our packets and of the peer's, once on (RFC 4253 §6.2; compression.ts). */
  private compressOut: PayloadCompressor | undefined;
  private decompressIn: PayloadDecompressor | undefined;
  /**
   * What compression saved since the last key exchange, both ways: re-key limits count the data
   * as it was before compression, as OpenSSH's RekeyLimit does (else a compressible stream would
   * re-key rarely here, and OpenSSH's re-keys would look like a flood to the allowance).
   */
  private savedSinceKeys = 0;
  /** zlib@openssh.com was negotiated for that direction and waits for USERAUTH_SUCCESS. */
  private delayedOut = false;
  private delayedIn = false;
  private authSucceeded = false;
  /** The algorithms in use, once the first key exchange has finished. */
  negotiated: Negotiated | undefined;
  private lastSeq = 0;
  /** When the keys in use were installed (ms, by `now`). */
  private keysAt = 0;
  /** The clock (TransportConfig.now). */
  private readonly now: () => number;

  constructor(config: TransportConfig, handler: TransportHandler) {
    this.role = config.role;
    this.config = config;
    this.handler = handler;
    this.now = config.now ?? Date.now;
    this.deframer.release = config.releaseInput;
    this.versionReader = new VersionReader(config.role === 'client');
  }

  /** Sends our identification line and first KEXINIT (RFC 4253 §4.2, §7.1: neither waits for the peer). */
  start(): void {
    this.emit(Buffer.from(this.config.identification + SOFTWARE_LINE_END, 'latin1'));
    this.startKex();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Our identification line without CR LF. */
  get identification(): string {
    return this.config.identification;
  }

  /** True while a key exchange blocks upper-layer sends (they are queued, but bulk data should wait). */
  get sendBlocked(): boolean {
    return this.closed || (this.kex !== undefined && !this.kex.sentNewKeys);
  }

  /** Upper-layer messages held back by a key exchange (they go out after our NEWKEYS). */
  get heldMessages(): number {
    return this.deferred.length;
  }

  /** How many queued upper-layer messages a close dropped unsent (they never reach the socket). */
  droppedAtClose = 0;

  takeOutput(): Buffer[] {
    const o = this.out;
    this.out = [];
    this.outBytes = 0;
    return o;
  }

  /** Bytes waiting in `takeOutput()`: queued output the socket has not been given yet. */
  get outputBytes(): number {
    return this.outBytes;
  }

  /** True while received packets are not being processed (a decision is outstanding). */
  get inputPaused(): boolean {
    return this.pauses > 0;
  }

  /**
   * Work done before it is needed, to take it off the round trips: call once what `takeOutput`
   * returned has been written. While we wait for the peer's KEXINIT (or, on a server, for the
   * client's first kex message), it makes our ephemeral key for the kex we prefer. Cheap when
   * there is nothing to do.
   */
  prepareAhead(): void {
    const kex = this.kex;
    if (this.closed || !kex || kex.theirs || kex.premade) return;
    const spec = KEX_METHODS.get(this.config.algorithms.kex[0] ?? '');
    const make = spec && this.maker(spec);
    if (make) kex.premade = { make, key: make() };
  }

  /** What this side can make ahead for a kex method (see KexMethodSpec.ephemeral). */
  private maker(spec: KexMethodSpec): (() => unknown) | undefined {
    return this.role === 'client' || !spec.ephemeralClientOnly ? spec.ephemeral : spec.serverEphemeral;
  }

  /** Feeds bytes from the peer. Never throws: a bad peer ends in a DISCONNECT and `onClose`. */
  receive(chunk: Buffer): void {
    if (this.closed) return;
    try {
      if (this.peerIdentification === undefined) {
        let r;
        try {
          r = this.versionReader!.push(chunk);
        } catch (e) {
          // Before the identification exchange completes the peer cannot read packets (RFC 4253 §4.2).
          if (this.role === 'server')
            this.emit(Buffer.from('Invalid SSH identification string.\r\n', 'latin1'));
          this.finish(e as SshError, false);
          return;
        }
        if (!r) return;
        this.versionReader = undefined;
        this.peerIdentification = r.line;
        chunk = r.rest;
      }
      this.deframer.push(chunk);
      this.pump();
    } catch (e) {
      this.fail(e);
    }
  }

  private pump(): void {
    if (this.pumping) return; // a synchronous resume inside dispatch: the running loop continues
    this.pumping = true;
    try {
      while (this.pauses === 0 && !this.closed) {
        const pieces = this.deframer.next();
        if (!pieces) break;
        this.lastSeq = (this.deframer.seq - 1) >>> 0;
        if (this.decompressIn) {
          const payload = this.decompressIn.decompress(pieces);
          let wire = 0;
          for (const p of pieces) wire += p.length;
          if (payload.length > wire) this.savedSinceKeys += payload.length - wire;
          this.dispatch([payload]);
        } else this.dispatch(pieces);
      }
    } finally {
      this.pumping = false;
    }
    this.maybeRekey();
  }

  /** Stops acting on received packets until `resumeInput` (bytes keep being buffered). */
  pauseInput(): void {
    if (this.pauses++ === 0) this.handler.onInputPaused?.(true);
  }

  resumeInput(): void {
    if (this.pauses === 0) return;
    this.pauses--;
    if (this.pauses > 0 || this.closed) return;
    this.handler.onInputPaused?.(false);
    if (!this.pumping) {
      try {
        this.pump();
      } catch (e) {
        this.fail(e);
      }
    }
  }

  /** Queues an upper-layer message; during a key exchange it waits until our NEWKEYS is sent. */
  send(payload: Buffer): void {
    if (this.closed) return;
    if (this.sendBlocked) {
      this.deferred.push(payload);
      return;
    }
    this.emit(this.frame(payload));
    // zlib@openssh.com starts right after the server's USERAUTH_SUCCESS (OpenSSH PROTOCOL §2.2).
    if (payload[0] === Msg.USERAUTH_SUCCESS && this.role === 'server') this.startDelayedCompression();
    this.maybeRekey();
  }

  /**
   * Channel data fast path: a packet whose first `headLength` payload bytes the caller writes
   * into `buf` at `payloadOffset`, followed by `body` as it is; then pass it to `sealPacket`.
   */
  openPacket(headLength: number, body?: Buffer): OpenPacket {
    return this.framer.open(headLength, body);
  }

  /** Seals and queues a packet from `openPacket`. Only call while `sendBlocked` is false. */
  sealPacket(p: OpenPacket): void {
    if (this.closed) return;
    if (this.sendBlocked) throw new Error('sealPacket during key exchange');
    if (this.compressOut) {
      // Compression needs the payload whole: join it and frame the compressed bytes instead.
      const head = p.buf.subarray(p.payloadOffset, p.payloadOffset + p.headLength);
      this.emit(this.frame(p.body.length ? Buffer.concat([head, p.body]) : head));
    } else this.emit(this.framer.seal(p));
    // Every sealed packet counts toward the re-key limits, bulk data most of all (RFC 4253 §9).
    // The check is an addition, a comparison and a clock read: at 32 KiB a packet, under 0.1%
    // of the time it takes to seal one.
    this.maybeRekey();
  }

  /** Ends the connection with an SSH_MSG_DISCONNECT (RFC 4253 §11.1). */
  disconnect(reason: number, description: string): void {
    if (this.closed) return;
    const err = new SshError('DISCONNECTED', `disconnected: ${description}`, { reason });
    this.sendDisconnect(reason, description);
    this.finish(err, false);
  }

  /** RFC 4253 §11.4: answer a message number nobody implements. */
  sendUnimplemented(seq: number = this.lastSeq): void {
    this.send(encodeUnimplemented(seq));
  }

  /** Starts a re-key now (no-op while one is running or before the first one ends). */
  rekey(): void {
    if (!this.closed && !this.kex && this.sessionId) this.startKex();
  }

  /** Client: the verdict on the host key offered by `verifyHostKey`. */
  hostKeyVerdict(
    accepted: boolean,
    why = 'host key not accepted',
    code: 'HOST_KEY_NOT_VERIFIED' | 'HOST_KEY_MISMATCH' | 'HOST_KEY_REVOKED' = 'HOST_KEY_NOT_VERIFIED',
  ): void {
    if (this.closed || !this.awaitingHostKey) return;
    this.awaitingHostKey = false;
    if (!accepted) {
      // `why` is for the local user (it may name files under their home): the wire gets a
      // short fixed text (RFC 4253 §11.1's reason code says the rest).
      this.sendDisconnect(DisconnectReason.HOST_KEY_NOT_VERIFIABLE, 'host key not accepted');
      this.finish(new SshError(code, why, { reason: DisconnectReason.HOST_KEY_NOT_VERIFIABLE }), false);
      return;
    }
    try {
      this.sendNewKeys();
    } catch (e) {
      this.fail(e);
      return;
    }
    this.resumeInput();
  }

  /** Frames a whole payload, compressed when compression is on in our direction. */
  private frame(payload: Buffer): Buffer {
    if (!this.compressOut) return this.framer.frame(payload);
    const compressed = this.compressOut.compress(payload);
    if (payload.length > compressed.length) this.savedSinceKeys += payload.length - compressed.length;
    return this.framer.frame(compressed);
  }

  /** Bytes moved both ways since our keys changed, counted before compression. */
  private trafficSinceKeys(): number {
    return this.framer.bytesSinceKeys + this.deframer.bytesSinceKeys + this.savedSinceKeys;
  }

  private emit(bufs: Buffer | Buffer[]): void {
    const wasEmpty = this.out.length === 0;
    if (Array.isArray(bufs)) {
      for (const b of bufs) {
        this.out.push(b);
        this.outBytes += b.length;
      }
    } else {
      this.out.push(bufs);
      this.outBytes += bufs.length;
    }
    if (wasEmpty) this.handler.onOutput();
    else if (this.outBytes >= EARLY_WRITE) this.handler.onOutputGrown?.();
  }

  private sendDisconnect(reason: number, description: string): void {
    try {
      // A disconnect is sent whatever state the kex is in: it is a transport-generic message.
      this.emit(this.frame(encodeDisconnect(reason, description.slice(0, 512))));
    } catch {
      // Nothing more can be sent; closing is all that is left.
    }
  }

  private fail(e: unknown): void {
    if (this.closed) return;
    const err =
      e instanceof SshError
        ? e
        : new SshError('PROTOCOL_ERROR', `internal error: ${(e as Error)?.message ?? String(e)}`, {
            reason: DisconnectReason.PROTOCOL_ERROR,
            cause: e,
          });
    this.sendDisconnect(err.reason ?? DisconnectReason.PROTOCOL_ERROR, err.message);
    this.finish(err, false);
  }

  private finish(err: SshError, byPeer: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.droppedAtClose = this.deferred.length;
    this.deferred = [];
    this.handler.onClose(err, byPeer);
  }

  private dispatch(pieces: Buffer[]): void {
    const type = pieces[0]![0]!;
    const whole = pieces.length === 1 ? pieces[0]! : undefined;
    const payload = (): Buffer => whole ?? Buffer.concat(pieces);
    if (type === Msg.DISCONNECT) {
      const d = decodeDisconnect(payload());
      this.finish(
        new SshError(
          'DISCONNECTED',
          `peer disconnected (${disconnectReasonName(d.reason)}): ${d.description.slice(0, 256)}`,
          { reason: d.reason },
        ),
        true,
      );
      return;
    }
    if (type === Msg.USERAUTH_SUCCESS && this.role === 'client') this.startDelayedCompression();
    const inKex = this.kex?.theirs !== undefined && !this.kex.gotNewKeys;
    if (type >= 20 && type <= 49) {
      this.handleKexMessage(type, payload());
      return;
    }
    if (!this.recvKeyed || inKex) {
      // RFC 4253 §7.1: only transport-generic messages may interleave with a key exchange; OpenSSH's
      // strict kex (PROTOCOL §1.10) forbids even those during the first one. During a re-key, a
      // peer that goes on sending channel messages after its KEXINIT (asyncssh 2.10 does) breaks
      // that rule harmlessly: they are under the old keys and in order, and OpenSSH takes them,
      // so do we. Transport messages (5-19) stay refused.
      const generic = type === Msg.IGNORE || type === Msg.DEBUG || type === Msg.UNIMPLEMENTED;
      const lateUpperLayer = this.recvKeyed && type >= 50;
      if ((!generic && !lateUpperLayer) || (this.strict && !this.recvKeyed)) {
        throw protocolError(
          `unexpected message ${type} during ${this.recvKeyed ? 're-keying' : 'the initial key exchange'}`,
        );
      }
    }
    switch (type) {
      case Msg.IGNORE:
      case Msg.UNIMPLEMENTED:
        return;
      case Msg.DEBUG:
        this.handler.onDebug?.(decodeDebug(payload()));
        return;
      case Msg.EXT_INFO:
        this.handler.onExtInfo?.(decodeExtInfo(payload()));
        return;
    }
    if (type >= 5 && type <= 19 && type !== Msg.SERVICE_REQUEST && type !== Msg.SERVICE_ACCEPT) {
      this.sendUnimplemented(this.lastSeq);
      return;
    }
    // Upper layers may take a payload that spans socket chunks as it lies (channel data does).
    if (!whole && this.handler.onScatteredMessage?.(pieces, this.lastSeq)) return;
    this.handler.onMessage(payload(), this.lastSeq);
  }

  // ---- key exchange -------------------------------------------------------------------------

  private startKex(): void {
    const first = this.sessionId === undefined;
    const a = this.config.algorithms;
    const client = this.role === 'client';
    const kexList = [...a.kex];
    if (first) {
      // Markers ride only in the first KEXINIT (RFC 8308 §2.1, OpenSSH PROTOCOL §1.10).
      if (this.config.extInfo) kexList.push(client ? EXT_INFO_C : EXT_INFO_S);
      kexList.push(client ? KEX_STRICT_C : KEX_STRICT_S);
    }
    let hostKeyList = a.publicKey;
    if (!client) hostKeyList = a.publicKey.filter((alg) => this.config.hostKeys?.has(alg));
    const lists: KexInitLists = {
      kex: kexList,
      hostKey: hostKeyList,
      cipherC2S: a.cipher.clientToServer,
      cipherS2C: a.cipher.serverToClient,
      macC2S: a.mac.clientToServer,
      macS2C: a.mac.serverToClient,
      compressionC2S: a.compression.clientToServer,
      compressionS2C: a.compression.serverToClient,
      languageC2S: [],
      languageS2C: [],
    };
    const cookie = randomBytes(16);
    const payload = encodeKexInit(cookie, lists);
    this.kex = {
      // What decodeKexInit(payload) would give back, without parsing our own bytes again.
      ours: { ...lists, cookie, firstKexPacketFollows: false, payload },
      ignoreNextKexPacket: false,
      sentNewKeys: false,
      gotNewKeys: false,
      first,
    };
    this.emit(this.frame(payload));
  }

  private handleKexMessage(type: number, payload: Buffer): void {
    if (type === Msg.KEXINIT) {
      this.onKexInit(payload);
      return;
    }
    const kex = this.kex;
    if (!kex?.theirs) throw protocolError(`unexpected key exchange message ${type} outside a key exchange`);
    if (type === Msg.NEWKEYS) {
      this.onNewKeys(kex);
      return;
    }
    if (kex.ignoreNextKexPacket) {
      kex.ignoreNextKexPacket = false;
      return;
    }
    if (!kex.round || kex.pendingOpener) throw protocolError(`unexpected key exchange message ${type}`);
    const step = kex.round.receive(payload);
    if (step.send) for (const p of step.send) this.emit(this.frame(p));
    if (step.done) this.onKexOutcome(kex, step.done);
  }

  private onKexInit(payload: Buffer): void {
    if (!this.kex) {
      // The peer started a re-key: within its allowance (see rekey-limit.ts).
      if (!this.peerRekeys.allow(this.now(), this.trafficSinceKeys(), this.authenticated)) {
        throw new SshError('FLOODED', 'the peer started re-keys faster than allowed', {
          reason: DisconnectReason.BY_APPLICATION,
        });
      }
      this.startKex();
    }
    const kex = this.kex!;
    if (kex.theirs) throw protocolError('second KEXINIT during one key exchange');
    const theirs = decodeKexInit(payload);
    kex.theirs = theirs;
    const client = this.role === 'client' ? kex.ours : theirs;
    const server = this.role === 'client' ? theirs : kex.ours;
    if (kex.first) {
      this.strict = client.kex.includes(KEX_STRICT_C) && server.kex.includes(KEX_STRICT_S);
      // OpenSSH PROTOCOL §1.10: under strict kex, KEXINIT must be the very first packet.
      if (this.strict && this.deframer.seq !== 1) {
        throw protocolError('strict key exchange violation: KEXINIT was not the first packet');
      }
      if (this.role === 'server')
        this.peerWantsExtInfo = this.config.extInfo && client.kex.includes(EXT_INFO_C);
    }
    const n = negotiate(client, server);
    kex.negotiated = n;
    if (theirs.firstKexPacketFollows && guessWasWrong(client, server, n)) kex.ignoreNextKexPacket = true;
    const spec = KEX_METHODS.get(n.kex);
    if (!spec)
      throw protocolError(`negotiated unsupported kex ${n.kex}`, DisconnectReason.KEY_EXCHANGE_FAILED);
    kex.spec = spec;
    const premade = kex.premade && kex.premade.make === this.maker(spec) ? kex.premade.key : undefined;
    kex.premade = undefined;
    const isClient = this.role === 'client';
    const hostKey = isClient ? undefined : this.config.hostKeys?.get(n.hostKey);
    if (!isClient && !hostKey)
      throw protocolError(`no host key for ${n.hostKey}`, DisconnectReason.KEY_EXCHANGE_FAILED);
    kex.round = spec.create(
      {
        role: this.role,
        vc: isClient ? this.config.identification : this.peerIdentification!,
        vs: isClient ? this.peerIdentification! : this.config.identification,
        ic: isClient ? kex.ours.payload : theirs.payload,
        is: isClient ? theirs.payload : kex.ours.payload,
        hostKey: hostKey && {
          blob: hostKey.publicKey.blob,
          sign: (h) => signData(hostKey, n.hostKey as SignatureAlgorithm, h),
        },
        gex: this.config.gex ?? gexSettingsOf(this.config.algorithms),
        needBits: needBits(n),
      },
      premade,
    );
    for (const p of kex.round.start()) this.emit(this.frame(p));
  }

  /** The round ended: the server has sent its reply; a client checks the server's signature. */
  private onKexOutcome(kex: KexState, o: KexOutcome): void {
    kex.round = undefined;
    if (this.role === 'server') {
      this.sessionId ??= o.h;
      this.prepareKeys(kex, o.k, o.h);
      this.sendNewKeys();
      return;
    }
    const n = kex.negotiated!;
    let key: PublicKey;
    try {
      key = parsePublicKeyBlob(o.hostKey);
    } catch (e) {
      throw protocolError(
        `server host key is unusable: ${(e as Error).message}`,
        DisconnectReason.KEY_EXCHANGE_FAILED,
      );
    }
    if (!verifySignature(key, n.hostKey as SignatureAlgorithm, o.signature, o.h)) {
      throw protocolError(
        `server's ${n.hostKey} signature over the exchange hash does not verify`,
        DisconnectReason.KEY_EXCHANGE_FAILED,
      );
    }
    this.prepareKeys(kex, o.k, o.h);
    if (kex.first) {
      this.sessionId = o.h;
      this.hostKeyBlob = o.hostKey;
      if (this.handler.verifyHostKey) {
        this.awaitingHostKey = true;
        this.pauseInput();
        this.handler.verifyHostKey(key, n.hostKey);
        return;
      }
    } else if (!this.hostKeyBlob!.equals(o.hostKey)) {
      throw protocolError(
        'server host key changed during re-keying',
        DisconnectReason.HOST_KEY_NOT_VERIFIABLE,
      );
    }
    this.sendNewKeys();
  }

  /** RFC 4253 §7.2: derive both directions' keys; they take effect at the NEWKEYS of each direction. */
  private prepareKeys(kex: KexState, k: Buffer, h: Buffer): void {
    const n = kex.negotiated!;
    const hash = kex.spec!.hash;
    const sid = this.sessionId ?? h;
    const derive = (letter: string, len: number) => deriveKey(hash, k, h, letter, sid, len);
    const build = (cipherName: string, macName: string, ivL: string, keyL: string, macL: string) => {
      const c = CIPHERS.get(cipherName)!;
      const mac = macName ? MACS.get(macName) : undefined;
      const iv = derive(ivL, c.ivLength);
      const key = derive(keyL, c.keyLength);
      const macKey = mac ? { spec: mac, key: derive(macL, mac.keyLength) } : undefined;
      return { c, iv, key, macKey };
    };
    const c2s = build(n.cipherC2S, n.macC2S, 'A', 'C', 'E');
    const s2c = build(n.cipherS2C, n.macS2C, 'B', 'D', 'F');
    const [send, recv] = this.role === 'client' ? [c2s, s2c] : [s2c, c2s];
    kex.pendingSealer = send.c.sealer(send.key, send.iv, send.macKey);
    kex.pendingOpener = recv.c.opener(recv.key, recv.iv, recv.macKey);
  }

  private sendNewKeys(): void {
    const kex = this.kex!;
    this.emit(this.frame(Buffer.from([Msg.NEWKEYS])));
    this.framer.setSealer(kex.pendingSealer!);
    const n = kex.negotiated!;
    const out = compressionStart(this.role === 'client' ? n.compressionC2S : n.compressionS2C);
    this.delayedOut = out === 'delayed' && !this.authSucceeded;
    // RFC 4253 §6.2: "The compression context is initialized after each key exchange" (OpenSSH
    // restarts its zlib streams at every NEWKEYS too): a fresh stream, not the old dictionary.
    this.compressOut = out === 'never' || this.delayedOut ? undefined : new PayloadCompressor();
    if (this.strict) this.framer.seq = 0;
    kex.sentNewKeys = true;
    if (kex.first && this.role === 'server' && this.peerWantsExtInfo) {
      // RFC 8308 §2.4: the server's EXT_INFO goes as the first packet after its NEWKEYS.
      const ext = new Map<string, string>([['server-sig-algs', (this.config.serverSigAlgs ?? []).join(',')]]);
      this.emit(this.frame(encodeExtInfo(ext)));
    }
    const queued = this.deferred;
    this.deferred = [];
    for (const p of queued) this.emit(this.frame(p));
    if (kex.gotNewKeys) this.endKex(kex);
  }

  private onNewKeys(kex: KexState): void {
    if (!kex.pendingOpener || kex.gotNewKeys) throw protocolError('NEWKEYS before the key exchange finished');
    this.deframer.setOpener(kex.pendingOpener);
    const n = kex.negotiated!;
    const into = compressionStart(this.role === 'client' ? n.compressionS2C : n.compressionC2S);
    this.delayedIn = into === 'delayed' && !this.authSucceeded;
    this.decompressIn = into === 'never' || this.delayedIn ? undefined : new PayloadDecompressor();
    if (this.strict) this.deframer.seq = 0;
    kex.gotNewKeys = true;
    this.recvKeyed = true;
    if (kex.sentNewKeys) this.endKex(kex);
  }

  private endKex(kex: KexState): void {
    this.kex = undefined;
    this.savedSinceKeys = 0;
    this.keysAt = this.now();
    this.negotiated = kex.negotiated;
    this.handler.onKexDone(kex.first);
  }

  /** USERAUTH_SUCCESS went out (server) or came in (client): delayed compression starts now. */
  private startDelayedCompression(): void {
    this.authSucceeded = true;
    if (this.delayedOut) this.compressOut ??= new PayloadCompressor();
    if (this.delayedIn) this.decompressIn ??= new PayloadDecompressor();
    this.delayedOut = this.delayedIn = false;
  }

  /** Starts a re-key when the byte or time limit is reached (after every packet sent or received). */
  maybeRekey(): void {
    if (this.kex || !this.sessionId || this.closed) return;
    const { rekeyBytes, rekeyMs } = this.config;
    if (
      (rekeyBytes !== undefined && this.trafficSinceKeys() >= rekeyBytes) ||
      (rekeyMs !== undefined && this.now() - this.keysAt >= rekeyMs)
    ) {
      this.startKex();
    }
  }
}

/**
 * OpenSSH's kex->we_need, in bits (kex.c kex_choose_conf): the largest key, IV or MAC key length
 * of the negotiated algorithms over both directions. (A cipher's block size is never larger than
 * its key here, so it is left out.)
 */
function needBits(n: Negotiated): number {
  let bytes = 0;
  for (const [cipher, mac] of [
    [n.cipherC2S, n.macC2S],
    [n.cipherS2C, n.macS2C],
  ] as const) {
    const c = CIPHERS.get(cipher);
    if (c) bytes = Math.max(bytes, c.keyLength, c.ivLength);
    const m = mac ? MACS.get(mac) : undefined;
    if (m) bytes = Math.max(bytes, m.keyLength);
  }
  return bytes * 8;
}
