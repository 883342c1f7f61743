// The attachment's own links: the veth pair (the pod end created straight into the pod
// netns under its final name), the pod's addresses and routes through a socket bound to
// the pod netns, and the wait for the host end to come up.
import { CniError, Code, errorText } from '../../lib/cni/errors';
import { formatCidr, formatIP, type Cidr } from '../../lib/ip';
import { addAddr } from '../../lib/netlink/addr';
import { parseMac } from '../../lib/netlink/attrs';
import { createVeth, delLinkByName, getLink, getLinkByIndex, setUp, type Link, type VethSpec } from '../../lib/netlink/link';
import { addRoute, type RouteSpec } from '../../lib/netlink/route';
import { isErrno, type Nl } from '../../lib/netlink/socket';
import type { NetnsHandle } from '../../lib/netns';
import { sysctlPath, trySysctl } from '../../lib/sysctl';
import { sleepSync } from '../../lib/time';
import { randomHex } from '../../lib/random';

export interface VethPair {
  host: Link;
  /** Index of the pod end inside the pod netns. */
  podIndex: number;
}

/** Refuse an ifName the pod already has (the reference's first check, in setupVeth). */
export function refuseTakenIfName(pod: Nl, ns: NetnsHandle, ifName: string): void {
  if (getLink(pod, ifName)) throw ifNameTaken(ns, ifName);
}

const ifNameTaken = (ns: NetnsHandle, ifName: string) => new CniError(Code.Internal, `container veth name "${ifName}" already exists in ${ns.path}`);

/**
 * A veth pair whose host end gets a fresh random "veth…" name (another is tried when one
 * clashes), returned as that end; undefined when the peer's name was taken meanwhile
 * (EEXIST and `peerTaken()`). A pair whose host end cannot be read back is deleted here,
 * before any caller's undo knows of it.
 */
export function createHostVeth(nl: Nl, spec: Omit<VethSpec, 'hostName'>, peerTaken: () => boolean): Link | undefined {
  for (let attempt = 0; attempt < 10; attempt++) {
    const hostName = `veth${randomHex(4)}`;
    try {
      createVeth(nl, { ...spec, hostName });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      if (peerTaken()) return undefined;
      continue; // the host name clashed: pick another
    }
    // The host end must not autoconfigure from router advertisements sent by pods.
    trySysctl(sysctlPath('net', 'ipv6', 'conf', hostName, 'accept_ra'), '0');
    let h: Link | undefined;
    try {
      h = getLink(nl, hostName);
    } catch (err) {
      try {
        delLinkByName(nl, hostName);
      } catch {
        // the original failure matters more
      }
      throw err;
    }
    if (!h) throw new Error(`veth "${hostName}" vanished right after it was created`);
    return h;
  }
  throw new Error('failed to find a free host veth name after 10 attempts');
}

/** Create the pair from the host with the peer placed straight into the pod netns as `ifName`. */
export function createVethPair(host: Nl, pod: Nl, ns: NetnsHandle, opts: { ifName: string; mtu?: number; mac?: string }): VethPair {
  refuseTakenIfName(pod, ns, opts.ifName);
  let h: Link | undefined;
  try {
    h = createHostVeth(host, { peerName: opts.ifName, peerNetnsFd: ns.fd, mtu: opts.mtu, peerMac: opts.mac ? parseMac(opts.mac) : undefined }, () => !!getLink(pod, opts.ifName));
  } catch (err) {
    throw new CniError(Code.Internal, `failed to create veth pair for "${opts.ifName}" in ${ns.path}: ${errorText(err)}`);
  }
  if (!h) throw ifNameTaken(ns, opts.ifName);
  if (h.peerIndex === undefined) throw new CniError(Code.Internal, `veth "${h.name}" has no peer`);
  return { host: h, podIndex: h.peerIndex };
}

export interface PodAddrs {
  ifName: string;
  podIndex: number;
  addresses: Cidr[];
  /** Leave IPv6 addresses to duplicate address detection instead of adding them nodad. */
  dad: boolean;
}

/** Bring up the pod's lo, add the addresses to the pod end, then bring it up. */
export function addPodAddrs(pod: Nl, ns: NetnsHandle, c: PodAddrs): Link {
  const lo = getLink(pod, 'lo');
  if (lo && !lo.up) setUp(pod, lo);
  for (const a of c.addresses) {
    try {
      addAddr(pod, c.podIndex, a, `add ${formatCidr(a)} to "${c.ifName}"`, { dad: c.dad });
    } catch (err) {
      throw new CniError(Code.Internal, `failed to add IP addr ${formatCidr(a)} to "${c.ifName}": ${errorText(err)}`);
    }
  }
  const link = getLinkByIndex(pod, c.podIndex);
  if (!link) throw new CniError(Code.Internal, `"${c.ifName}" disappeared from ${ns.path}`);
  setUp(pod, link);
  return (getLinkByIndex(pod, c.podIndex)) ?? link;
}

/** The pod's routes through its interface; one that exists already is fine (the reference adds them ECMP-style). */
export function addPodRoutes(pod: Nl, c: { ifName: string; podIndex: number; routes: Omit<RouteSpec, 'oif'>[] }): void {
  for (const r of c.routes) {
    try {
      addRoute(pod, { ...r, oif: c.podIndex }, `add route ${formatCidr(r.dst)}`);
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
export function waitOperUp(nl: Nl, name: string): Link {
  let last: Link | undefined;
  for (const delay of [0, 2, 5, 10, 20, 50, 100, 200, 500, 1000]) {
    if (delay) sleepSync(delay);
    last = getLink(nl, name);
    if (last?.operState === 'up') return last;
  }
  throw new CniError(Code.Internal, `bridge port in error state: ${last?.operState ?? 'gone'} ("${name}")`);
}
