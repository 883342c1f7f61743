// The host side that every attachment of a network shares: the bridge itself, the
// gateway port of a vlan network, forwarding. Idempotent (ensure*), safe when parallel
// ADDs race (EEXIST is the other ADD's success), never removed: like the reference's,
// a bridge outlives its pods and may be shared with other networks or the operator.
import { CniError, Code, errorText } from '../../lib/cni/errors';
import type { Family } from '../../lib/ip';
import { log } from '../../lib/log';
import { parseMac } from '../../lib/netlink/attrs';
import { createBridge, delLink, getLink, listLinks, setMac, setMaster, setMtu, setPromisc, setUp, type Link } from '../../lib/netlink/link';
import { isErrno, type Nl } from '../../lib/netlink/socket';
import { isNotSupported } from '../../lib/netlink/vlan';
import { ensureSysctl, sysctlPath, trySysctl } from '../../lib/sysctl';
import { NO_VLAN_FILTERING_HINT, configurePortVlans } from './vlan';
import { createHostVeth } from './veth';

/**
 * vlanFiltering applies only when the bridge is created here: like the reference,
 * an existing bridge keeps its setting (it may belong to the operator).
 * pinMac (a gateway bridge): fix the new bridge's MAC before any port joins, or it
 * adopts the first pod's veth MAC and the gateway's MAC changes as pods come and
 * go; the reference's gateway bridge likewise keeps a MAC of its own.
 */
export function ensureBridge(
  nl: Nl,
  opts: { name: string; mtu?: number; promisc: boolean; vlanFiltering?: boolean; pinMac?: boolean },
): Link {
  let br = getLink(nl, opts.name);
  let created = false;
  if (!br) {
    try {
      // No MTU in the create request: the kernel keeps only an MTU set afterwards as the
      // bridge's own (BROPT_MTU_SET_BY_USER); one given at creation it drops back to 1500
      // when the last port leaves (br_mtu_auto_adjust), and the next pod's ADD would find
      // cni0 at 1500.
      createBridge(nl, opts.name, { vlanFiltering: opts.vlanFiltering });
      created = true;
    } catch (err) {
      // A parallel ADD created it between our read and our create.
      if (!isErrno(err, 'EEXIST')) {
        const hint = opts.vlanFiltering && isNotSupported(err) ? NO_VLAN_FILTERING_HINT : undefined;
        throw new CniError(Code.Internal, `failed to create bridge "${opts.name}": ${errorText(err)}`, hint);
      }
    }
    br = getLink(nl, opts.name);
    if (!br) throw new CniError(Code.Internal, `bridge "${opts.name}" vanished right after it was created`);
    const own = br.mac ? parseMac(br.mac) : undefined;
    if (created && opts.pinMac && own) setMac(nl, br, own);
  }
  if (br.kind !== 'bridge') {
    throw new CniError(Code.Internal, `"${opts.name}" already exists but is not a bridge (it is a ${br.kind ?? 'device of unknown kind'})`);
  }
  if (opts.mtu && br.mtu !== opts.mtu) {
    // The reference sets the MTU only when it creates the bridge, so a changed
    // FLANNEL_MTU never reaches an existing cni0 (containernetworking/cni#356). Raising
    // it above a port's MTU would have the node send the pods behind that port frames
    // their veth drops: it waits until those pods (of the old MTU) are gone.
    const smaller = !created && opts.mtu > br.mtu ? listLinks(nl).find((l) => l.master === br!.index && l.mtu < opts.mtu!) : undefined;
    if (smaller) {
      log.warn(`bridge "${br.name}" has MTU ${br.mtu}, configured ${opts.mtu}: left until its ports are raised too ("${smaller.name}" has ${smaller.mtu})`);
    } else {
      try {
        setMtu(nl, br, opts.mtu);
        if (!created) log.warn(`bridge "${br.name}" had MTU ${br.mtu}; set to ${opts.mtu} as configured`);
      } catch (err) {
        log.warn(`bridge "${br.name}" has MTU ${br.mtu}, configured ${opts.mtu}, and cannot change: ${errorText(err)}`);
      }
    }
  }
  if (opts.promisc && !br.promisc) setPromisc(nl, br, true);
  // Router advertisements on the bridge would give the node addresses in pod subnets.
  trySysctl(sysctlPath('net', 'ipv6', 'conf', opts.name, 'accept_ra'), '0', true);
  if (!br.up) setUp(nl, br);
  return (getLink(nl, opts.name)) ?? br;
}

/**
 * The gateway of a vlan network (reference: gateway IPs go on "<bridge>.<vlan>"
 * when vlan is set): a veth pair in the host netns whose end "<bridge>.<vlan>"
 * holds the addresses and whose other end is a bridge port that is an access port
 * of `vlan`. Reused when it exists; never removed (like the bridge).
 */
export function ensureVlanGateway(nl: Nl, br: Link, vlan: number, preserveDefaultVlan: boolean): Link {
  const name = `${br.name}.${vlan}`;
  const existing = getLink(nl, name);
  if (existing) return existing;
  const fail = (err: unknown) => new CniError(Code.Internal, `failed to create vlan interface: ${errorText(err)}`, err instanceof CniError ? err.details : undefined);
  let port: Link | undefined;
  try {
    port = createHostVeth(nl, { peerName: name, mtu: br.mtu || undefined }, () => !!getLink(nl, name));
  } catch (err) {
    throw fail(err);
  }
  if (!port) {
    // A parallel ADD made this gateway first: use it.
    const won = getLink(nl, name);
    if (won) return won;
    throw fail(new Error(`"${name}" vanished right after another ADD created it`));
  }
  let gw: Link | undefined;
  try {
    gw = getLink(nl, name);
    if (!gw) throw new Error(`veth "${name}" vanished right after it was created`);
    setMaster(nl, port, br.index, br.name);
    configurePortVlans(nl, port, { vlan, trunk: [], preserveDefaultVlan });
    setUp(nl, port);
    setUp(nl, gw);
  } catch (err) {
    // Half-made, it would be reused as is by the next ADD: remove it (both ends go).
    try {
      delLink(nl, port);
    } catch {
      // the original failure matters more
    }
    throw fail(err);
  }
  return (getLink(nl, name)) ?? gw;
}

export function ensureForwarding(families: Family[]): void {
  for (const f of families) {
    const path = f === 4 ? sysctlPath('net', 'ipv4', 'ip_forward') : sysctlPath('net', 'ipv6', 'conf', 'all', 'forwarding');
    try {
      ensureSysctl(path, '1');
    } catch (err) {
      throw new CniError(Code.Internal, `failed to enable forwarding (${path}): ${errorText(err)}`);
    }
  }
}
