// The bridge NetConf: every field the reference reads, with its defaults, checked
// up front so a bad config fails with code 7 before anything is created.
import { CniError, Code } from '../../lib/cni/errors';
import { parseCniArgs } from '../../lib/cni/args';
import type { DNS, NetConf } from '../../lib/cni/types';
import { parseMac } from '../../lib/netlink/attrs';

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
}

const IFNAME_RE = /^[^/:\s\0]{1,15}$/;

function bool(conf: NetConf, key: string, dflt = false): boolean {
  const v = conf[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new CniError(Code.InvalidConfig, `network "${conf.name}": "${key}" must be true or false, not ${JSON.stringify(v)}`);
  return v;
}

function unsupported(conf: NetConf, key: string, why: string): never {
  throw new CniError(Code.UnsupportedField, `network "${conf.name}": "${key}": ${JSON.stringify(conf[key])} is not supported yet`, why);
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
  // Fields the reference has that arrive in a later issue: refuse them loudly (code 2
  // names the field) rather than silently ignoring what the operator asked for.
  if (conf.vlan !== undefined && conf.vlan !== 0) unsupported(conf, 'vlan', 'VLAN filtering is planned');
  if (Array.isArray(conf.vlanTrunk) && conf.vlanTrunk.length) unsupported(conf, 'vlanTrunk', 'VLAN trunks are planned');
  if (conf.macspoofchk === true) unsupported(conf, 'macspoofchk', 'MAC spoof checking (nftables) is planned');
  if (conf.disableContainerInterface === true) unsupported(conf, 'disableContainerInterface', 'planned');
  if (conf.ipMasqBackend !== undefined && conf.ipMasqBackend !== 'iptables') {
    if (conf.ipMasqBackend === 'nftables') unsupported(conf, 'ipMasqBackend', 'only the iptables backend exists so far');
    throw new CniError(Code.InvalidConfig, `network "${conf.name}": unknown ipMasqBackend ${JSON.stringify(conf.ipMasqBackend)}`);
  }
  if (conf.dns !== undefined && (conf.dns === null || typeof conf.dns !== 'object')) {
    throw new CniError(Code.InvalidConfig, `network "${conf.name}": "dns" must be an object`);
  }
  return {
    name: conf.name,
    cniVersion: conf.cniVersion,
    bridge,
    isGateway: isDefaultGateway || bool(conf, 'isGateway'),
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
  };
}
