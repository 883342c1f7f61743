// What the allocator needs from storage, and the ownership rules of the on-disk
// format shared with the reference host-local (https://github.com/containernetworking/plugins/blob/main/plugins/ipam/host-local/backend/disk/backend.go).
import { type IP, formatIP } from '../ip';
import type { Attachment } from '../cni/gc';

/** An attachment: the key host-local stores as the owner of an address. */
export type Owner = Attachment;

export interface Reservation {
  ip: IP;
  /** The directory entry; usually formatIP(ip), but a hand-made file may differ. */
  name: string;
  /** File content with surrounding white space trimmed; '' when empty or unreadable. */
  content: string;
}

/**
 * One locked session over a network's reservations. The caller holds the lock for
 * the whole session, so the snapshot taken when it opened stays true apart from
 * the session's own reserve/release calls, which keep it current.
 */
export interface Store {
  reservations(): readonly Reservation[];
  isReserved(ip: IP): boolean;
  /** Atomically claim `ip` for `owner`; false when something already holds it. */
  reserve(ip: IP, owner: Owner): boolean;
  /** Drop the reservation of `ip`; a missing one is not an error. */
  release(ip: IP): void;
  /** The round-robin marker of range set `index`, if present and parseable. */
  lastReserved(index: number): IP | undefined;
  setLastReserved(index: number, ip: IP): void;
  /** Was this reservation written in an earlier boot (lib/ipam/boot.ts)? Never a guess from file times. */
  fromEarlierBoot(r: Reservation): boolean;
}

/** `<containerID>\r\n<ifname>`, no trailing newline: byte-exact with the reference. */
export const ownerContent = (o: Owner): string => `${o.containerId.trim()}\r\n${o.ifName}`;

/**
 * Reservations belonging to `owner`. Files from before 2019 hold only the
 * container ID; like the reference, they count only when no file in the current
 * format matches, so a DEL of `net1` cannot free a legacy file that `eth0` of the
 * same container still owns. Empty files never match anybody.
 */
export function ownedBy(all: readonly Reservation[], owner: Owner): Reservation[] {
  const current = ownerContent(owner);
  const exact = all.filter((r) => r.content !== '' && r.content === current);
  if (exact.length > 0) return exact;
  const legacy = owner.containerId.trim();
  return all.filter((r) => r.content !== '' && r.content === legacy);
}

/**
 * Either format, for the duplicate-ADD check: the reference refuses a second
 * address in a range set when any file, new or legacy, names this container.
 */
export function ownedByAnyFormat(all: readonly Reservation[], owner: Owner): Reservation[] {
  const current = ownerContent(owner);
  const legacy = owner.containerId.trim();
  return all.filter((r) => r.content !== '' && (r.content === current || r.content === legacy));
}

/** An in-memory Store, for tests of the allocator and of callers. */
export class MemoryStore implements Store {
  /** File name → (address, raw content). */
  readonly files = new Map<string, { ip: IP; content: string }>();
  readonly markers = new Map<number, IP>();
  /** Every reserve() attempt, in order, successful or not. */
  readonly attempts: string[] = [];

  reservations(): Reservation[] {
    return [...this.files].map(([name, f]) => ({ ip: f.ip, name, content: f.content.trim() }));
  }

  isReserved(ip: IP): boolean {
    return this.files.has(formatIP(ip));
  }

  reserve(ip: IP, owner: Owner): boolean {
    const name = formatIP(ip);
    this.attempts.push(name);
    if (this.files.has(name)) return false;
    this.files.set(name, { ip, content: ownerContent(owner) });
    return true;
  }

  release(ip: IP): void {
    this.files.delete(formatIP(ip));
  }

  lastReserved(index: number): IP | undefined {
    return this.markers.get(index);
  }

  setLastReserved(index: number, ip: IP): void {
    this.markers.set(index, ip);
  }

  /** File names reserved in an earlier boot, for tests of the reboot reclaim. */
  readonly earlierBoot = new Set<string>();

  fromEarlierBoot(r: Reservation): boolean {
    return this.earlierBoot.has(r.name);
  }

  /** Seed a file with arbitrary content (a legacy owner, another container, garbage). */
  put(ip: IP, content: string): void {
    this.files.set(formatIP(ip), { ip, content });
  }
}
