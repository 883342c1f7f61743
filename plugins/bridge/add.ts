// bridge ADD, top-down as the reference's cmdAdd reads: IPAM, the plan, the bridge, the
// veth pair into the pod, the pod's addresses and routes, the gateway, masquerading, the
// wait for the port, the result. An undo stack records what this ADD created, and a
// failure unwinds exactly that (the reference leaves it for the runtime's DEL), never
// anything that existed before: a retried ADD of a live attachment leaves it whole.
import { CniError, Code, errorText } from '../../lib/cni/errors';
import type { CmdArgs, Interface, Result } from '../../lib/cni/types';
import { versionAtLeast } from '../../lib/cni/version';
import { formatCidr, type Cidr } from '../../lib/ip';
import { hostLocalNetworkDir } from '../../lib/ipam/host-local';
import { log } from '../../lib/log';
import { type MasqMade, chooseMasqBackend, setupMasq, undoMasq } from '../../lib/masq';
import { setupSpoofCheck, teardownSpoofCheck } from '../../lib/nft/spoofcheck';
import { delLink, getLink, getLinkByIndex, setBridgePort, setMaster, setUp, type Link } from '../../lib/netlink/link';
import { isErrno, type Nl } from '../../lib/netlink/socket';
import { ensureBridge, ensureForwarding, ensureVlanGateway } from './bridge';
import { type BridgeConf, parseBridgeConf } from './config';
import { ensureGatewayAddrs, gatewayRecordsIn } from './gateway';
import { ipamAddFor, undoIpamAdd } from './ipam';
import { type Plan, planAttachment } from './plan';
import { configurePod } from './pod';
import { openSides } from './sides';
import { createVethPair, refuseTakenIfName, waitOperUp } from './veth';
import { configurePortVlans } from './vlan';

const BR_MAX_PORTS = 1024;

export function add(cmd: CmdArgs): Result {
  const conf = parseBridgeConf(cmd.conf, cmd.args);
  const { ns, host, pod, close } = openSides(cmd.netns);
  const undo: (() => void)[] = [];
  try {
    // An exec'd IPAM's undo is a DEL by container ID and ifName, which would release a live
    // attachment's address: a retry into the live pod must fail before it is asked. host-local
    // refuses that retry itself and undoes exactly what it reserved.
    if (conf.ipamType && conf.ipamType !== 'host-local') refuseTakenIfName(pod, ns, cmd.ifName);
    const ipam = conf.ipamType ? ipamAddFor(conf.ipamType, cmd) : undefined;
    if (conf.ipamType && ipam) undo.push(() => undoIpamAdd(conf.ipamType!, cmd, ipam.result));
    const plan = planAttachment(conf, ipam?.result, ipam?.leases);

    const br = ensureBridge(host, {
      name: conf.bridge,
      mtu: conf.mtu,
      promisc: conf.promiscMode,
      vlanFiltering: conf.vlanFiltering,
      pinMac: plan.bridgeAddrs.length > 0 && conf.vlan === 0,
    });
    const veth = createVethPair(host, pod, ns, { ifName: cmd.ifName, mtu: conf.mtu, mac: conf.mac });
    undo.push(() => delLink(host, veth.host));
    attachPort(host, veth.host, br, conf);

    if (conf.macSpoofChk) {
      // The MAC the pod interface got at creation (requested or random) is the only one allowed.
      const podMac = getLinkByIndex(pod, veth.podIndex)?.mac;
      if (!podMac) throw new CniError(Code.Internal, `"${cmd.ifName}" vanished from ${cmd.netns}`);
      // Atomic, and refused when the attachment's chains exist: only then is the undo ours.
      setupSpoofCheck({ network: conf.name, containerId: cmd.containerId, ifName: cmd.ifName, hostIface: veth.host.name, mac: podMac });
      undo.push(() => teardownSpoofCheck(cmd.containerId, cmd.ifName));
    }

    // disableContainerInterface: the pod end stays down and unconfigured (someone else brings it up).
    const podLink = conf.disableContainerInterface
      ? getLinkByIndex(pod, veth.podIndex)
      : configurePod(pod, ns, { ifName: cmd.ifName, podIndex: veth.podIndex, addresses: plan.addresses, routes: plan.routes, hasIPv6: plan.hasIPv6, enableDad: conf.enableDad });
    if (!podLink) throw new CniError(Code.Internal, `"${cmd.ifName}" vanished from ${cmd.netns}`);

    const gatewayLink = plan.bridgeAddrs.length ? setGateway(host, br, conf, cmd, plan.bridgeAddrs) : undefined;
    ensureForwarding(plan.forward);
    if (conf.ipMasq && plan.addresses.length) {
      const a = { network: conf.name, ifName: cmd.ifName, containerId: cmd.containerId, ips: plan.addresses.map(formatCidr) };
      const made: MasqMade = { backend: chooseMasqBackend(conf.ipMasqBackend), iptables: [] };
      undo.push(() => undoMasq(a, made));
      setupMasq(made.backend, a, made);
    }

    // A down pod end keeps the host end from ever being oper-up: nothing to wait for.
    const hostLink = conf.disableContainerInterface ? getLink(host, veth.host.name) : waitOperUp(host, veth.host.name);
    if (!hostLink) throw new CniError(Code.Internal, `host veth "${veth.host.name}" vanished`);
    // Enslaving can change both MACs (plugins#805), so read them only now.
    const links = [getLink(host, br.name) ?? br, hostLink, podLink, ...(gatewayLink ? [getLink(host, gatewayLink.name) ?? gatewayLink] : [])];
    return resultOf(conf, cmd, links, plan);
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch (undoErr) {
        log.warn(`rollback of a failed ADD for ${cmd.containerId}/${cmd.ifName}: ${errorText(undoErr)}`);
      }
    }
    throw err;
  } finally {
    close();
  }
}

/** The host end joins the bridge, with the port flags and VLANs of the config, and comes up. */
function attachPort(host: Nl, port: Link, br: Link, conf: BridgeConf): void {
  try {
    setMaster(host, port, br.index, br.name);
  } catch (err) {
    // The kernel's BR_MAX_PORTS: capacity, not breakage, and the message says so.
    if (isErrno(err, 'EXFULL')) throw new CniError(Code.Internal, `bridge "${br.name}" has ${BR_MAX_PORTS} ports, the most a Linux bridge takes: ${errorText(err)}`);
    throw err;
  }
  if (conf.hairpinMode || conf.portIsolation) setBridgePort(host, port, { hairpin: conf.hairpinMode || undefined, isolated: conf.portIsolation || undefined });
  configurePortVlans(host, port, { vlan: conf.vlan, trunk: conf.vlanTrunk, preserveDefaultVlan: conf.preserveDefaultVlan });
  setUp(host, port);
}

/**
 * The gateway addresses: on the bridge, or with a vlan on "<bridge>.<vlan>", a port in
 * that vlan (reference behaviour; then that link is in the result too).
 */
function setGateway(host: Nl, br: Link, conf: BridgeConf, cmd: CmdArgs, addrs: Cidr[]): Link | undefined {
  const opts = { forceAddress: conf.forceAddress, network: conf.name, records: conf.ipamType === 'host-local' ? gatewayRecordsIn(hostLocalNetworkDir(cmd.conf)) : undefined };
  if (conf.vlan === 0) {
    ensureGatewayAddrs(host, br, addrs, opts);
    return undefined;
  }
  const gw = ensureVlanGateway(host, br, conf.vlan, conf.preserveDefaultVlan);
  ensureGatewayAddrs(host, gw, addrs, { ...opts, what: 'failed to set vlan interface for bridge with addr' });
  return gw;
}

/** Interfaces in the reference's order: bridge, host veth, pod interface (index 2), then a vlan gateway. */
function resultOf(conf: BridgeConf, cmd: CmdArgs, [br, hostVeth, pod, ...extra]: Link[], plan: Plan): Result {
  // Interface mtu is a CNI 1.1 result field; older results look exactly like the reference's.
  const withMtu = versionAtLeast(conf.cniVersion, '1.1.0');
  const iface = (l: Link, sandbox?: string): Interface => ({ name: l.name, mac: l.mac, ...(withMtu ? { mtu: l.mtu } : {}), ...(sandbox ? { sandbox } : {}) });
  return {
    cniVersion: conf.cniVersion,
    interfaces: [iface(br), iface(hostVeth), { ...iface(pod, cmd.netns), name: cmd.ifName }, ...extra.map((l) => iface(l))],
    ips: plan.ips.map((ip) => ({ ...ip, interface: 2 })),
    routes: plan.resultRoutes,
    ...(plan.dns ? { dns: plan.dns } : {}),
  };
}
