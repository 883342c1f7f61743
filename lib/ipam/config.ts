// host-local's view of the plugin config. Pure: every problem is a CniError with
// code 7 (invalid network config) whose message names the offending field, where
// the reference returns an unlabelled 999.
import { log } from '../log';
import { CniError, Code, wrapError } from '../cni/errors';
import type { DNS, NetConf, Route } from '../cni/types';
import { type IP, formatIP, tryParseCidr, tryParseIP } from '../ip';
import { type RangeInput, type RangeSet, canonicalizeRange, findOverlap, validateRangeSet } from './range';

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

export interface IpamConfig {
  /** Network name: the directory under dataDir. */
  name: string;
  dataDir: string;
  /** runtimeConfig.ipRanges, then the legacy top-level range, then `ranges`. */
  rangeSets: RangeSet[];
  /** Copied into the result as given. */
  routes: Route[];
  resolvConf?: string;
  /** Static requests (CNI_ARGS IP, args.cni.ips, runtimeConfig.ips), deduplicated, in that order. */
  requestedIPs: IP[];
}

type Obj = Record<string, unknown>;

const bad = (msg: string): CniError => new CniError(Code.InvalidConfig, msg);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Field lookup as Go's encoding/json does it: exact key first, then any key that
 * matches case-insensitively. containerd sends runtimeConfig.ipRanges with Go
 * field names (`Subnet`, `RangeStart`) because its structs carry no JSON tags
 * (containerd/go-cni). JSON null counts as absent, as in Go.
 */
function field(o: Obj, key: string): unknown {
  if (key in o) return o[key] ?? undefined;
  const lower = key.toLowerCase();
  const k = Object.keys(o).find((x) => x.toLowerCase() === lower);
  return k === undefined ? undefined : (o[k] ?? undefined);
}

function optString(o: Obj, key: string, where: string): string | undefined {
  const v = field(o, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw bad(`${where}${key} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

const RANGE_KEYS = ['subnet', 'rangeStart', 'rangeEnd', 'gateway'] as const;

function rangeInput(o: Obj, where: string): RangeInput {
  const [subnet, rangeStart, rangeEnd, gateway] = RANGE_KEYS.map((k) => optString(o, k, where));
  if (subnet === undefined) throw bad(`${where}subnet is missing`);
  return { subnet, rangeStart, rangeEnd, gateway };
}

/** `[[{subnet,...}, ...], ...]` → range sets, errors labelled with the final index. */
function parseRangeSets(v: unknown, key: string, firstIndex: number): RangeSet[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(`${key} must be an array of range sets`);
  return v.map((set, i) => {
    const label = `invalid range set ${firstIndex + i}`;
    if (!Array.isArray(set)) throw bad(`${label}: ${key}[${i}] must be an array of ranges`);
    if (set.length === 0) throw bad(`${label}: empty range set`);
    try {
      const ranges = set.map((r, j) => {
        if (!isObj(r)) throw bad(`${key}[${i}][${j}] must be an object`);
        return canonicalizeRange(rangeInput(r, `${key}[${i}][${j}].`));
      });
      validateRangeSet(ranges);
      return ranges;
    } catch (e) {
      throw wrapError(e, label, Code.InvalidConfig);
    }
  });
}

const ROUTE_UINT_KEYS = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const;

function parseRoutes(v: unknown): Route[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad('ipam.routes must be an array');
  return v.map((r, i) => {
    const where = `ipam.routes[${i}]`;
    if (!isObj(r)) throw bad(`${where} must be an object`);
    const dst = r.dst;
    const dstNet = typeof dst === 'string' ? tryParseCidr(dst) : undefined;
    if (!dstNet) throw bad(`${where}.dst must be a CIDR, got ${JSON.stringify(dst)}`);
    if (r.gw !== undefined && r.gw !== null) {
      const gw = typeof r.gw === 'string' ? tryParseIP(r.gw) : undefined;
      if (!gw) throw bad(`${where}.gw must be an IP address, got ${JSON.stringify(r.gw)}`);
      if (gw.family !== dstNet.family) throw bad(`${where}.gw ${r.gw} is not in the address family of dst ${dst}`);
    }
    for (const k of ROUTE_UINT_KEYS) {
      const n = r[k];
      if (n !== undefined && n !== null && !(typeof n === 'number' && Number.isInteger(n) && n >= 0)) {
        throw bad(`${where}.${k} must be a non-negative integer, got ${JSON.stringify(n)}`);
      }
    }
    // Kept as given (unknown keys too): the route is the user's, we only vouch for it.
    return r as unknown as Route;
  });
}

/** "10.1.2.3" or "10.1.2.3/24": the prefix is accepted and ignored, as upstream does. */
function requestedIP(text: unknown, where: string, code: number = Code.InvalidConfig): IP {
  const s = typeof text === 'string' ? text : undefined;
  const ip = s === undefined ? undefined : (tryParseIP(s) ?? tryParseCidr(s));
  if (!ip) throw new CniError(code, `${where}: ${JSON.stringify(text)} is not an IP address`);
  return { family: ip.family, value: ip.value };
}

function ipList(v: unknown, where: string): IP[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw bad(`${where} must be an array of IP addresses`);
  return v.map((x, i) => requestedIP(x, `${where}[${i}]`));
}

/**
 * The `IP` key of CNI_ARGS. Deliberately tiny and lenient (split on `;`, then on
 * the first `=`, skip empty or key-less segments): runtimes add keys of their own
 * (K8S_POD_NAME, IgnoreUnknown, ...) that host-local must not trip over.
 */
function cniArgsIP(cniArgs: string): IP[] {
  const out: IP[] = [];
  for (const seg of cniArgs.split(';')) {
    const eq = seg.indexOf('=');
    if (eq <= 0 || seg.slice(0, eq) !== 'IP') continue;
    // Not config but env: a bad value is code 4 (invalid env), https://github.com/containernetworking/cni/blob/main/SPEC.md#error.
    out.push(requestedIP(seg.slice(eq + 1), 'CNI_ARGS IP', Code.InvalidEnv));
  }
  return out;
}

/** CNI versions before 0.3.0 can only express one address per family. */
function versionBefore030(v: unknown): boolean {
  const m = typeof v === 'string' ? /^(\d+)\.(\d+)\.(\d+)$/.exec(v) : null;
  if (!m) return true; // missing cniVersion means 0.1.0
  return Number(m[1]) === 0 && Number(m[2]) < 3;
}

function pathComponent(name: unknown): string {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) {
    throw bad(`invalid network name ${JSON.stringify(name)}: it becomes a directory name under dataDir`);
  }
  return name;
}

export function parseIpamConfig(conf: NetConf, cniArgs: string): IpamConfig {
  const ipam = conf.ipam;
  if (!isObj(ipam)) throw bad('host-local: the config has no "ipam" object');
  const name = pathComponent(conf.name);

  const dataDir = optString(ipam, 'dataDir', 'ipam.') ?? DEFAULT_DATA_DIR;
  if (dataDir === '' || dataDir.includes('\0')) throw bad(`ipam.dataDir ${JSON.stringify(dataDir)} is not a usable path`);
  const resolvConf = optString(ipam, 'resolvConf', 'ipam.');
  const routes = parseRoutes(field(ipam, 'routes'));

  const rc = conf.runtimeConfig === undefined || conf.runtimeConfig === null ? {} : conf.runtimeConfig;
  if (!isObj(rc)) throw bad('runtimeConfig must be an object');
  const args = isObj(conf.args) ? conf.args : {};
  const cniSection = isObj(args.cni) ? args.cni : {};

  // Order and indices as upstream: runtime ranges, then the legacy range, then
  // `ranges`. The index names last_reserved_ip.<N>, so it must not drift.
  const fromRuntime = parseRangeSets(field(rc, 'ipRanges'), 'runtimeConfig.ipRanges', 0);
  const legacy: RangeSet[] = [];
  if (field(ipam, 'subnet') !== undefined) {
    const i = fromRuntime.length;
    try {
      const r = canonicalizeRange(rangeInput(ipam, 'ipam.'));
      legacy.push([r]);
    } catch (e) {
      throw wrapError(e, `invalid range set ${i}`, Code.InvalidConfig);
    }
  } else {
    // The reference ignores these without a subnet. A config that works there must work
    // here too (drop-in), so only say that they have no effect.
    const stray = RANGE_KEYS.find((k) => field(ipam, k) !== undefined);
    if (stray) log.warn(`network "${conf.name}": ipam.${stray} is set but ipam.subnet is not, so it has no effect; put ranges in ipam.ranges`);
  }
  const fromRanges = parseRangeSets(field(ipam, 'ranges'), 'ipam.ranges', fromRuntime.length + legacy.length);
  const rangeSets = [...fromRuntime, ...legacy, ...fromRanges];
  if (rangeSets.length === 0) throw bad('host-local: no IP ranges specified: set ipam.ranges (or ipam.subnet)');

  if (versionBefore030(conf.cniVersion)) {
    for (const fam of [4, 6] as const) {
      if (rangeSets.filter((s) => s[0].subnet.family === fam).length > 1) {
        throw bad(`CNI version ${conf.cniVersion ?? '0.1.0'} does not support more than one IPv${fam} range set`);
      }
    }
  }
  // Ranges of one set were checked with their set; here only ranges of different sets can meet.
  const clash = findOverlap(
    rangeSets.flatMap((set, i) => set.map((range) => ({ range, set: i }))),
    (a, b) => a.set === b.set,
  );
  if (clash) {
    const [i, j] = [clash[0].set, clash[1].set].sort((x, y) => x - y);
    throw bad(`range set ${i} overlaps with range set ${j}`);
  }

  const requested = [...cniArgsIP(cniArgs), ...ipList(field(cniSection, 'ips'), 'args.cni.ips'), ...ipList(field(rc, 'ips'), 'runtimeConfig.ips')];
  const seen = new Set<string>();
  const requestedIPs = requested.filter((ip) => {
    const k = formatIP(ip);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });

  return { name, dataDir, rangeSets, routes, resolvConf, requestedIPs };
}

/** resolv.conf text → CNI DNS, the subset host-local reports; `#`/`;` start comments. */
export function parseResolvConf(text: string): DNS {
  const nameservers: string[] = [];
  const search: string[] = [];
  const options: string[] = [];
  let domain: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line[0] === '#' || line[0] === ';') continue;
    const [key, ...rest] = line.split(/\s+/);
    if (rest.length === 0) continue;
    if (key === 'nameserver') nameservers.push(rest[0]);
    else if (key === 'domain') domain = rest[0];
    else if (key === 'search') search.push(...rest);
    else if (key === 'options') options.push(...rest);
  }
  const dns: DNS = {};
  if (nameservers.length) dns.nameservers = nameservers;
  if (domain !== undefined) dns.domain = domain;
  if (search.length) dns.search = search;
  if (options.length) dns.options = options;
  return dns;
}
