// macspoofchk: frames entering the bridge from a pod's host veth must carry the
// pod's MAC as source, or they are dropped. Same nftables objects as the reference
// (pkg/link/spoofcheck.go), so either implementation can remove the other's:
//
//   table bridge nat
//     chain PREROUTING  (type filter hook prerouting priority -300; policy accept)
//       iifname "<hostVeth>" jump cni-br-iface-<id>-<if>     comment "macspoofchk-<id>-<if>"
//     chain cni-br-iface-<id>-<if>
//       jump cni-br-iface-<id>-<if>-mac                      comment …
//     chain cni-br-iface-<id>-<if>-mac
//       ether saddr <podMac> return                          comment …
//       drop                                                 comment …
//
// Names derive from containerID and ifname only (no hash, no truncation), so DEL
// can tear down without the netns, the host veth or the MAC. Those names carry no
// network, so the rule inside the iface chain (which nothing of the reference reads)
// carries the network's tag: GC of one network removes only chains it tagged.
import { CniError, Code } from '../cni/errors';
import { log } from '../log';
import { explain, findNft, openNft, type NftObject } from './run';
import { hashForNetwork } from '../masq/nftables';

const FAMILY = 'bridge';
const TABLE = 'nat';
const BASE_CHAIN = 'PREROUTING';
const FEATURE = 'macspoofchk';

export interface SpoofNames {
  ifaceChain: string;
  macChain: string;
  comment: string;
}

export function spoofNames(containerId: string, ifName: string): SpoofNames {
  const refId = `${containerId}-${ifName}`;
  const ifaceChain = `cni-br-iface-${refId}`;
  return { ifaceChain, macChain: `${ifaceChain}-mac`, comment: `macspoofchk-${refId}` };
}

/** The comment of the iface chain's rule: which network made the chain. */
export const networkTag = (network: string): string => `macspoofchk-net-${hashForNetwork(network)}`;

export interface SpoofCheck {
  /** the network whose ADD made it (tagged for GC) */
  network: string;
  containerId: string;
  ifName: string;
  /** the pod's host-side veth (the bridge port the frames come in on) */
  hostIface: string;
  /** the only source MAC allowed from it: the pod interface's MAC */
  mac: string;
}

const chainRef = (name: string) => ({ family: FAMILY, table: TABLE, name });
const rule = (chain: string, expr: object[], comment: string) => ({ rule: { family: FAMILY, table: TABLE, chain, expr, comment } });

/**
 * The setup as one nft JSON batch, one transaction: all rules appear together or not
 * at all. The attachment's chains are created with `create`, which fails when they
 * exist: a second ADD of a live attachment must not rewrite (and its undo then remove)
 * the rules that protect the live pod.
 */
export function spoofSetupBatch(s: SpoofCheck): object[] {
  const n = spoofNames(s.containerId, s.ifName);
  return [
    { add: { table: { family: FAMILY, name: TABLE } } },
    { add: { chain: { ...chainRef(BASE_CHAIN), type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } },
    { create: { chain: chainRef(n.ifaceChain) } },
    { create: { chain: chainRef(n.macChain) } },
    { add: rule(BASE_CHAIN, [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: s.hostIface } }, { jump: { target: n.ifaceChain } }], n.comment) },
    { add: rule(n.ifaceChain, [{ jump: { target: n.macChain } }], networkTag(s.network)) },
    { add: rule(n.macChain, [{ match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: s.mac.toLowerCase() } }, { return: null }], n.comment) },
    { add: rule(n.macChain, [{ drop: null }], n.comment) },
  ];
}

export function setupSpoofCheck(s: SpoofCheck): void {
  const r = openNft(FEATURE).applyJson(spoofSetupBatch(s));
  if (r.ok) return;
  if (/File exists/.test(r.stderr)) {
    const n = spoofNames(s.containerId, s.ifName);
    throw new CniError(
      Code.Internal,
      `failed to setup spoof-check: chain "${n.ifaceChain}" already exists: attachment ${s.containerId}/${s.ifName} has one already ` +
        '(left as it is; a new ADD needs its DEL first)',
    );
  }
  throw new CniError(Code.Internal, `failed to setup spoof-check: ${explain(r)}`);
}

interface Listed {
  rules: { chain: string; handle: number; comment?: string; expr?: unknown[] }[];
  chains: Set<string>;
}

function readTable(objects: NftObject[]): Listed {
  const out: Listed = { rules: [], chains: new Set() };
  for (const o of objects) {
    if (o.chain && typeof o.chain.name === 'string') out.chains.add(o.chain.name);
    if (o.rule && typeof o.rule.chain === 'string' && typeof o.rule.handle === 'number') {
      const { chain, handle, comment, expr } = o.rule as { chain: string; handle: number; comment?: string; expr?: unknown[] };
      out.rules.push({ chain, handle, comment, expr });
    }
  }
  return out;
}

/** Does a base-chain rule belong to this attachment: our comment, or a jump into our chain (made by a tool that dropped the comment). */
const isOurs = (r: Listed['rules'][number], n: SpoofNames): boolean =>
  r.comment === n.comment || JSON.stringify(r.expr ?? []).includes(JSON.stringify({ jump: { target: n.ifaceChain } }));

/**
 * The teardown batch for what `objects` (`nft -j list table bridge nat`) holds:
 * our PREROUTING rules by handle, then our two chains (iface chain first: its rule
 * is the last reference to the mac chain). Empty when nothing of ours is left.
 */
export function spoofTeardownBatch(objects: NftObject[], containerId: string, ifName: string): object[] {
  const n = spoofNames(containerId, ifName);
  const t = readTable(objects);
  const batch: object[] = t.rules
    .filter((r) => r.chain === BASE_CHAIN && isOurs(r, n))
    .map((r) => ({ delete: { rule: { family: FAMILY, table: TABLE, chain: BASE_CHAIN, handle: r.handle } } }));
  for (const c of [n.ifaceChain, n.macChain]) if (t.chains.has(c)) batch.push({ delete: { chain: chainRef(c) } });
  return batch;
}

/**
 * Remove the attachment's rules and chains; the table and base chain stay (other
 * pods use them). Idempotent: no table, or nothing of ours, is success. Without nft
 * installed nothing of ours can exist, so that is success too (with a warning).
 */
export function teardownSpoofCheck(containerId: string, ifName: string): void {
  let nft;
  try {
    nft = openNft(FEATURE);
  } catch (err) {
    log.warn(`macspoofchk teardown for ${containerId}/${ifName} skipped: ${(err as Error).message}`);
    return;
  }
  const objects = nft.list(['table', FAMILY, TABLE]);
  if (!objects) return;
  const batch = spoofTeardownBatch(objects, containerId, ifName);
  if (!batch.length) return;
  const r = nft.applyJson(batch);
  if (!r.ok) throw new CniError(Code.Internal, `failed to teardown spoof-check for ${containerId}/${ifName}: ${explain(r)}`);
}

/** CHECK: what is missing of this attachment's rules (empty when all is in place). */
export function spoofCheckProblems(s: Omit<SpoofCheck, 'network'>): string[] {
  const n = spoofNames(s.containerId, s.ifName);
  const objects = openNft(FEATURE).list(['table', FAMILY, TABLE]);
  if (!objects) return [`nftables table "${FAMILY} ${TABLE}" does not exist`];
  const t = readTable(objects);
  const problems: string[] = [];
  for (const c of [n.ifaceChain, n.macChain]) if (!t.chains.has(c)) problems.push(`chain "${c}" is missing`);
  const jump = t.rules.find((r) => r.chain === BASE_CHAIN && r.comment === n.comment);
  if (!jump) problems.push(`the ${BASE_CHAIN} rule jumping to "${n.ifaceChain}" is missing`);
  else if (!JSON.stringify(jump.expr ?? []).includes(JSON.stringify(s.hostIface))) problems.push(`the ${BASE_CHAIN} rule does not match interface "${s.hostIface}"`);
  const macRule = t.rules.find((r) => r.chain === n.macChain && JSON.stringify(r.expr ?? []).includes('"saddr"'));
  if (!macRule) problems.push(`the source-MAC rule in "${n.macChain}" is missing`);
  else if (!JSON.stringify(macRule.expr ?? []).includes(JSON.stringify(s.mac.toLowerCase()))) problems.push(`"${n.macChain}" does not allow MAC ${s.mac}`);
  if (!t.rules.some((r) => r.chain === n.macChain && JSON.stringify(r.expr ?? []) === '[{"drop":null}]')) problems.push(`the drop rule in "${n.macChain}" is missing`);
  return problems;
}

const IFACE_PREFIX = 'cni-br-iface-';

/**
 * GC: the spoof-check chains that `network` made (its tag on the iface chain's rule)
 * whose attachment is not in `keep`. Chains of other networks, and untagged ones (made
 * by the reference or an older release), are never touched: nothing proves whose they
 * are, and DEL still removes them. Returns the batch (empty when nothing is stale).
 */
export function spoofGcBatch(objects: NftObject[], network: string, keep: readonly { containerId: string; ifName: string }[]): object[] {
  const t = readTable(objects);
  const tag = networkTag(network);
  const kept = new Set(keep.map((a) => spoofNames(a.containerId, a.ifName).ifaceChain));
  const tagged = new Set(t.rules.filter((r) => r.comment === tag && r.chain.startsWith(IFACE_PREFIX)).map((r) => r.chain));
  const batch: object[] = [];
  for (const chain of [...tagged].filter((c) => t.chains.has(c) && !kept.has(c))) {
    const refId = chain.slice(IFACE_PREFIX.length);
    const n: SpoofNames = { ifaceChain: chain, macChain: `${chain}-mac`, comment: `macspoofchk-${refId}` };
    for (const r of t.rules.filter((x) => x.chain === BASE_CHAIN && isOurs(x, n))) {
      batch.push({ delete: { rule: { family: FAMILY, table: TABLE, chain: BASE_CHAIN, handle: r.handle } } });
    }
    batch.push({ delete: { chain: chainRef(chain) } });
    if (t.chains.has(n.macChain)) batch.push({ delete: { chain: chainRef(n.macChain) } });
  }
  return batch;
}

/** Remove the spoof-check chains of `network`'s attachments that are gone (see spoofGcBatch). Without nft nothing of ours can exist. */
export function gcSpoofChecks(network: string, keep: readonly { containerId: string; ifName: string }[]): void {
  if (!findNft()) return;
  const nft = openNft(FEATURE);
  const objects = nft.list(['table', FAMILY, TABLE]);
  if (!objects) return;
  const batch = spoofGcBatch(objects, network, keep);
  if (!batch.length) return;
  const r = nft.applyJson(batch);
  if (!r.ok) throw new CniError(Code.Internal, `failed to garbage-collect spoof-check chains: ${explain(r)}`);
}
