/**
 * Loads the `ssh2` package for an agent, with or without its optional native addon.
 *
 * ssh2 tries `require('./crypto/build/Release/sshcrypto.node')` inside lib/protocol/crypto.js and
 * falls back to pure JavaScript (plus a WebAssembly Poly1305) when that throws. With `blockAddon`,
 * this process's CommonJS loader refuses that one file before ssh2 is loaded, which is what a user
 * gets when the addon failed to build; node_modules is left untouched.
 */
import { createRequire } from 'node:module';
import type * as Ssh2 from 'ssh2';

const require = createRequire(import.meta.url);

export interface LoadedSsh2 {
  ssh2: typeof Ssh2;
  version: string;
  /** Whether ssh2 runs with its native crypto addon. */
  addon: boolean;
  supported: { kex: string[]; cipher: string[]; mac: string[]; compression: string[] };
  defaults: { kex: string[]; cipher: string[]; mac: string[]; compression: string[] };
}

type NodeLoader = (module: unknown, filename: string) => unknown;

export function loadSsh2(blockAddon: boolean): LoadedSsh2 {
  if (blockAddon) {
    const Module = require('node:module') as { _extensions: Record<string, NodeLoader> };
    const load = Module._extensions['.node'] as NodeLoader;
    Module._extensions['.node'] = (module, filename) => {
      if (/[\\/]sshcrypto\.node$/.test(filename)) {
        throw new Error('ssh2 native addon disabled by the bench (ssh2-js)');
      }
      return load(module, filename);
    };
  }
  const ssh2 = require('ssh2') as typeof Ssh2;
  const crypto = require('ssh2/lib/protocol/crypto.js') as { bindingAvailable: boolean };
  const c = require('ssh2/lib/protocol/constants.js') as Record<string, string[]>;
  const pkg = require('ssh2/package.json') as { version: string };
  return {
    ssh2,
    version: pkg.version,
    addon: crypto.bindingAvailable,
    supported: {
      kex: c.SUPPORTED_KEX ?? [],
      cipher: c.SUPPORTED_CIPHER ?? [],
      mac: c.SUPPORTED_MAC ?? [],
      compression: c.SUPPORTED_COMPRESSION ?? [],
    },
    defaults: {
      kex: c.DEFAULT_KEX ?? [],
      cipher: c.DEFAULT_CIPHER ?? [],
      mac: c.DEFAULT_MAC ?? [],
      compression: c.DEFAULT_COMPRESSION ?? [],
    },
  };
}
