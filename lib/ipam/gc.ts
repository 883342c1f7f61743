// CNI 1.1 GC for host-local (https://github.com/containernetworking/cni/blob/main/SPEC.md#gc-clean-up-any-stale-resources):
// release every reservation of one
// network whose owner is not among the attachments the runtime still considers
// valid. The reference has no GC at all (plugins#1047), so leaked addresses pile up
// until the range is exhausted (containernetworking/plugins#252, #1047).
//
// Two safety rules shape this module:
// - a config without the attachment list is a no-op, never "release everything":
//   several runtimes may share a network, and one that sends no list knows nothing
//   about the others' attachments (cni#1086);
// - only regular files named by an address are candidates; `lock`,
//   `last_reserved_ip.*`, other networks' directories and anything else are never
//   looked at, let alone removed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, Code, errorText } from '../cni/errors';
import type { NetConf } from '../cni/types';
import { log } from '../log';
import { DEFAULT_DATA_DIR } from './config';
import { networkDirOf } from './disk-read';
import { withNetworkStore } from './disk-store';
import type { Owner, Reservation, Store } from './store';
import { VALID_ATTACHMENTS_KEY, gcDisabled, validAttachments } from '../cni/gc';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (msg: string): CniError => new CniError(Code.InvalidConfig, msg);


/** Who a reservation file names, as far as its content tells. */
export type FileOwner =
  | { kind: 'current'; containerId: string; ifName: string }
  | { kind: 'legacy'; containerId: string }
  | { kind: 'garbage' };

/**
 * Content (already trimmed) → owner. `<id>\r\n<ifname>` is the format both
 * implementations write; a bare `<id>` is the pre-2019 one. A lone LF separator is
 * accepted too: keeping a file someone else wrote is the safe mistake.
 */
export function parseOwner(content: string): FileOwner {
  if (content === '') return { kind: 'garbage' };
  const lines = content.split(/\r?\n/);
  if (lines.length === 1 && !content.includes('\r')) return { kind: 'legacy', containerId: content };
  if (lines.length === 2 && lines[0].trim() !== '' && lines[1] !== '' && !/[\r\n]/.test(lines[1])) {
    return { kind: 'current', containerId: lines[0].trim(), ifName: lines[1] };
  }
  return { kind: 'garbage' };
}

/** What survives GC: exact (id, ifname) pairs, and ids alone for legacy files. */
export class Keep {
  private readonly pairs = new Set<string>();
  private readonly ids = new Set<string>();
  constructor(valid: readonly Owner[]) {
    for (const a of valid) {
      const id = a.containerId.trim();
      this.ids.add(id);
      this.pairs.add(`${id}\0${a.ifName}`);
    }
  }
  has(owner: FileOwner): boolean {
    if (owner.kind === 'current') return this.pairs.has(`${owner.containerId}\0${owner.ifName}`);
    if (owner.kind === 'legacy') return this.ids.has(owner.containerId);
    return false;
  }
}

export interface GcReport {
  released: { name: string; why: string }[];
  kept: number;
  /** Kept because they appeared after this GC began (an ADD it waited for): their owners. */
  young: Owner[];
  /** Entries left alone because GC cannot tell what they are (not a regular file, unreadable). */
  skipped: { name: string; why: string }[];
  failures: string[];
}

/**
 * A reservation whose content came back empty is either really empty or blank (a
 * crash between create and write in the reference, which GC may reclaim) or
 * something GC must not touch: not a regular file, or a file it cannot read.
 */
export type BlankInspector = (r: Reservation) => { reclaim: true } | { reclaim: false; why: string };

const describeOwner = (o: FileOwner): string =>
  o.kind === 'current' ? `owner ${o.containerId}/${o.ifName}` : o.kind === 'legacy' ? `legacy owner ${o.containerId}` : 'no recognisable owner';

/**
 * Release, over an open (locked) store, every reservation not owned by `valid`.
 * Goes on past failures; the caller decides what to do with them.
 */
export function collectGarbage(store: Store, valid: readonly Owner[], inspectBlank: BlankInspector, network = '', isYoung: (r: Reservation) => boolean = () => false): GcReport {
  const keep = new Keep(valid);
  const report: GcReport = { released: [], kept: 0, young: [], skipped: [], failures: [] };
  for (const r of [...store.reservations()]) {
    const owner = parseOwner(r.content);
    if (keep.has(owner)) {
      report.kept++;
      continue;
    }
    if (isYoung(r)) {
      // The runtime never overlaps GC with ADD (https://github.com/containernetworking/cni/blob/main/SPEC.md#lifecycle--ordering),
      // but if one did, its list was
      // made before this reservation existed: never take an address an ADD just got.
      if (owner.kind === 'current') report.young.push({ containerId: owner.containerId, ifName: owner.ifName });
      log.warn(`host-local GC: network "${network}": kept ${r.name} (${describeOwner(owner)}): reserved after this GC began`);
      continue;
    }
    if (r.content === '') {
      const verdict = inspectBlank(r);
      if (!verdict.reclaim) {
        report.skipped.push({ name: r.name, why: verdict.why });
        continue;
      }
    }
    const why = r.content === '' ? 'empty file (no owner recorded)' : describeOwner(owner);
    try {
      store.release(r.ip);
      report.released.push({ name: r.name, why });
      log.info(`host-local GC: network "${network}": released ${r.name} (${why}, not among the valid attachments)`);
    } catch (e) {
      report.failures.push(`${r.name}: ${errorText(e)}`);
    }
  }
  return report;
}

/** The BlankInspector for a directory on disk: lstat, then prove the file can be opened. */
export function diskBlankInspector(dir: string): BlankInspector {
  return (r) => {
    const file = path.join(dir, r.name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(file);
    } catch (e) {
      return { reclaim: false, why: `cannot stat: ${errorText(e)}` };
    }
    if (!st.isFile()) return { reclaim: false, why: 'not a regular file' };
    if (st.size > 0) {
      // Blank, oversized or unreadable: only the first two are ours to reclaim.
      try {
        fs.closeSync(fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK));
      } catch (e) {
        return { reclaim: false, why: `unreadable: ${errorText(e)}` };
      }
    }
    return { reclaim: true };
  };
}

/** Just what GC needs from the IPAM config: no ranges (they may come only with ADD's runtimeConfig). */
export function gcTarget(conf: NetConf): { name: string; dataDir: string } {
  const ipam = conf.ipam;
  if (!isObj(ipam)) throw bad('host-local: the config has no "ipam" object');
  const name = conf.name;
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) {
    throw bad(`invalid network name ${JSON.stringify(name)}: it becomes a directory name under dataDir`);
  }
  // Same lookup as parseIpamConfig: exact key, then case-insensitive (Go's decoder).
  const k = 'dataDir' in ipam ? 'dataDir' : Object.keys(ipam).find((x) => x.toLowerCase() === 'datadir');
  const raw = k === undefined ? undefined : (ipam[k] ?? undefined);
  if (raw !== undefined && typeof raw !== 'string') throw bad(`ipam.dataDir must be a string, got ${JSON.stringify(raw)}`);
  const dataDir = raw ?? DEFAULT_DATA_DIR;
  if (dataDir === '' || dataDir.includes('\0')) throw bad(`ipam.dataDir ${JSON.stringify(dataDir)} is not a usable path`);
  return { name, dataDir };
}

/**
 * The reservations present before GC waits for the lock, by name and inode: anything
 * else it finds once it holds the lock was reserved by an ADD that ran meanwhile.
 */
function presentNow(dir: string): Set<string> {
  const out = new Set<string>();
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    try {
      out.add(`${n}\0${fs.lstatSync(path.join(dir, n)).ino}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * host-local GC for `conf`: under the network's lock, one directory read, then every
 * reservation whose owner is not valid is released, except one that appeared after
 * this GC began. `whileLocked` runs under the same lock with that report (the bridge
 * cleans the network's rules there, keeping those of young attachments too); without
 * a network directory it runs unlocked with an empty report. No list (or disableGC) →
 * nothing at all.
 */
export function hostLocalGc(conf: NetConf, opts: { lockTimeoutMs?: number; whileLocked?: (r: GcReport) => void } = {}): GcReport | undefined {
  if (gcDisabled(conf)) return undefined;
  const valid = validAttachments(conf);
  if (!valid) {
    log.info(`host-local GC: network "${conf.name}": no "${VALID_ATTACHMENTS_KEY}" in the config; nothing released`);
    return undefined;
  }
  const { name, dataDir } = gcTarget(conf);
  const dir = networkDirOf(dataDir, name).dir ?? path.join(dataDir, name);
  const before = presentNow(dir);
  const isYoung = (r: Reservation): boolean => {
    try {
      return !before.has(`${r.name}\0${fs.lstatSync(path.join(dir, r.name)).ino}`);
    } catch {
      return false;
    }
  };
  const report = withNetworkStore(dataDir, name, { create: false, lockTimeoutMs: opts.lockTimeoutMs }, (store) => {
    const r = collectGarbage(store, valid.attachments, diskBlankInspector(dir), name, isYoung);
    opts.whileLocked?.(r);
    return r;
  });
  if (!report) {
    opts.whileLocked?.({ released: [], kept: 0, young: [], skipped: [], failures: [] });
    return undefined; // no directory: nothing was ever reserved here
  }
  for (const s of report.skipped) log.warn(`host-local GC: network "${name}": left ${path.join(dir, s.name)} alone: ${s.why}`);
  if (report.failures.length > 0) {
    throw new CniError(Code.Internal, `host-local GC: network "${name}": failed to release ${report.failures.join('; ')}`);
  }
  return report;
}
