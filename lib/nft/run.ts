// The one place that runs `nft` (nftables' CLI). Synchronous and with an argv
// array, never a shell: the bridge plugin may call this inside lib/netns.inNetns,
// and a child started by spawnSync inherits the calling thread's netns. A batch is
// passed as one argv element (nft parses it like a file), so it is one kernel
// transaction, all or nothing. Not `nft -f -`: nft opens /dev/stdin by path, which
// fails with ENXIO when stdin is the socket spawnSync gives a child.
import { CniError, Code } from '../cni/errors';
import { findExecutable, runTool } from '../exec';

const RUN_TIMEOUT_MS = 60_000;

export interface NftRun {
  ok: boolean;
  /** the kernel/nft said an object named in the command does not exist */
  missing: boolean;
  stdout: string;
  stderr: string;
  command: string;
}

/** Whether the nft binary is installed (PATH, then the sbin directories runtimes often leave out of PATH). */
export const findNft = (): string | undefined => findExecutable('nft', process.env.PATH);

export function missingNftError(feature: string): CniError {
  return new CniError(
    Code.Internal,
    `${feature} needs nft, but no "nft" executable was found in PATH or /usr/sbin, /sbin, /usr/local/sbin: ` +
      'install the nftables package on this node (Debian/Ubuntu: apt-get install nftables)',
  );
}

/** Run nft with `args`. Never throws for a non-zero exit. */
export function runNft(file: string, args: string[]): NftRun {
  // nft repeats the offending input line with ^^^ markers; the first line says it all.
  const r = runTool(file, 'nft', args, { timeoutMs: RUN_TIMEOUT_MS, dropLine: (l) => /^\^+$/.test(l) });
  return { ok: r.ok, missing: !r.ok && /No such file or directory/.test(r.stderr), stdout: r.stdout, stderr: r.stderr, command: r.command };
}

export interface Nft {
  /** Apply a JSON batch (`{"nftables": [...]}` commands) as one transaction. */
  applyJson(commands: object[]): NftRun;
  /** Apply a batch in nft's own syntax, one command per line, as one transaction. */
  applyText(lines: string[]): NftRun;
  /** `nft -j list <what>`: the objects listed, or undefined when the table/chain does not exist. */
  list(what: string[]): NftObject[] | undefined;
}

/** One entry of `nft -j list` output: {"table": {...}} or {"chain": {...}} or {"rule": {...}}. */
export type NftObject = Record<string, Record<string, unknown>>;

export const explain = (r: NftRun): string => `${r.command}: ${r.stderr}`;

export function openNft(feature: string): Nft {
  const file = findNft();
  if (!file) throw missingNftError(feature);
  return {
    applyJson: (commands) => runNft(file, ['-j', JSON.stringify({ nftables: commands })]),
    applyText: (lines) => runNft(file, [lines.join('\n')]),
    list(what) {
      const r = runNft(file, ['-j', 'list', ...what]);
      if (r.missing) return undefined;
      if (!r.ok) throw new CniError(Code.Internal, `${feature}: ${explain(r)}`);
      try {
        const parsed = JSON.parse(r.stdout) as { nftables?: NftObject[] };
        return parsed.nftables ?? [];
      } catch (err) {
        throw new CniError(Code.Internal, `${feature}: cannot parse the output of ${r.command}: ${(err as Error).message}`);
      }
    },
  };
}

/**
 * Whether nftables can be used here: the binary exists and the kernel accepts a
 * (checked, not committed) table. Mirrors the reference's "supports nftables" probe.
 */
export function nftUsable(): boolean {
  const file = findNft();
  if (!file) return false;
  return runNft(file, ['--check', 'add', 'table', 'ip', 'cni_supports_nftables_probe']).ok;
}
