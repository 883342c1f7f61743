// The flannel verbs. Each one: flannel config → (subnet.env) → delegate config → the
// delegate (bridge by default): our own bridge of this build is called in this process,
// any other is executed. The saved config in dataDir ties an ADD to its DEL and CHECK,
// so those never depend on flanneld being up.
import { CniError, Code, Failures, errorText, wrapError } from '../../lib/cni/errors';
import { delegate, resolveDelegate, type DelegateOptions, type DelegateTarget } from '../../lib/cni/invoke';
import { callInProcess, type PluginSpec } from '../../lib/cni/skel';
import type { CmdArgs, NetConf, Result } from '../../lib/cni/types';
import { convertResult, parseResult, versionAtLeast } from '../../lib/cni/version';
import { log } from '../../lib/log';
import { LEGACY_ATTACHMENTS_KEY as LEGACY_VALID_KEY, VALID_ATTACHMENTS_KEY as VALID_KEY, validAttachments } from '../../lib/cni/gc';
import { buildDelegateConf, type DelegateConf, parseFlannelConf, parsePaths, parseSavedConf, withKeys, type JsonObject, type SavedConf } from './delegate';
import { isTempOf, listScratch, readScratch, removeScratch, removeTemp, saveScratch, scratchPath } from './scratch';
import { readSubnetEnv, type SubnetEnv } from './subnet-env';

// A temp file this old cannot belong to a write in progress: it is a crash leftover.
const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * The delegate sees the caller's environment with only CNI_COMMAND changed
 * (https://github.com/containernetworking/cni/blob/main/SPEC.md#delegated-plugin-protocol).
 * The CNI_* values are taken from what the dispatcher validated, which is the same
 * environment in production and keeps an in-process dispatch self-contained.
 */
function delegateOpts(cmd: CmdArgs): DelegateOptions {
  return {
    path: cmd.path,
    env: {
      ...process.env,
      CNI_CONTAINERID: cmd.containerId,
      CNI_NETNS: cmd.netns,
      CNI_IFNAME: cmd.ifName,
      CNI_ARGS: cmd.args,
      CNI_PATH: cmd.path.join(':'),
    },
  };
}

function atLeast(version: string, min: string): boolean {
  try {
    return versionAtLeast(version, min);
  } catch {
    return false; // an unparsable version in a saved file: treat it as too old
  }
}

/**
 * The delegate's stdin for DEL/CHECK: the given config plus flannel's prevResult
 * (spec ≥0.4.0 passes one), in the version the config declares. Without a usable
 * prevResult, the exact bytes.
 */
function withPrevResult(target: Rendered, conf: NetConf, verb: 'DEL' | 'CHECK'): Rendered {
  const prev = conf.prevResult;
  if (prev === undefined || prev === null || !atLeast(conf.cniVersion, '0.4.0')) return target;
  const to = typeof target.config.cniVersion === 'string' ? target.config.cniVersion : '';
  if (to === conf.cniVersion) return { type: target.type, ...withKeys(target.config, { prevResult: prev }) };
  // The config was upgraded between ADD and now: the delegate reads prevResult in the
  // saved config's version, so convert it (or leave it out where that version has none).
  if (!atLeast(to, '0.4.0')) return target;
  try {
    return { type: target.type, ...withKeys(target.config, { prevResult: convertResult(parseResult(prev, conf.cniVersion), to) }) };
  } catch (err) {
    const why = `cannot convert prevResult from ${conf.cniVersion} to the saved config's ${to}`;
    if (verb === 'CHECK') throw wrapError(err, why);
    log.warn(`${why} (${errorText(err)}); running DEL without it`);
    return target;
  }
}

/** A delegate config: its plugin type, the object, and the exact bytes saved and executed. */
type Rendered = { type: string; config: JsonObject; bytes: Buffer };

/**
 * Run the delegate for `verb`. Our own bridge of this build is a function call in this
 * process, with the rendered config as an object and the result typed; any other
 * delegate is executed with the bytes on stdin, as the reference flannel does.
 */
function runDelegate(verb: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC', d: Rendered, cmd: CmdArgs, target: DelegateTarget = resolveDelegate(d.type, cmd.path)): Result | undefined {
  if (target.local) return callInProcess(target.local, verb, { ...cmd, conf: { ...d.config } as NetConf, stdin: d.bytes });
  const out = delegate(verb, target, d.bytes, delegateOpts(cmd));
  return verb === 'ADD' ? parseResult(out, cmd.conf.cniVersion) : undefined;
}

function add(cmd: CmdArgs): Result {
  const conf = parseFlannelConf(cmd.conf);
  const env = readSubnetEnv(conf.subnetFile);
  const d = buildDelegateConf(conf, env);
  const id = cmd.containerId;
  const target = resolveDelegate(d.type, cmd.path);
  // A saved config already there belongs to an attachment of this container: a live pod
  // whose ADD a runtime retries, or one whose DEL is still due. It is put back if this
  // ADD fails, and then nothing of that attachment may be undone.
  let before: Buffer | undefined | 'unreadable';
  try {
    before = readScratch(conf.dataDir, id);
  } catch {
    before = 'unreadable';
  }
  // Saved before the delegate runs: if we die mid-ADD, the runtime's DEL still finds it.
  try {
    saveScratch(conf.dataDir, id, d.bytes);
  } catch (err) {
    throw wrapError(err, `failed to save the delegate config for container ${id} in ${conf.dataDir}`);
  }
  log.debug(`container ${id}: delegating ADD to ${d.type}: ${d.bytes.toString('utf8')}`);
  try {
    return runDelegate('ADD', d, cmd, target)!;
  } catch (err) {
    undoFailedAdd(conf.dataDir, id, before, !target.local && before === undefined ? () => runDelegate('DEL', d, cmd, target) : undefined);
    throw err;
  }
}

/**
 * After a failed delegate ADD: our own bridge (run in-process) has undone exactly what
 * it created. Any other delegate gets the spec's DEL (https://github.com/containernetworking/cni/blob/main/SPEC.md#delegated-plugin-execution-procedure),
 * but only when no attachment
 * of this container existed before: a DEL would release the live pod's address and
 * remove its interface (the delegate keys them by container and ifname, not by ADD).
 * The saved config goes back to what it was, so the live pod's DEL still finds its own.
 */
function undoFailedAdd(dataDir: string, id: string, before: Buffer | undefined | 'unreadable', delegateDel: (() => unknown) | undefined): void {
  if (delegateDel) {
    try {
      delegateDel();
    } catch (delErr) {
      log.warn(`container ${id}: the delegate's DEL after the failed ADD also failed: ${errorText(delErr)}`);
    }
  }
  try {
    if (before === undefined) removeScratch(dataDir, id); // no scratch file for an attachment that never existed (plugins#426)
    else if (before !== 'unreadable') saveScratch(dataDir, id, before);
  } catch (err) {
    log.warn(`container ${id}: cannot restore ${scratchPath(dataDir, id)}: ${errorText(err)}`);
  }
}

type Loaded = { saved: SavedConf; why?: undefined } | { saved?: undefined; why: string; missing: boolean };

/** The saved config of a container, or why there is none that can be used. */
function loadSaved(dataDir: string, id: string): Loaded {
  const file = scratchPath(dataDir, id);
  let bytes: Buffer | undefined;
  try {
    bytes = readScratch(dataDir, id);
  } catch (err) {
    return { why: `cannot read ${file}: ${errorText(err)}`, missing: false };
  }
  if (!bytes) return { why: `there is no saved delegate config ${file}`, missing: true };
  try {
    return { saved: parseSavedConf(bytes) };
  } catch (err) {
    return { why: `the saved delegate config ${file} is unusable: ${errorText(err)}`, missing: false };
  }
}

/**
 * A SIGKILL between creating the temp file and renaming it leaves `.<id>.tmp-*`
 * behind; the runtime's DEL for that container is the moment to remove it.
 */
function removeOwnTemps(dataDir: string, id: string): void {
  try {
    for (const t of listScratch(dataDir).temps) if (isTempOf(t.name, id)) removeTemp(dataDir, t.name);
  } catch (err) {
    log.warn(`container ${id}: cannot remove leftover temp files in ${dataDir}: ${errorText(err)}`);
  }
}

function del(cmd: CmdArgs): void {
  const { dataDir, subnetFile } = parsePaths(cmd.conf);
  const id = cmd.containerId;
  removeOwnTemps(dataDir, id);
  const loaded = loadSaved(dataDir, id);
  if (loaded.saved) {
    // A failing delegate DEL keeps the file, so the runtime's retry can still release
    // the IP and the veth (the reference deletes it first and leaks: plugins#449).
    runDelegate('DEL', withPrevResult(loaded.saved, cmd.conf, 'DEL'), cmd);
    try {
      removeScratch(dataDir, id);
    } catch (err) {
      // The delegate's work is done; GC removes a leftover file later.
      log.warn(`container ${id}: cannot remove ${scratchPath(dataDir, id)}: ${errorText(err)}`);
    }
    return;
  }
  // No usable saved config (never ADDed, DEL twice, a file lost or torn): rebuild
  // one from the current subnet.env so host-local still releases by id+ifname and
  // bridge still removes the veth, instead of silently leaking them.
  let rebuilt: DelegateConf;
  try {
    rebuilt = buildDelegateConf(parseFlannelConf(cmd.conf), readSubnetEnv(subnetFile));
  } catch (err) {
    log.warn(`container ${id}: ${loaded.why}, and no delegate config can be rebuilt (${errorText(err)}); nothing to release`);
    return;
  }
  log.info(`container ${id}: ${loaded.why}; running ${rebuilt.type} DEL with a config rebuilt from ${subnetFile}`);
  runDelegate('DEL', withPrevResult(rebuilt, cmd.conf, 'DEL'), cmd);
  try {
    removeScratch(dataDir, id); // an unusable file has served its purpose
  } catch (err) {
    log.warn(`container ${id}: cannot remove ${scratchPath(dataDir, id)}: ${errorText(err)}`);
  }
}

function check(cmd: CmdArgs): void {
  const { dataDir } = parsePaths(cmd.conf);
  const id = cmd.containerId;
  const loaded = loadSaved(dataDir, id);
  if (!loaded.saved) {
    throw new CniError(
      Code.Internal,
      loaded.missing ? `no saved delegate config for container ${id} in ${dataDir}; was it added by this plugin?` : `container ${id}: ${loaded.why}`,
    );
  }
  runDelegate('CHECK', withPrevResult(loaded.saved, cmd.conf, 'CHECK'), cmd);
}

function status(cmd: CmdArgs): void {
  const conf = parseFlannelConf(cmd.conf);
  let env: SubnetEnv;
  try {
    env = readSubnetEnv(conf.subnetFile);
  } catch (err) {
    // A malformed file is not "starting up": say how it gets fixed.
    const fix = err instanceof CniError && err.code === Code.InvalidConfig ? '; flanneld rewrites this file when it starts: fix its config and restart it on this node' : '';
    throw new CniError(Code.NotAvailable, `flannel network "${conf.name}" cannot add pods: ${errorText(err)}${fix}`);
  }
  runDelegate('STATUS', buildDelegateConf(conf, env), cmd);
}

/** Container IDs still attached, or undefined when the runtime sent no list at all (the same reading as host-local's GC). */
function validContainerIds(conf: NetConf): Set<string> | undefined {
  const valid = validAttachments(conf);
  return valid ? new Set(valid.attachments.map((a) => a.containerId)) : undefined;
}

function gc(cmd: CmdArgs): void {
  const raw = cmd.conf;
  const { dataDir, subnetFile } = parsePaths(raw);
  const valid = validContainerIds(raw);
  const failures = new Failures();
  let listing: ReturnType<typeof listScratch> = { ids: [], temps: [] };
  try {
    listing = listScratch(dataDir);
  } catch (err) {
    failures.add(err, `cannot list ${dataDir}`);
  }
  // Several flannel networks may share dataDir, and other tools may keep files there:
  // only a delegate config this network saved (it names the network) is ours to judge
  // against this network's attachment list. A torn or foreign file proves nothing.
  const saved = new Map<string, SavedConf | undefined>();
  for (const id of listing.ids) saved.set(id, loadSaved(dataDir, id).saved);
  const ours = (id: string): boolean => saved.get(id)?.config.name === raw.name;

  let target: { type: string; config: JsonObject } | undefined;
  try {
    const conf = parseFlannelConf(raw);
    try {
      target = buildDelegateConf(conf, readSubnetEnv(subnetFile));
    } catch (err) {
      log.warn(`GC: ${errorText(err)}; taking the delegate config from a saved one instead`);
    }
  } catch (err) {
    failures.add(err);
  }
  if (!target) {
    const s = [...saved.values()].find((v): v is SavedConf => !!v && v.config.name === raw.name);
    if (s) {
      // GC carries no runtimeConfig or prevResult (https://github.com/containernetworking/cni/blob/main/SPEC.md#garbage-collecting-a-network),
      // and speaks today's version.
      const { runtimeConfig: _rc, prevResult: _pr, ...rest } = s.config;
      target = { type: s.type, config: { ...rest, cniVersion: raw.cniVersion } };
    }
  }
  if (target) {
    const list = raw[VALID_KEY] !== undefined ? raw[VALID_KEY] : raw[LEGACY_VALID_KEY];
    const extra = list === undefined ? {} : { [VALID_KEY]: list, [LEGACY_VALID_KEY]: list };
    try {
      runDelegate('GC', { type: target.type, ...withKeys(target.config, extra) }, cmd);
    } catch (err) {
      failures.add(err);
    }
  } else {
    log.warn(`GC: no subnet.env and no saved config for network "${raw.name}": GC not forwarded to a delegate`);
  }

  if (valid) {
    for (const id of listing.ids) {
      if (valid.has(id) || !ours(id)) continue;
      try {
        removeScratch(dataDir, id);
        log.info(`GC: removed the saved delegate config of container ${id} (not a valid attachment)`);
      } catch (err) {
        failures.add(err, `cannot remove ${scratchPath(dataDir, id)}`);
      }
    }
  } else {
    log.warn(`GC: the runtime sent no "${VALID_KEY}" list; no saved configs removed`);
  }
  for (const t of listing.temps) {
    if (Date.now() - t.mtimeMs < STALE_TEMP_MS) continue;
    try {
      removeTemp(dataDir, t.name);
    } catch (err) {
      failures.add(err, `cannot remove ${dataDir}/${t.name}`);
    }
  }
  failures.throwIfAny(`flannel GC of network "${raw.name}"`);
}

export const flannelSpec: PluginSpec = {
  about: 'flannel CNI meta-plugin (TypeScript): renders a bridge/host-local config from flanneld subnet.env and delegates to it',
  add,
  del,
  check,
  status,
  gc,
};
