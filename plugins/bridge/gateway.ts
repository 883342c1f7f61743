// The gateway addresses on the bridge (isGateway), and the one repair the bridge
// plugin makes: replacing a gateway this network itself set, when the network now
// wants another (a changed flannel lease, flannel-io/flannel#1850, where the reference
// fails every ADD until someone deletes cni0 by hand).
//
// "This network set it" is never inferred from the address's shape: several networks
// may share one bridge, and one's gateway looks exactly like another's stale one. It
// is recorded when our ADD creates the address: the link (name and index), the boot,
// the address and the kernel's creation stamp of that very address. An address
// deleted and added again by anyone else has another stamp, so it is not ours any more.
// The record lives beside the network's host-local reservations (a file the reference
// ignores); without host-local there is no record, and no repair: the reference's
// rule applies (refuse, unless forceAddress).
import * as path from 'node:path';
import { CniError, Code, errorText } from '../../lib/cni/errors';
import { readRegularFile, writeAtomic } from '../../lib/regular-file';
import { currentBootId } from '../../lib/bootid';
import { formatCidr, overlaps, parseCidr, sameIP, type Cidr } from '../../lib/ip';
import { log } from '../../lib/log';
import { addAddr, delAddr, listAddrs, type Addr } from '../../lib/netlink/addr';
import { parseMac } from '../../lib/netlink/attrs';
import { getLink, setMac, type Link } from '../../lib/netlink/link';
import { isErrno, type Nl } from '../../lib/netlink/socket';

export const GATEWAY_RECORD_FILE = 'bridge_gateways';
const MAX_RECORD = 64 * 1024;

export interface GatewayRecord {
  link: string;
  index: number;
  bootId: string;
  address: string;
  created: number;
}

/** Where one network keeps the record of the gateways it set: its host-local directory. */
export interface GatewayRecords {
  read(): GatewayRecord[];
  write(records: GatewayRecord[]): void;
}

export function gatewayRecordsIn(networkDir: string): GatewayRecords {
  const file = path.join(networkDir, GATEWAY_RECORD_FILE);
  return {
    read() {
      try {
        const list: unknown = JSON.parse(readRegularFile(file, MAX_RECORD, { noFollow: true }).toString('utf8'));
        return Array.isArray(list) ? list.filter(isRecord) : [];
      } catch {
        return []; // absent or torn: nothing is proven ours
      }
    },
    write(records) {
      writeAtomic(file, JSON.stringify(records), { tmpPrefix: '.gw-tmp-' });
    },
  };
}

/** The gateways a network recorded, read only: what a tool (cnictl doctor) may look at. */
export const readGatewayRecords = (networkDir: string): GatewayRecord[] => gatewayRecordsIn(networkDir).read();

const isRecord = (r: unknown): r is GatewayRecord => {
  const o = r as Partial<GatewayRecord> | null;
  return !!o && typeof o.link === 'string' && typeof o.index === 'number' && typeof o.bootId === 'string' && typeof o.address === 'string' && typeof o.created === 'number';
};

/** Did this network set `a` on `link`, by its record? (Also what `cnictl doctor` asks.) */
export const provenBy = (records: GatewayRecord[], link: Pick<Link, 'name' | 'index'>, a: Addr, bootId: string | undefined): boolean =>
  bootId !== undefined &&
  a.created !== undefined &&
  records.some((r) => r.link === link.name && r.index === link.index && r.bootId === bootId && r.created === a.created && r.address === formatCidr(a));

/**
 * Put the gateway addresses on `link` (the bridge, or `<bridge>.<vlan>`). An IPv4
 * address other than ours is a conflict (any), an IPv6 one only when the prefixes
 * overlap, as in the reference. A conflict this network provably set is replaced; any
 * other is replaced only with forceAddress, else the ADD fails with the reference's
 * message. The first address pins the bridge MAC, or a Linux bridge keeps adopting the
 * lowest port MAC as pods come and go (containernetworking/cni#285).
 */
export function ensureGatewayAddrs(
  nl: Nl,
  link: Link,
  want: Cidr[],
  opts: { forceAddress: boolean; network: string; records?: GatewayRecords; what?: string },
): void {
  const bootId = currentBootId();
  const records = opts.records?.read() ?? [];
  const made: GatewayRecord[] = [];
  const replaced = new Set<string>();
  // Every conflict is judged before any is touched: one the network cannot replace fails
  // the ADD with the bridge as it was, not stripped of an address it could replace.
  const plan: { w: Cidr; conflicts: { c: Addr; ours: boolean }[] }[] = [];
  for (const w of want) {
    const existing = listAddrs(nl, { index: link.index, family: w.family }).filter((a) => a.scope === 0);
    if (existing.some((a) => sameIP(a, w) && a.prefix === w.prefix)) continue;
    const conflicts = existing.filter((a) => w.family === 4 || overlaps(a, w)).map((c) => ({ c, ours: provenBy(records, link, c, bootId) }));
    const foreign = conflicts.find((x) => !x.ours);
    if (foreign && !opts.forceAddress) {
      throw new CniError(Code.Internal, `${opts.what ?? 'failed to set bridge addr'}: "${link.name}" already has an IP address different from ${formatCidr(w)} (${formatCidr(foreign.c)})`);
    }
    plan.push({ w, conflicts });
  }
  let added = false;
  for (const { w, conflicts } of plan) {
    for (const { c, ours } of conflicts) {
      if (ours) log.warn(`"${link.name}" holds ${formatCidr(c)}, the gateway network "${opts.network}" set before its subnet changed; replacing it with ${formatCidr(w)}`);
      else log.info(`removing ${formatCidr(c)} from "${link.name}" (forceAddress) to add ${formatCidr(w)}`);
      try {
        delAddr(nl, link.index, c, `remove ${formatCidr(c)} from "${link.name}"`);
      } catch (err) {
        // A parallel ADD of this network replaced it first.
        if (!isErrno(err, 'EADDRNOTAVAIL') && !isErrno(err, 'ENOENT')) throw err;
      }
      replaced.add(formatCidr(c));
    }
    try {
      addAddr(nl, link.index, w, `add ${formatCidr(w)} to "${link.name}"`);
    } catch (err) {
      // Parallel first ADDs race to add the same gateway (plugins PR #366); the winner records it.
      if (isErrno(err, 'EEXIST')) continue;
      throw new CniError(Code.Internal, `could not add IP address ${formatCidr(w)} to "${link.name}": ${errorText(err)}`);
    }
    added = true;
    const a = listAddrs(nl, { index: link.index, family: w.family }).find((x) => sameIP(x, w) && x.prefix === w.prefix);
    if (bootId && a?.created !== undefined) made.push({ link: link.name, index: link.index, bootId, address: formatCidr(w), created: a.created });
  }
  if (added) {
    const now = getLink(nl, link.name);
    const mac = now?.mac ? parseMac(now.mac) : undefined;
    if (now && mac) setMac(nl, now, mac);
  }
  if (opts.records && made.length > 0) record(opts.records, made, replaced);
}

/** Keep the records of other links and families; replace this link's entries for the families just set. */
function record(store: GatewayRecords, made: GatewayRecord[], replaced: Set<string>): void {
  const family = (r: GatewayRecord) => parseCidr(r.address).family;
  try {
    const keep = store
      .read()
      .filter((r) => !replaced.has(r.address) && !made.some((m) => m.link === r.link && family(m) === family(r)));
    store.write([...keep, ...made]);
  } catch (err) {
    // Only a later repair depends on it; without the record that repair is refused, as in the reference.
    log.warn(`cannot record the gateway this network set on "${made[0].link}": ${errorText(err)}`);
  }
}
