// Allocation and release over a Store. No I/O of its own: the caller opens the
// store (and holds its lock) once for the whole ADD/DEL/CHECK, where the reference
// locks and rescans the directory per range set.
import { CniError, Code, errorText, wrapError } from '../cni/errors';
import { type IP, formatIP, sameIP } from '../ip';
import { log } from '../log';
import { type Range, type RangeSet, candidates, describeRangeSet, rangeIndexOf } from './range';
import { type Owner, type Store, ownedBy, ownedByAnyFormat, ownerContent } from './store';

export interface Allocation {
  ip: IP;
  range: Range;
  /** Index of the range set the address came from (one allocation per set). */
  rangeSet: number;
}

const internal = (msg: string): CniError => new CniError(Code.Internal, msg);

function mark(store: Store, index: number, ip: IP): void {
  // The marker only steers round-robin; losing it must not fail an ADD whose
  // reservation already succeeded (upstream fails and leaks the address).
  try {
    store.setLastReserved(index, ip);
  } catch (e) {
    log.warn(`host-local: could not record last_reserved_ip.${index}: ${errorText(e)}`);
  }
}

/**
 * One address per attachment per range set (upstream PR #328): a second ADD without
 * DEL is an error, not a second address. Checked for requested addresses too, which
 * the reference skips: an attachment holding two addresses in one set is one that a
 * failed retry (or GC) can take the live address from.
 */
function refuseDuplicate(store: Store, set: RangeSet, owner: Owner): void {
  for (const held of ownedByAnyFormat(store.reservations(), owner)) {
    if (rangeIndexOf(set, held.ip) >= 0) {
      // The reference's words, which operators search for; the attachment is left as it is.
      throw internal(`${formatIP(held.ip)} has been allocated to ${owner.containerId}, duplicate allocation is not allowed`);
    }
  }
}

function allocateRequested(store: Store, set: RangeSet, index: number, owner: Owner, ip: IP): Allocation {
  refuseDuplicate(store, set, owner);
  const range = set[rangeIndexOf(set, ip)];
  if (sameIP(ip, range.gateway)) throw internal(`requested IP ${formatIP(ip)} is the gateway of its subnet`);
  if (!store.reserve(ip, owner)) {
    throw internal(`requested IP address ${formatIP(ip)} is not available in range set ${describeRangeSet(set)}`);
  }
  mark(store, index, ip);
  return { ip, range, rangeSet: index };
}

function allocateNext(store: Store, set: RangeSet, index: number, owner: Owner): Allocation {
  refuseDuplicate(store, set, owner);
  for (let attempt = 0; attempt < 2; attempt++) {
    for (const c of candidates(set, store.lastReserved(index))) {
      // Skip what the snapshot already shows as taken without a syscall; reserve()
      // stays the authority (a tool that ignores the lock may have raced us).
      if (store.isReserved(c.ip) || !store.reserve(c.ip, owner)) continue;
      mark(store, index, c.ip);
      return { ip: c.ip, range: c.range, rangeSet: index };
    }
    if (attempt > 0 || reclaimFromBeforeBoot(store, set) === 0) break;
  }
  throw internal(`no IP addresses available in range set: ${describeRangeSet(set)}`);
}

/**
 * The reference leaks every address after a reboot: pods never got their DEL
 * (plugins#252, kubernetes#108121) and the range fills up. No network namespace
 * survives a reboot, and every sandbox is recreated under a new container ID, so a
 * reservation written in an earlier boot (by the kernel's boot id, lib/ipam/boot.ts)
 * provably belongs to nobody. Only when the range is exhausted are they reclaimed, so
 * a node that never fills up keeps the reference's behaviour exactly. Returns how many
 * were released.
 */
export function reclaimFromBeforeBoot(store: Store, set: RangeSet): number {
  let released = 0;
  for (const r of store.reservations()) {
    if (rangeIndexOf(set, r.ip) < 0 || !store.fromEarlierBoot(r)) continue;
    try {
      store.release(r.ip);
      released++;
      log.warn(`host-local: range ${describeRangeSet(set)} is full; reclaimed ${formatIP(r.ip)} (owner ${JSON.stringify(r.content)}), reserved in an earlier boot`);
    } catch (e) {
      log.warn(`host-local: could not reclaim ${formatIP(r.ip)}: ${errorText(e)}`);
    }
  }
  return released;
}

/**
 * One address per range set. A requested (static) IP is served by the first set
 * containing it; every request must be served. On any failure the addresses
 * reserved by this call, and only those, are released before rethrowing.
 */
export function allocate(store: Store, sets: readonly RangeSet[], owner: Owner, requested: readonly IP[] = []): Allocation[] {
  const pending = [...requested];
  const done: Allocation[] = [];
  try {
    sets.forEach((set, index) => {
      const want = pending.findIndex((ip) => rangeIndexOf(set, ip) >= 0);
      const ip = want >= 0 ? pending.splice(want, 1)[0] : undefined;
      try {
        done.push(ip ? allocateRequested(store, set, index, owner, ip) : allocateNext(store, set, index, owner));
      } catch (e) {
        throw wrapError(e, `failed to allocate for range ${index}`);
      }
    });
    if (pending.length > 0) throw internal(`failed to allocate all requested IPs: ${pending.map(formatIP).join(' ')}`);
    return done;
  } catch (e) {
    for (const a of done) {
      try {
        store.release(a.ip);
      } catch (re) {
        log.warn(`host-local: rollback could not release ${formatIP(a.ip)}: ${errorText(re)}`);
      }
    }
    throw e;
  }
}

/**
 * Release every address `owner` holds, whatever range it is in (ranges may have
 * changed since ADD). Goes on past failures and reports them all at the end, so a
 * DEL frees as much as it can. Returns the released addresses.
 */
export function releaseOwner(store: Store, owner: Owner): IP[] {
  const released: IP[] = [];
  const failures: string[] = [];
  for (const r of ownedBy(store.reservations(), owner)) {
    try {
      store.release(r.ip);
      released.push(r.ip);
    } catch (e) {
      failures.push(`${r.name}: ${errorText(e)}`);
    }
  }
  if (failures.length > 0) throw internal(`host-local: failed to release ${failures.join('; ')}`);
  return released;
}

/**
 * Undo of one ADD: release exactly `ips`, each only while `owner` still holds it in the
 * current format (what this ADD wrote), never by owner alone: an attachment may hold
 * other addresses that this ADD did not reserve.
 */
export function releaseReserved(store: Store, owner: Owner, ips: readonly IP[]): void {
  const written = ownerContent(owner);
  const mine = new Set(store.reservations().filter((r) => r.content === written).map((r) => formatIP(r.ip)));
  const failures: string[] = [];
  for (const ip of ips) {
    if (!mine.has(formatIP(ip))) continue;
    try {
      store.release(ip);
    } catch (e) {
      failures.push(`${formatIP(ip)}: ${errorText(e)}`);
    }
  }
  if (failures.length > 0) throw internal(`host-local: failed to release ${failures.join('; ')}`);
}

