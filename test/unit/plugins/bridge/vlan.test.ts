// The reference's port plan: default vid dropped unless preserved, vlan as
// PVID+untagged (alone or as a trunk's native vlan), native vlan 1 on a bare trunk.
// (The AF_BRIDGE messages themselves: test/unit/lib/netlink/vlan.test.ts.)
import { describe, expect, it } from 'vitest';
import { planPortVlans, portVlanProblems } from '../../../../plugins/bridge/vlan';

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
