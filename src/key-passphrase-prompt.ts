import { readFile } from 'node:fs/promises';
import type { UserKey } from './auth/client.js';
import { SshError } from './errors.js';
import { lockedUserKeyFiles, type KeyApiContext, type LockedKeyFile } from './keys/key-api.js';
import { parsePrivateKey } from './keys/openssh-format.js';
import { signatureAlgorithmFits, signData } from './keys/signature.js';
import type { PrivateKey, SignatureAlgorithm } from './keys/types.js';
import { debug } from './log.js';
import { askTerminalPrompts, printable } from './tty-prompt.js';

/** OpenSSH's NumberOfPasswordPrompts default: three tries at a passphrase. */
const TRIES = 3;

/**
 * Decrypts a locked key file with a passphrase asked on the terminal, as ssh asks: "Enter
 * passphrase for key '<path>': ", then "Bad passphrase, try again for <path>: ", three tries. An
 * empty answer or Ctrl-C gives the key up (OpenSSH skips the key on an empty passphrase).
 */
async function unlock(file: LockedKeyFile): Promise<PrivateKey> {
  const path = printable(file.path);
  for (let i = 0; i < TRIES; i++) {
    const prompt =
      i === 0 ? `Enter passphrase for key '${path}': ` : `Bad passphrase, try again for ${path}: `;
    const answer = (await askTerminalPrompts('', [{ prompt, echo: false }]))?.[0];
    if (answer === undefined || answer === '')
      throw new SshError('BAD_KEY', `${file.path}: no passphrase was given for the encrypted key`);
    try {
      return parsePrivateKey(await readFile(file.path), answer);
    } catch (e) {
      if (!(e instanceof SshError) || !/wrong passphrase/.test(e.message)) throw e;
      debug('%s: wrong passphrase (try %d of %d)', file.path, i + 1, TRIES);
    }
  }
  throw new SshError('BAD_KEY', `${file.path}: wrong passphrase, ${TRIES} times`);
}

/**
 * The seed's user_interaction for encrypted key files without a passphrase option: each is
 * offered by its public key, and its passphrase asked on the terminal only when the server
 * accepts that key (the signature is made on USERAUTH_PK_OK), as OpenSSH does. `known` are keys
 * already offered (the agent's, the unlocked files): a locked file holding one of them is left out.
 */
export async function lockedKeyFileUserKeys(
  algorithms: readonly SignatureAlgorithm[],
  ctx: KeyApiContext,
  known: readonly UserKey[],
): Promise<UserKey[]> {
  const out: UserKey[] = [];
  for (const file of await lockedUserKeyFiles(algorithms, ctx)) {
    const pub = file.publicKey;
    if (known.some((k) => k.key.publicKey.blob.equals(pub.blob))) continue;
    const fits = algorithms.filter((alg) => signatureAlgorithmFits(pub.type, alg));
    if (fits.length === 0) continue;
    let unlocked: Promise<PrivateKey> | undefined;
    out.push({
      key: { type: pub.type, publicKey: pub, comment: '' },
      algorithms: fits,
      sign: async (alg, data) => {
        unlocked ??= unlock(file);
        const key = await unlocked;
        if (!key.publicKey.blob.equals(pub.blob))
          throw new SshError('BAD_KEY', `${file.path}: the private key does not match its public key`);
        return signData(key, alg, data);
      },
    });
  }
  return out;
}
