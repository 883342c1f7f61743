// VLAN membership of bridge ports (802.1Q filtering on a Linux bridge), as
// `bridge vlan add/del/show` does it: RTM_SETLINK / RTM_DELLINK with family
// AF_BRIDGE and IFLA_AF_SPEC { IFLA_BRIDGE_FLAGS, IFLA_BRIDGE_VLAN_INFO... }.
// A kernel built without CONFIG_BRIDGE_VLAN_FILTERING answers EOPNOTSUPP to all
// of it (isNotSupported); the caller decides what to tell.
import { AF, RTM, attr, ifinfomsg, nest, parseIfInfoMsg } from './attrs';
import type { Link } from './link';
import { isErrno, type Nl } from './socket';

const IFLA_AF_SPEC = 26;
const IFLA_EXT_MASK = 29;
const IFLA_BRIDGE_FLAGS = 0;
const IFLA_BRIDGE_VLAN_INFO = 2;
/** IFLA_BRIDGE_FLAGS value: act on the port's membership in its master bridge (not on the bridge device itself). */
const BRIDGE_FLAGS_MASTER = 1;
/**
 * Ask the dump for vlan info with contiguous runs folded into RANGE_BEGIN/RANGE_END pairs
 * (one port can hold 4094 vids). 1 << 2 in include/uapi/linux/rtnetlink.h; 1 << 3 is
 * SKIP_STATS, with which the kernel sends no vlan entries at all.
 */
const RTEXT_FILTER_BRVLAN_COMPRESSED = 1 << 2;

/** struct bridge_vlan_info flags. */
export const BRIDGE_VLAN_INFO = { MASTER: 1, PVID: 2, UNTAGGED: 4, RANGE_BEGIN: 8, RANGE_END: 16, BRENTRY: 32 } as const;

export const VLAN_MIN = 1;
export const VLAN_MAX = 4094;

/** One membership: a vid or a run of vids, with the same flags. */
export interface VlanSpec {
  vid: number;
  /** last vid of a run; omitted for a single vid */
  endVid?: number;
  pvid?: boolean;
  untagged?: boolean;
}

/** One vid of a port as the kernel reports it. */
export interface PortVlan {
  vid: number;
  pvid: boolean;
  untagged: boolean;
}

function vlanInfo(flags: number, vid: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(flags, 0);
  b.writeUInt16LE(vid, 2);
  return attr(IFLA_BRIDGE_VLAN_INFO, b);
}

/**
 * The IFLA_AF_SPEC payload for `specs`. A run is sent as a RANGE_BEGIN/RANGE_END
 * pair, so a trunk of 1000 vids is one message instead of the reference's 1000
 * (the kernel ends up with the same entries). The kernel refuses PVID on a range.
 */
export function vlanSpecAttrs(specs: readonly VlanSpec[]): Buffer {
  const infos: Buffer[] = [];
  for (const s of specs) {
    let flags = 0;
    if (s.pvid) flags |= BRIDGE_VLAN_INFO.PVID;
    if (s.untagged) flags |= BRIDGE_VLAN_INFO.UNTAGGED;
    if (s.endVid !== undefined && s.endVid !== s.vid) {
      if (s.pvid) throw new Error(`a PVID cannot be a range (${s.vid}-${s.endVid})`);
      infos.push(vlanInfo(flags | BRIDGE_VLAN_INFO.RANGE_BEGIN, s.vid), vlanInfo(flags | BRIDGE_VLAN_INFO.RANGE_END, s.endVid));
    } else {
      infos.push(vlanInfo(flags, s.vid));
    }
  }
  const brFlags = Buffer.alloc(2);
  brFlags.writeUInt16LE(BRIDGE_FLAGS_MASTER, 0);
  return nest(IFLA_AF_SPEC, [attr(IFLA_BRIDGE_FLAGS, brFlags), ...infos]);
}

/** The whole request body (ifinfomsg + IFLA_AF_SPEC) for port `index`. */
export const vlanRequest = (index: number, specs: readonly VlanSpec[]): Buffer =>
  Buffer.concat([ifinfomsg({ family: AF.BRIDGE, index }), vlanSpecAttrs(specs)]);

/** Sorted unique vids → runs of consecutive vids. */
export function toRuns(vids: Iterable<number>): [number, number][] {
  const sorted = [...new Set(vids)].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const v of sorted) {
    const last = runs[runs.length - 1];
    if (last && v === last[1] + 1) last[1] = v;
    else runs.push([v, v]);
  }
  return runs;
}

/** Every attribute of a payload in order (repeated types kept, which parseAttrs does not do). */
function attrList(buf: Buffer, offset = 0): { type: number; data: Buffer }[] {
  const out: { type: number; data: Buffer }[] = [];
  let off = offset;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    out.push({ type: buf.readUInt16LE(off + 2) & 0x3fff, data: buf.subarray(off + 4, off + len) });
    off += (len + 3) & ~3;
  }
  return out;
}

/** Decode one AF_BRIDGE link message's vlan entries, expanding compressed ranges. */
export function parseVlanInfos(afSpec: Buffer): PortVlan[] {
  const out: PortVlan[] = [];
  let rangeStart: number | undefined;
  for (const a of attrList(afSpec)) {
    if (a.type !== IFLA_BRIDGE_VLAN_INFO || a.data.length < 4) continue;
    const flags = a.data.readUInt16LE(0);
    const vid = a.data.readUInt16LE(2);
    const entry = (v: number): PortVlan => ({ vid: v, pvid: (flags & BRIDGE_VLAN_INFO.PVID) !== 0, untagged: (flags & BRIDGE_VLAN_INFO.UNTAGGED) !== 0 });
    if (flags & BRIDGE_VLAN_INFO.RANGE_BEGIN) {
      rangeStart = vid;
    } else if (flags & BRIDGE_VLAN_INFO.RANGE_END && rangeStart !== undefined) {
      for (let v = rangeStart; v <= vid; v++) out.push(entry(v));
      rangeStart = undefined;
    } else {
      out.push(entry(vid));
    }
  }
  return out;
}

/** The vlans of every bridge port, by ifindex (empty where the kernel has no vlan filtering). */
export function listBridgeVlans(nl: Nl): Map<number, PortVlan[]> {
  const ext = Buffer.alloc(4);
  ext.writeUInt32LE(RTEXT_FILTER_BRVLAN_COMPRESSED, 0);
  const req = Buffer.concat([ifinfomsg({ family: AF.BRIDGE }), attr(IFLA_EXT_MASK, ext)]);
  const out = new Map<number, PortVlan[]>();
  for (const reply of nl.dump(RTM.GETLINK, req, 'list bridge vlans')) {
    const m = parseIfInfoMsg(reply);
    const spec = m.attrs.get(IFLA_AF_SPEC);
    if (spec) out.set(m.index, [...(out.get(m.index) ?? []), ...parseVlanInfos(spec)]);
  }
  return out;
}

export function listPortVlans(nl: Nl, index: number): PortVlan[] {
  return (listBridgeVlans(nl)).get(index) ?? [];
}

export function addPortVlans(nl: Nl, port: Pick<Link, 'index' | 'name'>, specs: readonly VlanSpec[]): void {
  if (specs.length) nl.request(RTM.SETLINK, vlanRequest(port.index, specs), 0, `add vlans to "${port.name}"`);
}

export function delPortVlans(nl: Nl, port: Pick<Link, 'index' | 'name'>, vids: Iterable<number>): void {
  const specs = toRuns(vids).map(([vid, endVid]) => ({ vid, endVid }));
  if (specs.length) nl.request(RTM.DELLINK, vlanRequest(port.index, specs), 0, `remove vlans from "${port.name}"`);
}

/** EOPNOTSUPP (95), or the kernel's internal ENOTSUPP (524) that some bridge paths return as is. */
export const isNotSupported = (err: unknown): boolean => isErrno(err, 'EOPNOTSUPP') || isErrno(err, 'ENOTSUPP');
