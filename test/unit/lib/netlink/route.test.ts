// Route messages against the `netlink` package: what lib/netlink/route.ts builds must
// parse into the intended fields, and routes as the kernel dumps them (encoded by the
// package, RTA_MULTIPATH included) must read back into our KernelRoute.
import { describe, expect, it } from 'vitest';
import { FlagsNew } from 'netlink/dist/constants';
import { MessageType, formatRouteAttrs, formatRouteNextHop, parseRouteMessage, RouteType } from 'netlink/dist/rt/structs';
import { addRoute, listRoutes } from '../../../../lib/netlink/route';
import { formatCidr, formatIP, parseCidr, parseIP, toBytes } from '../../../../lib/ip';
import { FakeNl } from './fake-nl';
import { bytes, routeMessage, u32 } from './oracle';

const AF_INET = 2;
const AF_INET6 = 10;
const ip = (s: string) => toBytes(parseIP(s));

describe('route requests, read by the oracle', () => {
  it('a default route via a gateway: NEWROUTE (create, no excl), main table, boot, universe, unicast, no RTA_DST', async () => {
    const nl = new FakeNl();
    await addRoute(nl, { dst: parseCidr('0.0.0.0/0'), gw: parseIP('10.244.1.1'), oif: 4 }, 'add');
    expect(nl.only.type).toBe(MessageType.NEWROUTE);
    expect(nl.only.flags).toBe(FlagsNew.CREATE);
    expect(parseRouteMessage(nl.only.payload)).toEqual({
      kind: 'route',
      data: { family: AF_INET, dstLen: 0, srcLen: 0, tos: 0, table: 254, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST', flags: {} },
      attrs: { oif: 4, gateway: ip('10.244.1.1') },
    });
  });

  it('a subnet without gateway: link scope and RTA_DST', async () => {
    const nl = new FakeNl();
    await addRoute(nl, { dst: parseCidr('10.244.0.0/16'), oif: 4 }, 'add');
    const m = parseRouteMessage(nl.only.payload);
    expect(m.data).toMatchObject({ family: AF_INET, dstLen: 16, table: 254, scope: 'LINK' });
    expect(m.attrs).toEqual({ oif: 4, dst: ip('10.244.0.0') });
  });

  it('table above 255 in RTA_TABLE (rtm_table unspec), priority, and metrics mtu/advmss', async () => {
    const nl = new FakeNl();
    await addRoute(nl, { dst: parseCidr('fd00:10:244::/56'), gw: parseIP('fd00:10:244:1::1'), oif: 4, table: 1000, priority: 100, mtu: 1400, advmss: 1340 }, 'add');
    const m = parseRouteMessage(nl.only.payload);
    expect(m.data).toMatchObject({ family: AF_INET6, dstLen: 56, table: 0, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' });
    expect(m.attrs).toMatchObject({ oif: 4, dst: ip('fd00:10:244::'), gateway: ip('fd00:10:244:1::1'), priority: 100, table: 1000 });
    expect(u32(m.attrs.metrics?.mtu)).toBe(1400);
    expect(u32(m.attrs.metrics?.advmss)).toBe(1340);
  });

  it('a table up to 255 stays in rtm_table; an explicit scope is kept', async () => {
    const nl = new FakeNl();
    await addRoute(nl, { dst: parseCidr('10.0.0.0/8'), oif: 4, table: 100, scope: 254 }, 'add');
    const m = parseRouteMessage(nl.only.payload);
    expect(m.data).toMatchObject({ table: 100, scope: 'HOST' });
    expect(m.attrs.table).toBeUndefined();
    expect(m.attrs.metrics).toBeUndefined();
  });

  it('the dump asks for one family', async () => {
    const nl = new FakeNl();
    await listRoutes(nl, 6);
    expect(nl.only.type).toBe(MessageType.GETROUTE);
    expect(parseRouteMessage(nl.only.payload).data.family).toBe(AF_INET6);
  });
});

describe('routes from the kernel (encoded by the oracle), read by ours', () => {
  it('reads destination, gateway, link, table (RTA_TABLE over rtm_table), metric, scope and type', async () => {
    const main = routeMessage({
      data: { family: AF_INET, dstLen: 16, table: 254, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
      attrs: { table: 254, dst: ip('10.244.0.0'), gateway: ip('10.244.1.1'), oif: 4, priority: 10 },
    });
    const dflt = routeMessage({
      data: { family: AF_INET, dstLen: 0, table: 254, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
      attrs: { table: 254, gateway: ip('10.244.1.1'), oif: 4 },
    });
    // a table above 255: rtm_table says RT_TABLE_COMPAT (252), RTA_TABLE the real id
    const big = routeMessage({
      data: { family: AF_INET, dstLen: 24, table: 252, protocol: 'STATIC', scope: 'LINK', type: 'UNICAST' },
      attrs: { table: 1000, dst: ip('192.168.5.0'), oif: 9 },
    });
    const local = routeMessage({
      data: { family: AF_INET, dstLen: 32, table: 255, protocol: 'KERNEL', scope: 'HOST', type: 'LOCAL' },
      attrs: { table: 255, dst: ip('10.244.1.1'), oif: 3, prefsrc: ip('10.244.1.1') },
    });
    const routes = await listRoutes(new FakeNl().answer(main, dflt, big, local), 4);
    expect(routes.map((r) => [formatCidr(r.dst), r.gw && formatIP(r.gw), r.oif, r.table, r.priority, r.scope, r.type, r.nexthops])).toEqual([
      ['10.244.0.0/16', '10.244.1.1', 4, 254, 10, 0, RouteType.UNICAST, []],
      ['0.0.0.0/0', '10.244.1.1', 4, 254, undefined, 0, RouteType.UNICAST, []],
      ['192.168.5.0/24', undefined, 9, 1000, undefined, 253, RouteType.UNICAST, []],
      ['10.244.1.1/32', undefined, 3, 255, undefined, 254, RouteType.LOCAL, []],
    ]);
  });

  it('an IPv6 multipath route: no RTA_GATEWAY of its own, the gateways of its rtnexthops', async () => {
    const nexthop = (gw: string, ifindex: number): Buffer => {
      const attrs = bytes(formatRouteAttrs({ gateway: ip(gw) }));
      return Buffer.concat([formatRouteNextHop({ len: 8 + attrs.length, hops: 0, ifindex }), attrs]);
    };
    const ecmp = routeMessage({
      data: { family: AF_INET6, dstLen: 0, table: 254, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
      attrs: { table: 254, priority: 1024, multipath: Buffer.concat([nexthop('fd00::1', 4), nexthop('fd00::2', 4)]) },
    });
    const [r] = await listRoutes(new FakeNl().answer(ecmp), 6);
    expect(formatCidr(r.dst)).toBe('::/0');
    expect(r.gw).toBeUndefined();
    expect(r.oif).toBeUndefined();
    expect(r.nexthops.map(formatIP)).toEqual(['fd00::1', 'fd00::2']);
    expect(r.priority).toBe(1024);
  });
});
