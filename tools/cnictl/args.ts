// cnictl's command line: `cnictl VERB NETWORK [NETNS] [options]`, options anywhere,
// `--opt VALUE` or `--opt=VALUE`. Pure: the tests drive it without a system.
import { BIN_DIR, CONF_DIR } from '../../lib/cni/paths';
import { DEFAULT_CACHE_DIR } from './cache';
import type { Json } from './conf';
import type { ValidAttachment } from './ops';

export const VERBS = ['add', 'check', 'del', 'status', 'gc'] as const;
export type CtlVerb = (typeof VERBS)[number];

export interface Options {
  verb: CtlVerb;
  /** Absent only with --conf (the file names the network). */
  network?: string;
  netns?: string;
  conf?: string;
  confDir: string;
  bin: string[];
  ifName: string;
  id?: string;
  /** --args; undefined when not given (DEL and CHECK then reuse the cached ones). */
  args?: [string, string][];
  /** --cap; undefined when not given (likewise). */
  caps?: Json;
  create: boolean;
  json: boolean;
  cacheDir: string;
  /** --valid; undefined when not given, [] for `--valid none`. */
  valid?: ValidAttachment[];
  timeoutMs?: number;
}

export class UsageError extends Error {}

export const HELP = `cnictl: run a CNI network (a conflist of ${CONF_DIR}) by hand, as a container runtime would (like cnitool, no Go needed)

usage:
  cnictl add    NETWORK NETNS [options]   attach NETNS to NETWORK, print the result, cache it
  cnictl check  NETWORK NETNS [options]   CHECK the attachment against the cached result (CNI 0.4.0+)
  cnictl del    NETWORK NETNS [options]   detach (DEL in reverse order with the cached result), drop the cache entry
  cnictl status NETWORK [options]         ask every plugin whether it can serve ADD now (CNI 1.1.0+)
  cnictl gc     NETWORK --valid ID:IFNAME... [options]
                                          DEL every cached attachment of NETWORK not listed, then GC the plugins (1.1.0+)
  cnictl doctor [options]                 inspect this node's CNI setup (cnictl doctor --help)

  NETWORK  the "name" of a network config in --confdir (optional with --conf)
  NETNS    a path (/proc/1234/ns/net, /var/run/netns/x) or a name: NAME means /run/netns/NAME

options:
  --conf FILE         use this .conflist/.conf instead of looking NETWORK up
  --confdir DIR       where to look NETWORK up (default ${CONF_DIR}): the first *.conflist
                      in name order whose "name" matches, then *.conf/*.json; a file that does
                      not parse stops the search, as it stops the runtime
  --bin DIRS          plugin directories, colon-separated; becomes CNI_PATH (default ${BIN_DIR})
  --ifname NAME       CNI_IFNAME (default eth0)
  --id ID             CNI_CONTAINERID (default: cnitool's, "cnitool-" + the first 10 bytes of
                      sha512(NETNS path) in hex, so cnitool and cnictl name an attachment alike)
  --args 'K=V;K=V'    CNI_ARGS, e.g. 'IgnoreUnknown=1;K8S_POD_NAME=web'
  --cap KEY=JSON      a capability arg (repeatable); it reaches the plugins that declare KEY in
                      "capabilities" as runtimeConfig.KEY, e.g.
                        --cap portMappings='[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]'
                        --cap mac='"02:42:ac:11:00:02"'
                      check and del reuse the --args and --cap of the add (from the cache)
                      unless given again
  --create            add: create the named netns /run/netns/NAME first when it does not exist;
                      del: remove it afterwards. Uses util-linux (unshare, mount, umount), not
                      iproute2; not from inside \`ip netns exec\` (its mounts die with it)
  --json              print the result JSON (add) or the error JSON, nothing else, on stdout
  --cache-dir DIR     libcni's result cache (default ${DEFAULT_CACHE_DIR}): results/NETWORK-ID-IFNAME,
                      shared with cnitool and runtimes using libcni
  --valid ID:IFNAME   gc: an attachment to keep (repeatable); \`--valid none\` keeps none. Needed:
                      every other attachment of NETWORK in the cache is deleted, including
                      those of a container runtime sharing the cache directory
  --timeout SECONDS   kill a plugin that runs longer (SIGKILL, as a runtime's deadline)
  -h, --help          this text

versions: the network's version is the highest of "cniVersion" and "cniVersions" up to 1.1.0.
check needs 0.4.0 (and is skipped with "disableCheck"); status and the GC verb need 1.1.0
(libcni does nothing below; gc still deletes stale cached attachments); "disableGC" skips gc.

exit status: 0 done, 1 failed (a plugin error shows as "error CODE: message" and its details), 2 usage.`;

const WITH_VALUE = new Set(['--conf', '--confdir', '--bin', '--ifname', '--id', '--args', '--cap', '--cache-dir', '--valid', '--timeout']);
const FLAGS = new Set(['--create', '--json']);

/** "K=V;K=V" → pairs, in order; empty segments skipped, each split on its first "=". */
export function parseCniArgsOption(s: string): [string, string][] {
  const out: [string, string][] = [];
  for (const seg of s.split(';')) {
    if (seg === '') continue;
    const eq = seg.indexOf('=');
    if (eq <= 0) throw new UsageError(`--args: "${seg}" is not KEY=VALUE`);
    out.push([seg.slice(0, eq), seg.slice(eq + 1)]);
  }
  return out;
}

function parseCap(s: string, into: Json): void {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new UsageError(`--cap: "${s}" is not KEY=JSON`);
  const key = s.slice(0, eq);
  let value: unknown;
  try {
    value = JSON.parse(s.slice(eq + 1));
  } catch (err) {
    throw new UsageError(`--cap ${key}: the value is not JSON (${(err as Error).message}); quote strings: --cap ${key}='"..."'`);
  }
  Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
}

function parseValid(s: string): ValidAttachment[] {
  if (s === 'none') return [];
  const parts = s.split(':');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw new UsageError(`--valid: "${s}" is not CONTAINERID:IFNAME (or "none")`);
  return [{ containerID: parts[0]!, ifname: parts[1]! }];
}

export function parseArgs(argv: readonly string[]): Options | 'help' {
  const pos: string[] = [];
  const vals = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') return 'help';
    if (a === '--') {
      pos.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--') || a === '-') {
      if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
      pos.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (FLAGS.has(name)) {
      if (eq > 0) throw new UsageError(`${name} takes no value`);
      flags.add(name);
    } else if (WITH_VALUE.has(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      vals.set(name, [...(vals.get(name) ?? []), v]);
    } else throw new UsageError(`unknown option ${name}`);
  }
  const one = (name: string): string | undefined => {
    const v = vals.get(name);
    if (v && v.length > 1 && name !== '--cap' && name !== '--valid') throw new UsageError(`${name} given more than once`);
    return v?.[0];
  };

  const verb = pos.shift();
  if (verb === undefined) throw new UsageError('missing command: add, check, del, status, gc or doctor');
  if (!(VERBS as readonly string[]).includes(verb)) throw new UsageError(`unknown command "${verb}"`);
  const v = verb as CtlVerb;
  const conf = one('--conf');
  const takesNetns = v === 'add' || v === 'check' || v === 'del';
  let network: string | undefined;
  let netns: string | undefined;
  const max = takesNetns ? 2 : 1;
  if (pos.length > max) throw new UsageError(`too many arguments for ${v}: ${pos.join(' ')}`);
  if (takesNetns) {
    if (pos.length === 2) [network, netns] = pos;
    else if (pos.length === 1 && conf !== undefined) netns = pos[0];
    else throw new UsageError(`${v} needs ${conf === undefined ? 'NETWORK and NETNS' : 'NETNS'}`);
  } else {
    network = pos[0];
    if (network === undefined && conf === undefined) throw new UsageError(`${v} needs NETWORK (or --conf FILE)`);
  }

  const opts: Options = {
    verb: v,
    network,
    netns,
    conf,
    confDir: one('--confdir') ?? CONF_DIR,
    bin: (one('--bin') ?? BIN_DIR).split(':').filter((d) => d !== ''),
    ifName: one('--ifname') ?? 'eth0',
    id: one('--id'),
    create: flags.has('--create'),
    json: flags.has('--json'),
    cacheDir: one('--cache-dir') ?? DEFAULT_CACHE_DIR,
  };
  if (opts.bin.length === 0) throw new UsageError('--bin needs at least one directory');
  const args = one('--args');
  if (args !== undefined) opts.args = parseCniArgsOption(args);
  if (vals.has('--cap')) {
    const caps: Json = {};
    for (const c of vals.get('--cap')!) parseCap(c, caps);
    opts.caps = caps;
  }
  if (vals.has('--valid')) {
    if (v !== 'gc') throw new UsageError('--valid is for gc');
    opts.valid = vals.get('--valid')!.flatMap(parseValid);
  }
  const timeout = one('--timeout');
  if (timeout !== undefined) {
    const s = Number(timeout);
    if (!Number.isFinite(s) || s <= 0) throw new UsageError(`--timeout: "${timeout}" is not a positive number of seconds`);
    opts.timeoutMs = Math.round(s * 1000);
  }
  if (opts.create && v !== 'add' && v !== 'del') throw new UsageError('--create is for add (create the netns) and del (remove it)');
  if (!takesNetns && (opts.id !== undefined || one('--ifname') !== undefined || opts.args || opts.caps)) {
    throw new UsageError(`${v} works on the whole network: --id, --ifname, --args and --cap do not apply`);
  }
  return opts;
}
