// The pure half of ipMasq: names, comments and the exact argv of every iptables
// rule. Kept apart from the code that runs iptables so the rule shapes can be
// checked without root, and so an operator who knows the reference plugin sees the
// same `iptables -S` lines (upstream pkg/ip/ipmasq_iptables_linux.go).
import { formatCidr, formatIP, networkOf, tryParseCidr, type Family } from '../ip';
import { hexDigest } from '../hash';

/**
 * "CNI-" + the first 24 hex digits of SHA-512(network + containerId): 28 characters,
 * the same name the reference derives, so either implementation can tear down the
 * other's chain. The interface name is not part of it (the reference's "historical"
 * choice); changing that would orphan chains made by the reference.
 */
export function masqChainName(network: string, containerId: string): string {
  return `CNI-${hexDigest('sha512', network + containerId).slice(0, 24)}`;
}

/**
 * Go's %q for the strings that can reach us. Network names and container IDs are
 * validated to [A-Za-z0-9_.-] by the dispatcher, so in practice this is only
 * `"` + s + `"`; the escapes keep the comment identical to the reference's even if
 * that validation is ever relaxed.
 */
export function goQuote(s: string): string {
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (named[ch]) out += named[ch];
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0x80 && c < 0xa0) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** iptables keeps at most XT_MAX_COMMENT_LEN - 1 = 255 bytes of a rule comment (linux/netfilter/xt_comment.h). */
export const IPT_COMMENT_MAX = 255;

/**
 * The comment on every rule, `name: "<network>" id: "<containerID>"`, exactly as the
 * reference writes it whenever that fits in IPT_COMMENT_MAX bytes. The dispatcher takes
 * container IDs of any length (and network names reach 255 bytes), so it may not fit:
 * iptables 1.8.9 (legacy and nft) then silently keeps the first 255 bytes, and an
 * iptables that refused it instead would fail the ADD with a cryptic error. So it is cut
 * here the same way (at a character boundary, which for the ASCII names in practice is
 * the same cut): the argv then matches what is stored, and what the reference stores for
 * the same pod. Nothing depends on the comment being whole: the chain name is the hash of
 * network + containerID, and DEL finds the jumps by that name. GC attributes a chain only
 * through a whole comment (parseMasqComment), so it leaves a cut one alone; DEL removes it.
 */
export function masqComment(network: string, containerId: string): string {
  const full = `name: ${goQuote(network)} id: ${goQuote(containerId)}`;
  const bytes = Buffer.from(full, 'utf8');
  if (bytes.length <= IPT_COMMENT_MAX) return full;
  let cut = IPT_COMMENT_MAX;
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--; // not inside a UTF-8 sequence
  return bytes.subarray(0, cut).toString('utf8');
}

/** One container address in the three spellings the rules need. */
export interface MasqAddr {
  family: Family;
  /** bare address, the POSTROUTING match: "10.244.1.5" */
  ip: string;
  /** address with its prefix, the pre-1.0 POSTROUTING match still deleted on teardown: "10.244.1.5/24" */
  cidr: string;
  /** the pod subnet, exempt from masquerading: "10.244.1.0/24" */
  subnet: string;
}

export function parseMasqAddr(s: string): MasqAddr | undefined {
  const c = tryParseCidr(s);
  if (!c) return undefined;
  return { family: c.family, ip: formatIP(c), cidr: formatCidr(c), subnet: formatCidr(networkOf(c)) };
}

/** A rule in table nat: the chain it lives in and its match/target arguments. */
export interface Rule {
  chain: string;
  spec: readonly string[];
}

const commentArgs = (comment: string): string[] => ['-m', 'comment', '--comment', comment];

// Argument order follows the reference (match, target, then the comment match).
// iptables prints matches before the target whatever order they are given in, so
// `iptables -S` is identical either way; the order matters only to someone
// comparing command lines in logs.
export const acceptRule = (chain: string, comment: string, a: MasqAddr): Rule => ({
  chain,
  spec: ['-d', a.subnet, '-j', 'ACCEPT', ...commentArgs(comment)],
});

// Multicast stays unmasqueraded so pods can still talk multicast to their neighbours.
export const masqueradeRule = (chain: string, comment: string, family: Family): Rule => ({
  chain,
  spec: ['!', '-d', family === 4 ? '224.0.0.0/4' : 'ff00::/8', '-j', 'MASQUERADE', ...commentArgs(comment)],
});

export const jumpRule = (chain: string, comment: string, a: MasqAddr): Rule => ({
  chain: 'POSTROUTING',
  spec: ['-s', a.ip, '-j', chain, ...commentArgs(comment)],
});

/** The jump as plugins before v1.0 wrote it (source = address/prefix); DEL still removes it. */
export const oldJumpRule = (chain: string, comment: string, a: MasqAddr): Rule => ({
  chain: 'POSTROUTING',
  spec: ['-s', a.cidr, '-j', chain, ...commentArgs(comment)],
});

export type RuleOp = '-A' | '-C' | '-D';
export const ruleArgs = (op: RuleOp, r: Rule): string[] => ['-t', 'nat', op, r.chain, ...r.spec];
export const chainArgs = (op: '-N' | '-F' | '-X', chain: string): string[] => ['-t', 'nat', op, chain];
export const listPostroutingArgs = (): string[] => ['-t', 'nat', '-S', 'POSTROUTING'];

/** Everything one address family needs, in the order it is applied. */
export interface FamilyPlan {
  family: Family;
  chain: string;
  /** the family's addresses as given, for messages */
  addrs: string[];
  /** rules inside the per-container chain */
  chainRules: Rule[];
  /** POSTROUTING jumps into the chain */
  jumps: Rule[];
  /** jump spellings of older plugin versions, deleted on teardown only */
  oldJumps: Rule[];
}

const uniqueBy = <T>(xs: T[], key: (x: T) => string): T[] => {
  const seen = new Set<string>();
  return xs.filter((x) => (seen.has(key(x)) ? false : (seen.add(key(x)), true)));
};

/**
 * Group the addresses by family. All subnet ACCEPTs come before the one MASQUERADE:
 * the reference appends per address (ACCEPT a, MASQUERADE, ACCEPT b), which leaves a
 * second same-family subnet's ACCEPT behind the terminating MASQUERADE where it never
 * matches. With one address per family (the usual case) both orders are identical.
 */
export function planMasq(network: string, containerId: string, addrs: MasqAddr[]): FamilyPlan[] {
  const chain = masqChainName(network, containerId);
  const comment = masqComment(network, containerId);
  const plans: FamilyPlan[] = [];
  for (const family of [4, 6] as const) {
    const mine = addrs.filter((a) => a.family === family);
    if (mine.length === 0) continue;
    plans.push({
      family,
      chain,
      addrs: uniqueBy(mine, (a) => a.cidr).map((a) => a.cidr),
      chainRules: [
        ...uniqueBy(mine, (a) => a.subnet).map((a) => acceptRule(chain, comment, a)),
        masqueradeRule(chain, comment, family),
      ],
      jumps: uniqueBy(mine, (a) => a.ip).map((a) => jumpRule(chain, comment, a)),
      // a /32 (/128) address spells both forms the same way; one delete is enough
      oldJumps: uniqueBy(mine, (a) => a.cidr)
        .filter((a) => a.cidr !== `${a.ip}/${family === 4 ? 32 : 128}`)
        .map((a) => oldJumpRule(chain, comment, a)),
    });
  }
  return plans;
}

/**
 * Split one line of `iptables -S` into arguments. iptables quotes a value in double
 * quotes when it holds anything beyond [A-Za-z0-9_-] and backslash-escapes `"`, `\`
 * and `'` inside (xtables_save_string), so this is the exact inverse.
 */
export function splitSaveLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '\\' && i + 1 < line.length) cur += line[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === ' ' || ch === '\t') {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
    } else {
      inToken = true;
      if (ch === '"') quoted = true;
      else cur += ch;
    }
  }
  if (inToken) out.push(cur);
  return out;
}

/**
 * Every POSTROUTING rule in `iptables -S POSTROUTING` output that jumps to `chain`,
 * whatever its source match or comment. This is how DEL without the pod's addresses
 * still finds the jumps (plugins#810): the chain name alone identifies them.
 */
export function jumpsToChain(saveOutput: string, chain: string): Rule[] {
  const rules: Rule[] = [];
  for (const line of saveOutput.split('\n')) {
    const args = splitSaveLine(line.trim());
    if (args[0] !== '-A' || args[1] !== 'POSTROUTING') continue;
    const j = args.indexOf('-j');
    if (j >= 0 && args[j + 1] === chain) rules.push({ chain: 'POSTROUTING', spec: args.slice(2) });
  }
  return rules;
}

export type Failure = 'missing' | 'exists' | 'busy' | 'other';

/**
 * What a failed iptables run means, from its stderr (the exit code is 1 for nearly
 * everything). The texts cover both iptables-nft and iptables-legacy:
 * - missing: rule/chain not there ("Bad rule", "No chain/target/match by that name",
 *   nft "Chain '…' does not exist", legacy "Couldn't load target `…': No such file or
 *   directory" when the jump target chain is gone);
 * - busy: a chain still referenced ("Too many links" legacy, EBUSY nft);
 * - exists: "Chain already exists".
 */
export function classifyFailure(stderr: string): Failure {
  if (/Chain already exists/i.test(stderr)) return 'exists';
  if (/Too many links|Device or resource busy/i.test(stderr)) return 'busy';
  if (/No chain\/target\/match by that name|Bad rule|does not exist|No such file or directory/i.test(stderr)) return 'missing';
  return 'other';
}
