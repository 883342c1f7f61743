// The only module that uses ip-address. Everything else sees addresses as
// (family, bigint) pairs, which makes range arithmetic exact for IPv6 too. The library
// is loaded on the first IPv6 text to parse, not at start: an IPv4 call never pays for it.
import type { Address6 as Address6Type } from 'ip-address';

let address6: typeof Address6Type | undefined;
const Address6 = (): typeof Address6Type => (address6 ??= (require('ip-address') as typeof import('ip-address')).Address6);

export type Family = 4 | 6;

export interface IP {
  family: Family;
  value: bigint;
}

/** An address with a prefix length; `value` may carry host bits. */
export interface Cidr extends IP {
  prefix: number;
}

export const bits = (family: Family): number => (family === 4 ? 32 : 128);

function parseV4(s: string): bigint | undefined {
  // Strict dotted quad, no leading zeros (Go's net.ParseIP rejects them too). By hand, not
  // split+regex+BigInt per part: host-local parses every reservation's name on each ADD.
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
      continue;
    }
    if (c < 48 || c > 57 || (digits > 0 && part === 0)) return undefined;
    part = part * 10 + (c - 48);
    digits++;
    if (part > 255) return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return BigInt(v * 256 + part);
}

function parseV6(s: string): bigint | undefined {
  if (!s.includes(':') || /[^0-9a-fA-F:.]/.test(s)) return undefined;
  try {
    const a = new (Address6())(s);
    if (!a.isCorrect() && a.subnetMask !== 128) return undefined;
    return a.bigInt();
  } catch {
    return undefined;
  }
}

/** Parse a bare IP address; undefined when it is not one. IPv4-mapped IPv6 stays IPv6. */
export function tryParseIP(s: string): IP | undefined {
  if (typeof s !== 'string' || s.length === 0 || s.length > 64) return undefined;
  const v4 = parseV4(s);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseV6(s);
  if (v6 !== undefined) return { family: 6, value: v6 };
  return undefined;
}

export function parseIP(s: string): IP {
  const ip = tryParseIP(s);
  if (!ip) throw new Error(`invalid IP address "${s}"`);
  return ip;
}

/** Parse "a.b.c.d/n" or "x::y/n"; host bits are kept. */
export function tryParseCidr(s: string): Cidr | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = tryParseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > bits(ip.family)) return undefined;
  return { ...ip, prefix };
}

export function parseCidr(s: string): Cidr {
  const c = tryParseCidr(s);
  if (!c) throw new Error(`invalid CIDR "${s}"`);
  return c;
}

/** Canonical text: dotted quad, or RFC 5952 compressed lowercase IPv6 (what Go prints). */
export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  return formatV6(ip.value);
}

/**
 * RFC 5952: lowercase hex groups without leading zeros, the longest run of two or more
 * zero groups (the first of equal runs) as "::". What Go's net.IP.String() prints for
 * every address but an IPv4-mapped one, which it prints dotted (host-local never sees
 * one: a range is IPv4 or IPv6).
 */
function formatV6(v: bigint): string {
  const g: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) g.push(((v >> shift) & 0xffffn).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}

export const formatCidr = (c: Cidr): string => `${formatIP(c)}/${c.prefix}`;

export function hostMask(family: Family, prefix: number): bigint {
  return (1n << BigInt(bits(family) - prefix)) - 1n;
}

/** The network of a CIDR: host bits cleared. */
export function networkOf(c: Cidr): Cidr {
  return { family: c.family, prefix: c.prefix, value: c.value & ~hostMask(c.family, c.prefix) };
}

export function lastAddress(c: Cidr): IP {
  return { family: c.family, value: networkOf(c).value | hostMask(c.family, c.prefix) };
}

export function hasHostBits(c: Cidr): boolean {
  return (c.value & hostMask(c.family, c.prefix)) !== 0n;
}

export function contains(net: Cidr, ip: IP): boolean {
  return net.family === ip.family && (ip.value & ~hostMask(net.family, net.prefix)) === networkOf(net).value;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return contains(a, b) || contains(b, a);
}

export const sameIP = (a: IP, b: IP): boolean => a.family === b.family && a.value === b.value;

export function addOffset(ip: IP, n: bigint): IP {
  return { family: ip.family, value: ip.value + n };
}

/** Network-order bytes, for netlink attributes. */
export function toBytes(ip: IP): Buffer {
  const len = ip.family === 4 ? 4 : 16;
  const out = Buffer.alloc(len);
  let v = ip.value;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 255n);
    v >>= 8n;
  }
  return out;
}

export function fromBytes(b: Buffer | Uint8Array): IP {
  if (b.length !== 4 && b.length !== 16) throw new Error(`address of ${b.length} bytes`);
  let v = 0n;
  for (const byte of b) v = (v << 8n) | BigInt(byte);
  return { family: b.length === 4 ? 4 : 6, value: v };
}

