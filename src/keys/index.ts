// The keys layer's public surface.
export type { KeyType, PrivateKey, PublicKey, SignatureAlgorithm } from './types.js';
export type { EcdsaCurveName } from './curves.js';
export {
  formatPublicKeyLine,
  isSignatureAlgorithm,
  keyTypeForSignatureAlgorithm,
  parsePublicKeyBlob,
  parsePublicKeyLine,
  publicKeyFromKeyObject,
  publicKeysEqual,
  signatureAlgorithmsFor,
} from './public-key.js';
export { privateKeyFromKeyObject } from './private-key.js';
export { signData, signatureAlgorithmFits, verifySignature } from './signature.js';
export { formatOpenSshPrivateKey, generatePrivateKey, parsePrivateKey } from './openssh-format.js';
export type { GenerateKeyOptions } from './openssh-format.js';
export { fingerprint } from './fingerprint.js';
export type { FingerprintHash } from './fingerprint.js';
export {
  findAuthorizedKey,
  isKeyAuthorized,
  parseAuthorizedKeys,
  parseKeyOptions,
} from './authorized-keys.js';
export type { AuthorizedKeyEntry, KeyOption } from './authorized-keys.js';
export {
  checkKnownHosts,
  formatKnownHostsLine,
  hostPattern,
  knownHostsEntriesFor,
  knownKeyTypesFor,
  parseKnownHosts,
} from './known-hosts.js';
export type { KnownHostStatus, KnownHostsEntry, KnownHostsMarker } from './known-hosts.js';
export { defaultKeyApiContext, fileKeyApi } from './key-api.js';
export type { ClientKeyApi, FileKeyApi, KeyApiContext, ServerKeyApi } from './key-api.js';
