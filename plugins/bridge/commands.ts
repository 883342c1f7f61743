// bridge ADD and DEL (CHECK is check.ts). ADD keeps an undo stack and unwinds it on
// failure, so a failed ADD leaves no veth, IP reservation, spoof-check or masquerade
// rule behind (the reference leaves most of them for the runtime's DEL). DEL goes as
// far as it can and reports every real failure together.
import { CniError, Code, errorText } from '../../lib/cni/errors';
import type { PluginSpec } from '../../lib/cni/skel';
import type { CmdArgs, Interface, Result } from '../../lib/cni/types';
import { parseResult, versionAtLeast } from '../../lib/cni/version';
import { formatCidr } from '../../lib/ip';
import { listAddrs } from '../../lib/netlink/addr';
import { createVethPair, ensureBridge, ensureForwarding, ensureVlanGateway, waitOperUp } from '../../lib/netlink/apply';
import { hostLocalNetworkDir } from '../../lib/ipam/host-local';
import { ensureGatewayAddrs, gatewayRecordsIn } from './gateway';
import { delLink, getLink, getLinkByIndex, setBridgePort, setMaster, setUp } from '../../lib/netlink/link';
import { openSocketIn, isErrno, type Nl } from '../../lib/netlink/socket';
import { isOwnNetns, tryOpenNetns } from '../../lib/netns';
import { configurePortVlans } from '../../lib/netlink/vlan';
import { type MasqMade, chooseMasqBackend, setupMasq, teardownMasq, undoMasq } from '../../lib/masq';
import { setupSpoofCheck, teardownSpoofCheck } from '../../lib/nft/spoofcheck';
import { log } from '../../lib/log';
import { parseBridgeConf, parseBridgeConfForDel } from './config';
import { runIpam, undoIpamAdd } from './ipam';
import { planAttachment } from './plan';
import { configurePod } from './pod';
import { bridgeGc, bridgeStatus } from './lifecycle';
import { check } from './check';
import { openBothSides } from './sides';

type Undo = () => Promise<void> | void;

async function add(cmd: CmdArgs): Promise<Result> {
  const conf = parseBridgeConf(cmd.conf, cmd.args);
  // Interface mtu is a CNI 1.1 result field; older results look exactly like the reference's.
  const mtuField = (l: { mtu: number }): { mtu?: number } => (versionAtLeast(conf.cniVersion, '1.1.0') ? { mtu: l.mtu } : {});
  const { ns, host, pod, close } = openBothSides(cmd.netns);
  const undo: Undo[] = [];
  try {
    const ipam = conf.ipamType ? await runIpam('ADD', conf.ipamType, cmd) : undefined;
    if (conf.ipamType && ipam) undo.push(() => undoIpamAdd(conf.ipamType!, cmd, ipam));
    const plan = planAttachment(conf, ipam);

    const br = await ensureBridge(host, {
      name: conf.bridge,
      mtu: conf.mtu,
      promisc: conf.promiscMode,
      vlanFiltering: conf.vlanFiltering,
      pinMac: plan.bridgeAddrs.length > 0 && conf.vlan === 0,
    });
    const veth = await createVethPair(host, pod, ns, { ifName: cmd.ifName, mtu: conf.mtu, mac: conf.mac });
    undo.push(() => delLink(host, veth.host));
    await setMaster(host, veth.host, br.index, br.name);
    if (conf.hairpinMode || conf.portIsolation) await setBridgePort(host, veth.host, { hairpin: conf.hairpinMode || undefined, isolated: conf.portIsolation || undefined });
    await configurePortVlans(host, veth.host, { vlan: conf.vlan, trunk: conf.vlanTrunk, preserveDefaultVlan: conf.preserveDefaultVlan });
    await setUp(host, veth.host);

    if (conf.macSpoofChk) {
      // The MAC the pod interface got at creation (requested or random) is the only one allowed.
      const podMac = (await getLinkByIndex(pod, veth.podIndex))?.mac;
      if (!podMac) throw new CniError(Code.Internal, `"${cmd.ifName}" vanished from ${cmd.netns}`);
      // Atomic, and refused when the attachment's chains exist: only then is the undo ours.
      setupSpoofCheck({ network: conf.name, containerId: cmd.containerId, ifName: cmd.ifName, hostIface: veth.host.name, mac: podMac });
      undo.push(() => teardownSpoofCheck(cmd.containerId, cmd.ifName));
    }

    // disableContainerInterface: the pod end stays down and unconfigured (someone else brings it up).
    const podLink = conf.disableContainerInterface
      ? await getLinkByIndex(pod, veth.podIndex)
      : await configurePod(pod, ns, {
          ifName: cmd.ifName,
          podIndex: veth.podIndex,
          addresses: plan.addresses,
          routes: plan.routes,
          hasIPv6: plan.hasIPv6,
          enableDad: conf.enableDad,
        });
    if (!podLink) throw new CniError(Code.Internal, `"${cmd.ifName}" vanished from ${cmd.netns}`);

    const extra: Interface[] = [];
    const gwOpts = { forceAddress: conf.forceAddress, network: conf.name, records: conf.ipamType === 'host-local' ? gatewayRecordsIn(hostLocalNetworkDir(cmd.conf)) : undefined };
    if (plan.bridgeAddrs.length && conf.vlan !== 0) {
      // With a vlan the gateway lives on "<bridge>.<vlan>", a port in that vlan (reference behaviour).
      const gw = await ensureVlanGateway(host, br, conf.vlan, conf.preserveDefaultVlan);
      await ensureGatewayAddrs(host, gw, plan.bridgeAddrs, { ...gwOpts, what: 'failed to set vlan interface for bridge with addr' });
      const gwNow = (await getLink(host, gw.name)) ?? gw;
      extra.push({ name: gwNow.name, mac: gwNow.mac, ...mtuField(gwNow) });
    } else if (plan.bridgeAddrs.length) {
      await ensureGatewayAddrs(host, br, plan.bridgeAddrs, gwOpts);
    }
    ensureForwarding(plan.forward);
    if (conf.ipMasq && plan.addresses.length) {
      const a = { network: conf.name, ifName: cmd.ifName, containerId: cmd.containerId, ips: plan.addresses.map(formatCidr) };
      const made: MasqMade = { backend: chooseMasqBackend(conf.ipMasqBackend), iptables: [] };
      undo.push(() => undoMasq(a, made));
      setupMasq(made.backend, a, made);
    }

    // A down pod end keeps the host end from ever being oper-up: nothing to wait for.
    const hostLink = conf.disableContainerInterface ? await getLink(host, veth.host.name) : await waitOperUp(host, veth.host.name);
    if (!hostLink) throw new CniError(Code.Internal, `host veth "${veth.host.name}" vanished`);
    // Enslaving can change both MACs (plugins#805), so read them only now.
    const brNow = (await getLink(host, br.name)) ?? br;
    const interfaces: Interface[] = [
      { name: brNow.name, mac: brNow.mac, ...mtuField(brNow) },
      { name: hostLink.name, mac: hostLink.mac, ...mtuField(hostLink) },
      { name: cmd.ifName, mac: podLink.mac, ...mtuField(podLink), sandbox: cmd.netns },
      ...extra,
    ];
    return {
      cniVersion: conf.cniVersion,
      interfaces,
      ips: plan.ips.map((ip) => ({ ...ip, interface: 2 })),
      routes: plan.resultRoutes,
      ...(plan.dns ? { dns: plan.dns } : {}),
    };
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (undoErr) {
        log.warn(`rollback of a failed ADD for ${cmd.containerId}/${cmd.ifName}: ${errorText(undoErr)}`);
      }
    }
    throw err;
  } finally {
    close();
  }
}

/** The pod interface's global addresses, then the interface itself removed (which removes both veth ends). */
async function removePodInterface(netnsPath: string, ifName: string): Promise<string[]> {
  const ns = netnsPath ? tryOpenNetns(netnsPath) : undefined;
  if (!ns) return [];
  let pod: Nl | undefined;
  try {
    pod = openSocketIn(ns);
    const link = await getLink(pod, ifName);
    if (!link) return [];
    const addrs = (await listAddrs(pod, { index: link.index })).filter((a) => a.scope === 0).map(formatCidr);
    try {
      await delLink(pod, link);
    } catch (err) {
      if (!isErrno(err, 'ENODEV')) throw err;
    }
    return addrs;
  } finally {
    pod?.close();
    ns.close();
  }
}

function prevResultIps(cmd: CmdArgs): string[] {
  if (!cmd.conf.prevResult) return [];
  try {
    return (parseResult(cmd.conf.prevResult, cmd.conf.cniVersion).ips ?? []).map((ip) => ip.address);
  } catch {
    return []; // a broken prevResult must not stop a DEL
  }
}

async function del(cmd: CmdArgs): Promise<void> {
  const conf = parseBridgeConfForDel(cmd.conf, cmd.args);
  const errors: CniError[] = [];
  const attempt = async (step: () => unknown): Promise<void> => {
    try {
      await step();
    } catch (err) {
      errors.push(err instanceof CniError ? err : new CniError(Code.Internal, errorText(err)));
    }
  };
  let addrs: string[] = [];
  if (cmd.netns && isOwnNetns(cmd.netns)) {
    // CNI_NETNS naming the node's own netns would make "the pod's eth0" a host link
    // (the uplink, for /proc/1/ns/net): never delete it; release the rest as usual.
    log.warn(`DEL: CNI_NETNS "${cmd.netns}" is this plugin's own network namespace; not removing "${cmd.ifName}" from it`);
  } else {
    try {
      addrs = await removePodInterface(cmd.netns, cmd.ifName);
    } catch (err) {
      errors.push(new CniError(Code.Internal, `failed to remove "${cmd.ifName}" from ${cmd.netns}: ${errorText(err)}`));
    }
  }
  if (conf.ipamType) await attempt(() => runIpam('DEL', conf.ipamType!, cmd));
  // Without a netns the reference skips these two and leaks them (plugins#810). Both
  // are named from (network,) containerID and ifname, so they need neither netns nor IPs.
  if (conf.macSpoofChk) await attempt(() => teardownSpoofCheck(cmd.containerId, cmd.ifName));
  if (conf.ipMasq) {
    const ips = addrs.length ? addrs : prevResultIps(cmd);
    await attempt(() => teardownMasq({ network: conf.name, ifName: cmd.ifName, containerId: cmd.containerId, ips }));
  }
  // One failure keeps its own code (e.g. 11 for a busy IPAM lock, so the runtime retries).
  if (errors.length === 1) throw errors[0];
  if (errors.length) throw new CniError(Code.Internal, errors.map((e) => e.message).join('; '));
}

export const bridgePlugin: PluginSpec = {
  about: 'CNI bridge plugin (TypeScript), host-local IPAM built in',
  add,
  del,
  check,
  status: bridgeStatus,
  gc: bridgeGc,
};
