// Bridge vlan messages (AF_BRIDGE + IFLA_AF_SPEC): byte for byte (what `bridge vlan add`
// sends) with the dump decoding, and against the `netlink` package. Its
// link decoder keeps IFLA_AF_SPEC as a map by attribute type, which would drop all but
// one of the repeated IFLA_BRIDGE_VLAN_INFO entries, so the entries are walked with its
// generic attribute parser and each decoded with its bridge_vlan_info decoder.
import { describe, expect, it } from 'vitest';
import { MessageType, parseLinkMessage, parseRtExtFilter } from 'netlink/dist/rt/structs';
import {
  formatBridgeVlanFlags,
  formatBridgeVlanInfo,
  parseBridgeFlags,
  parseBridgeSpec,
  parseBridgeVlanFlags,
  parseBridgeVlanInfo,
  type BridgeVlanFlags,
} from 'netlink/dist/rt/ifla';
import { addPortVlans, delPortVlans, listBridgeVlans, listPortVlans, parseVlanInfos, toRuns, vlanRequest, vlanSpecAttrs } from '../../../../lib/netlink/vlan';
import { FakeNl } from './fake-nl';
import { attrsOfType, bytes, linkMessage, u32 } from './oracle';

const AF_BRIDGE = 7;
const IFLA_AF_SPEC = 26;
const IFLA_BRIDGE_VLAN_INFO = 2;
const IFINFOMSG_LEN = 16;
const port = { index: 7, name: 'veth1a2b3c4d' };
const hex = (b: Buffer) => b.toString('hex').replace(/(..)/g, '$1 ').trim();

/** The request's IFLA_AF_SPEC as the oracle reads it: bridge flags and every vlan entry in order. */
function afSpecOf(payload: Buffer) {
  const [spec] = attrsOfType(payload.subarray(IFINFOMSG_LEN), IFLA_AF_SPEC);
  return {
    flags: parseBridgeFlags(parseBridgeSpec(spec).flags ?? 0),
    vlans: attrsOfType(spec, IFLA_BRIDGE_VLAN_INFO)
      .map(parseBridgeVlanInfo)
      .map((v) => ({ vid: v.vid ?? 0, flags: parseBridgeVlanFlags(v.flags ?? 0) })),
  };
}

describe('bridge vlan requests, read by the oracle', () => {
  it('add: SETLINK on the port (AF_BRIDGE), bridge flags MASTER, PVID/untagged vid, a range as begin/end, a plain vid', async () => {
    const nl = new FakeNl();
    await addPortVlans(nl, port, [{ vid: 100, pvid: true, untagged: true }, { vid: 200, endVid: 210 }, { vid: 300 }]);
    expect(nl.only.type).toBe(MessageType.SETLINK);
    expect(nl.only.flags).toBe(0);
    expect(parseLinkMessage(nl.only.payload).data).toMatchObject({ family: AF_BRIDGE, index: 7 });
    expect(afSpecOf(nl.only.payload)).toEqual({
      flags: { master: true },
      vlans: [
        { vid: 100, flags: { pvid: true, untagged: true } },
        { vid: 200, flags: { rangeBegin: true } },
        { vid: 210, flags: { rangeEnd: true } },
        { vid: 300, flags: {} },
      ],
    });
  });

  it('delete: DELLINK with the vids folded into runs; nothing to do sends nothing', async () => {
    const nl = new FakeNl();
    await delPortVlans(nl, port, [9, 5, 6, 7]);
    await delPortVlans(nl, port, []);
    await addPortVlans(nl, port, []);
    expect(nl.only.type).toBe(MessageType.DELLINK);
    expect(afSpecOf(nl.only.payload).vlans).toEqual([
      { vid: 5, flags: { rangeBegin: true } },
      { vid: 7, flags: { rangeEnd: true } },
      { vid: 9, flags: {} },
    ]);
  });

  // RTEXT_FILTER_BRVLAN_COMPRESSED is 1 << 2 (1 << 3 is SKIP_STATS: include/uapi/linux/rtnetlink.h).
  // The kernel adds vlan entries only for BRVLAN or BRVLAN_COMPRESSED (br_fill_ifinfo in
  // https://github.com/torvalds/linux/blob/master/net/bridge/br_netlink.c).
  it('dump: GETLINK of family AF_BRIDGE asking for compressed vlan ranges (IFLA_EXT_MASK)', async () => {
    const nl = new FakeNl();
    await listBridgeVlans(nl);
    expect(nl.only.type).toBe(MessageType.GETLINK);
    const m = parseLinkMessage(nl.only.payload);
    expect(m.data.family).toBe(AF_BRIDGE);
    expect(parseRtExtFilter(u32(m.attrs.extMask) ?? 0)).toEqual({ brvlanCompressed: true });
  });
});

describe('bridge vlans from the kernel (encoded by the oracle), read by ours', () => {
  const vlanInfo = (vid: number, flags: BridgeVlanFlags = {}) => formatBridgeVlanInfo({ vid, flags: formatBridgeVlanFlags(flags) });
  /** A port as a compressed vlan dump reports it: its ifinfomsg and attributes, then IFLA_AF_SPEC (no nested flag, as the kernel sends it). */
  const portMsg = (index: number, vlans: Buffer[]) =>
    Buffer.concat([
      linkMessage({ data: { family: AF_BRIDGE, type: 'ETHER', index, flags: { up: true }, change: {} }, attrs: { ifname: `veth${index}`, master: 3, mtu: 1450 } }),
      ...(vlans.length ? [bytes((out) => out.push(IFLA_AF_SPEC, bytes((spec) => vlans.forEach((v) => spec.push(IFLA_BRIDGE_VLAN_INFO, v)))))] : []),
    ]);
  const dump = () =>
    new FakeNl().answer(
      portMsg(5, [vlanInfo(1, { pvid: true, untagged: true })]),
      portMsg(7, [vlanInfo(100, { pvid: true, untagged: true }), vlanInfo(200, { rangeBegin: true }), vlanInfo(203, { rangeEnd: true })]),
      portMsg(9, []),
    );

  it('expands ranges and keeps PVID/untagged per vid, by port', async () => {
    const byPort = await listBridgeVlans(dump());
    expect([...byPort.keys()]).toEqual([5, 7]); // a port without IFLA_AF_SPEC has none
    expect(byPort.get(5)).toEqual([{ vid: 1, pvid: true, untagged: true }]);
    expect(byPort.get(7)).toEqual([
      { vid: 100, pvid: true, untagged: true },
      ...[200, 201, 202, 203].map((vid) => ({ vid, pvid: false, untagged: false })),
    ]);
    expect(await listPortVlans(dump(), 9)).toEqual([]);
  });
});

describe('vlan netlink encoding', () => {
  it('encodes an access vlan: ifinfomsg(AF_BRIDGE, index) + IFLA_AF_SPEC{IFLA_BRIDGE_FLAGS=MASTER, VLAN_INFO{PVID|UNTAGGED, vid}}', () => {
    const msg = vlanRequest(5, [{ vid: 100, pvid: true, untagged: true }]);
    expect(hex(msg)).toBe(
      [
        '07 00 00 00 05 00 00 00 00 00 00 00 00 00 00 00', // ifinfomsg: family 7, index 5
        '14 00 1a 80', //                                       IFLA_AF_SPEC (26), nested, 20 bytes
        '06 00 00 00 01 00 00 00', //                           IFLA_BRIDGE_FLAGS u16 1 (+2 pad)
        '08 00 02 00 06 00 64 00', //                           IFLA_BRIDGE_VLAN_INFO flags 6, vid 100
      ].join(' '),
    );
  });

  it('sends a run as RANGE_BEGIN/RANGE_END and a single vid plainly', () => {
    const spec = vlanSpecAttrs([{ vid: 10, endVid: 20 }, { vid: 30 }]);
    expect(hex(spec.subarray(12))).toBe('08 00 02 00 08 00 0a 00 08 00 02 00 10 00 14 00 08 00 02 00 00 00 1e 00');
  });

  it('refuses a PVID range (the kernel would)', () => {
    expect(() => vlanSpecAttrs([{ vid: 1, endVid: 3, pvid: true }])).toThrow('PVID cannot be a range');
  });

  it('decodes dumped entries, expanding compressed ranges', () => {
    const spec = vlanSpecAttrs([{ vid: 1, pvid: true, untagged: true }, { vid: 10, endVid: 12 }]);
    expect(parseVlanInfos(spec.subarray(4))).toEqual([
      { vid: 1, pvid: true, untagged: true },
      { vid: 10, pvid: false, untagged: false },
      { vid: 11, pvid: false, untagged: false },
      { vid: 12, pvid: false, untagged: false },
    ]);
  });

  it('folds vids into runs', () => {
    expect(toRuns([5, 3, 4, 9, 10, 4, 1])).toEqual([[1, 1], [3, 5], [9, 10]]);
    expect(toRuns([])).toEqual([]);
  });
});
