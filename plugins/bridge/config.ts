// The bridge NetConf: every field the reference reads, with its defaults, checked
// up front so a bad config fails with code 7 before anything is created.
import { CniError, Code } from '../../lib/cni/errors';
import { parseCniArgs } from '../../lib/cni/args';
import type { DNS, NetConf } from '../../lib/cni/types';
import { tryParseIP } from '../../lib/ip';
import { parseMac } from '../../lib/netlink/attrs';
import { VLAN_MAX, VLAN_MIN } from '../../lib/netlink/vlan';

/** The bridge a network uses when its config names none (bridge.go's defaultBrName). */
export const DEFAULT_BRIDGE = 'cni0';

export interface BridgeConf {
  name: string;
  cniVersion: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  portIsolation: boolean;
  enableDad: boolean;
  /** undefined: no IPAM (`ipam` absent or without `type`): layer 2 only. */
  ipamType?: string;
  dns?: DNS;
  /** The MAC requested for the pod interface, if any. */
  mac?: string;
  /** The pod port's PVID + untagged vlan (an access port, or a trunk's native vlan); 0 = none. */
  vlan: number;
  /** Tagged vids of the pod's port, sorted, unique. */
  vlanTrunk: number[];
  /** Create the bridge with vlan_filtering (vlan set, or any vlanTrunk list given, even empty: reference rule). */
  vlanFiltering: boolean;
  preserveDefaultVlan: boolean;
  macSpoofChk: boolean;
  disableContainerInterface: boolean;
  /** undefined: chosen at ADD time (iptables unless only nftables works). */
  ipMasqBackend?: 'iptables' | 'nftables';
}

// The regex counts UTF-16 code units; the kernel's limit (IFNAMSIZ 16 with the NUL) is
// 15 BYTES, so the byte length is checked separately (an 8 x "ü" name is 16 bytes).
const IFNAME_RE = /^[^/:\s\0]{1,15}$/;
const IFNAME_MAX_BYTES = 15;

function bool(conf: NetConf, key: string, dflt = false): boolean {
  const v = conf[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new CniError(Code.InvalidConfig, `network "${conf.name}": "${key}" must be true or false, not ${JSON.stringify(v)}`);
  return v;
}

const invalid = (conf: NetConf, msg: string): CniError => new CniError(Code.InvalidConfig, `network "${conf.name}": ${msg}`);

function parseVlan(conf: NetConf): number {
  const v = conf.vlan ?? 0;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(conf, `"vlan" must be an integer, not ${JSON.stringify(v)}`);
  if (v < 0 || v > VLAN_MAX) throw invalid(conf, `invalid VLAN ID ${v} (must be between 0 and ${VLAN_MAX})`);
  return v;
}

const trunkId = (conf: NetConf, entry: Record<string, unknown>, key: 'id' | 'minID' | 'maxID'): number | undefined => {
  const v = entry[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < VLAN_MIN || v > VLAN_MAX) {
    throw invalid(conf, `incorrect trunk ${key} parameter ${JSON.stringify(v)} (must be between ${VLAN_MIN} and ${VLAN_MAX})`);
  }
  return v;
};

/** vlanTrunk entries {id} / {minID, maxID} (an entry may hold both) → sorted unique vids, as the reference collects them. */
function parseTrunk(conf: NetConf): number[] | undefined {
  const t = conf.vlanTrunk;
  if (t === undefined || t === null) return undefined;
  if (!Array.isArray(t)) throw invalid(conf, '"vlanTrunk" must be a list of {"id"} or {"minID", "maxID"} objects');
  const vids = new Set<number>();
  for (const e of t) {
    if (e === null || typeof e !== 'object' || Array.isArray(e)) throw invalid(conf, `"vlanTrunk" entry ${JSON.stringify(e)} is not an object`);
    const entry = e as Record<string, unknown>;
    const min = trunkId(conf, entry, 'minID');
    const max = trunkId(conf, entry, 'maxID');
    if (min !== undefined && max === undefined) throw invalid(conf, 'minID and maxID should be configured simultaneously, maxID is missing');
    if (max !== undefined && min === undefined) throw invalid(conf, 'minID and maxID should be configured simultaneously, minID is missing');
    if (min !== undefined && max !== undefined) {
      if (max < min) throw invalid(conf, `minID is greater than maxID in trunk parameter (${min} > ${max})`);
      for (let v = min; v <= max; v++) vids.add(v);
    }
    const id = trunkId(conf, entry, 'id');
    if (id !== undefined) vids.add(id);
  }
  return [...vids].sort((a, b) => a - b);
}

const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);
// A resolver line ends at a newline, and C strings at a NUL: either inside a value
// would let one entry forge another line of the pod's resolv.conf.
const LINE_BREAKING = /[\0\r\n]/;

function dnsString(conf: NetConf, v: unknown, field: string): string {
  if (typeof v !== 'string') throw invalid(conf, `"${field}" must be a string, not ${kindOf(v)}`);
  if (LINE_BREAKING.test(v)) throw invalid(conf, `"${field}" ${JSON.stringify(v)} must not contain a NUL or a line break`);
  return v;
}

function dnsList(conf: NetConf, o: Record<string, unknown>, key: string, each: (v: unknown, field: string) => string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalid(conf, `"dns.${key}" must be an array of strings, not ${kindOf(v)}`);
  return v.map((x, i) => each(x, `dns.${key}[${i}]`));
}

/**
 * `dns` goes into the ADD result verbatim, and the result is only printed after every
 * link and reservation exists: a wrong shape must be refused here, or printing it
 * throws (999) with the attachment left behind until DEL. Shape as the reference's
 * types.DNS (null is "absent", as for Go's decoder), plus nameservers must be IPs.
 */
function parseDns(conf: NetConf): DNS | undefined {
  const d: unknown = conf.dns;
  if (d === undefined || d === null) return undefined;
  if (typeof d !== 'object' || Array.isArray(d)) throw invalid(conf, `"dns" must be an object, not ${kindOf(d)}`);
  const o = d as Record<string, unknown>;
  const out: DNS = {};
  const nameservers = dnsList(conf, o, 'nameservers', (v, field) => {
    const s = dnsString(conf, v, field);
    // An IPv6 link-local resolver may carry its zone ("fe80::1%eth0"), as in resolv.conf.
    const pct = s.indexOf('%');
    const addr = tryParseIP(pct < 0 ? s : s.slice(0, pct));
    if (!addr || (pct >= 0 && (addr.family !== 6 || pct === s.length - 1))) throw invalid(conf, `"${field}" ${JSON.stringify(s)} is not an IP address`);
    return s;
  });
  if (nameservers) out.nameservers = nameservers;
  if (o.domain !== undefined && o.domain !== null) out.domain = dnsString(conf, o.domain, 'dns.domain');
  const search = dnsList(conf, o, 'search', (v, field) => dnsString(conf, v, field));
  if (search) out.search = search;
  const options = dnsList(conf, o, 'options', (v, field) => dnsString(conf, v, field));
  if (options) out.options = options;
  return out;
}

function requestedMac(conf: NetConf, cniArgs: Record<string, string>): string | undefined {
  // Precedence as in the reference: runtimeConfig.mac, then args.cni.mac, then CNI_ARGS MAC.
  const rc = conf.runtimeConfig?.mac;
  const argsCni = (conf.args as { cni?: { mac?: unknown } } | undefined)?.cni?.mac;
  const candidate = [rc, argsCni, cniArgs.MAC].find((v) => v !== undefined && v !== '');
  if (candidate === undefined) return undefined;
  if (typeof candidate !== 'string' || !parseMac(candidate)) {
    throw new CniError(Code.InvalidConfig, `network "${conf.name}": invalid MAC address ${JSON.stringify(candidate)}`);
  }
  return candidate.toLowerCase();
}

export function parseBridgeConf(conf: NetConf, cniArgsText: string): BridgeConf {
  const cniArgs = parseCniArgs(cniArgsText, ['IP', 'MAC']);
  const bridge = conf.bridge ?? DEFAULT_BRIDGE;
  if (typeof bridge !== 'string' || !IFNAME_RE.test(bridge) || Buffer.byteLength(bridge, 'utf8') > IFNAME_MAX_BYTES || bridge === '.' || bridge === '..') {
    throw new CniError(Code.InvalidConfig, `network "${conf.name}": invalid "bridge" name ${JSON.stringify(bridge)}: it must be a Linux interface name of at most 15 bytes`);
  }
  let mtu: number | undefined;
  if (conf.mtu !== undefined && conf.mtu !== null && conf.mtu !== 0) {
    if (typeof conf.mtu !== 'number' || !Number.isInteger(conf.mtu) || conf.mtu < 68 || conf.mtu > 65535) {
      throw new CniError(Code.InvalidConfig, `network "${conf.name}": invalid "mtu" ${JSON.stringify(conf.mtu)}: it must be an integer from 68 to 65535`);
    }
    mtu = conf.mtu;
  }
  const isDefaultGateway = bool(conf, 'isDefaultGateway');
  const hairpinMode = bool(conf, 'hairpinMode');
  const promiscMode = bool(conf, 'promiscMode');
  if (hairpinMode && promiscMode) {
    throw new CniError(Code.InvalidConfig, `network "${conf.name}": cannot set hairpin mode and promiscuous mode at the same time`);
  }
  const ipam = conf.ipam;
  if (ipam !== undefined && (ipam === null || typeof ipam !== 'object' || Array.isArray(ipam))) {
    throw new CniError(Code.InvalidConfig, `network "${conf.name}": "ipam" must be an object`);
  }
  if (ipam?.type !== undefined && (typeof ipam.type !== 'string' || ipam.type === '')) {
    throw new CniError(Code.InvalidConfig, `network "${conf.name}": "ipam.type" must be a plugin name`);
  }
  // Both at once is a trunk port whose native vlan is `vlan` (reference since v1.8.0).
  const vlan = parseVlan(conf);
  const trunk = parseTrunk(conf);
  const isGateway = isDefaultGateway || bool(conf, 'isGateway');
  // The gateway of a vlan network is a link named "<bridge>.<vlan>": refuse up front a
  // name the kernel would refuse halfway through the ADD.
  if (vlan !== 0 && isGateway && Buffer.byteLength(`${bridge}.${vlan}`) > 15) {
    throw invalid(conf, `the vlan gateway interface "${bridge}.${vlan}" would be longer than 15 bytes: use a shorter "bridge" name`);
  }
  const disableContainerInterface = bool(conf, 'disableContainerInterface');
  // A down interface cannot take addresses and routes.
  if (disableContainerInterface && ipam?.type) throw invalid(conf, 'cannot use IPAM when DisableContainerInterface flag is set');
  const backend = conf.ipMasqBackend;
  if (backend !== undefined && backend !== null && backend !== 'iptables' && backend !== 'nftables') {
    throw invalid(conf, `unknown ipmasq backend ${JSON.stringify(backend)} (use "iptables" or "nftables", or leave it out to choose automatically)`);
  }
  const dns = parseDns(conf);
  return {
    name: conf.name,
    cniVersion: conf.cniVersion,
    bridge,
    isGateway,
    isDefaultGateway,
    forceAddress: bool(conf, 'forceAddress'),
    ipMasq: bool(conf, 'ipMasq'),
    mtu,
    hairpinMode,
    promiscMode,
    portIsolation: bool(conf, 'portIsolation'),
    enableDad: bool(conf, 'enabledad'),
    ipamType: ipam?.type as string | undefined,
    dns,
    mac: requestedMac(conf, cniArgs),
    vlan,
    vlanTrunk: trunk ?? [],
    vlanFiltering: vlan !== 0 || trunk !== undefined,
    // Default false since plugins PR #1181 (2025): a vlan port must not also carry the bridge's default vid.
    preserveDefaultVlan: bool(conf, 'preserveDefaultVlan', false),
    macSpoofChk: bool(conf, 'macspoofchk'),
    disableContainerInterface,
    ipMasqBackend: backend ?? undefined,
  };
}

/**
 * What DEL needs, read leniently. A config that ADD refused (a bad MAC, MTU, DNS...)
 * still gets DELs from the runtime, and a DEL that fails on it fails forever and keeps
 * the pod Terminating; the reference's DEL ignores those fields too.
 */
export function parseBridgeConfForDel(conf: NetConf, cniArgsText: string): Pick<BridgeConf, 'name' | 'bridge' | 'ipamType' | 'ipMasq' | 'macSpoofChk'> {
  try {
    return parseBridgeConf(conf, cniArgsText);
  } catch (err) {
    if (!(err instanceof CniError)) throw err;
    const ipamType = conf.ipam && typeof conf.ipam === 'object' && typeof conf.ipam.type === 'string' && conf.ipam.type !== '' ? conf.ipam.type : undefined;
    return {
      name: conf.name,
      bridge: typeof conf.bridge === 'string' ? conf.bridge : DEFAULT_BRIDGE,
      ipamType,
      ipMasq: conf.ipMasq === true,
      macSpoofChk: conf.macspoofchk === true,
    };
  }
}
