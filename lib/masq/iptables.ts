// ipMasq with the iptables backend (upstream pkg/ip/ipmasq_iptables_linux.go); the
// front that picks a backend is index.ts. Rules are the reference's, rule for rule
// (built in rules.ts), so `iptables -t nat -S` looks the same to an operator and either
// implementation can remove the other's rules.
//
// Everything here is synchronous: the bridge plugin calls it inside lib/netns.inNetns
// when the "host" side is itself a namespace (tests, nested setups), and a child
// started by spawnSync inherits the calling thread's netns. iptables always gets
// `-w` so parallel ADDs for different pods queue on the xtables lock instead of
// failing with "Another app is currently holding the xtables lock".
import type { Family } from '../ip';
import { FALLBACK_DIRS, findExecutable, runTool } from '../exec';
import { CniError, Code } from '../cni/errors';
import { log } from '../log';
import {
  chainArgs,
  classifyFailure,
  jumpsToChain,
  listPostroutingArgs,
  masqChainName,
  parseMasqAddr,
  planMasq,
  ruleArgs,
  type Failure,
  type MasqAddr,
  type Rule,
} from './rules';
import { listNatArgs, staleMasqChains } from './gc-rules';

export interface MasqOptions {
  network: string;
  containerId: string;
  /** container addresses with their prefix ("10.244.1.5/24"), v4 and/or v6 */
  ips: string[];
}

export function missingBinaryError(name: string): CniError {
  return new CniError(
    Code.Internal,
    `ipMasq needs ${name}, but no "${name}" executable was found in PATH or ${FALLBACK_DIRS.join(', ')}: ` +
      `install the iptables package on this node (or set "ipMasq": false in the network config)`,
  );
}

interface RunResult {
  ok: boolean;
  failure: Failure;
  stdout: string;
  /** one-line stderr without iptables' "Try `iptables -h'" footer */
  stderr: string;
  command: string;
}

// -w waits for the lock without limit, as the reference does; this only stops a
// wedged iptables from hanging the plugin until the runtime's own timeout.
const RUN_TIMEOUT_MS = 120_000;

class Iptables {
  readonly name: 'iptables' | 'ip6tables';
  private readonly file: string;

  private constructor(name: 'iptables' | 'ip6tables', file: string) {
    this.name = name;
    this.file = file;
  }

  /** undefined when the binary is not installed. */
  static find(family: Family): Iptables | undefined {
    const name = family === 4 ? 'iptables' : 'ip6tables';
    const file = findExecutable(name, process.env.PATH);
    return file ? new Iptables(name, file) : undefined;
  }

  static require(family: Family): Iptables {
    const ipt = Iptables.find(family);
    if (!ipt) throw missingBinaryError(family === 4 ? 'iptables' : 'ip6tables');
    return ipt;
  }

  run(args: string[]): RunResult {
    const r = runTool(this.file, this.name, ['-w', ...args], {
      timeoutMs: RUN_TIMEOUT_MS,
      dropLine: (l) => l.startsWith('Try `'), // iptables' usage footer
    });
    if (r.spawnError === 'ENOENT') throw missingBinaryError(this.name);
    if (r.spawnError === 'ETIMEDOUT') r.stderr += ' (is something holding the xtables lock?)';
    return { ...r, failure: r.ok || r.spawnError ? 'other' : classifyFailure(r.stderr) };
  }
}

const explain = (r: RunResult): string => `${r.command}: ${r.stderr}`;

// The probe only picks a backend; a wedged xtables lock should not hold it as long as
// a rule change may wait (RUN_TIMEOUT_MS). A probe that times out counts as unusable.
const PROBE_TIMEOUT_MS = 60_000;

/** iptables is usable when the binary exists and can read the filter table (as go-iptables probes it). */
export function iptablesUsable(): boolean {
  const file = findExecutable('iptables', process.env.PATH);
  return file !== undefined && runTool(file, 'iptables', ['-w', '-t', 'filter', '-n', '-L', 'INPUT'], { timeoutMs: PROBE_TIMEOUT_MS }).ok;
}

function parseAll(ips: string[], onBad: (s: string) => void): MasqAddr[] {
  const out: MasqAddr[] = [];
  for (const s of ips) {
    const a = parseMasqAddr(s);
    if (a) out.push(a);
    else onBad(s);
  }
  return out;
}

/** What one setup added, so that its undo removes exactly that and nothing it found. */
export interface IpMasqMade {
  family: Family;
  chain: string;
  /** the chain did not exist before this setup */
  createdChain: boolean;
  /** rules this setup appended, in order */
  rules: Rule[];
}

/**
 * Install the per-container chain and POSTROUTING jump for every address. Safe to
 * repeat: the chain is created only when missing and each rule is appended only when
 * `iptables -C` does not find it. What it adds is recorded in `made` as it goes, so a
 * failed ADD can undo exactly that (undoIpMasq), also after a failure half-way: the
 * chain is per (network, container), shared by the container's other interfaces on
 * the network, and their rules must survive this ADD's undo.
 */
export function setupIpMasq(opts: MasqOptions, made: IpMasqMade[] = []): IpMasqMade[] {
  const addrs = parseAll(opts.ips, (s) => {
    throw new CniError(Code.Internal, `failed to set up IP masquerading: invalid container address "${s}" (want address/prefix)`);
  });
  for (const plan of planMasq(opts.network, opts.containerId, addrs)) {
    const ipt = Iptables.require(plan.family);
    const fail = (r: RunResult): CniError =>
      new CniError(Code.Internal, `failed to set up IP masquerading for ${plan.addrs.join(', ')}: ${explain(r)}`);

    const created = ipt.run(chainArgs('-N', plan.chain));
    if (!created.ok && created.failure !== 'exists') throw fail(created);
    const record: IpMasqMade = { family: plan.family, chain: plan.chain, createdChain: created.ok, rules: [] };
    made.push(record);
    for (const rule of [...plan.chainRules, ...plan.jumps]) if (ensureRule(ipt, rule, fail)) record.rules.push(rule);
  }
  return made;
}

/** Undo of setupIpMasq: its rules (jumps first), then its chain if it made it. Goes on past failures. */
export function undoIpMasq(made: readonly IpMasqMade[]): void {
  const errors: string[] = [];
  for (const m of [...made].reverse()) {
    const ipt = Iptables.find(m.family);
    if (!ipt) continue;
    const what = `failed to undo IP masquerading in ${m.chain}`;
    for (const rule of [...m.rules].reverse()) {
      const r = ipt.run(ruleArgs('-D', rule));
      if (!r.ok && r.failure !== 'missing') errors.push(`${what}: ${explain(r)}`);
    }
    if (m.createdChain) removeChain(ipt, m.chain, what, errors);
  }
  if (errors.length > 0) throw new CniError(Code.Internal, errors.join('; '));
}

/** Append `rule` unless present; true when this call appended it. */
function ensureRule(ipt: Iptables, rule: Rule, fail: (r: RunResult) => CniError): boolean {
  const check = ipt.run(ruleArgs('-C', rule));
  if (check.ok) return false;
  // -C answers "absent" with a "Bad rule"/"does not exist" text; anything else (a
  // missing kernel module, a broken binary) is reported by the append just below.
  const add = ipt.run(ruleArgs('-A', rule));
  if (!add.ok) throw fail(add);
  return true;
}

/**
 * Remove the chain and its POSTROUTING jumps. Idempotent: anything already gone is
 * fine. With addresses, deletes their jumps (current and pre-1.0 spelling) like the
 * reference; without any (DEL with no netns, plugins#810) it finds the jumps by the
 * chain name alone, in both iptables and ip6tables. Real failures are collected and
 * reported together after doing everything else it can.
 */
export function teardownIpMasq(opts: MasqOptions): void {
  const chain = masqChainName(opts.network, opts.containerId);
  const errors: string[] = [];
  const addrs = parseAll(opts.ips, (s) => log.warn(`masq teardown: ignoring invalid container address "${s}"`));
  const plans = planMasq(opts.network, opts.containerId, addrs);

  if (plans.length > 0) {
    for (const plan of plans) {
      const what = `failed to tear down IP masquerading for ${plan.addrs.join(', ')}`;
      const ipt = Iptables.find(plan.family);
      if (!ipt) {
        // Without the binary nothing of ours can exist in that family's tables.
        log.warn(`masq teardown: ${plan.family === 4 ? 'iptables' : 'ip6tables'} not found; nothing to remove`);
        continue;
      }
      for (const rule of [...plan.jumps, ...plan.oldJumps]) {
        const r = ipt.run(ruleArgs('-D', rule));
        if (!r.ok && r.failure !== 'missing') errors.push(`${what}: ${explain(r)}`);
      }
      removeChain(ipt, chain, what, errors);
    }
  } else {
    for (const family of [4, 6] as const) {
      const ipt = Iptables.find(family);
      if (!ipt) continue;
      const what = `failed to tear down IP masquerading chain ${chain}`;
      // A family whose nat table cannot even be listed (IPv6 disabled, no module)
      // cannot hold our chain; do not fail DEL for it.
      if (!deleteJumps(ipt, chain, what, errors, 'skip-unlistable')) continue;
      removeChain(ipt, chain, what, errors);
    }
  }
  if (errors.length > 0) throw new CniError(Code.Internal, errors.join('; '));
}

/** Returns false when POSTROUTING could not be listed. */
function deleteJumps(ipt: Iptables, chain: string, what: string, errors: string[], onUnlistable: 'skip-unlistable' | 'report'): boolean {
  const list = ipt.run(listPostroutingArgs());
  if (!list.ok) {
    if (onUnlistable === 'report') errors.push(`${what}: ${explain(list)}`);
    else log.warn(`masq teardown: cannot list ${ipt.name} nat POSTROUTING (${list.stderr}); skipping ${ipt.name}`);
    return false;
  }
  for (const rule of jumpsToChain(list.stdout, chain)) {
    const r = ipt.run(ruleArgs('-D', rule));
    if (!r.ok && r.failure !== 'missing') errors.push(`${what}: ${explain(r)}`);
  }
  return true;
}

function removeChain(ipt: Iptables, chain: string, what: string, errors: string[]): void {
  const flush = ipt.run(chainArgs('-F', chain));
  if (!flush.ok && flush.failure !== 'missing') errors.push(`${what}: ${explain(flush)}`);
  let del = ipt.run(chainArgs('-X', chain));
  if (!del.ok && del.failure === 'busy') {
    // Still referenced: a jump for an address we were not told about (the pod's
    // address changed, or DEL read only some of them). Find it by the chain name.
    if (deleteJumps(ipt, chain, what, errors, 'report')) del = ipt.run(chainArgs('-X', chain));
  }
  if (!del.ok && del.failure !== 'missing') errors.push(`${what}: ${explain(del)}`);
}

export interface MasqGcOptions {
  network: string;
  /** container IDs of the attachments that are still valid: their chains stay */
  keep: Iterable<string>;
}

export interface MasqGcReport {
  /** "iptables CNI-…" / "ip6tables CNI-…" for every chain removed */
  removed: string[];
  /** chains that looked like ours but also hold another owner's rules */
  skipped: string[];
}

/**
 * CNI 1.1 GC for ipMasq: in iptables and ip6tables, remove every per-container chain
 * of `network` (identified by its comment and name, see staleMasqChains) whose
 * container is not in `keep`, with the POSTROUTING jumps to it. Other networks'
 * chains and chains without our comment are never touched. Goes on past failures
 * and reports them together at the end.
 */
export function gcIpMasq(opts: MasqGcOptions): MasqGcReport {
  const keep = new Set([...opts.keep].map((id) => id.trim()));
  const errors: string[] = [];
  const report: MasqGcReport = { removed: [], skipped: [] };
  for (const family of [4, 6] as const) {
    const ipt = Iptables.find(family);
    if (!ipt) continue; // without the binary nothing of ours can exist in that family
    const list = ipt.run(listNatArgs());
    if (!list.ok) {
      // A family whose nat table cannot be listed (IPv6 off, no module) cannot hold our chains.
      log.warn(`masq GC: cannot list ${ipt.name} nat table (${list.stderr}); skipping ${ipt.name}`);
      continue;
    }
    const { stale, skipped } = staleMasqChains(list.stdout, opts.network, keep);
    for (const s of skipped) {
      log.warn(`masq GC: network "${opts.network}": leaving ${ipt.name} chain ${s.chain} alone: ${s.why}`);
      report.skipped.push(`${ipt.name} ${s.chain}`);
    }
    for (const s of stale) {
      const what = `failed to remove stale IP masquerading chain ${s.chain} (container ${s.containerId})`;
      const before = errors.length;
      for (const rule of s.jumps) {
        const r = ipt.run(ruleArgs('-D', rule));
        if (!r.ok && r.failure !== 'missing') errors.push(`${what}: ${explain(r)}`);
      }
      if (s.exists) removeChain(ipt, s.chain, what, errors);
      if (errors.length === before) {
        report.removed.push(`${ipt.name} ${s.chain}`);
        log.info(`masq GC: network "${opts.network}": removed ${ipt.name} nat chain ${s.chain} of container ${s.containerId} (not among the valid attachments)`);
      }
    }
  }
  if (errors.length > 0) throw new CniError(Code.Internal, errors.join('; '));
  return report;
}
