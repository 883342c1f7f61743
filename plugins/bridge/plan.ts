// Config + IPAM result → what to do in the kernel, as plain data. Pure, so the
// gateway/route rules (the part operators trip over) are unit-tested without root.
import { CniError, Code } from '../../lib/cni/errors';
import type { DNS, IPConfig, Result, Route } from '../../lib/cni/types';
import { addOffset, formatIP, networkOf, tryParseCidr, tryParseIP, type Cidr, type Family, type IP } from '../../lib/ip';
import type { Lease } from '../../lib/ipam/host-local';
import type { BridgeConf } from './config';

export interface PodRoute {
  dst: Cidr;
  gw?: IP;
  priority?: number;
  table?: number;
  scope?: number;
  mtu?: number;
  advmss?: number;
}

export interface Plan {
  /** Pod addresses, host bits kept. */
  addresses: Cidr[];
  routes: PodRoute[];
  /** gateway/prefix of the pod subnet, to put on the bridge (isGateway). */
  bridgeAddrs: Cidr[];
  /** Families that need IP forwarding on the node. */
  forward: Family[];
  hasIPv6: boolean;
  /** What the result reports (interface indexes filled in by the caller). */
  ips: IPConfig[];
  resultRoutes: Route[];
  dns?: DNS;
}

const hasDns = (d: DNS | undefined): d is DNS =>
  !!d && !!(d.nameservers?.length || d.domain || d.search?.length || d.options?.length);

/** `ipam`: what IPAM answered; `leases`: host-local in this process gives the same addresses typed. */
export function planAttachment(conf: BridgeConf, ipam: Result | undefined, leases?: readonly Lease[]): Plan {
  const ips = ipam?.ips ?? [];
  if (conf.ipamType && ips.length === 0) throw new CniError(Code.Internal, `IPAM plugin "${conf.ipamType}" returned missing IP config`);

  const addresses: Cidr[] = [];
  const gateways = new Map<Family, { gw: IP; net: Cidr }>();
  const outIps: IPConfig[] = [];
  ips.forEach((ipc, i) => {
    const lease = leases?.[i];
    const addr = lease?.address ?? tryParseCidr(ipc.address);
    if (!addr) throw new CniError(Code.Internal, `IPAM returned an invalid address "${ipc.address}"`);
    let gw = lease?.gateway ?? (ipc.gateway !== undefined ? tryParseIP(ipc.gateway) : undefined);
    if (ipc.gateway !== undefined && !gw) throw new CniError(Code.Internal, `IPAM returned an invalid gateway "${ipc.gateway}"`);
    // With isGateway and no gateway from IPAM, the bridge takes the subnet's first address.
    if (!gw && conf.isGateway) gw = addOffset(networkOf(addr), 1n);
    addresses.push(addr);
    if (gw && !gateways.has(addr.family)) gateways.set(addr.family, { gw, net: networkOf(addr) });
    outIps.push({ address: ipc.address, ...(gw ? { gateway: formatIP(gw) } : {}) });
  });

  const resultRoutes: Route[] = (ipam?.routes ?? []).map((r) => ({ ...r }));
  if (conf.isDefaultGateway) {
    for (const [family, { gw }] of gateways) {
      // An IPAM default route counts only when it names a gateway (reference rule).
      const present = resultRoutes.some((r) => {
        const d = tryParseCidr(r.dst);
        return d && d.family === family && d.prefix === 0 && r.gw;
      });
      if (!present) resultRoutes.push({ dst: family === 4 ? '0.0.0.0/0' : '::/0', gw: formatIP(gw) });
    }
  }

  const routes = planRoutes(resultRoutes, new Map([...gateways].map(([family, { gw }]) => [family, gw])));
  const bridgeAddrs = conf.isGateway ? [...gateways.values()].map(({ gw, net }) => ({ ...gw, prefix: net.prefix })) : [];
  return {
    addresses,
    routes,
    bridgeAddrs,
    forward: conf.isGateway ? [...gateways.keys()] : [],
    hasIPv6: addresses.some((a) => a.family === 6),
    ips: outIps,
    resultRoutes,
    dns: hasDns(conf.dns) ? conf.dns : ipam?.dns,
  };
}

/**
 * Result routes → the routes to put in the pod. A route without gw goes via its
 * family's gateway, as the reference configures it; CHECK expects exactly that.
 */
export function planRoutes(routes: Route[], gateways: ReadonlyMap<Family, IP>): PodRoute[] {
  return routes.map((r) => {
    const dst = tryParseCidr(r.dst);
    if (!dst) throw new CniError(Code.InvalidConfig, `invalid route destination "${r.dst}"`);
    const gw = r.gw ? tryParseIP(r.gw) : gateways.get(dst.family);
    if (r.gw && !gw) throw new CniError(Code.InvalidConfig, `invalid route gateway "${r.gw}" for ${r.dst}`);
    return { dst: networkOf(dst), gw, priority: r.priority, table: r.table, scope: r.scope, mtu: r.mtu, advmss: r.advmss };
  });
}

/** The gateway each family's routes go via: the first one among `ips`, as planAttachment picks it. */
export function familyGateways(ips: readonly IPConfig[]): Map<Family, IP> {
  const out = new Map<Family, IP>();
  for (const ipc of ips) {
    const addr = tryParseCidr(ipc.address);
    const gw = ipc.gateway !== undefined ? tryParseIP(ipc.gateway) : undefined;
    if (addr && gw && !out.has(addr.family)) out.set(addr.family, gw);
  }
  return out;
}
