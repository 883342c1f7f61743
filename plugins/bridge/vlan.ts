// The bridge port's VLANs as the reference sets them (bridge.go setupVeth / addVlans):
// what a port gets for `vlan`, `vlanTrunk` and `preserveDefaultVlan`, and what CHECK
// compares. lib/netlink/vlan.ts only sends and reads the memberships.
import { CniError, Code, errorText } from '../../lib/cni/errors';
import type { Link } from '../../lib/netlink/link';
import type { Nl } from '../../lib/netlink/socket';
import { type PortVlan, type VlanSpec, addPortVlans, delPortVlans, isNotSupported, listPortVlans, toRuns } from '../../lib/netlink/vlan';

export interface PortVlanConfig {
  /** PVID + egress untagged (an access port, or the native vlan of a trunk); 0 = none */
  vlan: number;
  /** tagged vids (a trunk) */
  trunk: readonly number[];
  /** keep whatever the kernel put on the new port (the bridge's default PVID, normally 1) */
  preserveDefaultVlan: boolean;
}

/**
 * What the reference does to a new port, as a plan: drop the kernel-assigned
 * default vid unless asked to keep it; `vlan` as PVID+untagged (an access port, or
 * the native vlan of a trunk); a trunk without `vlan` gets vid 1 as its native vlan
 * so untagged frames keep flowing as before; trunk vids tagged.
 * The native vlan is left out of the tagged vids: the kernel lets a later entry for
 * the same vid replace its flags, so the reference, adding the trunk after the vlan,
 * leaves a native vlan that is also in the trunk tagged and without PVID.
 */
export function planPortVlans(c: PortVlanConfig): { removeExisting: boolean; add: VlanSpec[] } {
  const used = c.vlan !== 0 || c.trunk.length > 0;
  const native = c.vlan !== 0 ? c.vlan : c.trunk.length > 0 ? 1 : 0;
  const add: VlanSpec[] = native ? [{ vid: native, pvid: true, untagged: true }] : [];
  for (const [vid, endVid] of toRuns(c.trunk.filter((v) => v !== native))) add.push(endVid === vid ? { vid } : { vid, endVid });
  return { removeExisting: used && !c.preserveDefaultVlan, add };
}

/** The operator's next step when the kernel cannot filter vlans at all. */
export const NO_VLAN_FILTERING_HINT =
  'this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING is off): remove "vlan"/"vlanTrunk" from the network config or use a kernel built with it';

const failure = (what: string, err: unknown): CniError =>
  new CniError(Code.Internal, `${what}: ${errorText(err)}`, isNotSupported(err) ? NO_VLAN_FILTERING_HINT : undefined);

/** Apply planPortVlans to `port`; messages carry the reference's wording. */
export function configurePortVlans(nl: Nl, port: Pick<Link, 'index' | 'name'>, c: PortVlanConfig): void {
  const plan = planPortVlans(c);
  if (plan.removeExisting) {
    try {
      delPortVlans(nl, port, (listPortVlans(nl, port.index)).map((v) => v.vid));
    } catch (err) {
      throw failure(`failed to remove default vlan on interface "${port.name}"`, err);
    }
  }
  try {
    addPortVlans(nl, port, plan.add);
  } catch (err) {
    throw failure(`failed to setup vlan tag on interface "${port.name}"`, err);
  }
}

/** CHECK: how the port's vlans differ from what planPortVlans puts there (empty when they match). */
export function portVlanProblems(have: readonly PortVlan[], c: PortVlanConfig): string[] {
  const byVid = new Map(have.map((v) => [v.vid, v]));
  const problems: string[] = [];
  for (const spec of planPortVlans(c).add) {
    for (let vid = spec.vid; vid <= (spec.endVid ?? spec.vid); vid++) {
      const got = byVid.get(vid);
      const want = `${spec.pvid ? ' PVID' : ''}${spec.untagged ? ' untagged' : ' tagged'}`;
      if (!got) problems.push(`vlan ${vid} is missing`);
      else if (got.pvid !== !!spec.pvid || got.untagged !== !!spec.untagged) problems.push(`vlan ${vid} is not${want}`);
    }
  }
  return problems;
}
