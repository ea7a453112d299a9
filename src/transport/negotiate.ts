import { DisconnectReason, protocolError } from '../errors.js';
import type { KexInit } from '../wire/transport-messages.js';
import { CIPHERS, KEX_PSEUDO, MACS } from './algorithms.js';
import { RFC5647_GCM } from './cipher/aes-gcm.js';

/** What both sides agreed on in one KEXINIT exchange. */
export interface Negotiated {
  /** Key exchange method. */
  kex: string;
  /** Host key algorithm. */
  hostKey: string;
  /** Cipher of data the client sends. */
  cipherC2S: string;
  /** Cipher of data the server sends. */
  cipherS2C: string;
  /** Empty when the cipher is OpenSSH AEAD; the cipher's own name for RFC 5647's AEAD_AES_*_GCM. */
  macC2S: string;
  /** MAC of data the server sends (empty as macC2S is). */
  macS2C: string;
  /** Compression of data the client sends. */
  compressionC2S: string;
  /** Compression of data the server sends. */
  compressionS2C: string;
}

/**
 * One copy of each negotiated name for the process. A name split out of the peer's name-list is a
 * V8 sliced string that keeps the whole list alive; stored in a connection's negotiated state, it
 * held the peer's cipher, MAC and kex lists (~500 bytes) for the connection's life. Bounded: only
 * names both sides support are chosen, so only names this implementation knows reach this map.
 */
const interned = new Map<string, string>();
function intern(name: string): string {
  let own = interned.get(name);
  if (own === undefined) {
    own = Buffer.from(name, 'latin1').toString('latin1'); // a flat string of its own
    interned.set(own, own);
  }
  return own;
}

function choose(what: string, client: string[], server: string[]): string {
  const offered = new Set(server);
  for (const name of client) {
    if (!KEX_PSEUDO.has(name) && offered.has(name)) return intern(name);
  }
  throw protocolError(
    `no common ${what} algorithm (client offers ${client.join(',') || 'none'}; server offers ${server.join(',') || 'none'})`,
    DisconnectReason.KEY_EXCHANGE_FAILED,
  );
}

/**
 * The cipher and MAC of one direction. OpenSSH's AEAD ciphers ignore the MAC lists (PROTOCOL
 * §1.6, PROTOCOL.chacha20poly1305), so no MAC needs to match. RFC 5647 §5.1 couples its GCM
 * names instead: if AEAD_AES_*_GCM is chosen as the cipher it is also the MAC, and if it is
 * chosen as the MAC it is also the cipher (the choice Erlang/OTP ssh makes when the two lists
 * disagree; the cipher's choice wins when both are GCM of different sizes).
 */
function chooseCipherAndMac(
  dir: string,
  client: { cipher: string[]; mac: string[] },
  server: { cipher: string[]; mac: string[] },
): [cipher: string, mac: string] {
  const cipher = choose(`${dir} cipher`, client.cipher, server.cipher);
  if (RFC5647_GCM.has(cipher)) return [cipher, cipher];
  if (CIPHERS.get(cipher)?.aead) return [cipher, ''];
  const mac = choose(`${dir} MAC`, client.mac, server.mac);
  if (RFC5647_GCM.has(mac)) return [mac, mac];
  if (!MACS.has(mac))
    throw protocolError(`negotiated unknown MAC ${mac}`, DisconnectReason.KEY_EXCHANGE_FAILED);
  return [cipher, mac];
}

/** RFC 4253 §7.1: for every list, the first of the client's algorithms that the server also offers. */
export function negotiate(client: KexInit, server: KexInit): Negotiated {
  const kex = choose('key exchange', client.kex, server.kex);
  const hostKey = choose('host key', client.hostKey, server.hostKey);
  const [cipherC2S, macC2S] = chooseCipherAndMac(
    'client-to-server',
    { cipher: client.cipherC2S, mac: client.macC2S },
    { cipher: server.cipherC2S, mac: server.macC2S },
  );
  const [cipherS2C, macS2C] = chooseCipherAndMac(
    'server-to-client',
    { cipher: client.cipherS2C, mac: client.macS2C },
    { cipher: server.cipherS2C, mac: server.macS2C },
  );
  return {
    kex,
    hostKey,
    cipherC2S,
    cipherS2C,
    macC2S,
    macS2C,
    compressionC2S: choose('client-to-server compression', client.compressionC2S, server.compressionC2S),
    compressionS2C: choose('server-to-client compression', client.compressionS2C, server.compressionS2C),
  };
}

/**
 * RFC 4253 §7.1: a guessed first kex packet is wrong when either side's first kex or host key
 * algorithm differs from what was negotiated; the guessed packet must then be ignored.
 */
export function guessWasWrong(client: KexInit, server: KexInit, n: Negotiated): boolean {
  const firstReal = (l: string[]) => l.find((x) => !KEX_PSEUDO.has(x));
  return (
    firstReal(client.kex) !== n.kex ||
    firstReal(server.kex) !== n.kex ||
    client.hostKey[0] !== n.hostKey ||
    server.hostKey[0] !== n.hostKey
  );
}
