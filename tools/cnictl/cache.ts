// libcni's result cache, byte for byte (cacheAdd and getCachedResult in
// https://github.com/containernetworking/cni/blob/main/libcni/api.go): a runtime, cnitool and cnictl
// sharing one cache directory see each other's attachments, so GC finds what cnictl
// added and `cnictl del` gets the prevResult containerd cached.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_STDIN } from '../../lib/cni/conf';
import { CACHE_DIR } from '../../lib/cni/paths';
import { errorText } from '../../lib/cni/errors';
import { marshalGo } from '../../lib/gojson';
import { readRegularFile } from '../../lib/regular-file';

export const DEFAULT_CACHE_DIR = CACHE_DIR;
export const CACHE_KIND = 'cniCacheV1';

export interface CachedAttachment {
  containerId: string;
  ifName: string;
  networkName: string;
  netns: string;
  /** The list bytes the attachment was added with. */
  config: Buffer;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
  /** The final ADD result, as cached (any version). */
  result?: Record<string, unknown>;
}

export const resultsDir = (cacheDir: string): string => path.join(cacheDir, 'results');

export const cacheFile = (cacheDir: string, network: string, containerId: string, ifName: string): string =>
  path.join(resultsDir(cacheDir), `${network}-${containerId}-${ifName}`);

const isEmpty = (o: object | undefined): boolean => o === undefined || Object.keys(o).length === 0;

/** A record holds the list (≤ 1 MiB) in base64, plus the result and the arguments: 4 MiB is far beyond one. */
const MAX_CACHE_FILE = 4 * MAX_STDIN;
/** A cache file's text; never waits on a FIFO or reads a device planted in results/ (lib/regular-file.ts). */
const readCacheFile = (file: string): string => readRegularFile(file, MAX_CACHE_FILE).toString('utf8');

/**
 * The file's bytes as Go writes libcni's cachedInfo: struct fields in declaration order,
 * `config` as standard base64, `netns`/`cniArgs`/`capabilityArgs`/`result` left out when
 * empty (omitempty), maps (capabilityArgs, result) with their keys sorted at every level.
 * Go's result types hold `dns` as a struct, which omitempty never drops, so libcni's
 * cached result always has a `"dns":{}`; it is added here too, for identical bytes.
 */
export function serializeCache(a: CachedAttachment): string {
  const fields: [string, unknown][] = [
    ['kind', CACHE_KIND],
    ['containerId', a.containerId],
    ['config', a.config.toString('base64')],
    ['ifName', a.ifName],
    ['networkName', a.networkName],
  ];
  if (a.netns !== '') fields.push(['netns', a.netns]);
  if (a.cniArgs.length > 0) fields.push(['cniArgs', a.cniArgs]);
  if (!isEmpty(a.capabilityArgs)) fields.push(['capabilityArgs', a.capabilityArgs]);
  if (a.result && !isEmpty(a.result)) fields.push(['result', a.result.dns === undefined ? { ...a.result, dns: {} } : a.result]);
  return `{${fields.map(([k, v]) => `${marshalGo(k)}:${marshalGo(v)}`).join(',')}}`;
}

/** Parse a cache file's text; undefined when it is not a cniCacheV1 record (libcni then skips it). */
export function parseCache(text: string): CachedAttachment | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null || o.kind !== CACHE_KIND) return undefined;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const args = Array.isArray(o.cniArgs)
    ? o.cniArgs.filter((p): p is [string, string] => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'string'))
    : [];
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  return {
    containerId: str(o.containerId),
    ifName: str(o.ifName),
    networkName: str(o.networkName),
    netns: str(o.netns),
    config: Buffer.from(str(o.config), 'base64'),
    cniArgs: args,
    capabilityArgs: obj(o.capabilityArgs) ?? {},
    result: obj(o.result),
  };
}

/**
 * Written after a successful ADD: dir 0700, file 0600. The file is completed in a
 * temporary name beside `results/` (never inside it: libcni reads every file there as an
 * attachment) and renamed in, so a crash leaves no torn record for DEL to trip on.
 */
export function writeCache(cacheDir: string, a: CachedAttachment): string {
  const dir = resultsDir(cacheDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = cacheFile(cacheDir, a.networkName, a.containerId, a.ifName);
  const tmp = path.join(cacheDir, `.cnictl-${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, serializeCache(a));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  return file;
}

export type CacheRead = { state: 'absent' } | { state: 'ok'; attachment: CachedAttachment } | { state: 'legacy'; result: unknown } | { state: 'broken'; why: string };

/** The cache entry of one attachment. A file that is JSON but not cniCacheV1 is libcni's older format: the bare result. */
export function readCache(cacheDir: string, network: string, containerId: string, ifName: string): CacheRead {
  let text: string;
  try {
    text = readCacheFile(cacheFile(cacheDir, network, containerId, ifName));
  } catch (err) {
    // libcni ignores read errors: the cache may simply not exist.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'absent' };
    return { state: 'broken', why: errorText(err) };
  }
  const a = parseCache(text);
  if (a) return { state: 'ok', attachment: a };
  try {
    return { state: 'legacy', result: JSON.parse(text) };
  } catch (err) {
    return { state: 'broken', why: `not JSON: ${errorText(err)}` };
  }
}

export function deleteCache(cacheDir: string, network: string, containerId: string, ifName: string): boolean {
  try {
    fs.unlinkSync(cacheFile(cacheDir, network, containerId, ifName));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Every attachment in the cache (libcni GetCachedAttachments): files in name order, unreadable or foreign ones skipped. */
export function listAttachments(cacheDir: string): CachedAttachment[] {
  const dir = resultsDir(cacheDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: CachedAttachment[] = [];
  for (const name of names.sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))) {
    let text: string;
    try {
      text = readCacheFile(path.join(dir, name));
    } catch {
      continue;
    }
    const a = parseCache(text);
    if (a && a.ifName !== '' && a.networkName !== '') out.push(a);
  }
  return out;
}
