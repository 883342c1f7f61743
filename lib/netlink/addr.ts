// Addresses. IPv6 addresses are added with IFA_F_NODAD unless the caller asks for
// DAD: on a pod veth and a bridge DAD only costs start-up time
// (https://github.com/containernetworking/plugins/issues/680), and a hairpinned port
// reflects the DAD probe back, which fails DAD outright without enhanced_dad's nonce.
import { fromBytes, lastAddress, toBytes, type Cidr, type Family } from '../ip';
import { AF, IFA, IFA_F, NLM_F, RTM, attr, attrU32, ifaddrmsg, parseIfAddrMsg, readU32 } from './attrs';
import type { Nl } from './socket';

export interface Addr extends Cidr {
  index: number;
  flags: number;
  scope: number;
  /**
   * When the kernel created this address, in hundredths of a second since boot
   * (ifa_cacheinfo.cstamp): with the link's index and the boot id it tells one
   * address from another that was deleted and added again.
   */
  created?: number;
}

const afOf = (f: Family): number => (f === 4 ? AF.INET : AF.INET6);

export function listAddrs(nl: Nl, opts: { index?: number; family?: Family } = {}): Addr[] {
  const family = opts.family ? afOf(opts.family) : AF.UNSPEC;
  const replies = nl.dump(RTM.GETADDR, ifaddrmsg({ family, prefixlen: 0, index: 0 }), 'list addresses');
  const out: Addr[] = [];
  for (const r of replies) {
    const m = parseIfAddrMsg(r);
    if (opts.index !== undefined && m.index !== opts.index) continue;
    if (family !== AF.UNSPEC && m.family !== family) continue;
    const raw = m.attrs.get(IFA.LOCAL) ?? m.attrs.get(IFA.ADDRESS);
    if (!raw) continue;
    const ip = fromBytes(raw);
    const cache = m.attrs.get(IFA.CACHEINFO);
    const created = cache && cache.length >= 16 ? cache.readUInt32LE(8) : undefined;
    out.push({ ...ip, prefix: m.prefixlen, index: m.index, flags: readU32(m.attrs.get(IFA.FLAGS)) ?? m.flags, scope: m.scope, created });
  }
  return out;
}

/**
 * Add `cidr` (host bits kept) to link `index`. EEXIST is thrown for the caller to judge.
 * dad: leave an IPv6 address tentative until the kernel's duplicate address detection ends.
 */
export function addAddr(nl: Nl, index: number, cidr: Cidr, what: string, opts: { dad?: boolean } = {}): void {
  const bytes = toBytes(cidr);
  const flags = cidr.family === 6 && !opts.dad ? IFA_F.NODAD : 0;
  // IPv4 gets its subnet's broadcast address, as `ip addr add ... brd +` and the
  // reference (Go netlink) set it; without it the interface reports none.
  const brd = cidr.family === 4 && cidr.prefix < 31 ? [attr(IFA.BROADCAST, toBytes(lastAddress(cidr)))] : [];
  const payload = Buffer.concat([
    ifaddrmsg({ family: afOf(cidr.family), prefixlen: cidr.prefix, index, flags }),
    attr(IFA.LOCAL, bytes),
    attr(IFA.ADDRESS, bytes),
    ...brd,
    ...(flags ? [attrU32(IFA.FLAGS, flags)] : []),
  ]);
  nl.request(RTM.NEWADDR, payload, NLM_F.CREATE | NLM_F.EXCL, what);
}

export function delAddr(nl: Nl, index: number, cidr: Cidr, what: string): void {
  const bytes = toBytes(cidr);
  const payload = Buffer.concat([ifaddrmsg({ family: afOf(cidr.family), prefixlen: cidr.prefix, index }), attr(IFA.LOCAL, bytes), attr(IFA.ADDRESS, bytes)]);
  nl.request(RTM.DELADDR, payload, 0, what);
}

export const isTentative = (a: Addr): boolean => (a.flags & IFA_F.TENTATIVE) !== 0;
export const isDadFailed = (a: Addr): boolean => (a.flags & IFA_F.DADFAILED) !== 0;
