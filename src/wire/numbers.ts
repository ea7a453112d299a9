/** SSH message numbers (RFC 4250 §4.1, RFC 8308, RFC 5656/8731 for the ECDH kex messages). */
export const Msg = {
  DISCONNECT: 1,
  IGNORE: 2,
  UNIMPLEMENTED: 3,
  DEBUG: 4,
  SERVICE_REQUEST: 5,
  SERVICE_ACCEPT: 6,
  EXT_INFO: 7,
  KEXINIT: 20,
  NEWKEYS: 21,
  /** First kex-method-specific number; ECDH/curve25519 use 30 (INIT) and 31 (REPLY). */
  KEX_ECDH_INIT: 30,
  KEX_ECDH_REPLY: 31,
  USERAUTH_REQUEST: 50,
  USERAUTH_FAILURE: 51,
  USERAUTH_SUCCESS: 52,
  USERAUTH_BANNER: 53,
  /** Method-specific: PK_OK for publickey, PASSWD_CHANGEREQ for password, INFO_REQUEST for keyboard-interactive. */
  USERAUTH_PK_OK: 60,
  USERAUTH_INFO_REQUEST: 60,
  USERAUTH_INFO_RESPONSE: 61,
  GLOBAL_REQUEST: 80,
  REQUEST_SUCCESS: 81,
  REQUEST_FAILURE: 82,
  CHANNEL_OPEN: 90,
  CHANNEL_OPEN_CONFIRMATION: 91,
  CHANNEL_OPEN_FAILURE: 92,
  CHANNEL_WINDOW_ADJUST: 93,
  CHANNEL_DATA: 94,
  CHANNEL_EXTENDED_DATA: 95,
  CHANNEL_EOF: 96,
  CHANNEL_CLOSE: 97,
  CHANNEL_REQUEST: 98,
  CHANNEL_SUCCESS: 99,
  CHANNEL_FAILURE: 100,
} as const;

/** RFC 4253 §7.1/§12: message ranges and what a transport may accept when. */
export function isAuthMessage(n: number): boolean {
  return n >= 50 && n <= 79;
}
export function isConnectionMessage(n: number): boolean {
  return n >= 80 && n <= 127;
}

/** RFC 4254 §5.1 channel open failure reason codes. */
export const ChannelOpenFailure = {
  ADMINISTRATIVELY_PROHIBITED: 1,
  CONNECT_FAILED: 2,
  UNKNOWN_CHANNEL_TYPE: 3,
  RESOURCE_SHORTAGE: 4,
} as const;

/** RFC 4254 §5.2: the only defined extended data type. */
export const EXTENDED_DATA_STDERR = 1;
