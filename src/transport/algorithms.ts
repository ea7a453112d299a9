import { SshError } from '../errors.js';
import { aeadAes128Gcm, aeadAes256Gcm, aes128Gcm, aes256Gcm, RFC5647_GCM } from './cipher/aes-gcm.js';
import { COMPRESSION_METHODS } from './compression.js';
import { chacha20Poly1305 } from './cipher/chacha20-poly1305.js';
import type { CipherSpec } from './cipher/types.js';
import { dhGexSha1, dhGexSha256 } from './kex/dh-gex.js';
import {
  dhGroup14Sha1,
  dhGroup14Sha256,
  dhGroup16Sha512,
  dhGroup18Sha512,
  dhGroup1Sha1,
} from './kex/dh-group.js';
import {
  curve25519Sha256,
  curve25519Sha256Libssh,
  curve448Sha512,
  ecdhNistp256,
  ecdhNistp384,
  ecdhNistp521,
} from './kex/ecdh.js';
import { mlkem768x25519Sha256 } from './kex/hybrid.js';
import type { GexSettings, KexMethodSpec } from './kex/types.js';
import {
  hmacSha1,
  hmacSha1Etm,
  hmacSha256,
  hmacSha256Etm,
  hmacSha512,
  hmacSha512Etm,
  type MacSpec,
} from './mac.js';
import { aes128Cbc, aes192Cbc, aes256Cbc, tripleDesCbc } from './cipher/cbc.js';
import { aes128Ctr, aes192Ctr, aes256Ctr } from './cipher/aes-ctr.js';

/** The algorithm registry: every name Seashell can negotiate, and the default order of each list. */

/** Offered by default, in this order (OpenSSH 10's preference, then the RFC 9142 MUST/SHOULD methods). */
const DEFAULT_KEX = [
  mlkem768x25519Sha256,
  curve25519Sha256,
  curve25519Sha256Libssh,
  curve448Sha512,
  ecdhNistp256,
  ecdhNistp384,
  ecdhNistp521,
  dhGexSha256,
  dhGroup16Sha512,
  dhGroup18Sha512,
  dhGroup14Sha256,
];

/** Supported, but only negotiated when asked for (SHA-1 and the 1024-bit group: RFC 9142 §3.3). */
const LEGACY_KEX = [dhGroup14Sha1, dhGroup1Sha1, dhGexSha1];

export const KEX_METHODS: ReadonlyMap<string, KexMethodSpec> = new Map(
  [...DEFAULT_KEX, ...LEGACY_KEX].map((k) => [k.name, k]),
);

/**
 * Fastest first: AES-GCM runs on AES-NI through OpenSSL; chacha20-poly1305 needs WebAssembly
 * Poly1305. RFC 5647's AEAD_AES_*_GCM (the same packets under the RFC's names, which the seed
 * lists) come after OpenSSH's names, so peers that know both settle on OpenSSH's.
 */
const DEFAULT_CIPHERS = [
  aes128Gcm,
  aes256Gcm,
  chacha20Poly1305,
  aeadAes128Gcm,
  aeadAes256Gcm,
  aes128Ctr,
  aes192Ctr,
  aes256Ctr,
];
/** CBC modes, for old peers only when asked for (OpenSSH dropped them from its defaults in 7.2). */
const LEGACY_CIPHERS = [aes128Cbc, aes192Cbc, aes256Cbc, tripleDesCbc];

export const CIPHERS: ReadonlyMap<string, CipherSpec> = new Map(
  [...DEFAULT_CIPHERS, ...LEGACY_CIPHERS].map((c) => [c.name, c]),
);

export const MACS: ReadonlyMap<string, MacSpec> = new Map(
  [hmacSha256Etm, hmacSha512Etm, hmacSha1Etm, hmacSha256, hmacSha512, hmacSha1].map((m) => [m.name, m]),
);
/**
 * MAC names: the HMACs, then RFC 5647's AEAD_AES_*_GCM, which as a MAC name means "the GCM
 * cipher of the same name protects this direction" (RFC 5647 §5.1). They are last, so a MAC
 * negotiation only lands on them when the peer offers nothing else.
 */
const MAC_NAMES = [...MACS.keys(), ...RFC5647_GCM];

/** Host key and user key signature algorithms (RFC 8709, RFC 5656, RFC 8332, RFC 4253 §6.6). */
export const PUBLIC_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ssh-ed448',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
  'ssh-dss',
] as const;
/**
 * ssh-rsa signs with SHA-1 (RFC 8332 §3), ssh-dss with SHA-1 and 1024-bit DSA (OpenSSH 7.0
 * stopped offering it, 9.8 removed it): supported, offered only when asked for.
 */
const LEGACY_PUBLIC_KEY = new Set<string>(['ssh-rsa', 'ssh-dss']);
export type PublicKeyAlgorithm = (typeof PUBLIC_KEY_ALGORITHMS)[number];

/** zlib (RFC 4253 §6.2) is supported but not offered by default: it compresses before authentication. */
export const COMPRESSION = COMPRESSION_METHODS;
const DEFAULT_COMPRESSION = ['none', 'zlib@openssh.com'];

/** Pseudo-algorithms that ride in the kex list (RFC 8308 §2.1, OpenSSH PROTOCOL §1.10). */
export const EXT_INFO_C = 'ext-info-c';
export const EXT_INFO_S = 'ext-info-s';
export const KEX_STRICT_C = 'kex-strict-c-v00@openssh.com';
export const KEX_STRICT_S = 'kex-strict-s-v00@openssh.com';
export const KEX_PSEUDO = new Set([EXT_INFO_C, EXT_INFO_S, KEX_STRICT_C, KEX_STRICT_S]);

/** A list per direction, as the seed's client2server / server2client. */
export interface Directional<T> {
  /** Algorithms for data the client sends. */
  clientToServer: T[];
  /** Algorithms for data the server sends. */
  serverToClient: T[];
}

/** The algorithm lists of one side, as `ssh.defaultAlgorithms()` returns them (the seed's algs_list). */
export interface AlgorithmSet {
  /** Key exchange methods, in order of preference. */
  kex: string[];
  /** Host key and signature algorithms, in order of preference. */
  publicKey: string[];
  /** Ciphers per direction. */
  cipher: Directional<string>;
  /** MACs per direction. */
  mac: Directional<string>;
  /** Compression methods per direction. */
  compression: Directional<string>;
}

/** A list for one category in `preferredAlgorithms`/`modifyAlgorithms`: one list for both directions, or one per direction. */
export type AlgorithmListOption = string[] | Partial<Directional<string>>;

/** The `preferredAlgorithms` option (the seed's preferred_algorithms): any subset of the categories. */
export interface AlgorithmsOption {
  /** Key exchange methods. */
  kex?: string[];
  /** Host key and signature algorithms. */
  publicKey?: string[];
  /** Ciphers, for both directions or per direction. */
  cipher?: AlgorithmListOption;
  /** MACs, for both directions or per direction. */
  mac?: AlgorithmListOption;
  /** Compression methods, for both directions or per direction. */
  compression?: AlgorithmListOption;
}

/** The `modifyAlgorithms` option (the seed's modify_algorithms): append, prepend or rm, applied in order. */
export type ModifyAlgorithmsOption = (
  | {
      /** Algorithms moved or added to the end (the seed's `{append, Algs}`). */
      append: AlgorithmsOption;
    }
  | {
      /** Algorithms moved or added to the front (the seed's `{prepend, Algs}`). */
      prepend: AlgorithmsOption;
    }
  | {
      /** Algorithms taken out (the seed's `{rm, Algs}`). */
      rm: AlgorithmsOption;
    }
)[];

const gexOf = new WeakMap<AlgorithmSet, GexSettings>();

/**
 * Attaches a daemon's DH group exchange settings to its resolved algorithm set, so that they
 * travel wherever the set goes (into every connection's transport config).
 */
export function withGexSettings(set: AlgorithmSet, gex: GexSettings): AlgorithmSet {
  gexOf.set(set, gex);
  return set;
}

export function gexSettingsOf(set: AlgorithmSet): GexSettings | undefined {
  return gexOf.get(set);
}

function both(list: readonly string[]): Directional<string> {
  return { clientToServer: [...list], serverToClient: [...list] };
}

export function defaultAlgorithms(): AlgorithmSet {
  return {
    kex: DEFAULT_KEX.map((k) => k.name),
    publicKey: PUBLIC_KEY_ALGORITHMS.filter((a) => !LEGACY_PUBLIC_KEY.has(a)),
    cipher: both(DEFAULT_CIPHERS.map((c) => c.name)),
    mac: both(MAC_NAMES),
    compression: both(DEFAULT_COMPRESSION),
  };
}

const SUPPORTED: Record<keyof AlgorithmSet, ReadonlySet<string>> = {
  kex: new Set(KEX_METHODS.keys()),
  publicKey: new Set(PUBLIC_KEY_ALGORITHMS),
  cipher: new Set(CIPHERS.keys()),
  mac: new Set(MAC_NAMES),
  compression: new Set(COMPRESSION),
};

const CATEGORIES: (keyof AlgorithmSet)[] = ['kex', 'publicKey', 'cipher', 'mac', 'compression'];

function isDirectional(k: keyof AlgorithmSet): k is 'cipher' | 'mac' | 'compression' {
  return k === 'cipher' || k === 'mac' || k === 'compression';
}

function checkNames(
  category: string,
  names: unknown,
  strict: boolean,
  supported: ReadonlySet<string>,
): string[] {
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) {
    throw new SshError('BAD_OPTION', `algorithm list for ${category} must be an array of names`);
  }
  if (strict) {
    const unknown = names.filter((n: string) => !supported.has(n));
    if (unknown.length) {
      throw new SshError(
        'BAD_OPTION',
        `unsupported ${category} algorithm(s): ${unknown.join(', ')}; supported: ${[...supported].join(', ')}`,
      );
    }
  }
  return (names as string[]).filter((n) => supported.has(n));
}

/** Splits a list option into its two directions (a plain list applies to both). */
function directions(
  category: string,
  v: AlgorithmListOption,
  strict: boolean,
  supported: ReadonlySet<string>,
) {
  if (Array.isArray(v)) {
    const l = checkNames(category, v, strict, supported);
    return { clientToServer: l, serverToClient: [...l] };
  }
  if (typeof v !== 'object' || v === null) {
    throw new SshError(
      'BAD_OPTION',
      `algorithm list for ${category} must be an array or {clientToServer, serverToClient}`,
    );
  }
  return {
    clientToServer:
      v.clientToServer === undefined ? undefined : checkNames(category, v.clientToServer, strict, supported),
    serverToClient:
      v.serverToClient === undefined ? undefined : checkNames(category, v.serverToClient, strict, supported),
  };
}

/**
 * Applies the seed's `preferred_algorithms` (replaces lists; unsupported names are an error) and
 * then `modify_algorithms` (append/prepend/rm in order; unsupported names are ignored).
 */
export function resolveAlgorithms(
  preferred?: AlgorithmsOption,
  modify?: ModifyAlgorithmsOption,
): AlgorithmSet {
  const set = defaultAlgorithms();
  if (preferred !== undefined) {
    if (typeof preferred !== 'object' || preferred === null || Array.isArray(preferred)) {
      throw new SshError(
        'BAD_OPTION',
        'preferredAlgorithms must be an object like { kex: [...], cipher: [...] }',
      );
    }
    for (const key of Object.keys(preferred)) {
      if (!CATEGORIES.includes(key as keyof AlgorithmSet)) {
        throw new SshError(
          'BAD_OPTION',
          `preferredAlgorithms: unknown category '${key}' (use ${CATEGORIES.join(', ')})`,
        );
      }
    }
    for (const k of CATEGORIES) {
      const v = preferred[k];
      if (v === undefined) continue;
      if (isDirectional(k)) {
        const d = directions(k, v, true, SUPPORTED[k]);
        if (d.clientToServer) set[k].clientToServer = d.clientToServer;
        if (d.serverToClient) set[k].serverToClient = d.serverToClient;
      } else {
        set[k] = checkNames(k, v, true, SUPPORTED[k]);
      }
    }
  }
  if (modify !== undefined) {
    if (!Array.isArray(modify))
      throw new SshError('BAD_OPTION', 'modifyAlgorithms must be an array of {append|prepend|rm}');
    for (const step of modify) {
      const op = Object.keys(step ?? {})[0] as 'append' | 'prepend' | 'rm' | undefined;
      if (op !== 'append' && op !== 'prepend' && op !== 'rm') {
        throw new SshError('BAD_OPTION', `modifyAlgorithms: each step must be {append}, {prepend} or {rm}`);
      }
      const spec = (step as Record<string, AlgorithmsOption>)[op]!;
      for (const k of CATEGORIES) {
        const v = spec[k];
        if (v === undefined) continue;
        const apply = (list: string[], names: string[] | undefined): string[] => {
          if (!names) return list;
          const rest = list.filter((n) => !names.includes(n));
          return op === 'rm' ? rest : op === 'append' ? [...rest, ...names] : [...names, ...rest];
        };
        if (isDirectional(k)) {
          const d = directions(k, v, false, SUPPORTED[k]);
          set[k].clientToServer = apply(set[k].clientToServer, d.clientToServer);
          set[k].serverToClient = apply(set[k].serverToClient, d.serverToClient);
        } else {
          set[k] = apply(set[k], checkNames(k, v, false, SUPPORTED[k]));
        }
      }
    }
  }
  for (const k of CATEGORIES) {
    const empty = isDirectional(k)
      ? k !== 'mac' && (set[k].clientToServer.length === 0 || set[k].serverToClient.length === 0)
      : set[k].length === 0;
    if (empty)
      throw new SshError(
        'BAD_OPTION',
        `no ${k} algorithm is left after preferredAlgorithms/modifyAlgorithms`,
      );
  }
  return set;
}
