// bridge CHECK, top-down like upstream's cmdCheck (containernetworking/plugins
// plugins/main/bridge/bridge.go, and ValidateExpectedInterfaceIPs / ValidateExpectedRoute
// in pkg/ip/utils_linux.go). Read-only: it only lists links, addresses, routes and rules.
// As strict as upstream wherever a difference means the pod's network is no longer what
// ADD made; never where a healthy pod legitimately differs from its prevResult, because
// CRI-O runs CHECK right after ADD and a failed CHECK fails the pod's creation. It
// verifies only what this plugin created and listed in prevResult, and tolerates what
// later chained plugins change (https://github.com/containernetworking/cni/blob/main/SPEC.md#check-check-containers-networking-is-as-expected).
import { CniError, Code } from '../../lib/cni/errors';
import type { CmdArgs, IPConfig, Interface, Result } from '../../lib/cni/types';
import { parseResult } from '../../lib/cni/version';
import { type Cidr, type Family, type IP, bits, formatCidr, formatIP, networkOf, sameIP, tryParseCidr } from '../../lib/ip';
import { listAddrs } from '../../lib/netlink/addr';
import { RTN_UNICAST } from '../../lib/netlink/attrs';
import { getBridgePort, getLink, getLinkByIndex, listLinks, type Link } from '../../lib/netlink/link';
import { type KernelRoute, listRoutes } from '../../lib/netlink/route';
import type { Nl } from '../../lib/netlink/socket';
import { listPortVlans } from '../../lib/netlink/vlan';
import { portVlanProblems } from './vlan';
import { sameNetns } from '../../lib/netns';
import { spoofCheckProblems } from '../../lib/nft/spoofcheck';
import { type BridgeConf, parseBridgeConf } from './config';
import { runIpam } from './ipam';
import { type PodRoute, familyGateways, planRoutes } from './plan';
import { openSides } from './sides';

const fail = (msg: string): CniError => new CniError(Code.Internal, msg);

export function check(cmd: CmdArgs): void {
  const conf = parseBridgeConf(cmd.conf, cmd.args);
  if (conf.ipamType) runIpam('CHECK', conf.ipamType, cmd);
  if (cmd.conf.prevResult === undefined) throw new CniError(Code.InvalidConfig, 'Required prevResult missing');
  const prev = parseResult(cmd.conf.prevResult, cmd.conf.cniVersion);
  const { brIf, podIf, podIps } = expectedInterfaces(prev, conf, cmd);
  const { host, pod, close } = openSides(cmd.netns);
  try {
    const br = checkBridge(host, conf, brIf);
    const link = checkPodInterface(pod, cmd, podIf);
    const peer = checkHostVeth(host, link, br, prev, cmd);
    checkPort(host, peer, conf);
    if (conf.macSpoofChk && link.mac) {
      const problems = spoofCheckProblems({ containerId: cmd.containerId, ifName: cmd.ifName, hostIface: peer.name, mac: link.mac });
      if (problems.length) throw fail(`macspoofchk for "${cmd.ifName}": ${problems.join('; ')}`);
    }
    const routes = new PodRoutes(pod);
    checkAddresses(pod, link, podIps, routes, cmd);
    // Routes go via the family's gateway when prevResult names none, as ADD put them.
    for (const r of planRoutes(prev.routes ?? [], familyGateways(podIps))) checkRoute(routes, r, cmd.netns);
  } finally {
    close();
  }
}

/**
 * The bridge and the pod interface as prevResult lists them (upstream finds both by
 * name and fails without them), and the addresses ADD put on the pod interface.
 */
function expectedInterfaces(prev: Result, conf: BridgeConf, cmd: CmdArgs): { brIf: Interface; podIf: Interface; podIps: IPConfig[] } {
  const ifs = prev.interfaces ?? [];
  const brIf = ifs.find((i) => i.name === conf.bridge && !i.sandbox);
  if (!brIf) throw fail(`prevResult lists no interface for bridge "${conf.bridge}"`);
  const named = ifs.filter((i) => i.name === cmd.ifName && i.sandbox);
  // The same namespace may be named by another path (/var/run/netns is /run/netns).
  const podIf = named.find((i) => sameNetns(i.sandbox!, cmd.netns));
  if (!podIf) {
    throw fail(
      named.length
        ? `prevResult puts "${cmd.ifName}" in sandbox ${named[0].sandbox}, but CNI_NETNS is ${cmd.netns}`
        : `prevResult lists no interface "${cmd.ifName}" in a sandbox (CNI_NETNS ${cmd.netns})`,
    );
  }
  // A later plugin may list addresses of its own interfaces: only ours are checked here.
  const podIndex = ifs.indexOf(podIf);
  const podIps = (prev.ips ?? []).filter((ip) => ip.interface === undefined || ip.interface === podIndex);
  return { brIf, podIf, podIps };
}

function checkBridge(host: Nl, conf: BridgeConf, brIf: Interface): Link {
  const br = getLink(host, conf.bridge);
  if (!br) throw fail(`bridge "${conf.bridge}" does not exist`);
  if (br.kind !== 'bridge') throw fail(`"${conf.bridge}" is not a bridge`);
  if (brIf.mac && br.mac && brIf.mac.toLowerCase() !== br.mac && !(followsItsPorts(host, br))) {
    throw fail(`bridge "${br.name}" has MAC ${br.mac}, prevResult says ${brIf.mac}`);
  }
  // One way only: ADD turns promisc on for promiscMode and never off (nor does upstream's
  // ensureBridge), so a bridge another network or the operator made promiscuous is what a
  // promiscMode:false ADD leaves behind too, and upstream's CHECK fails that healthy pod.
  if (conf.promiscMode && !br.promisc) throw fail(`bridge "${br.name}" is not promiscuous, and promiscMode is true`);
  return br;
}

/**
 * Does the bridge wear one of its ports' MACs? A bridge without a MAC of its own takes
 * the lowest among its ports, and so changes whenever a pod with a lower one comes or
 * goes (containernetworking/cni#285), even between an ADD and its CHECK: not a fault.
 * A gateway bridge has its MAC pinned (ensureGatewayAddrs; upstream's ensureAddr), so a
 * change there is reported.
 */
function followsItsPorts(host: Nl, br: Link): boolean {
  return (listLinks(host)).some((l) => l.master === br.index && l.mac === br.mac);
}

function checkPodInterface(pod: Nl, cmd: CmdArgs, podIf: Interface): Link {
  const link = getLink(pod, cmd.ifName);
  if (!link) throw fail(`"${cmd.ifName}" does not exist in ${cmd.netns}`);
  if (link.kind !== 'veth') throw fail(`"${cmd.ifName}" in ${cmd.netns} is a ${link.kind ?? 'unknown device'}, not a veth`);
  if (podIf.mac && link.mac && podIf.mac.toLowerCase() !== link.mac) {
    throw fail(`"${cmd.ifName}" has MAC ${link.mac}, prevResult says ${podIf.mac}`);
  }
  return link;
}

/**
 * The host end: a veth whose peer is the pod interface (both indexes, as upstream),
 * listed in prevResult, a port of the bridge. Its MAC is not compared (upstream does):
 * udev's MACAddressPolicy may change it after ADD returns (plugins#805, PR #808), and
 * the pod's traffic never uses it.
 */
function checkHostVeth(host: Nl, link: Link, br: Link, prev: Result, cmd: CmdArgs): Link {
  const peer = link.peerIndex !== undefined ? getLinkByIndex(host, link.peerIndex) : undefined;
  if (!peer || peer.kind !== 'veth' || peer.peerIndex !== link.index) throw fail(`the host end of "${cmd.ifName}" is missing`);
  if (!(prev.interfaces ?? []).some((i) => i.name === peer.name && !i.sandbox)) {
    throw fail(`host veth "${peer.name}", the peer of "${cmd.ifName}", is not in prevResult`);
  }
  if (peer.master !== br.index) throw fail(`host veth "${peer.name}" is not attached to bridge "${br.name}"`);
  return peer;
}

/** The port flags and vlans ADD set. Flags are checked one way: kubelet may set hairpin itself. */
function checkPort(host: Nl, peer: Link, conf: BridgeConf): void {
  if (conf.hairpinMode || conf.portIsolation) {
    const port = getBridgePort(host, peer.index);
    if (conf.hairpinMode && !port?.hairpin) throw fail(`bridge port "${peer.name}" has hairpin off, and hairpinMode is true`);
    if (conf.portIsolation && !port?.isolated) throw fail(`bridge port "${peer.name}" is not isolated, and portIsolation is true`);
  }
  if (conf.vlan !== 0 || conf.vlanTrunk.length) {
    const vlanCfg = { vlan: conf.vlan, trunk: conf.vlanTrunk, preserveDefaultVlan: conf.preserveDefaultVlan };
    const problems = portVlanProblems(listPortVlans(host, peer.index), vlanCfg);
    if (problems.length) throw fail(`bridge port "${peer.name}": ${problems.join('; ')}`);
  }
}

/** Each address on the pod interface, and (as upstream) a route to its subnet. */
function checkAddresses(pod: Nl, link: Link, ips: IPConfig[], routes: PodRoutes, cmd: CmdArgs): void {
  const have = listAddrs(pod, { index: link.index });
  for (const ip of ips) {
    const want = tryParseCidr(ip.address);
    if (!want) throw new CniError(Code.InvalidConfig, `prevResult has an invalid address "${ip.address}"`);
    if (!have.some((a) => sameIP(a, want) && a.prefix === want.prefix)) throw fail(`"${cmd.ifName}" lacks address ${ip.address}`);
    // The kernel adds no subnet route for a full-length prefix.
    const net = networkOf(want);
    if (want.prefix < bits(want.family) && !(routes.to(net)).length) {
      throw fail(`the route to ${formatCidr(net)}, the subnet of ${ip.address} on "${cmd.ifName}", is missing in ${cmd.netns}`);
    }
  }
}

/**
 * A route of prevResult: same destination, gateway (or none), and the priority and
 * table it names. Without a table any table will do: a later plugin (sbr) may move the
 * pod's routes to a table of its own.
 */
function checkRoute(routes: PodRoutes, r: PodRoute, netns: string): void {
  const same = (routes.to(r.dst)).filter((k) => (r.table === undefined || k.table === r.table) && (r.priority === undefined || k.priority === r.priority));
  const want = r.gw;
  if (same.some((k) => (want ? gateways(k).some((g) => sameIP(g, want)) : gateways(k).length === 0))) return;
  const what = `route ${formatCidr(r.dst)}${want ? ` via ${formatIP(want)}` : ''}${r.table !== undefined ? ` (table ${r.table})` : ''}`;
  if (!same.length) throw fail(`${what} is missing in ${netns}`);
  const now = gateways(same[0]);
  throw fail(`${what} is missing in ${netns}: ${formatCidr(r.dst)} goes ${now.length ? `via ${now.map(formatIP).join(', ')}` : 'without a gateway'} instead`);
}

const gateways = (k: KernelRoute): IP[] => (k.nexthops.length ? k.nexthops : k.gw ? [k.gw] : []);

/** The pod's unicast routes, listed once per family. */
class PodRoutes {
  private readonly byFamily = new Map<Family, KernelRoute[]>();
  constructor(private readonly pod: Nl) {}

  to(dst: Cidr): KernelRoute[] {
    let all = this.byFamily.get(dst.family);
    if (!all) {
      all = (listRoutes(this.pod, dst.family)).filter((k) => k.type === RTN_UNICAST);
      this.byFamily.set(dst.family, all);
    }
    return all.filter((k) => k.dst.prefix === dst.prefix && sameIP(k.dst, dst));
  }
}
