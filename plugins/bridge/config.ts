// The bridge NetConf: every field the reference reads, with its defaults, checked
// up front so a bad config fails with code 7 before anything is created.
import { CniError, Code } from '../../lib/cni/errors';
import { parseCniArgs } from '../../lib/cni/args';
import type { DNS, NetConf } from '../../lib/cni/types';
import { parseMac } from '../../lib/netlink/attrs';
import { VLAN_MAX, VLAN_MIN } from '../../lib/netlink/vlan';

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
  /** Access vlan of the pod's port (PVID + untagged); 0 = none. */
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

const IFNAME_RE = /^[^/:\s\0]{1,15}$/;

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
  const bridge = conf.bridge ?? 'cni0';
  if (typeof bridge !== 'string' || !IFNAME_RE.test(bridge) || bridge === '.' || bridge === '..') {
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
  const vlan = parseVlan(conf);
  const trunk = parseTrunk(conf);
  // An access port or a trunk: the reference refuses both at once.
  if (vlan !== 0 && trunk?.length) throw invalid(conf, 'cannot set vlan and vlanTrunk at the same time');
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
  if (conf.dns !== undefined && (conf.dns === null || typeof conf.dns !== 'object')) {
    throw new CniError(Code.InvalidConfig, `network "${conf.name}": "dns" must be an object`);
  }
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
    dns: conf.dns,
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
