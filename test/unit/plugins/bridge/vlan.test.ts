// The AF_BRIDGE vlan messages byte for byte (what `bridge vlan add` sends), the
// dump decoding, and the reference's port plan: default vid dropped unless
// preserved, vlan as PVID+untagged (alone or as a trunk's native vlan), native vlan 1
// on a bare trunk.
import { describe, expect, it } from 'vitest';
import { parseVlanInfos, toRuns, vlanRequest, vlanSpecAttrs } from '../../../../lib/netlink/vlan';
import { planPortVlans, portVlanProblems } from '../../../../plugins/bridge/vlan';

const hex = (b: Buffer) => b.toString('hex').replace(/(..)/g, '$1 ').trim();

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

describe('planPortVlans (reference setupVeth)', () => {
  it('does nothing without vlan or trunk', () => {
    expect(planPortVlans({ vlan: 0, trunk: [], preserveDefaultVlan: false })).toEqual({ removeExisting: false, add: [] });
  });
  it('access port: default vid removed, vlan as PVID untagged', () => {
    expect(planPortVlans({ vlan: 100, trunk: [], preserveDefaultVlan: false })).toEqual({ removeExisting: true, add: [{ vid: 100, pvid: true, untagged: true }] });
    expect(planPortVlans({ vlan: 100, trunk: [], preserveDefaultVlan: true }).removeExisting).toBe(false);
  });
  it('trunk: native vlan 1 as PVID untagged, trunk vids tagged, in runs', () => {
    expect(planPortVlans({ vlan: 0, trunk: [101, 102, 103, 200], preserveDefaultVlan: false })).toEqual({
      removeExisting: true,
      add: [{ vid: 1, pvid: true, untagged: true }, { vid: 101, endVid: 103 }, { vid: 200 }],
    });
  });
  it('vlan with a trunk: vlan is the native (PVID untagged) vlan, trunk vids tagged, no vid 1', () => {
    expect(planPortVlans({ vlan: 100, trunk: [101, 200, 201], preserveDefaultVlan: false })).toEqual({
      removeExisting: true,
      add: [{ vid: 100, pvid: true, untagged: true }, { vid: 101 }, { vid: 200, endVid: 201 }],
    });
  });
  it('a native vlan listed in the trunk too stays native: a later tagged entry would take its PVID away', () => {
    expect(planPortVlans({ vlan: 100, trunk: [99, 100, 101], preserveDefaultVlan: false }).add).toEqual([{ vid: 100, pvid: true, untagged: true }, { vid: 99 }, { vid: 101 }]);
    expect(planPortVlans({ vlan: 5, trunk: [5], preserveDefaultVlan: false }).add).toEqual([{ vid: 5, pvid: true, untagged: true }]);
  });
  it('CHECK of vlan with a trunk: the native vlan must be PVID untagged, the trunk tagged', () => {
    const cfg = { vlan: 100, trunk: [7], preserveDefaultVlan: false };
    expect(portVlanProblems([{ vid: 100, pvid: true, untagged: true }, { vid: 7, pvid: false, untagged: false }], cfg)).toEqual([]);
    expect(portVlanProblems([{ vid: 100, pvid: false, untagged: false }, { vid: 7, pvid: false, untagged: true }], cfg)).toEqual(['vlan 100 is not PVID untagged', 'vlan 7 is not tagged']);
    expect(portVlanProblems([{ vid: 1, pvid: true, untagged: true }, { vid: 7, pvid: false, untagged: false }], cfg)).toEqual(['vlan 100 is missing']);
  });
  it('CHECK names missing and mis-flagged vids', () => {
    const cfg = { vlan: 0, trunk: [7, 8], preserveDefaultVlan: false };
    expect(portVlanProblems([{ vid: 1, pvid: true, untagged: true }, { vid: 7, pvid: false, untagged: false }, { vid: 8, pvid: false, untagged: false }], cfg)).toEqual([]);
    expect(portVlanProblems([{ vid: 1, pvid: false, untagged: true }, { vid: 7, pvid: false, untagged: false }], cfg)).toEqual(['vlan 1 is not PVID untagged', 'vlan 8 is missing']);
  });
});
