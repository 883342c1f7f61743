// Routes in the main table. Added with CREATE but not EXCL, as the reference does,
// so that re-adding an identical route is not an error.
import { fromBytes, toBytes, type Cidr, type IP } from '../ip';
import { AF, NLM_F, RTA, RTAX, RTM, RTN_UNICAST, RTPROT_BOOT, RT_SCOPE, RT_TABLE_MAIN, attr, attrU32, nest, parseAttrs, parseRtMsg, readU32, rtmsg } from './attrs';
import type { Nl } from './socket';

const RTNH_LEN = 8;

export interface RouteSpec {
  dst: Cidr;
  gw?: IP;
  oif: number;
  priority?: number;
  table?: number;
  scope?: number;
  mtu?: number;
  advmss?: number;
}

export interface KernelRoute {
  dst: Cidr;
  gw?: IP;
  /** The gateways of a multipath route (RTA_MULTIPATH), which carries no RTA_GATEWAY of its own. */
  nexthops: IP[];
  oif?: number;
  table: number;
  priority?: number;
  scope: number;
  /** RTN_*: unicast, local, broadcast, unreachable... */
  type: number;
}

export function addRoute(nl: Nl, r: RouteSpec, what: string): void {
  const family = r.dst.family === 4 ? AF.INET : AF.INET6;
  const table = r.table ?? RT_TABLE_MAIN;
  const scope = r.scope ?? (r.gw ? RT_SCOPE.UNIVERSE : RT_SCOPE.LINK);
  const attrs = [attrU32(RTA.OIF, r.oif)];
  if (r.dst.prefix > 0) attrs.push(attr(RTA.DST, toBytes(r.dst)));
  if (r.gw) attrs.push(attr(RTA.GATEWAY, toBytes(r.gw)));
  if (r.priority !== undefined) attrs.push(attrU32(RTA.PRIORITY, r.priority));
  if (table > 255) attrs.push(attrU32(RTA.TABLE, table));
  const metrics: Buffer[] = [];
  if (r.mtu) metrics.push(attrU32(RTAX.MTU, r.mtu));
  if (r.advmss) metrics.push(attrU32(RTAX.ADVMSS, r.advmss));
  if (metrics.length) attrs.push(nest(RTA.METRICS, metrics));
  const msg = rtmsg({ family, dstLen: r.dst.prefix, table: table > 255 ? 0 : table, protocol: RTPROT_BOOT, scope, type: RTN_UNICAST });
  nl.request(RTM.NEWROUTE, Buffer.concat([msg, ...attrs]), NLM_F.CREATE, what);
}

export function listRoutes(nl: Nl, family: 4 | 6): KernelRoute[] {
  const af = family === 4 ? AF.INET : AF.INET6;
  const replies = nl.dump(RTM.GETROUTE, rtmsg({ family: af, dstLen: 0 }), 'list routes');
  return replies.map((p) => {
    const m = parseRtMsg(p);
    const dst = m.attrs.get(RTA.DST);
    const gw = m.attrs.get(RTA.GATEWAY);
    const zero = { family, value: 0n } as const;
    return {
      dst: { ...(dst ? fromBytes(dst) : zero), prefix: m.dstLen },
      gw: gw ? fromBytes(gw) : undefined,
      oif: readU32(m.attrs.get(RTA.OIF)),
      table: readU32(m.attrs.get(RTA.TABLE)) ?? m.table,
      priority: readU32(m.attrs.get(RTA.PRIORITY)),
      scope: m.scope,
      type: m.type,
      nexthops: nexthopGateways(m.attrs.get(RTA.MULTIPATH)),
    };
  });
}

/**
 * RTA_MULTIPATH: a run of struct rtnexthop (len u16, flags u8, hops u8, ifindex s32),
 * each followed by its own attributes. An IPv6 route added twice with different
 * gateways becomes one such route (the kernel merges them as ECMP siblings).
 */
function nexthopGateways(mp: Buffer | undefined): IP[] {
  const out: IP[] = [];
  for (let off = 0; mp && off + RTNH_LEN <= mp.length; ) {
    const len = mp.readUInt16LE(off);
    if (len < RTNH_LEN || off + len > mp.length) break;
    const gw = parseAttrs(mp.subarray(off + RTNH_LEN, off + len)).get(RTA.GATEWAY);
    if (gw) out.push(fromBytes(gw));
    off += (len + 3) & ~3;
  }
  return out;
}
