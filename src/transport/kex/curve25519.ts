import { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { DisconnectReason, protocolError } from '../../errors.js';
import { SshWriter } from '../../wire/writer.js';
import type { KexMethod, KexMethodSpec } from './types.js';

/** DER SubjectPublicKeyInfo header of an X25519 key (RFC 8410): the raw 32 bytes follow it. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** curve25519-sha256 (RFC 8731 §3): Q_C and Q_S are raw 32-byte X25519 public keys. */
class Curve25519Kex implements KexMethod {
  readonly publicValue: Buffer;
  private readonly privateKey;

  constructor() {
    // The public half comes back encoded by the key generation itself. Not KeyObject.export():
    // Node 20's JWK export holds the key's mutex while it allocates, and a garbage collection
    // there that finalizes this very key-generation job locks the same mutex: the process
    // deadlocks (seen under load in the bench daemon and in a fuzz test, stack taken with gdb).
    // (Node returns the encoded half as a Buffer and the other as a KeyObject; @types/node has no
    // overload for that mix.)
    const { publicKey, privateKey } = generateKeyPairSync('x25519', {
      publicKeyEncoding: { type: 'spki', format: 'der' },
    }) as unknown as { publicKey: Buffer; privateKey: KeyObject };
    this.privateKey = privateKey;
    const n = X25519_SPKI_PREFIX.length;
    if (publicKey.length !== n + 32 || !publicKey.subarray(0, n).equals(X25519_SPKI_PREFIX))
      throw new Error('generateKeyPairSync returned an unexpected X25519 SubjectPublicKeyInfo');
    this.publicValue = publicKey.subarray(n);
  }

  computeSecret(peerPublic: Buffer): Buffer {
    if (peerPublic.length !== 32) {
      throw protocolError(
        `curve25519: peer public key is ${peerPublic.length} bytes, not 32`,
        DisconnectReason.KEY_EXCHANGE_FAILED,
      );
    }
    let secret: Buffer;
    try {
      // JWK import: measured about ten times cheaper in Node than the same key as DER SPKI.
      const publicKey = createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: peerPublic.toString('base64url') },
        format: 'jwk',
      });
      secret = diffieHellman({ privateKey: this.privateKey, publicKey });
    } catch (e) {
      throw protocolError(
        `curve25519: invalid peer public key (${(e as Error).message})`,
        DisconnectReason.KEY_EXCHANGE_FAILED,
      );
    }
    // RFC 8731 §3: an all-zero shared secret (a low-order peer point) MUST abort.
    if (secret.every((b) => b === 0)) {
      throw protocolError('curve25519: shared secret is all zeros', DisconnectReason.KEY_EXCHANGE_FAILED);
    }
    // RFC 8731 §3.1: the 32 bytes are an unsigned big-endian integer, encoded as an mpint.
    return new SshWriter(40).mpintFromUnsigned(secret).finish();
  }
}

export const curve25519Sha256: KexMethodSpec = {
  name: 'curve25519-sha256',
  hash: 'sha256',
  create: () => new Curve25519Kex(),
};

/** The name libssh registered before RFC 8731; the same method. */
export const curve25519Sha256Libssh: KexMethodSpec = {
  ...curve25519Sha256,
  name: 'curve25519-sha256@libssh.org',
};
