import { DisconnectReason, protocolError } from '../errors.js';
import type { KexInit } from '../wire/transport-messages.js';
import { CIPHERS, KEX_PSEUDO, MACS } from './algorithms.js';

/** What both sides agreed on in one KEXINIT exchange. */
export interface Negotiated {
  kex: string;
  hostKey: string;
  cipherC2S: string;
  cipherS2C: string;
  /** Empty when the cipher is AEAD and carries its own integrity check. */
  macC2S: string;
  macS2C: string;
  compressionC2S: string;
  compressionS2C: string;
}

function choose(what: string, client: string[], server: string[]): string {
  const offered = new Set(server);
  for (const name of client) {
    if (!KEX_PSEUDO.has(name) && offered.has(name)) return name;
  }
  throw protocolError(
    `no common ${what} algorithm (client offers ${client.join(',') || 'none'}; server offers ${server.join(',') || 'none'})`,
    DisconnectReason.KEY_EXCHANGE_FAILED,
  );
}

function chooseMac(what: string, cipher: string, client: string[], server: string[]): string {
  // OpenSSH kex.c: an AEAD cipher's integrity replaces the MAC, so no MAC needs to match.
  if (CIPHERS.get(cipher)?.aead) return '';
  const mac = choose(what, client, server);
  if (!MACS.has(mac))
    throw protocolError(`negotiated unknown MAC ${mac}`, DisconnectReason.KEY_EXCHANGE_FAILED);
  return mac;
}

/** RFC 4253 §7.1: for every list, the first of the client's algorithms that the server also offers. */
export function negotiate(client: KexInit, server: KexInit): Negotiated {
  const kex = choose('key exchange', client.kex, server.kex);
  const hostKey = choose('host key', client.hostKey, server.hostKey);
  const cipherC2S = choose('client-to-server cipher', client.cipherC2S, server.cipherC2S);
  const cipherS2C = choose('server-to-client cipher', client.cipherS2C, server.cipherS2C);
  return {
    kex,
    hostKey,
    cipherC2S,
    cipherS2C,
    macC2S: chooseMac('client-to-server MAC', cipherC2S, client.macC2S, server.macC2S),
    macS2C: chooseMac('server-to-client MAC', cipherS2C, client.macS2C, server.macS2C),
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
