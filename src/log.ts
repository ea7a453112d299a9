import { debuglog } from 'node:util';

/**
 * Debug-level diagnostics (a key file skipped and why, a request refused, a peer dropped),
 * printed to stderr when the environment has NODE_DEBUG=seashell (Node's util.debuglog), and
 * free otherwise. Arguments are formatted as util.format does, and only when enabled.
 */
export const debug = debuglog('seashell');
