import { BlockList, isIP } from 'node:net';
import { badKey } from './encoding.js';
import type { KeyOption } from './authorized-keys.js';

/**
 * What an authorized_keys line's options allow the session that logs in with its key (sshd(8)
 * AUTHORIZED_KEYS FILE FORMAT). `restrict` turns every permission off; `pty`, `port-forwarding`,
 * `agent-forwarding`, `X11-forwarding` and `user-rc` turn one back on.
 */
export interface KeyRestrictions {
  /** `command="..."`: run this whatever the client asked for (its request in SSH_ORIGINAL_COMMAND). */
  command?: string;
  /** A pty may be allocated (`no-pty` turns it off). */
  pty: boolean;
  /** Port forwarding is allowed (`no-port-forwarding`). */
  portForwarding: boolean;
  /** Agent forwarding is allowed (`no-agent-forwarding`). */
  agentForwarding: boolean;
  /** X11 forwarding is allowed (`no-X11-forwarding`). */
  x11Forwarding: boolean;
  /** ~/.ssh/rc may run (`no-user-rc`). */
  userRc: boolean;
  /** `from="pattern-list"`: the source addresses allowed (undefined: any). */
  from?: string[];
  /** `expiry-time="YYYYMMDD[HHMM[SS]][Z]"`, as ms since the epoch. */
  expires?: number;
  /** `environment="NAME=value"` lines. */
  environment: string[];
  /** `principals="..."` (for certificates). */
  principals?: string;
  /** `permitopen` / `permitlisten` values, kept for forwarding. */
  permitOpen: string[];
  /** `permitlisten` values, kept for remote forwarding. */
  permitListen: string[];
}

const FLAGS: Record<string, keyof KeyRestrictions> = {
  pty: 'pty',
  'port-forwarding': 'portForwarding',
  'agent-forwarding': 'agentForwarding',
  'x11-forwarding': 'x11Forwarding',
  'user-rc': 'userRc',
};

/** The restrictions of an options list; throws BAD_KEY for an option sshd does not know (the line is then unusable). */
export function keyRestrictions(options: readonly KeyOption[]): KeyRestrictions {
  const r: KeyRestrictions = {
    pty: true,
    portForwarding: true,
    agentForwarding: true,
    x11Forwarding: true,
    userRc: true,
    environment: [],
    permitOpen: [],
    permitListen: [],
  };
  // `restrict` applies first wherever it stands; the re-enabling flags then win.
  if (options.some((o) => o.name.toLowerCase() === 'restrict')) {
    for (const k of Object.values(FLAGS)) (r[k] as boolean) = false;
  }
  for (const o of options) {
    const name = o.name.toLowerCase();
    const needValue = (): string => {
      if (o.value === undefined) throw badKey(`option ${o.name} needs a value`);
      return o.value;
    };
    if (name === 'restrict' || name === 'cert-authority') continue;
    if (name in FLAGS) (r[FLAGS[name]!] as boolean) = true;
    else if (name.startsWith('no-') && name.slice(3) in FLAGS) (r[FLAGS[name.slice(3)]!] as boolean) = false;
    else if (name === 'command') r.command = needValue();
    else if (name === 'from') r.from = needValue().split(',');
    else if (name === 'expiry-time') r.expires = parseExpiry(needValue());
    else if (name === 'environment') r.environment.push(needValue());
    else if (name === 'principals') r.principals = needValue();
    else if (name === 'permitopen') r.permitOpen.push(needValue());
    else if (name === 'permitlisten') r.permitListen.push(needValue());
    else if (name === 'no-touch-required' || name === 'verify-required' || name === 'tunnel') continue;
    else throw badKey(`unknown authorized_keys option ${o.name.slice(0, 32)}`);
  }
  // sshd's auth_authorise_keyopts: principals= only means something for a CA's certificates.
  if (r.principals !== undefined && !options.some((o) => o.name.toLowerCase() === 'cert-authority'))
    throw badKey('principals on non-CA key');
  return r;
}

/** sshd's expiry-time: YYYYMMDD or YYYYMMDDHHMM[SS], local time, or UTC with a trailing Z. */
function parseExpiry(v: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/.exec(v);
  if (!m) throw badKey(`expiry-time "${v.slice(0, 32)}" is not YYYYMMDD[HHMM[SS]][Z]`);
  const [, y, mo, d, h, mi, s, z] = m;
  const parts = [
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h ?? 0),
    Number(mi ?? 0),
    Number(s ?? 0),
  ] as const;
  return z ? Date.UTC(...parts) : new Date(...parts).getTime();
}

/**
 * Whether a `from=` pattern list lets `address` in (sshd's match_hostname/addr_match_list, without
 * DNS: host name patterns match nothing, as with sshd's default UseDNS no). A pattern is an address
 * with `*` and `?` wildcards or a CIDR block; `!` before one makes a match refuse.
 */
export function fromAllows(patterns: readonly string[], address: string): boolean {
  const addr = address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  let allowed = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const p = (negated ? raw.slice(1) : raw).trim().toLowerCase();
    if (!matchOne(p, addr)) continue;
    if (negated) return false;
    allowed = true;
  }
  return allowed;
}

function matchOne(pattern: string, address: string): boolean {
  const slash = pattern.indexOf('/');
  if (slash >= 0) {
    const base = pattern.slice(0, slash);
    const bits = Number(pattern.slice(slash + 1));
    const family = isIP(base) === 4 ? 'ipv4' : isIP(base) === 6 ? 'ipv6' : undefined;
    if (!family || !Number.isInteger(bits) || isIP(address) !== isIP(base)) return false;
    const list = new BlockList();
    try {
      list.addSubnet(base, bits, family);
      return list.check(address, family);
    } catch {
      return false;
    }
  }
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(address);
}
