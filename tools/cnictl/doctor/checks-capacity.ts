// Capacity: host-local fails every ADD of a range set that has no free address left,
// and the kernel refuses a bridge port past BR_MAX_PORTS. STATUS does not answer
// "not available" for a full range (one full range must not mark the whole node
// NotReady), so this is where an operator learns it. Addresses are counted as
// host-local allocates them (lib/ipam/status.ts usage(): every address of
// [rangeStart, rangeEnd] but the gateway; any directory entry named by an address is
// taken), and reservations written before this boot count as free, because ADD
// reclaims them when the range fills (lib/ipam/allocator.ts reclaimFromBeforeBoot).
import type { NetConf } from '../../../lib/cni/types';
import { type IP, formatIP, tryParseIP } from '../../../lib/ip';
import { parseIpamConfig } from '../../../lib/ipam/config';
import { describeRangeSet, type RangeSet } from '../../../lib/ipam/range';
import { hasStaticRanges, usage } from '../../../lib/ipam/status';
import { buildDelegateConf, parseFlannelConf, type SubnetEnv } from '../../../plugins/flannel/public';
import { flannelManaged, gcFix } from './checks-state';
import { hasError, type Finding, type Snapshot } from './snapshot';

/** BR_MAX_PORTS (net/bridge/br_private.h): br_add_if fails with EXFULL past it. */
export const BR_MAX_PORTS = 1024;
export const BRIDGE_PORTS_WARNING = 1000;
/** Used share of a range set above which doctor warns, in percent. */
export const RANGE_WARNING_PERCENT = 90;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Does `ipam` configure ranges itself? Keys match case-insensitively, as Go's decoder matches them. */

/**
 * host-local's range sets for the network's main plugin (conflist.ts mainPlugin()),
 * built by the plugins' own code: flannel's delegate config from subnet.env, or
 * bridge's `ipam`. undefined when the IPAM is not host-local, its ranges come only with
 * each ADD (runtimeConfig.ipRanges), or flannel has no usable subnet.env (the
 * subnet-env check reports that). Throws the plugin's own error for a config ADD refuses.
 */
export function rangeSetsOf(plugin: Obj, env: SubnetEnv | undefined): RangeSet[] | undefined {
  let conf: Obj = plugin;
  if (plugin.type === 'flannel') {
    if (!env) return undefined;
    conf = buildDelegateConf(parseFlannelConf(plugin), env).config;
  } else if (plugin.type !== 'bridge') return undefined;
  const ipam = conf.ipam;
  if (!isObj(ipam) || ipam.type !== 'host-local' || !hasStaticRanges(ipam)) return undefined;
  return parseIpamConfig({ ...conf, runtimeConfig: undefined } as NetConf, '').rangeSets;
}

const percent = (used: bigint, size: bigint): string => (size === 0n ? '100' : (Number((used * 1000n) / size) / 10).toString());

function widenFix(s: Snapshot): string {
  return flannelManaged(s)
    ? "give nodes bigger subnets (SubnetLen in flannel's net-conf.json; flanneld writes FLANNEL_SUBNET)"
    : `widen the range (ipam.ranges subnet, rangeStart, rangeEnd in ${s.netConf.state === 'ok' ? s.netConf.file : 'the network config'})`;
}

function checkRanges(s: Snapshot): Finding[] {
  const net = s.inputs.network;
  const sets = s.ipamRanges;
  if (sets === undefined || hasError(s.reservedIPs)) return []; // an unreadable store is the reservations check's finding
  if (hasError(sets)) {
    return [
      {
        severity: 'warning',
        check: 'range-capacity',
        subject: s.netConf.state === 'ok' ? s.netConf.file : s.inputs.confDir,
        detail: `cannot work out the IP ranges of network "${net}", so their capacity is not checked: ${sets.error}`,
        fix: 'fix the ipam part of the network config (a pod ADD refuses it the same way)',
      },
    ];
  }
  // Pre-boot reservations are free for ADD: it reclaims them once the range is full.
  const files = hasError(s.reservations) ? [] : (s.reservations ?? []);
  const preBootNames = new Set(files.filter((r) => r.earlierBoot).map((r) => tryParseIP(r.name)).filter((ip): ip is IP => ip !== undefined).map(formatIP));
  const live = s.reservedIPs.filter((ip) => !preBootNames.has(formatIP(ip)));
  const preBoot = usage(sets, s.reservedIPs.filter((ip) => preBootNames.has(formatIP(ip))));
  const dir = `${s.inputs.ipamDataDir}/${net}`;
  const fix = `free addresses: delete pods on this node, release leaked reservations (${gcFix(s)}), or ${widenFix(s)}`;
  const out: Finding[] = [];
  for (const u of usage(sets, live)) {
    const what = `range set ${u.index} (${describeRangeSet(sets[u.index])}) of network "${net}"`;
    const limit = `${u.size} allocatable addresses (every address from rangeStart to rangeEnd but the gateway)`;
    const old = preBoot[u.index].used > 0n ? `, not counting ${preBoot[u.index].used} reserved before this boot (ADD reclaims those when the range is full)` : '';
    if (u.used >= u.size) {
      out.push({
        severity: 'error',
        check: 'range-capacity',
        subject: describeRangeSet(sets[u.index]),
        detail: `${what} has no free address: all ${limit} are reserved in ${dir}${old}; every pod ADD on this node fails with "no IP addresses available in range set"`,
        fix,
      });
    } else if (u.used * 100n > u.size * BigInt(RANGE_WARNING_PERCENT)) {
      out.push({
        severity: 'warning',
        check: 'range-capacity',
        subject: describeRangeSet(sets[u.index]),
        detail: `${what} is ${percent(u.used, u.size)} % used (above ${RANGE_WARNING_PERCENT} %): ${u.used} of ${limit} reserved, ${u.size - u.used} free${old}; when none is left, every pod ADD on this node fails`,
        fix,
      });
    }
  }
  return out;
}

function checkBridgePorts(s: Snapshot): Finding[] {
  if (hasError(s.links) || !s.links.bridge || s.links.bridge.kind !== 'bridge') return [];
  const n = s.links.ports.length;
  if (n < BRIDGE_PORTS_WARNING) return [];
  const name = s.links.bridge.name;
  return [
    {
      severity: 'warning',
      check: 'bridge-ports',
      subject: name,
      detail: `${name} has ${n} ports; a Linux bridge takes at most ${BR_MAX_PORTS} (BR_MAX_PORTS), after which attaching a pod's veth fails (EXFULL) and so does its ADD`,
      fix: `run fewer pods on this node (kubelet --max-pods), delete pods, or remove ports of pods that are gone (${gcFix(s)})`,
    },
  ];
}

export const checkCapacity = (s: Snapshot): Finding[] => [...checkRanges(s), ...checkBridgePorts(s)];
