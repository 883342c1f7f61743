// The network's config as libcni finds it (LoadConfList): first the `.conflist` files
// of confDir in name order, the first whose "name" matches; then single `.conf` /
// `.json` configs, which libcni turns into a list of one. Doctor needs only a few
// fields of the first flannel or bridge plugin in it: where state lives and whether
// the network asks for hairpin mode. Files are listed and read as cnictl's own
// discovery does (../conf.ts): one that is not a regular file is passed over.
import { errorText } from '../../../lib/cni/errors';
import { confFiles, negotiateVersion, readFound, type OnSkip } from '../conf';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** What doctor takes from the network's config; each field only when the config sets it. */
export interface NetConfFacts {
  file: string;
  /** "flannel", "bridge", or the first plugin's type when neither is in the list */
  pluginType: string;
  hairpinMode: boolean;
  /** the version a runtime speaks to the network; '' when none is named or it is unusable */
  cniVersion?: string;
  subnetFile?: string;
  flannelDataDir?: string;
  ipamDataDir?: string;
  bridge?: string;
}

/**
 * The first flannel or bridge plugin of a config file (a list or a single config), with
 * the list's name and cniVersion injected as libcni injects them; pure.
 */
export function mainPlugin(conf: Obj): Obj {
  const plugins = Array.isArray(conf.plugins) ? conf.plugins.filter(isObj) : [conf];
  const main = plugins.find((p) => p.type === 'flannel' || p.type === 'bridge') ?? plugins[0] ?? {};
  return { ...main, name: conf.name, cniVersion: conf.cniVersion };
}

function versionOf(conf: Obj): string {
  try {
    const versions = Array.isArray(conf.cniVersions) ? conf.cniVersions.filter((v): v is string => typeof v === 'string') : undefined;
    return negotiateVersion(str(conf.cniVersion), versions);
  } catch {
    return '';
  }
}

/** The facts of one parsed config file (a list or a single config); pure. */
export function factsOf(file: string, conf: Obj): NetConfFacts {
  const main = mainPlugin(conf);
  const type = str(main.type) ?? '';
  const facts: NetConfFacts = { file, pluginType: type, hairpinMode: false, cniVersion: versionOf(conf) };
  const ipamDir = (ipam: unknown): string | undefined => (isObj(ipam) ? str(ipam.dataDir) : undefined);
  if (type === 'flannel') {
    const delegate = isObj(main.delegate) ? main.delegate : {};
    facts.hairpinMode = delegate.hairpinMode === true;
    facts.subnetFile = str(main.subnetFile);
    facts.flannelDataDir = str(main.dataDir);
    // flannel builds the delegate's ipam from its own "ipam" (a delegate "ipam" is refused)
    facts.ipamDataDir = ipamDir(main.ipam);
    facts.bridge = str(delegate.bridge);
  } else if (type === 'bridge') {
    facts.hairpinMode = main.hairpinMode === true;
    facts.ipamDataDir = ipamDir(main.ipam);
    facts.bridge = str(main.bridge);
  }
  return facts;
}

export type LoadedNetConf =
  /** plugin: mainPlugin() of the file, as the plugin receives it */
  | { state: 'ok'; facts: NetConfFacts; plugin: Obj }
  | { state: 'missing' }
  | { state: 'error'; message: string; file?: string };

/** A file libcni cannot load: it stops the search there, and so does the runtime. */
function unloadable(file: string, conf: unknown): string | undefined {
  if (!isObj(conf)) return 'not a JSON object';
  if (file.endsWith('.conflist')) {
    if (typeof conf.name !== 'string' || conf.name === '') return 'no "name"';
    if (!Array.isArray(conf.plugins) || conf.plugins.length === 0) return 'no "plugins"';
  } else if (typeof conf.type !== 'string' || conf.type === '') return 'no "type"';
  return undefined;
}

/**
 * The config of `network` in `dir`. As in libcni's LoadConfList, a file that cannot
 * be loaded ends the search with an error: the runtime fails the same way. A file that
 * is not a regular file is passed over (onSkip), where libcni would hang on it.
 */
export function loadNetConf(dir: string, network: string, onSkip?: OnSkip): LoadedNetConf {
  let lists: string[];
  let singles: string[];
  try {
    // an absent directory lists as empty
    lists = confFiles(dir, ['.conflist']);
    singles = confFiles(dir, ['.conf', '.json']);
  } catch (err) {
    return { state: 'error', message: errorText(err) };
  }
  for (const file of [...lists, ...singles]) {
    let conf: unknown;
    let why: string | undefined;
    try {
      const bytes = readFound(file, onSkip);
      if (!bytes) continue;
      conf = JSON.parse(bytes.toString('utf8'));
      why = unloadable(file, conf);
    } catch (err) {
      why = err instanceof SyntaxError ? `not valid JSON (${err.message})` : errorText(err);
    }
    if (why) return { state: 'error', file, message: `${file} cannot be loaded (${why}): libcni stops at it, so the runtime fails to load network "${network}" too` };
    if ((conf as Obj).name === network) return { state: 'ok', facts: factsOf(file, conf as Obj), plugin: mainPlugin(conf as Obj) };
  }
  return { state: 'missing' };
}
