/**
 * How often a peer may start a key exchange, without I/O (the clock and byte counts come in).
 * Each re-key the peer starts costs us a key agreement and, on a server, a host-key signature:
 * a client re-keying in a loop measured 150-210 re-keys a second, logged in or not. RFC 4253 §9
 * has re-keys follow traffic (after a gigabyte, or an hour); so here a peer gets a small store
 * of re-keys that refills with time and, once authenticated, with the bytes that moved:
 *
 * - before authentication: 3 at most, one more every 20 s;
 * - after it: 10 at most, one more every 6 s or every 32 KiB of traffic.
 *
 * Why 32 KiB: OpenSSH (9.2, packet.c) decides to re-key when the blocks sent under the current
 * keys plus the next packet's length *in bytes* would pass RekeyLimit/blocksize, so `ssh -o
 * RekeyLimit=1M` sending 55 KB channel packets re-keys every ~165 KB (seen in CI: 10,333 blocks
 * between re-keys), and with packets over RekeyLimit/16 after every packet. One credit per 32 KiB
 * keeps such a peer (packets of 32 KiB and more) going for ever; a peer that re-keys without
 * moving data still gets no more than one re-key per 6 s after its burst.
 *
 * Our own re-keys (rekeyLimit, `rekey()`) are not counted.
 */
export const PEER_REKEYS = {
  beforeAuth: { burst: 3, msPerRekey: 20_000 },
  afterAuth: { burst: 10, msPerRekey: 6_000, bytesPerRekey: 32 * 1024 },
};

export class PeerRekeyLimit {
  private credits: number = PEER_REKEYS.beforeAuth.burst;
  private last: number | undefined;
  private authenticated = false;

  /**
   * The peer starts a re-key at `now` (ms), `bytes` having moved since the previous key exchange
   * ended: true when it may, false when it is over its allowance.
   */
  allow(now: number, bytes: number, authenticated: boolean): boolean {
    if (authenticated && !this.authenticated) {
      this.authenticated = true;
      this.credits = PEER_REKEYS.afterAuth.burst; // a new user starts with the full store
    }
    const o = authenticated ? PEER_REKEYS.afterAuth : PEER_REKEYS.beforeAuth;
    const elapsed = this.last === undefined ? 0 : Math.max(0, now - this.last);
    let earned = elapsed / o.msPerRekey;
    if (authenticated) earned += bytes / PEER_REKEYS.afterAuth.bytesPerRekey;
    this.credits = Math.min(o.burst, this.credits + earned);
    this.last = now;
    if (this.credits < 1) return false;
    this.credits -= 1;
    return true;
  }
}
