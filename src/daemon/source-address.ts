import { isIPv4, isIPv6 } from 'node:net';

/**
 * A client's source as the penalty table keys it: the network block it belongs to, as OpenSSH's
 * PerSourceNetBlockSize groups addresses (default /32 for IPv4, /128 for IPv6). An IPv4 address
 * that reaches a dual-stack listener as `::ffff:a.b.c.d` is treated as the IPv4 address.
 */
export function sourceBlock(address: string, bitsV4: number, bitsV6: number): string | undefined {
  const v4 = isIPv4(address) ? address : mappedV4(address);
  if (v4 !== undefined) {
    const bytes = v4.split('.').map(Number);
    return `${mask(bytes, bitsV4).join('.')}/${bitsV4}`;
  }
  const words = parseV6(address);
  if (!words) return undefined;
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  const masked = mask(bytes, bitsV6);
  const hex: string[] = [];
  for (let i = 0; i < 16; i += 2) hex.push(((masked[i]! << 8) | masked[i + 1]!).toString(16));
  return `${hex.join(':')}/${bitsV6}`;
}

/** `a.b.c.d` from `::ffff:a.b.c.d` (any case), else undefined. */
export function mappedV4(address: string): string | undefined {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m && isIPv4(m[1]!) ? m[1] : undefined;
}

function mask(bytes: number[], bits: number): number[] {
  return bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    return keep === 0 ? 0 : b & (0xff << (8 - keep)) & 0xff;
  });
}

/** The eight 16-bit words of an IPv6 address (with `::` and a trailing dotted IPv4 part), or undefined. */
function parseV6(address: string): number[] | undefined {
  const plain = address.replace(/%.*$/, ''); // a zone index says nothing about the source
  if (!isIPv6(plain)) return undefined;
  let text = plain;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const b = dotted[1]!.split('.').map(Number);
    text =
      text.slice(0, -dotted[1]!.length) +
      `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  const words = [...left, ...fill, ...right].map((w) => parseInt(w, 16));
  return words.length === 8 && words.every((w) => w >= 0 && w <= 0xffff) ? words : undefined;
}
