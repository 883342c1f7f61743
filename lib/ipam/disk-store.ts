// The store's writing side: the locked session of ADD, DEL and GC. Layout and locking
// are those of the reference host-local so both can share <dataDir>/<network>: one file
// per address named by its canonical text, content "<id>\r\n<ifname>",
// `last_reserved_ip.<N>`, and flock(2) on `lock`
// (https://github.com/containernetworking/plugins/blob/main/plugins/ipam/host-local/backend/disk/backend.go).
// Reading without writing (CHECK) is disk-read.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, Code, errorText } from '../cni/errors';
import { type IP, formatIP, tryParseIP } from '../ip';
import { FileTooLarge, NotRegularFile, readRegularFile, writeAtomic, writeTempFile } from '../regular-file';
import { LOCK_FILE, addressKey, assertComponent, listNetworkDir, readSmall, storeDir } from './disk-read';
import { EWOULDBLOCK, LOCK_EX, LOCK_NB, LOCK_UN, native } from '../native';
import { type Owner, type Reservation, type Store, ownerContent } from './store';
import { BootRecord, fingerprintOf } from './boot';
import { log } from '../log';
import { sleepSync } from '../time';

export const LAST_RESERVED_PREFIX = 'last_reserved_ip.';
/** Scratch files start with a dot, so they never parse as an address. */
const TMP_PREFIX = '.tmp-';
export const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

export interface OpenOptions {
  /** ADD creates the network directory; DEL and CHECK find nothing to do without it. */
  create: boolean;
  lockTimeoutMs?: number;
}

const errnoOf = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;
const ioError = (what: string, e: unknown): CniError =>
  new CniError(Code.Internal, `host-local: ${what}: ${errorText(e)}`, undefined, { cause: e });


/**
 * flock(LOCK_EX) with a deadline: poll LOCK_NB with a 1→20 ms backoff instead of
 * blocking, so a stuck holder turns into "try again later" (code 11) rather than
 * a plugin hung until the runtime kills it.
 */
export function lockExclusive(fd: number, lockPath: string, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (let waited = false; ; waited = true) {
    const rc = native().flock(fd, LOCK_EX | LOCK_NB);
    if (rc === 0) return;
    if (rc !== EWOULDBLOCK) throw new CniError(Code.Internal, `host-local: flock ${lockPath} failed with errno ${rc}`);
    if (!waited) log.debug(`host-local: waiting for the lock on ${lockPath}`);
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new CniError(
        Code.TryAgainLater,
        `host-local: timed out after ${timeoutMs} ms waiting for the lock on ${lockPath}; another IPAM call is holding it`,
      );
    }
    sleepSync(Math.min(delay, left));
    delay = Math.min(delay * 2, 20);
  }
}

// Scratch files are written by writeTempFile (0600, exact, like the reference) and linked or
// renamed into place. No fsync, like the reference's: a power loss is a reboot, which takes
// every pod with it, and the boot-id record makes what the earlier boot reserved
// reclaimable (docs/crash-safety.md).
const temp = (dir: string, content: string): string => writeTempFile(dir, content, { tmpPrefix: TMP_PREFIX });

export class DiskStore implements Store {
  private readonly byName = new Map<string, Reservation>();

  /** Stray entries seen when the directory was read, reported once per call. */
  readonly strays: string[];
  private boot: BootRecord | undefined;

  /** Reads the directory once; call only while holding the lock. */
  constructor(readonly dir: string) {
    const listing = listNetworkDir(dir);
    // Only lock holders create scratch files, so one seen under the lock was left by
    // a holder that died mid-write.
    for (const name of listing.leftovers) fs.rmSync(path.join(dir, name), { force: true });
    for (const r of listing.reservations) this.byName.set(addressKey(r.ip, r.name), r);
    this.strays = listing.strays;
    if (this.strays.length > 0) {
      log.warn(`host-local: ${dir} holds entries that are not reservation files, left alone: ${this.strays.join(', ')}`);
    }
  }

  /**
   * ADD: record this boot before anything is reserved (lib/ipam/boot.ts). Every
   * regular reservation present now is from an earlier boot when the record is stale.
   */
  noteBoot(): void {
    const present = () =>
      [...this.byName.values()].map((r) => fingerprintOf(this.dir, r.name, r.content)).filter((f): f is NonNullable<typeof f> => f !== undefined);
    try {
      // Under the lock, so a temp file a kill leaves is removed by the next session.
      this.boot = BootRecord.note(this.dir, present, (file, text) => writeAtomic(file, text, { tmpPrefix: TMP_PREFIX }));
    } catch (e) {
      // A store that never had a record: without one nothing is ever reclaimed, and a
      // later ADD that records it finds no stale id, so it lists nothing as earlier.
      if (!BootRecord.read(this.dir).stale) {
        log.warn(`host-local: cannot record this boot in ${this.dir}: ${errorText(e)}`);
        return;
      }
      // A stale record must not outlive a reservation of this boot: the ADD that could
      // finally write it would take that reservation for an earlier boot's.
      throw new CniError(Code.TryAgainLater, `host-local: cannot record this boot in ${this.dir} before reserving: ${errorText(e)}`);
    }
  }

  fromEarlierBoot(r: Reservation): boolean {
    this.boot ??= BootRecord.read(this.dir);
    return this.boot.isEarlier(fingerprintOf(this.dir, r.name, r.content));
  }

  reservations(): Reservation[] {
    return [...this.byName.values()];
  }

  isReserved(ip: IP): boolean {
    return this.byName.has(formatIP(ip));
  }

  reserve(ip: IP, owner: Owner): boolean {
    const name = formatIP(ip);
    assertComponent(name, 'address');
    const content = ownerContent(owner);
    let tmp: string;
    try {
      tmp = temp(this.dir, content);
    } catch (e) {
      throw ioError(`cannot write a reservation for ${name} in ${this.dir}`, e);
    }
    try {
      // link(2) publishes a file that already has its content, and fails with
      // EEXIST exactly like O_EXCL: a crash can no longer leave an empty,
      // ownerless address file behind, as the reference can (it creates, then writes).
      fs.linkSync(tmp, path.join(this.dir, name));
    } catch (e) {
      if (errnoOf(e) === 'EEXIST') {
        this.byName.set(name, { ip, name, content: '' });
        return false;
      }
      throw ioError(`cannot reserve ${path.join(this.dir, name)}`, e);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    this.byName.set(name, { ip, name, content });
    return true;
  }

  release(ip: IP): void {
    const key = formatIP(ip);
    const name = this.byName.get(key)?.name ?? key;
    assertComponent(name, 'address');
    try {
      fs.unlinkSync(path.join(this.dir, name));
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw ioError(`cannot release ${path.join(this.dir, name)}`, e);
    }
    this.byName.delete(key);
  }

  lastReserved(index: number): IP | undefined {
    try {
      return tryParseIP(readSmall(path.join(this.dir, `${LAST_RESERVED_PREFIX}${index}`)).trim());
    } catch {
      return undefined; // absent or unreadable: start from rangeStart, as upstream
    }
  }

  setLastReserved(index: number, ip: IP): void {
    const file = path.join(this.dir, `${LAST_RESERVED_PREFIX}${index}`);
    try {
      writeAtomic(file, formatIP(ip), { tmpPrefix: TMP_PREFIX });
    } catch (e) {
      throw ioError(`cannot write ${file}`, e);
    }
  }

}

function ensureDir(dir: string): void {
  try {
    const created = fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (created === undefined) return;
    // mkdir honours the umask; the reference layout is 0755 for the network dir.
    fs.chmodSync(dir, 0o755);
  } catch (e) {
    throw ioError(`cannot create ${dir}`, e);
  }
}

/**
 * Run `fn` with the network's store open and its lock held, once per ADD/DEL/CHECK.
 * Returns undefined without calling `fn` when the directory does not exist and
 * `create` is false (nothing can be held there).
 */
export function withNetworkStore<T>(dataDir: string, network: string, opts: OpenOptions, fn: (s: DiskStore) => T): T | undefined {
  assertComponent(network, 'network name');
  // Before mkdir (which would follow a linked network dir and create it at its target)
  // and again after it, for a link swapped in between.
  const dir = storeDir(dataDir, network);
  if (opts.create) ensureDir(dir);
  else if (!fs.existsSync(dir)) return undefined;
  if (storeDir(dataDir, network) !== dir) throw new CniError(Code.InvalidConfig, `host-local: ${dir} changed while it was opened; refusing to use it`);

  const lockPath = path.join(dir, LOCK_FILE);
  let fd: number;
  try {
    // 0750 is what the reference (go-filemutex) creates; matching it keeps a
    // directory made by either implementation indistinguishable. O_NOFOLLOW: with
    // O_CREAT, a planted link would otherwise create (or open) its target.
    fd = fs.openSync(lockPath, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o750);
  } catch (e) {
    if (errnoOf(e) === 'ELOOP') throw new CniError(Code.InvalidConfig, `host-local: the lock file ${lockPath} is a symbolic link; refusing to follow it (remove it)`);
    throw ioError(`cannot open lock file ${lockPath}`, e);
  }
  try {
    lockExclusive(fd, lockPath, opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
    try {
      const store = new DiskStore(dir);
      if (opts.create) store.noteBoot();
      return fn(store);
    } finally {
      native().flock(fd, LOCK_UN);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Far beyond any real resolv.conf (glibc reads 3 nameservers and 6 search domains). */
export const MAX_RESOLV_CONF = 64 * 1024;

/**
 * Read the resolv.conf named by ipam.resolvConf: a regular file of at most
 * MAX_RESOLV_CONF bytes, else code 7 naming the field. A symlink IS followed
 * (/etc/resolv.conf is often one, to systemd-resolved's file); what it resolves to
 * is checked on the open fd (lib/regular-file.ts: no hang on a FIFO, no /dev/zero).
 */
export function readResolvConf(file: string): string {
  try {
    return readRegularFile(file, MAX_RESOLV_CONF).toString('utf8');
  } catch (e) {
    const why =
      e instanceof NotRegularFile
        ? `is not a regular file (it is ${e.type})`
        : e instanceof FileTooLarge
          ? `is larger than ${MAX_RESOLV_CONF} bytes`
          : undefined;
    if (why) throw new CniError(Code.InvalidConfig, `host-local: ipam.resolvConf ${file} ${why}`);
    throw new CniError(Code.InvalidConfig, `host-local: cannot read ipam.resolvConf ${file}: ${errorText(e)}`, undefined, { cause: e });
  }
}
