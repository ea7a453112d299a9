/** The `bcrypt-pbkdf` package (OpenBSD's bcrypt_pbkdf in JavaScript); it ships no types. */
declare module 'bcrypt-pbkdf' {
  const bcrypt: {
    /** Fills `key` with `keylen` derived bytes; returns 0, or -1 on bad arguments. */
    pbkdf(
      pass: Uint8Array,
      passlen: number,
      salt: Uint8Array,
      saltlen: number,
      key: Uint8Array,
      keylen: number,
      rounds: number,
    ): number;
  };
  export default bcrypt;
}
