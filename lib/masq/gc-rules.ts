// The pure half of masquerade GC (CNI 1.1): read `iptables -S` and find the chains of
// this network whose container is no longer among the valid attachments.
import { masqChainName, splitSaveLine, type Rule } from './rules';

/**
 * Read one Go-quoted string (the inverse of goQuote) starting at `s[i]`, which must
 * be `"`. Returns the value and the index just past the closing quote.
 */
export function goUnquoteAt(s: string, i: number): { value: string; end: number } | undefined {
  if (s[i] !== '"') return undefined;
  const named: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '"': '"', '\\': '\\' };
  let out = '';
  for (let j = i + 1; j < s.length; j++) {
    const ch = s[j];
    if (ch === '"') return { value: out, end: j + 1 };
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const e = s[++j];
    if (e === undefined) return undefined;
    if (named[e] !== undefined) {
      out += named[e];
    } else if (e === 'x' || e === 'u') {
      const len = e === 'x' ? 2 : 4;
      const hex = s.slice(j + 1, j + 1 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) return undefined;
      out += String.fromCodePoint(parseInt(hex, 16));
      j += len;
    } else {
      return undefined;
    }
  }
  return undefined;
}

/** `name: "<network>" id: "<containerID>"` → its parts; undefined for any other comment. */
export function parseMasqComment(comment: string): { network: string; containerId: string } | undefined {
  const namePrefix = 'name: ';
  const idPrefix = ' id: ';
  if (!comment.startsWith(namePrefix)) return undefined;
  const name = goUnquoteAt(comment, namePrefix.length);
  if (!name || comment.slice(name.end, name.end + idPrefix.length) !== idPrefix) return undefined;
  const id = goUnquoteAt(comment, name.end + idPrefix.length);
  if (!id || id.end !== comment.length) return undefined;
  return { network: name.value, containerId: id.value };
}

export const listNatArgs = (): string[] => ['-t', 'nat', '-S'];

/** A chain of this network that belongs to an attachment no longer valid. */
export interface StaleChain {
  chain: string;
  containerId: string;
  /** whether `-N <chain>` is in the listing (jumps may outlive a half-done teardown) */
  exists: boolean;
  /** every POSTROUTING rule jumping to it, with or without a comment */
  jumps: Rule[];
}

/** A chain GC refuses to remove, and why. */
export interface SkippedChain {
  chain: string;
  why: string;
}

const commentOf = (args: string[]): string | undefined => {
  const i = args.indexOf('--comment');
  return i >= 0 ? args[i + 1] : undefined;
};

/**
 * From `iptables -t nat -S`, the per-container chains of `network` whose container
 * is not in `keep`. A chain is attributed to (network, X) only when a rule in it, or
 * a POSTROUTING jump to it, carries exactly the comment `name: "<network>" id: "<X>"`
 * AND its name is masqChainName(network, X). Chains without our comment, and chains
 * of other networks, are never returned. Because the name hashes network+containerID
 * concatenated, two networks can in theory share a chain ("ab"+"c" = "a"+"bc"); a
 * chain holding any rule with a different comment is therefore skipped, not removed.
 */
export function staleMasqChains(
  saveOutput: string,
  network: string,
  keep: ReadonlySet<string>,
): { stale: StaleChain[]; skipped: SkippedChain[] } {
  const lines = saveOutput.split('\n').map((l) => splitSaveLine(l.trim()));
  const defined = new Set<string>();
  const jumps = new Map<string, Rule[]>(); // chain → POSTROUTING rules jumping to it (one pass, not one per chain)
  const owners = new Map<string, string>(); // chain → containerId of this network
  const foreign = new Map<string, string>(); // chain → a comment that is not ours
  for (const args of lines) {
    if (args[0] === '-N' && args[1]) defined.add(args[1]);
    if (args[0] !== '-A' || !args[1]) continue;
    const inChain = args[1];
    const j = args.indexOf('-j');
    const target = j >= 0 ? args[j + 1] : undefined;
    const chain = inChain === 'POSTROUTING' ? target : inChain;
    if (!chain || !chain.startsWith('CNI-')) continue;
    if (inChain === 'POSTROUTING') jumps.set(chain, [...(jumps.get(chain) ?? []), { chain: 'POSTROUTING', spec: args.slice(2) }]);
    const comment = commentOf(args);
    const parsed = comment === undefined ? undefined : parseMasqComment(comment);
    if (parsed && parsed.network === network && masqChainName(network, parsed.containerId) === chain) {
      const prev = owners.get(chain);
      if (prev !== undefined && prev !== parsed.containerId) foreign.set(chain, comment!);
      owners.set(chain, parsed.containerId);
    } else if (comment !== undefined && inChain !== 'POSTROUTING') {
      foreign.set(chain, comment);
    } else if (comment !== undefined && parsed && masqChainName(parsed.network, parsed.containerId) === chain) {
      // a jump of another network into a chain whose name collides with ours
      foreign.set(chain, comment);
    }
  }
  const stale: StaleChain[] = [];
  const skipped: SkippedChain[] = [];
  for (const [chain, containerId] of owners) {
    if (keep.has(containerId)) continue;
    const other = foreign.get(chain);
    if (other !== undefined) {
      skipped.push({ chain, why: `it also holds a rule with the comment ${JSON.stringify(other)}` });
      continue;
    }
    stale.push({ chain, containerId, exists: defined.has(chain), jumps: jumps.get(chain) ?? [] });
  }
  return { stale, skipped };
}
