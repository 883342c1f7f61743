// bridge ADD / DEL / CHECK. ADD keeps an undo stack and unwinds it on failure, so a
// failed ADD leaves no veth, IP reservation or masquerade rule behind (the reference
// leaves them for the runtime's DEL). DEL goes as far as it can and reports every
// real failure together.
import { CniError, Code, errorText } from '../../lib/cni/errors';
import type { PluginSpec } from '../../lib/cni/skel';
import type { CmdArgs, Interface, Result } from '../../lib/cni/types';
import { parseResult } from '../../lib/cni/version';
import { formatCidr, networkOf, parseCidr, sameIP, tryParseCidr } from '../../lib/ip';
import { listAddrs } from '../../lib/netlink/addr';
import { applyPodConfig, createVethPair, ensureBridge, ensureBridgeAddrs, ensureForwarding, waitOperUp } from '../../lib/netlink/apply';
import { delLink, getLink, getLinkByIndex, setBridgePort, setMaster, setUp } from '../../lib/netlink/link';
import { listRoutes } from '../../lib/netlink/route';
import { openSocket, openSocketIn, isErrno, type Nl } from '../../lib/netlink/socket';
import { openNetns, tryOpenNetns, type NetnsHandle } from '../../lib/netns';
import { setupIpMasq, teardownIpMasq } from '../../lib/masq';
import { log } from '../../lib/log';
import { parseBridgeConf } from './config';
import { runIpam } from './ipam';
import { planAttachment } from './plan';
import { bridgeGc, bridgeStatus } from './lifecycle';

type Undo = () => Promise<void> | void;

function openPodNetns(path: string): NetnsHandle {
  const ns = tryOpenNetns(path);
  if (!ns) throw new CniError(Code.InvalidEnv, `CNI_NETNS "${path}" does not exist`);
  ns.close();
  return openNetns(path);
}

async function add(cmd: CmdArgs): Promise<Result> {
  const conf = parseBridgeConf(cmd.conf, cmd.args);
  const ns = openPodNetns(cmd.netns);
  const host = openSocket();
  const pod = openSocketIn(ns);
  const undo: Undo[] = [];
  try {
    const ipam = conf.ipamType ? await runIpam('ADD', conf.ipamType, cmd) : undefined;
    if (conf.ipamType) undo.push(() => runIpam('DEL', conf.ipamType!, cmd).then(() => undefined));
    const plan = planAttachment(conf, ipam);

    const br = await ensureBridge(host, { name: conf.bridge, mtu: conf.mtu, promisc: conf.promiscMode });
    const veth = await createVethPair(host, pod, ns, { ifName: cmd.ifName, mtu: conf.mtu, mac: conf.mac });
    undo.push(() => delLink(host, veth.host));
    await setMaster(host, veth.host, br.index, br.name);
    if (conf.hairpinMode || conf.portIsolation) await setBridgePort(host, veth.host, { hairpin: conf.hairpinMode || undefined, isolated: conf.portIsolation || undefined });
    await setUp(host, veth.host);

    const podLink = await applyPodConfig(pod, ns, {
      ifName: cmd.ifName,
      podIndex: veth.podIndex,
      addresses: plan.addresses,
      routes: plan.routes,
      hasIPv6: plan.hasIPv6,
      enableDad: conf.enableDad,
    });

    if (plan.bridgeAddrs.length) await ensureBridgeAddrs(host, br, plan.bridgeAddrs, conf.forceAddress);
    ensureForwarding(plan.forward);
    if (conf.ipMasq && plan.addresses.length) {
      const ips = plan.addresses.map(formatCidr);
      undo.push(() => teardownIpMasq({ network: conf.name, containerId: cmd.containerId, ips }));
      setupIpMasq({ network: conf.name, containerId: cmd.containerId, ips });
    }

    const hostLink = await waitOperUp(host, veth.host.name);
    // Enslaving can change both MACs (plugins#805), so read them only now.
    const brNow = (await getLink(host, br.name)) ?? br;
    const interfaces: Interface[] = [
      { name: brNow.name, mac: brNow.mac, mtu: brNow.mtu },
      { name: hostLink.name, mac: hostLink.mac, mtu: hostLink.mtu },
      { name: cmd.ifName, mac: podLink.mac, mtu: podLink.mtu, sandbox: cmd.netns },
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
    pod.close();
    host.close();
    ns.close();
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
  const conf = parseBridgeConf(cmd.conf, cmd.args);
  const errors: string[] = [];
  let addrs: string[] = [];
  try {
    addrs = await removePodInterface(cmd.netns, cmd.ifName);
  } catch (err) {
    errors.push(`failed to remove "${cmd.ifName}" from ${cmd.netns}: ${errorText(err)}`);
  }
  if (conf.ipamType) {
    try {
      await runIpam('DEL', conf.ipamType, cmd);
    } catch (err) {
      errors.push(errorText(err));
    }
  }
  if (conf.ipMasq) {
    // Without a netns the reference skips this and leaks the chain (plugins#810); the
    // chain name is derived from (network, container), so teardown needs no addresses.
    const ips = addrs.length ? addrs : prevResultIps(cmd);
    try {
      teardownIpMasq({ network: conf.name, containerId: cmd.containerId, ips });
    } catch (err) {
      errors.push(errorText(err));
    }
  }
  if (errors.length) throw new CniError(Code.Internal, errors.join('; '));
}

async function check(cmd: CmdArgs): Promise<void> {
  const conf = parseBridgeConf(cmd.conf, cmd.args);
  if (conf.ipamType) await runIpam('CHECK', conf.ipamType, cmd);
  if (cmd.conf.prevResult === undefined) throw new CniError(Code.InvalidConfig, 'Required prevResult missing');
  const prev = parseResult(cmd.conf.prevResult, cmd.conf.cniVersion);
  const ns = openPodNetns(cmd.netns);
  const host = openSocket();
  const pod = openSocketIn(ns);
  try {
    const br = await getLink(host, conf.bridge);
    if (!br) throw new CniError(Code.Internal, `bridge "${conf.bridge}" does not exist`);
    if (br.kind !== 'bridge') throw new CniError(Code.Internal, `"${conf.bridge}" is not a bridge`);
    if (conf.promiscMode && !br.promisc) throw new CniError(Code.Internal, `bridge "${conf.bridge}" is not promiscuous`);
    const link = await getLink(pod, cmd.ifName);
    if (!link) throw new CniError(Code.Internal, `"${cmd.ifName}" does not exist in ${cmd.netns}`);
    if (link.kind !== 'veth') throw new CniError(Code.Internal, `"${cmd.ifName}" in ${cmd.netns} is a ${link.kind ?? 'unknown device'}, not a veth`);
    const podIf = (prev.interfaces ?? []).find((i) => i.name === cmd.ifName && i.sandbox);
    if (podIf?.mac && link.mac && podIf.mac.toLowerCase() !== link.mac) {
      throw new CniError(Code.Internal, `"${cmd.ifName}" has MAC ${link.mac}, prevResult says ${podIf.mac}`);
    }
    const peer = link.peerIndex !== undefined ? await getLinkByIndex(host, link.peerIndex) : undefined;
    if (!peer || peer.kind !== 'veth') throw new CniError(Code.Internal, `the host end of "${cmd.ifName}" is missing`);
    if (peer.master !== br.index) throw new CniError(Code.Internal, `host veth "${peer.name}" is not attached to bridge "${br.name}"`);
    const have = await listAddrs(pod, { index: link.index });
    for (const ip of prev.ips ?? []) {
      const want = tryParseCidr(ip.address);
      if (!want) continue;
      if (!have.some((a) => sameIP(a, want) && a.prefix === want.prefix)) {
        throw new CniError(Code.Internal, `"${cmd.ifName}" lacks address ${ip.address}`);
      }
    }
    for (const r of prev.routes ?? []) {
      const dst = networkOf(parseCidr(r.dst));
      const routes = await listRoutes(pod, dst.family);
      if (!routes.some((k) => k.dst.prefix === dst.prefix && k.dst.value === dst.value)) {
        throw new CniError(Code.Internal, `route to ${r.dst} is missing in ${cmd.netns}`);
      }
    }
  } finally {
    pod.close();
    host.close();
    ns.close();
  }
}

export const bridgePlugin: PluginSpec = {
  about: 'CNI bridge plugin (TypeScript), host-local IPAM built in',
  add,
  del,
  check,
  status: bridgeStatus,
  gc: bridgeGc,
};
