// CNI 1.1 STATUS for host-local (https://github.com/containernetworking/cni/blob/main/SPEC.md#status-check-plugin-status):
// "can an ADD be served now?".
// containerd 2.x and CRI-O turn a failed STATUS into NetworkReady=false, which marks
// the whole node NotReady and, after the taint's grace period, evicts every pod on it.
// So code 50 means "no pod could get an address here": the network directory under
// dataDir cannot be created or written. Capacity (a full range) is not that: pods
// leave and free addresses, the ADD that hits the limit fails with a message naming
// it, and `cnictl doctor` reports it (range-capacity). The usage counters below serve
// doctor. Read-only: no lock is taken (that would create `lock` and queue behind
// ADDs), nothing is created.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, Code, errorText } from '../cni/errors';
import type { NetConf } from '../cni/types';
import { type IP, formatIP, tryParseIP } from '../ip';
import { parseIpamConfig } from './config';
import { networkDirOf } from './disk-read';
import { gcTarget } from './gc';
import { type RangeSet, rangeContains, rangeIndexOf } from './range';

const notAvailable = (msg: string): CniError => new CniError(Code.NotAvailable, msg);

/** Allocatable addresses of a set: every [rangeStart, rangeEnd], minus a gateway inside it. */
export function rangeSetSize(set: RangeSet): bigint {
  let n = 0n;
  for (const r of set) {
    n += r.rangeEnd.value - r.rangeStart.value + 1n;
    if (rangeContains(r, r.gateway)) n -= 1n;
  }
  return n;
}

/** Reserved addresses of `set` among `reserved` (gateways never count: the allocator skips them). */
export function reservedInSet(set: RangeSet, reserved: Iterable<IP>): bigint {
  let n = 0n;
  for (const ip of reserved) {
    const i = rangeIndexOf(set, ip);
    if (i >= 0 && ip.value !== set[i].gateway.value) n += 1n;
  }
  return n;
}

export interface SetUsage {
  index: number;
  size: bigint;
  used: bigint;
}

export const usage = (sets: readonly RangeSet[], reserved: readonly IP[]): SetUsage[] =>
  sets.map((set, index) => ({ index, size: rangeSetSize(set), used: reservedInSet(set, reserved) }));

/**
 * The addresses named by the entries of a network directory, each once (a
 * non-canonical spelling of the same address occupies nothing extra). Any entry
 * named by an address counts, file or not: the allocator cannot link over it either.
 */
export function reservedAddresses(dir: string): IP[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw notAvailable(`host-local: cannot list ${dir}: ${errorText(e)}`);
  }
  const seen = new Map<string, IP>();
  for (const n of names) {
    const ip = tryParseIP(n);
    if (ip) seen.set(formatIP(ip), ip);
  }
  return [...seen.values()];
}

/**
 * Would ADD be able to create and write `<dataDir>/<network>`? Checked with
 * stat/access only, so nothing is left behind: the directory itself when it exists,
 * else its nearest existing ancestor (ADD creates the missing levels).
 */
export function checkDataDir(dataDir: string, network: string): void {
  const fix = 'IP addresses cannot be reserved: make it a writable directory or point ipam.dataDir elsewhere';
  // ADD refuses a link inside the store (lib/ipam/disk-store.ts); links in dataDir are followed.
  const { dir, refused } = networkDirOf(dataDir, network);
  if (refused !== undefined) throw notAvailable(`${refused}; IP addresses cannot be reserved`);
  let cur = dir;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(cur);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw notAvailable(`host-local: data directory ${dir} is unusable (${cur}: ${errorText(e)}); ${fix}`);
    }
    if (st) {
      if (!st.isDirectory()) {
        throw notAvailable(`host-local: data directory ${dir} cannot be created: ${cur} exists and is not a directory; ${fix}`);
      }
      try {
        fs.accessSync(cur, fs.constants.W_OK | fs.constants.X_OK);
      } catch (e) {
        const what = cur === dir ? `${dir} is not writable` : `${dir} does not exist and ${cur} is not writable`;
        throw notAvailable(`host-local: ${what} (${errorText(e)}); ${fix}`);
      }
      if (cur === dir) {
        // An existing lock file must be openable, or every ADD fails on it.
        const lock = path.join(dir, 'lock');
        try {
          if (fs.existsSync(lock)) fs.accessSync(lock, fs.constants.R_OK);
        } catch (e) {
          throw notAvailable(`host-local: lock file ${lock} cannot be opened (${errorText(e)}); ${fix}`);
        }
      }
      return;
    }
    const parent = path.dirname(cur);
    if (parent === cur) throw notAvailable(`host-local: data directory ${dir} cannot be created: no ancestor exists; ${fix}`);
    cur = parent;
  }
}

/**
 * STATUS for host-local: throws CniError 50 with an operator-facing message when no
 * ADD can succeed, 7 for a config ADD would reject; returns when ready.
 */
export function hostLocalStatus(conf: NetConf): void {
  const { name, dataDir } = gcTarget(conf);
  checkDataDir(dataDir, name);
  // A config ADD would refuse (bad ranges) is code 7, as ADD answers it. Without static
  // ranges (they arrive with each ADD's runtimeConfig) there is nothing to check.
  if (hasStaticRanges((conf.ipam ?? {}) as Record<string, unknown>)) parseIpamConfig(conf, '');
}

/** Does the `ipam` object name ranges itself, or do they come only with ADD (runtimeConfig.ipRanges)? */
export function hasStaticRanges(ipam: Record<string, unknown>): boolean {
  return Object.keys(ipam).some((k) => {
    const l = k.toLowerCase();
    return (l === 'ranges' || l === 'subnet') && ipam[k] !== undefined && ipam[k] !== null;
  });
}
