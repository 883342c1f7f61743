// Idempotent kernel steps the bridge plugin is made of (ensure*), and the pod-side
// addresses and routes added through a socket opened inside the pod netns (addPod*).
import { randomBytes } from 'node:crypto';
import { CniError, Code, errorText } from '../cni/errors';
import { formatCidr, formatIP, type Cidr, type Family } from '../ip';
import type { NetnsHandle } from '../netns';
import { ensureSysctl, sysctlPath, writeSysctl } from '../sysctl';
import { log } from '../log';
import { addAddr } from './addr';
import { parseMac } from './attrs';
import { createBridge, createVeth, delLink, delLinkByName, getLink, getLinkByIndex, setMac, setMaster, setMtu, setPromisc, setUp, type Link } from './link';
import { addRoute, type RouteSpec } from './route';
import { isErrno, type Nl } from './socket';
import { NO_VLAN_FILTERING_HINT, configurePortVlans, isNotSupported } from './vlan';

/** Ignore a sysctl that does not exist (IPv6 disabled on the node, an old kernel), as the reference does. */
function trySysctl(path: string, value: string, ensure = false): void {
  try {
    if (ensure) ensureSysctl(path, value);
    else writeSysctl(path, value);
  } catch (err) {
    log.debug(`sysctl ${path}=${value} skipped: ${errorText(err)}`);
  }
}

/**
 * vlanFiltering applies only when the bridge is created here: like the reference,
 * an existing bridge keeps its setting (it may belong to the operator).
 * pinMac (a gateway bridge): fix the new bridge's MAC before any port joins, or it
 * adopts the first pod's veth MAC and the gateway's MAC changes as pods come and
 * go; the reference's gateway bridge likewise keeps a MAC of its own.
 */
export async function ensureBridge(
  nl: Nl,
  opts: { name: string; mtu?: number; promisc: boolean; vlanFiltering?: boolean; pinMac?: boolean },
): Promise<Link> {
  let br = await getLink(nl, opts.name);
  if (!br) {
    let created = false;
    try {
      await createBridge(nl, opts.name, { mtu: opts.mtu, vlanFiltering: opts.vlanFiltering });
      created = true;
    } catch (err) {
      // A parallel ADD created it between our read and our create.
      if (!isErrno(err, 'EEXIST')) {
        const hint = opts.vlanFiltering && isNotSupported(err) ? NO_VLAN_FILTERING_HINT : undefined;
        throw new CniError(Code.Internal, `failed to create bridge "${opts.name}": ${errorText(err)}`, hint);
      }
    }
    br = await getLink(nl, opts.name);
    if (!br) throw new CniError(Code.Internal, `bridge "${opts.name}" vanished right after it was created`);
    const own = br.mac ? parseMac(br.mac) : undefined;
    if (created && opts.pinMac && own) await setMac(nl, br, own);
  }
  if (br.kind !== 'bridge') {
    throw new CniError(Code.Internal, `"${opts.name}" already exists but is not a bridge (it is a ${br.kind ?? 'device of unknown kind'})`);
  }
  if (opts.mtu && br.mtu !== opts.mtu) {
    // The reference sets the MTU only when it creates the bridge, so a changed
    // FLANNEL_MTU never reaches an existing cni0 (containernetworking/cni#356).
    try {
      await setMtu(nl, br, opts.mtu);
      log.warn(`bridge "${br.name}" had MTU ${br.mtu}; set to ${opts.mtu} as configured`);
    } catch (err) {
      // A bridge cannot be raised above its smallest port's MTU while old pods remain.
      log.warn(`bridge "${br.name}" has MTU ${br.mtu}, configured ${opts.mtu}, and cannot change yet: ${errorText(err)}`);
    }
  }
  if (opts.promisc && !br.promisc) await setPromisc(nl, br, true);
  // Router advertisements on the bridge would give the node addresses in pod subnets.
  trySysctl(sysctlPath('net', 'ipv6', 'conf', opts.name, 'accept_ra'), '0', true);
  if (!br.up) await setUp(nl, br);
  return (await getLink(nl, opts.name)) ?? br;
}

/**
 * The gateway of a vlan network (reference: gateway IPs go on "<bridge>.<vlan>"
 * when vlan is set): a veth pair in the host netns whose end "<bridge>.<vlan>"
 * holds the addresses and whose other end is a bridge port that is an access port
 * of `vlan`. Reused when it exists; never removed (like the bridge).
 */
export async function ensureVlanGateway(nl: Nl, br: Link, vlan: number, preserveDefaultVlan: boolean): Promise<Link> {
  const name = `${br.name}.${vlan}`;
  const existing = await getLink(nl, name);
  if (existing) return existing;
  const fail = (err: unknown) => new CniError(Code.Internal, `failed to create vlan interface: ${errorText(err)}`, err instanceof CniError ? err.details : undefined);
  let port: Link | undefined;
  for (let attempt = 0; attempt < 10 && !port; attempt++) {
    const portName = `veth${randomBytes(4).toString('hex')}`;
    try {
      await createVeth(nl, { hostName: portName, peerName: name, mtu: br.mtu || undefined });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw fail(err);
      // Either a parallel ADD made this gateway first (use it) or the port name clashed (retry).
      const won = await getLink(nl, name);
      if (won) return won;
      continue;
    }
    port = await getLink(nl, portName);
  }
  const gw = await getLink(nl, name);
  if (!port || !gw) throw fail(new Error(`veth "${name}" could not be created or vanished right after`));
  try {
    trySysctl(sysctlPath('net', 'ipv6', 'conf', port.name, 'accept_ra'), '0');
    await setMaster(nl, port, br.index, br.name);
    await configurePortVlans(nl, port, { vlan, trunk: [], preserveDefaultVlan });
    await setUp(nl, port);
    await setUp(nl, gw);
  } catch (err) {
    // Half-made, it would be reused as is by the next ADD: remove it (both ends go).
    await delLink(nl, port).catch(() => undefined);
    throw fail(err);
  }
  return (await getLink(nl, name)) ?? gw;
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

export interface VethPair {
  host: Link;
  /** Index of the pod end inside the pod netns. */
  podIndex: number;
}

/** Create the pair from the host with the peer placed straight into the pod netns as `ifName`. */
export async function createVethPair(host: Nl, pod: Nl, ns: NetnsHandle, opts: { ifName: string; mtu?: number; mac?: string }): Promise<VethPair> {
  if (await getLink(pod, opts.ifName)) {
    throw new CniError(Code.Internal, `container veth name "${opts.ifName}" already exists in ${ns.path}`);
  }
  for (let attempt = 0; attempt < 10; attempt++) {
    const hostName = `veth${randomBytes(4).toString('hex')}`;
    try {
      await createVeth(host, { hostName, peerName: opts.ifName, peerNetnsFd: ns.fd, mtu: opts.mtu, peerMac: opts.mac ? parseMac(opts.mac) : undefined });
    } catch (err) {
      if (isErrno(err, 'EEXIST') && !(await getLink(pod, opts.ifName))) continue; // host name clash: pick another
      throw new CniError(Code.Internal, `failed to create veth pair for "${opts.ifName}" in ${ns.path}: ${errorText(err)}`);
    }
    // The host end must not autoconfigure from router advertisements sent by pods.
    trySysctl(sysctlPath('net', 'ipv6', 'conf', hostName, 'accept_ra'), '0');
    let h: Link | undefined;
    try {
      h = await getLink(host, hostName);
    } catch (err) {
      // The pair exists but is not on the caller's undo stack yet: remove it here.
      await delLinkByName(host, hostName).catch(() => undefined);
      throw err;
    }
    if (!h || h.peerIndex === undefined) throw new CniError(Code.Internal, `veth "${hostName}" vanished right after it was created`);
    return { host: h, podIndex: h.peerIndex };
  }
  throw new CniError(Code.Internal, 'failed to find a free host veth name after 10 attempts');
}

export interface PodAddrs {
  ifName: string;
  podIndex: number;
  addresses: Cidr[];
  /** Leave IPv6 addresses to duplicate address detection instead of adding them nodad. */
  dad: boolean;
}

/** Bring up the pod's lo, add the addresses to the pod end, then bring it up. */
export async function addPodAddrs(pod: Nl, ns: NetnsHandle, c: PodAddrs): Promise<Link> {
  const lo = await getLink(pod, 'lo');
  if (lo && !lo.up) await setUp(pod, lo);
  for (const a of c.addresses) {
    try {
      await addAddr(pod, c.podIndex, a, `add ${formatCidr(a)} to "${c.ifName}"`, { dad: c.dad });
    } catch (err) {
      throw new CniError(Code.Internal, `failed to add IP addr ${formatCidr(a)} to "${c.ifName}": ${errorText(err)}`);
    }
  }
  const link = await getLinkByIndex(pod, c.podIndex);
  if (!link) throw new CniError(Code.Internal, `"${c.ifName}" disappeared from ${ns.path}`);
  await setUp(pod, link);
  return (await getLinkByIndex(pod, c.podIndex)) ?? link;
}

/** The pod's routes through its interface; one that exists already is fine (the reference adds them ECMP-style). */
export async function addPodRoutes(pod: Nl, c: { ifName: string; podIndex: number; routes: Omit<RouteSpec, 'oif'>[] }): Promise<void> {
  for (const r of c.routes) {
    try {
      await addRoute(pod, { ...r, oif: c.podIndex }, `add route ${formatCidr(r.dst)}`);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) continue;
      const via = r.gw ? ` via ${formatIP(r.gw)}` : '';
      throw new CniError(Code.Internal, `failed to add route ${formatCidr(r.dst)}${via} on "${c.ifName}": ${errorText(err)}`);
    }
  }
}

/**
 * Wait for the host end to be operationally up: until then the bridge drops the
 * pod's first packets. Polls the kernel with a short backoff (about 2.5 s in all).
 */
export async function waitOperUp(nl: Nl, name: string): Promise<Link> {
  let last: Link | undefined;
  for (const delay of [0, 2, 5, 10, 20, 50, 100, 200, 500, 1000]) {
    if (delay) await new Promise((r) => setTimeout(r, delay));
    last = await getLink(nl, name);
    if (last?.operState === 'up') return last;
  }
  throw new CniError(Code.Internal, `bridge port in error state: ${last?.operState ?? 'gone'} ("${name}")`);
}
