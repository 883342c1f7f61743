// Which reservations were written before this boot, decided from the kernel's boot id
// (a random UUID per boot), never from file times: a clock that steps, a copied file
// or a restored backup gives a live reservation an old mtime.
//
// One file beside the reservations, `boot_id`, which the reference host-local ignores
// (it only ever compares a file's content with "<id>\r\n<ifname>"): its first line is
// the boot id of the last ADD we served on this store, the rest (JSON) the reservations
// present when that boot first saw the store. The first ADD of a new boot (under the store's lock, before it reserves anything)
// finds boot_id stale: everything present then was reserved in an earlier boot, and is
// recorded with a fingerprint (inode, size, mtime, owner) so a file re-created later in
// this boot under the same name never matches. Without any boot_id (a store the
// reference or an older release made) nothing is known about boots, so nothing counts
// as earlier until the next reboot records it: the conservative direction.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRegularFile } from '../regular-file';
import { UUID_RE, currentBootId } from '../bootid';

export const BOOT_ID_FILE = 'boot_id';
// A /8 of reservations with their fingerprints stays far below this.
const MAX_RECORD = 256 << 20;

/** What identifies one reservation file: the same name re-created later differs in at least one of these. */
export interface Fingerprint {
  name: string;
  ino: number;
  size: number;
  mtimeNs: string;
  owner: string;
}

export function fingerprintOf(dir: string, name: string, owner: string): Fingerprint | undefined {
  try {
    const st = fs.lstatSync(path.join(dir, name), { bigint: true });
    if (!st.isFile()) return undefined;
    return { name, ino: Number(st.ino), size: Number(st.size), mtimeNs: String(st.mtimeNs), owner };
  } catch {
    return undefined;
  }
}

const sameFingerprint = (a: Fingerprint, b: Fingerprint): boolean =>
  a.name === b.name && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.owner === b.owner;

/** The boot id recorded in `dir`, '' when there is none (or it is not a boot id). */
export function recordedBootId(dir: string): string {
  try {
    const fd = fs.openSync(path.join(dir, BOOT_ID_FILE), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      // Only the first line, whatever the size of the list below it.
      const head = Buffer.alloc(40);
      const n = fs.readSync(fd, head, 0, head.length, 0);
      const id = head.subarray(0, n).toString('latin1').split('\n')[0].trim();
      return UUID_RE.test(id) ? id : '';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function readBeforeBoot(dir: string): Fingerprint[] {
  try {
    const text = readRegularFile(path.join(dir, BOOT_ID_FILE), MAX_RECORD, { noFollow: true }).toString('utf8');
    const nl = text.indexOf('\n');
    if (nl < 0) return [];
    const list: unknown = JSON.parse(text.slice(nl + 1));
    if (!Array.isArray(list)) return [];
    return list.filter(
      (f): f is Fingerprint =>
        !!f && typeof f.name === 'string' && typeof f.ino === 'number' && typeof f.size === 'number' && typeof f.mtimeNs === 'string' && typeof f.owner === 'string',
    );
  } catch {
    return []; // absent or torn: nothing is known to predate this boot
  }
}

/**
 * The set of reservations that predate this boot. `write` (any temp-then-rename
 * writer) is used only when this call is the first of a new boot on the store; the
 * caller must hold the store's lock and call this before reserving anything.
 */
export class BootRecord {
  private earlier: Fingerprint[] | undefined;

  private constructor(
    private readonly dir: string,
    /** This boot's id was already recorded when the store was opened. */
    readonly known: boolean,
    /** A record of an earlier boot is in place (this boot not yet recorded). */
    readonly stale: boolean,
  ) {}

  /** Read only: what the record says now, without writing (STATUS, doctor, DEL and GC). */
  static read(dir: string): BootRecord {
    const now = currentBootId();
    const recorded = recordedBootId(dir);
    return new BootRecord(dir, !!now && recorded === now, !!now && recorded !== '' && recorded !== now);
  }

  /**
   * ADD: note this boot. On the first ADD of a new boot, `present` (every regular
   * reservation file now in the store, with its owner) becomes the earlier-boot set.
   */
  static note(dir: string, present: () => Fingerprint[], write: (file: string, text: string) => void): BootRecord {
    const now = currentBootId();
    const rec = BootRecord.read(dir);
    if (!now || rec.known) return rec;
    // Stale: our store from an earlier boot. Absent: a store we never served before, where
    // nothing is known about boots, so the set stays empty until a later boot records it.
    let earlier = rec.stale ? present() : [];
    const file = path.join(dir, BOOT_ID_FILE);
    try {
      write(file, earlier.length ? `${now}\n${JSON.stringify(earlier)}` : now);
    } catch (e) {
      if (!earlier.length) throw e;
      // The list did not fit (a full disk: it is ~170 bytes a reservation). Record this
      // boot alone, giving up reclaiming for this boot: a stale record left in place would
      // make a later ADD of this boot, once the disk has room, list this boot's own
      // reservations as earlier ones.
      write(file, now);
      earlier = [];
    }
    const fresh = new BootRecord(dir, true, false);
    fresh.earlier = earlier;
    return fresh;
  }

  /** Was this reservation written before this boot? Never true for one of this boot, whatever its times say. */
  isEarlier(fp: Fingerprint | undefined): boolean {
    if (!fp) return false;
    // Read-only view of a store whose boot id is stale: nothing of this boot has been
    // reserved by us yet, so everything present is earlier (STATUS and doctor before the first ADD).
    if (this.stale) return true;
    if (!this.known) return false;
    this.earlier ??= readBeforeBoot(this.dir);
    return this.earlier.some((e) => sameFingerprint(e, fp));
  }
}
