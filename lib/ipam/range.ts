// Address ranges and the round-robin walk over a range set. Pure: no I/O.
// A range set is the unit host-local hands out one address from; the walk order
// has to match the reference plugin so that both implementations sharing one data
// directory keep spreading addresses the same way (https://github.com/containernetworking/plugins/tree/main/plugins/ipam/host-local/backend/allocator).
import { CniError, Code } from '../cni/errors';
import {
  type Cidr,
  type IP,
  addOffset,
  bits,
  contains,
  formatCidr,
  formatIP,
  hasHostBits,
  lastAddress,
  networkOf,
  sameIP,
  tryParseCidr,
  tryParseIP,
} from '../ip';

export interface Range {
  subnet: Cidr;
  /** First allocatable address, inclusive. */
  rangeStart: IP;
  /** Last allocatable address, inclusive. */
  rangeEnd: IP;
  gateway: IP;
}

/** One pool: the allocator returns one address per range set. Never empty. */
export type RangeSet = readonly Range[];

/** A range as written in the config, JSON types already checked. */
export interface RangeInput {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

const bad = (msg: string): CniError => new CniError(Code.InvalidConfig, msg);

function parseMember(field: string, text: string, subnet: Cidr): IP {
  const ip = tryParseIP(text);
  if (!ip) throw bad(`${field} "${text}" is not an IP address`);
  if (!contains(subnet, ip)) throw bad(`${field} ${formatIP(ip)} is not in network ${formatCidr(subnet)}`);
  return ip;
}

/** Validate one range and fill in the defaults the reference uses. */
export function canonicalizeRange(input: RangeInput): Range {
  const subnet = tryParseCidr(input.subnet);
  if (!subnet) throw bad(`subnet "${input.subnet}" is not a CIDR`);
  const width = bits(subnet.family);
  // A /31 or /32 (/127, /128) leaves nothing once network and gateway are taken.
  if (subnet.prefix > width - 2) throw bad(`network ${input.subnet} is too small to allocate from`);
  if (hasHostBits(subnet)) {
    const net = formatIP(networkOf(subnet));
    throw bad(`subnet ${input.subnet} has host bits set: the network address for /${subnet.prefix} is ${net}`);
  }
  const first = addOffset(subnet, 1n);
  const gateway = input.gateway !== undefined ? parseMember('gateway', input.gateway, subnet) : first;
  const rangeStart = input.rangeStart !== undefined ? parseMember('rangeStart', input.rangeStart, subnet) : first;
  let rangeEnd: IP;
  if (input.rangeEnd !== undefined) {
    rangeEnd = parseMember('rangeEnd', input.rangeEnd, subnet);
  } else {
    const last = lastAddress(subnet);
    // IPv4 keeps the broadcast address out; IPv6 has none, so its default end is
    // the true last address (the upstream docs' "::255" is imprecise).
    rangeEnd = subnet.family === 4 ? addOffset(last, -1n) : last;
  }
  if (rangeStart.value > rangeEnd.value) {
    throw bad(`rangeStart ${formatIP(rangeStart)} is after rangeEnd ${formatIP(rangeEnd)} in network ${formatCidr(subnet)}`);
  }
  return { subnet, rangeStart, rangeEnd, gateway };
}

/** Inside [rangeStart, rangeEnd] (which already implies inside the subnet). */
export function rangeContains(r: Range, ip: IP): boolean {
  return ip.family === r.subnet.family && ip.value >= r.rangeStart.value && ip.value <= r.rangeEnd.value;
}

/** Index of the range of `set` holding `ip`, or -1. */
export function rangeIndexOf(set: RangeSet, ip: IP): number {
  return set.findIndex((r) => rangeContains(r, ip));
}

export function rangesOverlap(a: Range, b: Range): boolean {
  if (a.subnet.family !== b.subnet.family) return false;
  return a.rangeStart.value <= b.rangeEnd.value && b.rangeStart.value <= a.rangeEnd.value;
}

/**
 * Some two overlapping ranges of `items`, or undefined. Sorted by family and start, any
 * overlap shows between neighbours (if no neighbour overlaps, each range ends before the
 * next begins), so n·log n instead of comparing every pair: a config with thousands of
 * ranges took seconds per ADD. `skip` ignores pairs that are allowed to meet.
 */
export function findOverlap<T extends { range: Range }>(items: readonly T[], skip: (a: T, b: T) => boolean = () => false): [T, T] | undefined {
  const sorted = [...items].sort((a, b) => {
    const fa = a.range.subnet.family;
    const fb = b.range.subnet.family;
    if (fa !== fb) return fa - fb;
    const sa = a.range.rangeStart.value;
    const sb = b.range.rangeStart.value;
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  });
  // Keep the range reaching furthest so far: a long range can cover several later ones.
  let widest: T | undefined;
  for (const cur of sorted) {
    if (widest && widest.range.subnet.family === cur.range.subnet.family && rangesOverlap(widest.range, cur.range) && !skip(widest, cur)) return [widest, cur];
    if (!widest || widest.range.subnet.family !== cur.range.subnet.family || cur.range.rangeEnd.value > widest.range.rangeEnd.value) widest = cur;
  }
  return undefined;
}

/** Checks that span the ranges of one set (each range is already canonical). */
export function validateRangeSet(set: RangeSet): void {
  if (set.length === 0) throw bad('empty range set');
  const family = set[0].subnet.family;
  if (set.some((r) => r.subnet.family !== family)) throw bad('mixed address families in one range set');
  const clash = findOverlap(set.map((range, i) => ({ range, i })));
  if (clash) {
    const [a, b] = clash[0].i < clash[1].i ? clash : [clash[1], clash[0]];
    throw bad(`range ${describeRange(a.range)} overlaps with range ${describeRange(b.range)}`);
  }
}

export const describeRange = (r: Range): string => `${formatIP(r.rangeStart)}-${formatIP(r.rangeEnd)}`;

/** "start-end,start-end": the text users grep for in exhaustion errors. */
export const describeRangeSet = (set: RangeSet): string => set.map(describeRange).join(',');

export interface Candidate {
  ip: IP;
  range: Range;
}

/**
 * Every allocatable address of `set` once, in the reference's round-robin order:
 * if `lastReserved` lies in the set, start just after it, run to the end of its
 * range, continue through the following ranges, wrap to the first, and offer
 * `lastReserved` itself last (so a crash-looping pod does not get its old address
 * straight back). Otherwise start at the first range's rangeStart. Each range's
 * gateway is skipped. Lazy: an IPv6 /64 is never materialised.
 */
export function* candidates(set: RangeSet, lastReserved?: IP): Generator<Candidate> {
  if (set.length === 0) return;
  const markerAt = lastReserved ? rangeIndexOf(set, lastReserved) : -1;
  let idx = markerAt >= 0 ? markerAt : 0;
  // `cur` is the position already consumed; `start` the first position offered,
  // which ends the walk when we come back to it.
  let cur: IP | undefined = markerAt >= 0 ? lastReserved : undefined;
  let start: IP | undefined;
  for (;;) {
    let r = set[idx];
    if (cur === undefined) {
      cur = r.rangeStart;
    } else if (cur.value === r.rangeEnd.value) {
      idx = (idx + 1) % set.length;
      r = set[idx];
      cur = r.rangeStart;
    } else {
      cur = addOffset(cur, 1n);
    }
    if (start === undefined) start = cur;
    else if (sameIP(cur, start)) return;
    if (sameIP(cur, r.gateway)) continue;
    yield { ip: cur, range: r };
  }
}
