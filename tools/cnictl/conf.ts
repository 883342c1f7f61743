// Finding and reading a network the way libcni does (ConfFiles, LoadConfList in
// https://github.com/containernetworking/cni/blob/main/libcni/conf.go), so
// `cnictl add cbr0 ...` sends the plugins exactly the bytes a runtime would: the list's
// name and negotiated cniVersion injected into each plugin object, runtimeConfig cut
// down to the plugin's capabilities, keys marshalled like Go's map.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MAX_STDIN } from '../../lib/cni/conf';
import { errorText } from '../../lib/cni/errors';
import { compareVersions, parseVersion } from '../../lib/cni/version';
import { marshalGo } from '../../lib/gojson';
import { FileTooLarge, NotRegularFile, readRegularFile } from '../../lib/regular-file';

/** libcni's own spec version: cniVersions entries above it are dropped (libcni `version.Current()`). */
export const MAX_VERSION = '1.1.0';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

export type Json = Record<string, unknown>;

export interface NetworkList {
  name: string;
  /** The negotiated version, injected into every plugin; '' when the config has none (legacy .conf). */
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  /** Plugin objects in list order, as decoded from the file (plus `<dir>/<name>/*.conf`). */
  plugins: Json[];
  /** The bytes libcni caches as `config`: the file as read, or the wrapping list of a single config. */
  bytes: Buffer;
  /** Where it came from, for messages. */
  source: string;
}

const fail = (source: string, msg: string): Error => new Error(`${source}: ${msg}`);

/** A file of the config directory that discovery passed over because it is not a regular file. */
export interface SkippedConf {
  file: string;
  /** what it is: "a FIFO", "a character device"... */
  type: string;
}
export type OnSkip = (s: SkippedConf) => void;

function decode(bytes: Buffer, source: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw fail(source, `not valid JSON: ${errorText(err)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(source, 'not a JSON object');
  return v as Json;
}

/**
 * The version a runtime speaks to this list: the highest of `cniVersion` ∪ `cniVersions`
 * that is not above 1.1.0 (libcni drops newer ones; it would keep a lone newer
 * `cniVersion` and let every plugin refuse it with code 1 — refused here, earlier and
 * with the reason). No version at all gives '' (a legacy .conf, which means 0.1.0).
 */
export function negotiateVersion(cniVersion: string | undefined, cniVersions: readonly string[] | undefined, source = 'config'): string {
  const all = [...(cniVersions ?? []), ...(cniVersion ? [cniVersion] : [])];
  for (const v of all) {
    try {
      parseVersion(v);
    } catch (err) {
      throw fail(source, `invalid version "${v}": ${errorText(err)}`);
    }
  }
  if (all.length === 0) return '';
  const usable = all.filter((v) => compareVersions(v, MAX_VERSION) <= 0);
  if (usable.length === 0) throw fail(source, `no usable cniVersion: ${all.join(', ')} ${all.length === 1 ? 'is' : 'are all'} newer than ${MAX_VERSION}`);
  return usable.reduce((a, b) => (compareVersions(b, a) > 0 ? b : a));
}

// libcni also accepts the strings "true"/"false" (any case) for these.
function readBool(o: Json, key: string, source: string): boolean {
  const v = o[key];
  if (v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw fail(source, `invalid value ${JSON.stringify(v)} for "${key}": expected true or false`);
}

function pluginObject(v: unknown, where: string, source: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(source, `${where} is not a JSON object`);
  const o = v as Json;
  if (o.type === undefined || o.type === '') throw fail(source, `${where}: missing "type"`);
  if (typeof o.type !== 'string') throw fail(source, `${where}: "type" must be a string`);
  return o;
}

function optString(o: Json, key: string, source: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw fail(source, `"${key}" must be a string`);
  return v;
}

/** Plugin objects from `<dir>/<name>/*.conf`, appended after `plugins` unless `loadOnlyInlinedPlugins` (libcni, spec main). */
function pluginsFromDir(dir: string, name: string, onSkip?: OnSkip): Json[] {
  if (!NAME_RE.test(name)) return [];
  const sub = path.join(dir, name);
  return confFiles(sub, ['.conf']).flatMap((file) => {
    const bytes = readFound(file, onSkip);
    return bytes ? [pluginObject(decode(bytes, file), 'the plugin config', file)] : [];
  });
}

/**
 * A conflist's bytes → NetworkList (libcni NetworkConfFromBytes; with `fromFile`, also
 * NetworkConfFromFile's plugins from the file's directory).
 */
export function parseList(bytes: Buffer, source: string, fromFile = true, onSkip?: OnSkip): NetworkList {
  const o = decode(bytes, source);
  if (o.name === undefined) throw fail(source, 'no "name"');
  if (typeof o.name !== 'string') throw fail(source, '"name" must be a string');
  const cniVersion = optString(o, 'cniVersion', source);
  let cniVersions: string[] | undefined;
  if (o.cniVersions !== undefined) {
    if (!Array.isArray(o.cniVersions) || o.cniVersions.some((v) => typeof v !== 'string')) throw fail(source, '"cniVersions" must be a list of strings');
    cniVersions = o.cniVersions as string[];
  }
  const onlyInlined = readBool(o, 'loadOnlyInlinedPlugins', source);
  const list: NetworkList = {
    name: o.name,
    cniVersion: negotiateVersion(cniVersion, cniVersions, source),
    disableCheck: readBool(o, 'disableCheck', source),
    disableGC: readBool(o, 'disableGC', source),
    plugins: [],
    bytes,
    source,
  };
  if (o.plugins === undefined) {
    if (onlyInlined) throw fail(source, '"loadOnlyInlinedPlugins" is true and there is no "plugins" list');
  } else {
    if (!Array.isArray(o.plugins)) throw fail(source, '"plugins" must be a list');
    if (o.plugins.length === 0) throw fail(source, 'no plugins in "plugins"');
    list.plugins = o.plugins.map((p, i) => pluginObject(p, `plugins[${i}]`, source));
  }
  if (fromFile && !onlyInlined) list.plugins.push(...pluginsFromDir(path.dirname(source), list.name, onSkip));
  if (list.plugins.length === 0) throw fail(source, 'no plugin configs found');
  return list;
}

/**
 * A single-plugin .conf → the one-plugin list libcni makes of it (ConfListFromConf):
 * `{"cniVersion","name","plugins":[conf]}` re-marshalled, which is also what it caches.
 */
export function wrapSingle(conf: Json, source: string): NetworkList {
  pluginObject(conf, 'the config', source);
  const name = optString(conf, 'name', source) ?? '';
  const cniVersion = optString(conf, 'cniVersion', source) ?? '';
  return parseList(Buffer.from(marshalGo({ cniVersion, name, plugins: [conf] }), 'utf8'), source, false);
}

/**
 * A config file's bytes: a regular file of at most MAX_STDIN, the most a plugin takes on
 * stdin, read through lib/regular-file.ts (libcni's os.ReadFile would hang on a FIFO
 * and read /dev/zero until memory runs out).
 */
export function readConfFile(file: string): Buffer {
  try {
    return readRegularFile(file, MAX_STDIN);
  } catch (err) {
    if (err instanceof NotRegularFile) throw err;
    if (err instanceof FileTooLarge) throw new Error(`${file} is larger than ${MAX_STDIN} bytes, the most a plugin accepts on stdin`);
    throw new Error(`cannot read ${file}: ${errorText(err)}`);
  }
}

/** A file found by discovery: undefined (and onSkip told) when it is not a regular file, so the search goes on. */
export function readFound(file: string, onSkip?: OnSkip): Buffer | undefined {
  try {
    return readConfFile(file);
  } catch (err) {
    if (!(err instanceof NotRegularFile)) throw err;
    onSkip?.({ file, type: err.type });
    return undefined;
  }
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Files (not directories) of `dir` whose extension is one of `exts`, in Go's sort.Strings order; none when `dir` is absent. */
export function confFiles(dir: string, exts: readonly string[]): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read ${dir}: ${errorText(err)}`);
  }
  return entries
    .filter((e) => !e.isDirectory() && exts.includes(path.extname(e.name)))
    .map((e) => e.name)
    .sort(byBytes)
    .map((n) => path.join(dir, n));
}

/**
 * libcni LoadNetworkConf: the first `*.conflist` (lexicographic) whose name matches, then
 * the first `*.conf`/`*.json`. Every file read on the way must parse: a broken one stops
 * the search with its name, as it stops the runtime. One that is not a regular file
 * (a FIFO, a link to a device) is passed over and reported through onSkip.
 */
export function findNetwork(dir: string, name: string, onSkip?: OnSkip): NetworkList {
  const seen: string[] = [];
  const lists = confFiles(dir, ['.conflist']);
  for (const file of lists) {
    const bytes = readFound(file, onSkip);
    if (!bytes) continue;
    const list = parseList(bytes, file, true, onSkip);
    if (list.name === name) return list;
    seen.push(`${list.name} (${path.basename(file)})`);
  }
  const singles = confFiles(dir, ['.conf', '.json']);
  for (const file of singles) {
    const bytes = readFound(file, onSkip);
    if (!bytes) continue;
    const conf = decode(bytes, file);
    pluginObject(conf, 'the config', file);
    if (conf.name === name) return wrapSingle(conf, file);
    seen.push(`${String(conf.name ?? '')} (${path.basename(file)})`);
  }
  if (seen.length === 0) throw new Error(`no network configs (*.conflist, *.conf, *.json) in ${dir}`);
  throw new Error(`no network named "${name}" in ${dir}; found: ${seen.join(', ')}`);
}

/** `--conf FILE`: a .conflist, or a single .conf/.json (a file holding `plugins` is read as a list whatever its name). */
export function loadFile(file: string): NetworkList {
  const bytes = readConfFile(file);
  if (path.extname(file) === '.conflist') return parseList(bytes, file);
  const o = decode(bytes, file);
  if (Array.isArray(o.plugins) && o.type === undefined) return parseList(bytes, file);
  return wrapSingle(o, file);
}

/**
 * runtimeConfig for one plugin: the capability args whose key the plugin declares with
 * `true` in `capabilities` (libcni injectRuntimeConfig). Keys match exactly and values go
 * through untouched: containerd's PascalCase `HostPort` stays `HostPort`.
 */
export function runtimeConfigFor(capabilities: unknown, capabilityArgs: Json): Json {
  if (typeof capabilities !== 'object' || capabilities === null || Array.isArray(capabilities)) return {};
  const entries = Object.entries(capabilities as Json).filter(([k, on]) => on === true && Object.hasOwn(capabilityArgs, k));
  // fromEntries defines own properties: a capability named "__proto__" stays data.
  return Object.fromEntries(entries.map(([k]) => [k, capabilityArgs[k]]));
}

export interface Injection {
  prevResult?: unknown;
  /** Given for ADD/CHECK/DEL; GC and STATUS get no runtimeConfig. */
  capabilityArgs?: Json;
  /** Extra top-level keys (GC's attachment lists). */
  extra?: Json;
}

/** The stdin of one plugin of the list (libcni buildOneConfig / InjectConf): Go-marshalled bytes. */
export function pluginStdin(plugin: Json, list: NetworkList, inj: Injection = {}): Buffer {
  const conf: Json = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  if (inj.prevResult !== undefined) conf.prevResult = inj.prevResult;
  if (inj.capabilityArgs) {
    const rc = runtimeConfigFor(plugin.capabilities, inj.capabilityArgs);
    // Omitted when empty, and a runtimeConfig written in the file then stays as written.
    if (Object.keys(rc).length > 0) conf.runtimeConfig = rc;
  }
  Object.assign(conf, inj.extra ?? {});
  return Buffer.from(marshalGo(conf), 'utf8');
}

export const pluginType = (plugin: Json): string => plugin.type as string;
