// ipMasq with the nftables backend (reference pkg/ip/ipmasq_nftables_linux.go):
//
//   table inet cni_plugins_masquerade
//     chain postrouting (type nat hook postrouting priority srcnat), rewritten on every ADD:
//       ip daddr == 224.0.0.0/4 return ; ip6 daddr == ff00::/8 return ; goto masq_checks
//     chain masq_checks, one rule per pod IP:
//       ip saddr == <ip> ip daddr != <subnet> masquerade comment "<hash>, net: …, if: …, id: …"
//
// A rule is owned by (network, ifname, containerID) through the hash that starts its
// comment, never through its IP: an IP reused by a new pod before the old pod's DEL
// must not lose its rule (the case the reference's comment describes). Teardown finds
// rules by that hash alone, so it works without the pod's addresses or netns.
// Commands use nft's own syntax, as knftables sends them, because nft's JSON input
// silently drops the table/chain comments the reference sets.
import { CniError, Code } from '../cni/errors';
import { formatCidr, formatIP, networkOf, tryParseCidr } from '../ip';
import { explain, openNft, type NftObject } from '../nft/run';
import { hexDigest } from '../hash';

export const MASQ_TABLE = 'cni_plugins_masquerade';
export const MASQ_CHAIN = 'masq_checks';
const FEATURE = 'ipMasq (nftables backend)';
/** nft's (and knftables') limit on comment length, in bytes. */
export const COMMENT_MAX = 128;

const sha512hex = (s: string, len: number): string => hexDigest('sha512', s).slice(0, len);

/** 16 hex digits of SHA-512(network): the prefix shared by all of a network's rules (for GC). */
export const hashForNetwork = (network: string): string => sha512hex(network, 16);

/** `<16 hex of sha512(network)>-<16 hex of sha512(ifname:containerID)>`: one attachment's rules. */
export const hashForInstance = (network: string, ifName: string, containerId: string): string =>
  `${hashForNetwork(network)}-${sha512hex(`${ifName}:${containerId}`, 16)}`;

/** The rule comment: the hash, then a readable tail; `"` removed; cut to COMMENT_MAX bytes. */
export function commentForInstance(network: string, ifName: string, containerId: string): string {
  const strip = (s: string) => s.replaceAll('"', '');
  const full = `${hashForInstance(network, ifName, containerId)}, net: ${strip(network)}, if: ${strip(ifName)}, id: ${strip(containerId)}`;
  const bytes = Buffer.from(full, 'utf8');
  if (bytes.length <= COMMENT_MAX) return full;
  // Cut on a character boundary (the reference cuts bytes; names are ASCII in practice).
  let cut = COMMENT_MAX;
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--;
  return bytes.subarray(0, cut).toString('utf8');
}

export interface NftMasqOptions {
  network: string;
  ifName: string;
  containerId: string;
  /** pod addresses with prefix ("10.244.1.5/24") */
  ips: string[];
}

interface MasqRule {
  handle: number;
  comment?: string;
}

/** The rules of masq_checks from `nft -j list chain inet cni_plugins_masquerade masq_checks`. */
export function masqRules(objects: NftObject[]): MasqRule[] {
  return objects
    .filter((o) => o.rule && typeof o.rule.handle === 'number')
    .map((o) => ({ handle: o.rule.handle as number, comment: typeof o.rule.comment === 'string' ? o.rule.comment : undefined }));
}

const matching = (rules: MasqRule[], prefix: string): MasqRule[] => rules.filter((r) => r.comment?.startsWith(prefix));

/** The ADD transaction, given the handles of this attachment's stale rules. Pure. */
export function nftMasqSetupBatch(o: NftMasqOptions, staleHandles: number[]): string[] {
  const t = `inet ${MASQ_TABLE}`;
  const lines = [
    `add table ${t} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
    `add chain ${t} ${MASQ_CHAIN} { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
    // Made after masq_checks so the goto below has a target.
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat ; }`,
    `flush chain ${t} postrouting`,
    `add rule ${t} postrouting ip daddr == 224.0.0.0/4  return`,
    `add rule ${t} postrouting ip6 daddr == ff00::/8  return`,
    `add rule ${t} postrouting goto ${MASQ_CHAIN}`,
    ...staleHandles.map((h) => `delete rule ${t} ${MASQ_CHAIN} handle ${h}`),
  ];
  const comment = commentForInstance(o.network, o.ifName, o.containerId);
  for (const s of o.ips) {
    const c = tryParseCidr(s);
    if (!c) throw new CniError(Code.Internal, `failed to set up IP masquerading: invalid container address "${s}" (want address/prefix)`);
    const ip = c.family === 4 ? 'ip' : 'ip6';
    lines.push(`add rule ${t} ${MASQ_CHAIN} ${ip} saddr == ${formatIP(c)} ${ip} daddr != ${formatCidr(networkOf(c))} masquerade comment "${comment}"`);
  }
  return lines;
}

const listChain = ['chain', 'inet', MASQ_TABLE, MASQ_CHAIN];

/** Install (or replace) this attachment's masquerade rules, in one transaction. */
export function setupNftMasq(o: NftMasqOptions): void {
  const nft = openNft(FEATURE);
  const stale = matching(masqRules(nft.list(listChain) ?? []), hashForInstance(o.network, o.ifName, o.containerId));
  const r = nft.applyText(nftMasqSetupBatch(o, stale.map((x) => x.handle)));
  if (!r.ok) throw new CniError(Code.Internal, `failed to set up IP masquerading (nftables) for ${o.ips.join(', ')}: ${explain(r)}`);
}

function deleteRules(prefix: string, keep: (r: MasqRule) => boolean, what: string): number {
  const nft = openNft(FEATURE);
  const doomed = matching(masqRules(nft.list(listChain) ?? []), prefix).filter((r) => !keep(r));
  if (!doomed.length) return 0;
  const r = nft.applyText(doomed.map((x) => `delete rule inet ${MASQ_TABLE} ${MASQ_CHAIN} handle ${x.handle}`));
  if (!r.ok) throw new CniError(Code.Internal, `${what}: ${explain(r)}`);
  return doomed.length;
}

/** Remove this attachment's rules, found by hash. Idempotent: no table/chain/rule is success. */
export function teardownNftMasq(o: Pick<NftMasqOptions, 'network' | 'ifName' | 'containerId'>): void {
  deleteRules(hashForInstance(o.network, o.ifName, o.containerId), () => false, `failed to tear down IP masquerading (nftables) for ${o.containerId}/${o.ifName}`);
}

/**
 * GC (CNI 1.1): remove the network's rules whose attachment is not in `keep`, found by
 * the network's hash. Returns how many rules were removed.
 */
export function gcNftMasq(network: string, keep: { ifName: string; containerId: string }[]): number {
  const valid = new Set(keep.map((a) => commentForInstance(network, a.ifName, a.containerId)));
  return deleteRules(hashForNetwork(network), (r) => valid.has(r.comment ?? ''), `failed to garbage-collect IP masquerading (nftables) for network "${network}"`);
}
