// Reading a network's store without changing it: no lock taken or created, no leftover
// removed. CHECK reads only through this module (CHECK only probes an attachment), and
// disk-store.ts reads through it too, so both see the directory the same way. Layout as
// the reference host-local's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, Code, errorText } from '../cni/errors';
import { type IP, formatIP, tryParseIP } from '../ip';
import { FileTooLarge, readRegularFile, resolveConfiguredDir } from '../regular-file';
import type { Reservation } from './store';

export const LOCK_FILE = 'lock';
/** Exactly the scratch names disk-store.ts makes: nothing else is ever taken for a leftover. */
export const TMP_RE = /^\.tmp-[0-9a-f]{16}$/;

/** Defence in depth: every name we join under dataDir must be a single component. */
export function assertComponent(name: string, what: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new CniError(Code.Internal, `host-local: refusing ${what} ${JSON.stringify(name)} as a file name`);
  }
}

/**
 * A reservation holds "<id>\r\n<ifname>". No container ID can be longer than one
 * environment string (the kernel's MAX_ARG_STRLEN, 128 KiB, "CNI_CONTAINERID=" included),
 * so every reservation any runtime can cause fits under this bound and is read whole:
 * DEL and GC must be able to read what ADD wrote, however long the ID.
 */
export const MAX_RESERVATION_BYTES = 128 * 1024 + 64;

/** A reservation file's content ('' when too big to be one). Never follows a link, waits on a FIFO or reads a device. */
export function readSmall(file: string): string {
  try {
    return readRegularFile(file, MAX_RESERVATION_BYTES, { noFollow: true }).toString('utf8');
  } catch (e) {
    if (e instanceof FileTooLarge) return '';
    throw e;
  }
}

/**
 * readSmall for a listing, where readdir already said "regular file": a reservation is
 * "<id>\r\n<ifname>", almost always far below one page, so it is read into one shared
 * buffer without fstat (open, read, the read that finds the end, close: the reference's
 * os.ReadFile makes one call more); only a file that fills the buffer takes readSmall's
 * way (fstat, sized buffer, the limit). 10,000 reservations are read on every ADD, as the
 * reference reads them. A short read is not taken for the end (FUSE may return one), or a
 * cut owner would name another container. O_NONBLOCK and O_NOFOLLOW as readSmall: an entry
 * swapped for a FIFO (pread: ESPIPE) or a link since the listing fails, never waits.
 */
function readListed(file: string, page: Buffer): string {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
  let n = 0;
  try {
    for (let got = -1; got !== 0 && n < page.length; n += got) got = fs.readSync(fd, page, n, page.length - n, n);
  } finally {
    fs.closeSync(fd);
  }
  return n < page.length ? page.toString('utf8', 0, n) : readSmall(file);
}

/**
 * The canonical text of the address a directory entry is named by: a strict dotted quad
 * is its own (the parser takes exactly what formatIP prints), IPv6 has several spellings.
 * Saves formatting every name of a large store on each call.
 */
export const addressKey = (ip: IP, name: string): string => (ip.family === 4 ? name : formatIP(ip));

function entryKind(ent: fs.Dirent): string {
  if (ent.isDirectory()) return 'a directory';
  if (ent.isFIFO()) return 'a FIFO';
  if (ent.isSocket()) return 'a socket';
  if (ent.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

export interface NetworkDirListing {
  /** Every address the directory occupies, by its canonical text (a stray occupies its name too). */
  reservations: Reservation[];
  /** Entries that are not reservation files, described for a warning. */
  strays: string[];
  /** Scratch files a writer killed mid-write left behind (only a lock holder may remove them). */
  leftovers: string[];
}

/** One read of the directory; changes nothing. */
export function listNetworkDir(dir: string): NetworkDirListing {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new CniError(Code.Internal, `host-local: cannot list ${dir}: ${errorText(e)}`, undefined, { cause: e });
  }
  const byName = new Map<string, Reservation>();
  const out: NetworkDirListing = { reservations: [], strays: [], leftovers: [] };
  const page = Buffer.allocUnsafe(4096);
  for (const ent of entries) {
    if (TMP_RE.test(ent.name) && ent.isFile()) {
      out.leftovers.push(ent.name);
      continue;
    }
    const ip = tryParseIP(ent.name);
    if (!ent.isFile()) {
      // A directory, FIFO, socket or link someone left here is not ours: skip it
      // rather than fail every ADD, DEL and GC of the network on it. Named by an
      // address it still occupies that address (nothing can be linked over it).
      out.strays.push(`${ent.name} (${entryKind(ent)})`);
      if (ip) byName.set(addressKey(ip, ent.name), { ip, name: ent.name, content: '' });
      continue;
    }
    if (!ip) continue;
    let content = '';
    try {
      content = readListed(path.join(dir, ent.name), page).trim();
    } catch {
      // Unreadable: still occupies the address, owned by nobody we can name.
    }
    byName.set(addressKey(ip, ent.name), { ip, name: ent.name, content });
  }
  out.reservations = [...byName.values()];
  return out;
}

/**
 * The network's directory: `<ipam.dataDir>/<network>` with every link in dataDir's own
 * path resolved once, as the reference follows them (/var/lib on another disk is a
 * link). Inside the store nothing is followed: the network directory and its lock must
 * not be links, or every reservation, unlink and lock would land wherever they point.
 * Returns the directory, or why the layout is refused; lstat only, nothing is created.
 */
export function networkDirOf(dataDir: string, network: string): { dir: string; refused?: undefined } | { dir?: undefined; refused: string } {
  let base: string;
  try {
    base = resolveConfiguredDir(dataDir);
  } catch (e) {
    return { refused: `host-local: "ipam.dataDir" ${dataDir} cannot be used: ${errorText(e)}` };
  }
  const dir = path.join(base, network);
  const checks: [string, string][] = [
    [dir, `the network directory ${dir} (network "${network}" under ipam.dataDir) is a symbolic link; refusing to write through it (replace it with a real directory)`],
    [path.join(dir, LOCK_FILE), `the lock file ${path.join(dir, LOCK_FILE)} is a symbolic link; refusing to follow it (remove it)`],
  ];
  for (const [p, why] of checks) {
    try {
      if (fs.lstatSync(p).isSymbolicLink()) return { refused: `host-local: ${why}` };
    } catch {
      break; // absent (or unreadable, which the open reports): nothing below it to check
    }
  }
  return { dir };
}

/** networkDirOf, or code 7 with the reason. */
export function storeDir(dataDir: string, network: string): string {
  const r = networkDirOf(dataDir, network);
  if (r.refused !== undefined) throw new CniError(Code.InvalidConfig, r.refused);
  return r.dir;
}

/**
 * The network's reservations for CHECK, or undefined without the directory. No lock:
 * taking one would create `lock` where there is none, and queue CHECK behind every ADD
 * and DEL of the node (up to the lock timeout, then code 11, which a runtime that CHECKs
 * right after ADD turns into a failed pod). Nor is one needed for CHECK's question,
 * "does this attachment still hold an address": the runtime never runs two calls for
 * one attachment at once (https://github.com/containernetworking/cni/blob/main/SPEC.md#lifecycle--ordering),
 * so only other attachments' files can change
 * meanwhile; ours are published whole (link(2)), the reference's are written in one
 * write(2), and an empty or other owner's file never matches this owner. readdir(3)
 * returns every entry not added or removed during the listing.
 */
export function readReservations(dataDir: string, network: string): Reservation[] | undefined {
  assertComponent(network, 'network name');
  const dir = storeDir(dataDir, network);
  if (!fs.existsSync(dir)) return undefined;
  return listNetworkDir(dir).reservations;
}
