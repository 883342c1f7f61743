// Command line of `cnictl doctor`, and how each input is chosen: a flag wins, then
// what the network's config sets (so doctor looks where the plugins really write),
// then the plugins' own defaults.
import { BIN_DIR, CACHE_DIR, CONF_DIR } from '../../../lib/cni/paths';
import { DEFAULT_DATA_DIR as IPAM_DATA_DIR } from '../../../lib/ipam/config';
import { DEFAULT_BRIDGE } from '../../../plugins/bridge/public';
import { DEFAULT_DATA_DIR as FLANNEL_DATA_DIR, DEFAULT_SUBNET_FILE } from '../../../plugins/flannel/public';
import type { NetConfFacts } from './conflist';
import type { Inputs } from './snapshot';

/** The network kube-flannel's conflist (and conf/10-flannel.conflist) defines: a convention, no plugin's default. */
const FLANNEL_NETWORK = 'cbr0';

// The plugins' own defaults and the runtimes' conventional directories, so doctor can
// never look somewhere they do not write.
export const DEFAULTS: Inputs = {
  subnetFile: DEFAULT_SUBNET_FILE,
  flannelDataDir: FLANNEL_DATA_DIR,
  ipamDataDir: IPAM_DATA_DIR,
  network: FLANNEL_NETWORK,
  bridge: DEFAULT_BRIDGE,
  confDir: CONF_DIR,
  cacheDir: CACHE_DIR,
  binDir: BIN_DIR,
};

const FLAGS: Record<string, keyof Inputs> = {
  '--subnet-file': 'subnetFile',
  '--flannel-data-dir': 'flannelDataDir',
  '--ipam-data-dir': 'ipamDataDir',
  '--network': 'network',
  '--bridge': 'bridge',
  '--confdir': 'confDir',
  '--cache-dir': 'cacheDir',
  '--bin': 'binDir',
};

export const USAGE = `usage: cnictl doctor [--subnet-file F] [--flannel-data-dir D] [--ipam-data-dir D] [--network NAME]
                     [--bridge NAME] [--confdir DIR] [--cache-dir DIR] [--bin DIR] [--json]

Inspects this node (the network namespace it runs in) for what breaks pod networking:
the config files, subnet.env, the bridge's gateway and MTU, forwarding, leaked IP
reservations, flannel's saved configs, masquerade chains, hairpin mode, and capacity
(free addresses per range, bridge ports), and whether the flannel in --bin speaks the
network's cniVersion (a reference flannel put back under a 1.0.0 conflist). Prints one line per finding with
its fix (--json: {"ok": bool, "findings": [...]}).
Exit status: 0 nothing wrong (information only), 1 something wrong, 2 usage or doctor failure.

defaults: ${Object.entries(FLAGS)
  .map(([flag, key]) => `${flag} ${DEFAULTS[key]}`)
  .join(', ')}
(paths the network's config in --confdir sets are used unless a flag overrides them)`;

export interface DoctorArgs {
  /** only the inputs given as flags */
  given: Partial<Inputs>;
  json: boolean;
  help: boolean;
}

export class UsageError extends Error {}

export function parseDoctorArgs(argv: readonly string[]): DoctorArgs {
  const out: DoctorArgs = { given: {}, json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') {
      out.json = true;
      continue;
    }
    if (arg === '-h' || arg === '--help') {
      out.help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = FLAGS[flag];
    if (!key) throw new UsageError(`unknown argument "${arg}"`);
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) value = argv[++i];
    if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`);
    if (key === 'network' && /[/\0]/.test(value)) throw new UsageError(`--network "${value}" cannot be a network name (it is a directory name)`);
    out.given[key] = value;
  }
  return out;
}

/** flag > the network's config > default, for every input. */
export function resolveInputs(given: Partial<Inputs>, facts: NetConfFacts | undefined): Inputs {
  const fromConf: Partial<Inputs> = {
    subnetFile: facts?.subnetFile,
    flannelDataDir: facts?.flannelDataDir,
    ipamDataDir: facts?.ipamDataDir,
    bridge: facts?.bridge,
  };
  const pick = (k: keyof Inputs): string => given[k] ?? fromConf[k] ?? DEFAULTS[k];
  return {
    subnetFile: pick('subnetFile'),
    flannelDataDir: pick('flannelDataDir'),
    ipamDataDir: pick('ipamDataDir'),
    network: pick('network'),
    bridge: pick('bridge'),
    confDir: pick('confDir'),
    binDir: pick('binDir'),
    cacheDir: pick('cacheDir'),
  };
}
