// Link messages against the `netlink` package: what lib/netlink/link.ts builds must
// parse into the intended fields, and link messages as the kernel sends them (encoded
// by the package) must read back into our Link.
import { describe, expect, it } from 'vitest';
import * as os from 'node:os';
import { FlagsNew } from 'netlink/dist/constants';
import { getMap, putS32 } from 'netlink/dist/structs';
import { MessageType, formatDeviceFlags, parseDeviceFlags, parseLinkMessage, type DeviceFlags } from 'netlink/dist/rt/structs';
import { BridgePortMode, formatBridge, formatBridgePort, formatInfo, parseBridge, parseBridgePort, parseInfo, parseVethInfo } from 'netlink/dist/rt/ifla';
import {
  createBridge,
  createVeth,
  delLink,
  delLinkByName,
  getBridgePort,
  getLink,
  getLinkByIndex,
  listLinks,
  setBridgePort,
  setMac,
  setMaster,
  setMtu,
  setPromisc,
  setUp,
} from '../../../../lib/netlink/link';
import { FakeNl } from './fake-nl';
import { bytes, linkMessage } from './oracle';

const AF_BRIDGE = 7;
// uapi linux/if.h: IF_OPER_UNKNOWN 0, IF_OPER_DOWN 2, IF_OPER_UP 6 (the oracle has no enum for them)
const IF_OPER = { UNKNOWN: 0, DOWN: 2, UP: 6 } as const;
const mac = (s: string) => Buffer.from(s.split(':').map((x) => parseInt(x, 16)));
const port = { index: 7, name: 'veth1a2b3c4d' };

/** The one request's payload as the oracle reads it. */
const sentLink = (nl: FakeNl) => parseLinkMessage(nl.only.payload);

describe('link requests, read by the oracle', () => {
  it('veth: one NEWLINK (create, excl) whose VETH_INFO_PEER holds the peer ifinfomsg, name, netns fd, MTU and MAC', async () => {
    const nl = new FakeNl();
    await createVeth(nl, { hostName: 'veth1a2b3c4d', peerName: 'eth0', peerNetnsFd: 17, mtu: 1450, peerMac: mac('02:42:0a:f4:01:05') });
    expect(nl.only.type).toBe(MessageType.NEWLINK);
    expect(nl.only.flags).toBe(FlagsNew.CREATE | FlagsNew.EXCL);
    const m = sentLink(nl);
    expect(m.data).toMatchObject({ family: 0, index: 0, flags: {}, change: {} });
    expect(m.attrs).toMatchObject({ ifname: 'veth1a2b3c4d', mtu: 1450 });
    const info = parseInfo(m.attrs.linkinfo!);
    expect(info.kind).toBe('veth');
    const peer = parseLinkMessage(parseVethInfo(info.data!).peer!);
    expect(peer.data).toMatchObject({ family: 0, index: 0, flags: {}, change: {} });
    expect(peer.attrs).toEqual({ ifname: 'eth0', netNsFd: 17, mtu: 1450, address: mac('02:42:0a:f4:01:05') });
  });

  it('veth beside its host end: the peer carries its name only', async () => {
    const nl = new FakeNl();
    await createVeth(nl, { hostName: 'veth0', peerName: 'cni0.100' });
    const m = sentLink(nl);
    expect(m.attrs.mtu).toBeUndefined();
    expect(parseLinkMessage(parseVethInfo(parseInfo(m.attrs.linkinfo!).data!).peer!).attrs).toEqual({ ifname: 'cni0.100' });
  });

  it('bridge: kind "bridge", IFLA_BR_VLAN_FILTERING in its info data, MTU', async () => {
    const nl = new FakeNl();
    await createBridge(nl, 'cni0', { mtu: 1450, vlanFiltering: true });
    expect(nl.only.type).toBe(MessageType.NEWLINK);
    expect(nl.only.flags).toBe(FlagsNew.CREATE | FlagsNew.EXCL);
    const m = sentLink(nl);
    expect(m.attrs).toMatchObject({ ifname: 'cni0', mtu: 1450 });
    const info = parseInfo(m.attrs.linkinfo!);
    expect(info.kind).toBe('bridge');
    expect(parseBridge(info.data!)).toEqual({ vlanFiltering: Buffer.from([1]) });
  });

  it('bridge without vlan filtering: no info data at all, no MTU', async () => {
    const nl = new FakeNl();
    await createBridge(nl, 'cni0', {});
    const m = sentLink(nl);
    expect(m.attrs.mtu).toBeUndefined();
    expect(parseInfo(m.attrs.linkinfo!)).toEqual({ kind: 'bridge' });
  });

  it('set master: IFLA_MASTER on the port, addressed by index', async () => {
    const nl = new FakeNl();
    await setMaster(nl, port, 3, 'cni0');
    expect(nl.only.type).toBe(MessageType.NEWLINK);
    expect(nl.only.flags).toBe(0);
    const m = sentLink(nl);
    expect(m.data.index).toBe(7);
    expect(m.attrs).toEqual({ master: 3 });
  });

  it('bridge port flags: slave kind "bridge" with IFLA_BRPORT_MODE (hairpin) and IFLA_BRPORT_ISOLATED', async () => {
    const nl = new FakeNl();
    await setBridgePort(nl, port, { hairpin: true, isolated: true });
    await setBridgePort(nl, port, { hairpin: false });
    await setBridgePort(nl, port, {});
    expect(nl.sent).toHaveLength(2); // nothing asked, nothing sent
    const [on, off] = nl.sent.map((s) => parseLinkMessage(s.payload));
    expect(on.data.index).toBe(7);
    const onInfo = parseInfo(on.attrs.linkinfo!);
    expect(onInfo.slaveKind).toBe('bridge');
    expect(parseBridgePort(onInfo.slaveData!)).toEqual({ mode: BridgePortMode.HAIRPIN, isolated: Buffer.from([1]) });
    expect(parseBridgePort(parseInfo(off.attrs.linkinfo!).slaveData!)).toEqual({ mode: BridgePortMode.UNSPEC });
  });

  it('up, promisc, MTU and MAC: ifinfomsg flags/change or one attribute', async () => {
    const nl = new FakeNl();
    await setUp(nl, port);
    await setPromisc(nl, port, true);
    await setPromisc(nl, port, false);
    await setMtu(nl, port, 9000);
    await setMac(nl, port, mac('aa:bb:cc:dd:ee:ff'));
    const [up, promiscOn, promiscOff, mtu, addr] = nl.sent.map((s) => parseLinkMessage(s.payload));
    expect(up.data).toMatchObject({ index: 7, flags: { up: true }, change: { up: true } });
    expect(promiscOn.data).toMatchObject({ flags: { promisc: true }, change: { promisc: true } });
    expect(promiscOff.data).toMatchObject({ flags: {}, change: { promisc: true } });
    expect(mtu.attrs).toEqual({ mtu: 9000 });
    expect(addr.attrs).toEqual({ address: mac('aa:bb:cc:dd:ee:ff') });
  });

  it('get, list and delete: by name or by index', async () => {
    const nl = new FakeNl();
    await getLink(nl, 'cni0');
    await getLinkByIndex(nl, 12);
    await listLinks(nl);
    await delLinkByName(nl, 'veth0');
    await delLink(nl, port);
    expect(nl.sent.map((s) => s.type)).toEqual([MessageType.GETLINK, MessageType.GETLINK, MessageType.GETLINK, MessageType.DELLINK, MessageType.DELLINK]);
    const [byName, byIndex, all, delName, delIndex] = nl.sent.map((s) => parseLinkMessage(s.payload));
    expect(byName).toMatchObject({ data: { index: 0 }, attrs: { ifname: 'cni0' } });
    expect(byIndex).toMatchObject({ data: { index: 12 }, attrs: {} });
    expect(all).toMatchObject({ data: { family: 0, index: 0 }, attrs: {} });
    expect(delName).toMatchObject({ data: { index: 0 }, attrs: { ifname: 'veth0' } });
    expect(delIndex).toMatchObject({ data: { index: 7 }, attrs: {} });
  });
});

describe('link messages from the kernel (encoded by the oracle), read by ours', () => {
  const running: DeviceFlags = { up: true, broadcast: true, multicast: true, running: true, lowerUp: true };

  it('a veth host end: kind, master, operstate, peer index (IFLA_LINK) and link-netnsid', async () => {
    const reply = linkMessage({
      data: { family: 0, type: 'ETHER', index: 9, flags: running, change: {} },
      attrs: {
        ifname: 'veth1a2b3c4d',
        mtu: 1450,
        address: mac('32:b9:6f:7c:f4:ec'),
        master: 3,
        operstate: IF_OPER.UP,
        linkinfo: bytes(formatInfo({ kind: 'veth' })),
        link: putS32(2),
        linkNetnsid: 0,
        txqlen: 1000,
      },
    });
    const nl = new FakeNl().answer(reply);
    expect(await getLink(nl, 'veth1a2b3c4d')).toEqual({
      index: 9,
      name: 'veth1a2b3c4d',
      flags: formatDeviceFlags(running),
      mtu: 1450,
      mac: '32:b9:6f:7c:f4:ec',
      kind: 'veth',
      master: 3,
      operState: 'up',
      linkNetnsId: 0,
      peerIndex: 2,
      promisc: false,
      up: true,
    });
  });

  it('a bridge with its options (vlan filtering among them), promiscuous, not a port', async () => {
    const flags: DeviceFlags = { up: true, broadcast: true, multicast: true, promisc: true };
    const reply = linkMessage({
      data: { family: 0, type: 'ETHER', index: 3, flags, change: {} },
      attrs: {
        ifname: 'cni0',
        mtu: 1500,
        address: mac('6e:57:78:82:2e:92'),
        operstate: IF_OPER.DOWN,
        linkinfo: bytes(formatInfo({ kind: 'bridge', data: bytes(formatBridge({ vlanFiltering: Buffer.from([1]), stpState: Buffer.from([0, 0, 0, 0]) })) })),
      },
    });
    const link = await getLinkByIndex(new FakeNl().answer(reply), 3);
    expect(link).toMatchObject({ index: 3, name: 'cni0', kind: 'bridge', operState: 'down', promisc: true, up: true, mtu: 1500 });
    expect(link?.master).toBeUndefined();
    expect(link?.linkNetnsId).toBeUndefined();
    expect(parseDeviceFlags(link!.flags)).toEqual(flags);
  });

  it('lo: no link info, no kind; operstate unknown', async () => {
    const reply = linkMessage({
      data: { family: 0, type: 'LOOPBACK', index: 1, flags: { up: true, loopback: true, running: true, lowerUp: true }, change: {} },
      attrs: { ifname: 'lo', mtu: 65536, address: Buffer.alloc(6), operstate: IF_OPER.UNKNOWN },
    });
    const [lo] = await listLinks(new FakeNl().answer(reply));
    expect(lo).toMatchObject({ index: 1, name: 'lo', kind: undefined, operState: 'unknown', mac: '00:00:00:00:00:00', up: true });
  });

  it('a dump of several links, in order', async () => {
    const one = (index: number, ifname: string) => linkMessage({ data: { index, flags: {}, change: {} }, attrs: { ifname, mtu: 1500 } });
    const links = await listLinks(new FakeNl().answer(one(1, 'lo'), one(2, 'eth0'), one(3, 'cni0')));
    expect(links.map((l) => [l.index, l.name, l.up])).toEqual([
      [1, 'lo', false],
      [2, 'eth0', false],
      [3, 'cni0', false],
    ]);
  });

  it('no such link (ENODEV) is undefined; any other errno is thrown', async () => {
    expect(await getLink(new FakeNl().fail(os.constants.errno.ENODEV), 'nope')).toBeUndefined();
    expect(() => getLink(new FakeNl().fail(os.constants.errno.EPERM), 'cni0')).toThrow('EPERM');
  });

  it('bridge port flags from an AF_BRIDGE dump (IFLA_PROTINFO: mode = hairpin, isolated)', async () => {
    const protinfo = (p: Parameters<typeof formatBridgePort>[0]) => getMap(bytes(formatBridgePort(p)), (x) => x);
    const portMsg = (index: number, p?: Parameters<typeof formatBridgePort>[0]) =>
      linkMessage({
        data: { family: AF_BRIDGE, type: 'ETHER', index, flags: running, change: {} },
        attrs: { ifname: `veth${index}`, master: 3, mtu: 1450, ...(p ? { protinfo: protinfo(p) } : {}) },
      });
    const dump = () =>
      new FakeNl().answer(
        portMsg(5, { state: 3, mode: BridgePortMode.UNSPEC, isolated: Buffer.from([0]), learning: 1 }),
        portMsg(7, { state: 3, mode: BridgePortMode.HAIRPIN, isolated: Buffer.from([1]), learning: 1 }),
        portMsg(8),
      );
    expect(await getBridgePort(dump(), 7)).toEqual({ hairpin: true, isolated: true });
    expect(await getBridgePort(dump(), 5)).toEqual({ hairpin: false, isolated: false });
    expect(await getBridgePort(dump(), 8)).toBeUndefined(); // no IFLA_PROTINFO
    expect(await getBridgePort(dump(), 42)).toBeUndefined(); // not a port
    const nl = dump();
    await getBridgePort(nl, 7);
    expect(nl.only.type).toBe(MessageType.GETLINK);
    expect(parseLinkMessage(nl.only.payload).data.family).toBe(AF_BRIDGE);
  });
});
