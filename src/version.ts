/** Seashell's version; goes into the default identification line `SSH-2.0-Seashell_<version>`. */
export const VERSION = '0.1.0';
