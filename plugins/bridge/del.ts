// bridge DEL: as far as it can, every real failure reported together at the end. It must
// succeed when the interface, the netns, the saved state or prevResult is gone (spec,
// DEL), and it releases what lives outside the netns even without one: the reference
// skips masquerade and spoof-check teardown then and leaks them (plugins#810).
import { Failures } from '../../lib/cni/errors';
import type { CmdArgs } from '../../lib/cni/types';
import { parseResult } from '../../lib/cni/version';
import { formatCidr } from '../../lib/ip';
import { log } from '../../lib/log';
import { listAddrs } from '../../lib/netlink/addr';
import { delLink, getLink } from '../../lib/netlink/link';
import { isErrno } from '../../lib/netlink/socket';
import { isOwnNetns } from '../../lib/netns';
import { teardownMasq } from '../../lib/masq';
import { teardownSpoofCheck } from '../../lib/nft/spoofcheck';
import { parseBridgeConfForDel } from './config';
import { runIpam } from './ipam';
import { openPodIfThere } from './sides';

export function del(cmd: CmdArgs): void {
  const conf = parseBridgeConfForDel(cmd.conf, cmd.args);
  const failures = new Failures();
  let addrs: string[] = [];
  if (cmd.netns && isOwnNetns(cmd.netns)) {
    // CNI_NETNS naming the node's own netns would make "the pod's eth0" a host link
    // (the uplink, for /proc/1/ns/net): never delete it; release the rest as usual.
    log.warn(`DEL: CNI_NETNS "${cmd.netns}" is this plugin's own network namespace; not removing "${cmd.ifName}" from it`);
  } else {
    addrs = failures.attempt(() => removePodInterface(cmd.netns, cmd.ifName), `failed to remove "${cmd.ifName}" from ${cmd.netns}`) ?? [];
  }
  if (conf.ipamType) failures.attempt(() => runIpam('DEL', conf.ipamType!, cmd));
  // Both are named from (network,) containerID and ifname: they need neither netns nor IPs.
  if (conf.macSpoofChk) failures.attempt(() => teardownSpoofCheck(cmd.containerId, cmd.ifName));
  if (conf.ipMasq) {
    const ips = addrs.length ? addrs : prevResultIps(cmd);
    failures.attempt(() => teardownMasq({ network: conf.name, ifName: cmd.ifName, containerId: cmd.containerId, ips }));
  }
  failures.throwIfAny(`DEL of ${cmd.containerId}/${cmd.ifName}`);
}

/** The pod interface's global addresses, then the interface itself removed (which removes both veth ends). */
function removePodInterface(netnsPath: string, ifName: string): string[] {
  const side = openPodIfThere(netnsPath);
  if (!side) return [];
  try {
    const link = getLink(side.pod, ifName);
    if (!link) return [];
    const addrs = listAddrs(side.pod, { index: link.index }).filter((a) => a.scope === 0).map(formatCidr);
    try {
      delLink(side.pod, link);
    } catch (err) {
      if (!isErrno(err, 'ENODEV')) throw err;
    }
    return addrs;
  } finally {
    side.close();
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
