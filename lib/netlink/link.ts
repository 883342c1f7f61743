// Links: read, create (bridge, veth with its peer placed straight into the pod
// netns), and the few settings the bridge plugin needs.
import {
  AF, IFF, IFLA, IFLA_BR, IFLA_BRPORT, IFLA_INFO, NLM_F, OPER_STATES, RTM, VETH_INFO_PEER,
  attr, attrString, attrU32, attrU8, formatMac, ifinfomsg, nest, parseAttrs, parseIfInfoMsg, readString, readU32, readU8,
} from './attrs';
import { isErrno, type Nl } from './socket';

export interface Link {
  index: number;
  name: string;
  flags: number;
  mtu: number;
  mac?: string;
  kind?: string;
  master?: number;
  operState: string;
  /** Set for a veth whose peer lives in another netns (the peer's netnsid as seen from here). */
  linkNetnsId?: number;
  /** For a veth: the peer's ifindex (in the peer's netns). */
  peerIndex?: number;
  promisc: boolean;
  up: boolean;
}

function parseLink(payload: Buffer): Link {
  const m = parseIfInfoMsg(payload);
  const info = m.attrs.get(IFLA.LINKINFO);
  const infoAttrs = info ? parseAttrs(info) : undefined;
  const linkNetnsId = m.attrs.get(IFLA.LINK_NETNSID)?.readInt32LE(0);
  return {
    index: m.index,
    name: readString(m.attrs.get(IFLA.IFNAME)) ?? '',
    flags: m.flags,
    mtu: readU32(m.attrs.get(IFLA.MTU)) ?? 0,
    mac: formatMac(m.attrs.get(IFLA.ADDRESS)),
    kind: readString(infoAttrs?.get(IFLA_INFO.KIND)),
    master: readU32(m.attrs.get(IFLA.MASTER)),
    operState: OPER_STATES[readU8(m.attrs.get(IFLA.OPERSTATE)) ?? 0] ?? 'unknown',
    linkNetnsId,
    peerIndex: m.attrs.get(IFLA.LINK)?.readInt32LE(0),
    promisc: (m.flags & IFF.PROMISC) !== 0,
    up: (m.flags & IFF.UP) !== 0,
  };
}

export function getLink(nl: Nl, name: string): Link | undefined {
  try {
    const [reply] = nl.request(RTM.GETLINK, Buffer.concat([ifinfomsg({}), attrString(IFLA.IFNAME, name)]), 0, `get link "${name}"`);
    return reply ? parseLink(reply) : undefined;
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return undefined;
    throw err;
  }
}

export function getLinkByIndex(nl: Nl, index: number): Link | undefined {
  try {
    const [reply] = nl.request(RTM.GETLINK, ifinfomsg({ index }), 0, `get link #${index}`);
    return reply ? parseLink(reply) : undefined;
  } catch (err) {
    if (isErrno(err, 'ENODEV')) return undefined;
    throw err;
  }
}

export function listLinks(nl: Nl): Link[] {
  return (nl.dump(RTM.GETLINK, ifinfomsg({}), 'list links')).map(parseLink);
}

/** Create a bridge; EEXIST is the caller's to judge (a parallel ADD may have won). */
export function createBridge(nl: Nl, name: string, opts: { mtu?: number; vlanFiltering?: boolean }): void {
  const data = opts.vlanFiltering ? [nest(IFLA_INFO.DATA, [attrU8(IFLA_BR.VLAN_FILTERING, 1)])] : [];
  const attrs = [attrString(IFLA.IFNAME, name), nest(IFLA.LINKINFO, [attrString(IFLA_INFO.KIND, 'bridge'), ...data])];
  if (opts.mtu) attrs.push(attrU32(IFLA.MTU, opts.mtu));
  nl.request(RTM.NEWLINK, Buffer.concat([ifinfomsg({}), ...attrs]), NLM_F.CREATE | NLM_F.EXCL, `create bridge "${name}"`);
}

export interface VethSpec {
  hostName: string;
  peerName: string;
  /** fd of the netns the peer is created in (IFLA_NET_NS_FD); omitted: beside the host end. */
  peerNetnsFd?: number;
  mtu?: number;
  peerMac?: Buffer;
}

/** One request creates both ends: the peer lands in the pod netns already named. */
export function createVeth(nl: Nl, v: VethSpec): void {
  const peerAttrs = [attrString(IFLA.IFNAME, v.peerName)];
  if (v.peerNetnsFd !== undefined) peerAttrs.push(attrU32(IFLA.NET_NS_FD, v.peerNetnsFd));
  if (v.mtu) peerAttrs.push(attrU32(IFLA.MTU, v.mtu));
  if (v.peerMac) peerAttrs.push(attr(IFLA.ADDRESS, v.peerMac));
  // The peer's payload is a whole ifinfomsg followed by its attributes; `netlink` has no encoder for it.
  const peer = attr(VETH_INFO_PEER, Buffer.concat([ifinfomsg({}), ...peerAttrs]), true);
  const attrs = [attrString(IFLA.IFNAME, v.hostName), nest(IFLA.LINKINFO, [attrString(IFLA_INFO.KIND, 'veth'), nest(IFLA_INFO.DATA, [peer])])];
  if (v.mtu) attrs.push(attrU32(IFLA.MTU, v.mtu));
  nl.request(RTM.NEWLINK, Buffer.concat([ifinfomsg({}), ...attrs]), NLM_F.CREATE | NLM_F.EXCL, `create veth "${v.hostName}"`);
}

function setLinkAttrs(nl: Nl, index: number, msg: { flags?: number; change?: number }, attrs: Buffer[], what: string): void {
  nl.request(RTM.NEWLINK, Buffer.concat([ifinfomsg({ index, ...msg }), ...attrs]), 0, what);
}

export const setUp = (nl: Nl, l: Pick<Link, 'index' | 'name'>): void =>
  setLinkAttrs(nl, l.index, { flags: IFF.UP, change: IFF.UP }, [], `set "${l.name}" up`);

export const setPromisc = (nl: Nl, l: Pick<Link, 'index' | 'name'>, on: boolean): void =>
  setLinkAttrs(nl, l.index, { flags: on ? IFF.PROMISC : 0, change: IFF.PROMISC }, [], `set promisc on "${l.name}"`);

export const setMaster = (nl: Nl, l: Pick<Link, 'index' | 'name'>, master: number, masterName: string): void =>
  setLinkAttrs(nl, l.index, {}, [attrU32(IFLA.MASTER, master)], `attach "${l.name}" to bridge "${masterName}"`);

export const setMtu = (nl: Nl, l: Pick<Link, 'index' | 'name'>, mtu: number): void =>
  setLinkAttrs(nl, l.index, {}, [attrU32(IFLA.MTU, mtu)], `set MTU ${mtu} on "${l.name}"`);

export const setMac = (nl: Nl, l: Pick<Link, 'index' | 'name'>, mac: Buffer): void =>
  setLinkAttrs(nl, l.index, {}, [attr(IFLA.ADDRESS, mac)], `set MAC on "${l.name}"`);

/** Bridge-port flags, as `ip link set X type bridge_slave hairpin on isolated on` sends them. */
export function setBridgePort(nl: Nl, l: Pick<Link, 'index' | 'name'>, port: { hairpin?: boolean; isolated?: boolean }): void {
  const data: Buffer[] = [];
  if (port.hairpin !== undefined) data.push(attrU8(IFLA_BRPORT.MODE, port.hairpin ? 1 : 0));
  if (port.isolated !== undefined) data.push(attrU8(IFLA_BRPORT.ISOLATED, port.isolated ? 1 : 0));
  if (!data.length) return;
  const info = nest(IFLA.LINKINFO, [attrString(IFLA_INFO.SLAVE_KIND, 'bridge'), nest(IFLA_INFO.SLAVE_DATA, data)]);
  setLinkAttrs(nl, l.index, {}, [info], `set bridge port flags on "${l.name}"`);
}

/** Bridge-port flags as the kernel reports them (AF_BRIDGE dump carries IFLA_PROTINFO). */
export function getBridgePort(nl: Nl, index: number): { hairpin: boolean; isolated: boolean } | undefined {
  const IFLA_PROTINFO = 12;
  const replies = nl.dump(RTM.GETLINK, ifinfomsg({ family: AF.BRIDGE }), 'list bridge ports');
  for (const r of replies) {
    const m = parseIfInfoMsg(r);
    if (m.index !== index) continue;
    const prot = m.attrs.get(IFLA_PROTINFO);
    if (!prot) return undefined;
    const p = parseAttrs(prot);
    return { hairpin: readU8(p.get(IFLA_BRPORT.MODE)) === 1, isolated: readU8(p.get(IFLA_BRPORT.ISOLATED)) === 1 };
  }
  return undefined;
}

export function delLinkByName(nl: Nl, name: string): void {
  nl.request(RTM.DELLINK, Buffer.concat([ifinfomsg({}), attrString(IFLA.IFNAME, name)]), 0, `delete link "${name}"`);
}

export function delLink(nl: Nl, l: Pick<Link, 'index' | 'name'>): void {
  nl.request(RTM.DELLINK, ifinfomsg({ index: l.index }), 0, `delete link "${l.name}"`);
}
