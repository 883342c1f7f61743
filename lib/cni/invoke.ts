// Delegation (https://github.com/containernetworking/cni/blob/main/SPEC.md#delegated-plugins-ipam):
// find `type` in CNI_PATH, exec it with the caller's environment and CNI_COMMAND
// overridden, config on stdin. With lib/exec.ts the only place that starts processes;
// always an argv array, never a shell. A delegate of this very build is not executed:
// resolveDelegate hands its spec to the caller, which calls it (lib/cni/skel.callInProcess).
import * as fs from 'node:fs';
import { sleepSync } from '../time';
import * as path from 'node:path';
import { CniError, Code } from './errors';
import type { Verb } from './types';
import type { PluginSpec } from './skel';
import { isStandalone, sameFile } from '../runtime';
import { mark } from '../trace';
import { childProcess } from '../exec';

// Absent when running from source, which always execs (lib/build-defines.d.ts).
const BUILD_ID = typeof __CNI_BUILD_ID__ === 'string' ? __CNI_BUILD_ID__ : undefined;

const inProcess = new Map<string, () => PluginSpec>();

/**
 * Let `type` run inside this process when the executable CNI_PATH resolves it to is
 * a sibling from this very build: a second Node start costs more than the plugin's
 * whole work. Any other binary by that name (the reference bridge, an older build of
 * ours) is executed as usual. `load` runs only when the delegate is this build.
 */
export function registerInProcess(type: string, load: () => PluginSpec): void {
  inProcess.set(type, load);
}

function isThisBuild(file: string): boolean {
  // The standalone executable is one file that is both plugins: the same file is this build.
  if (isStandalone()) return sameFile(file, process.execPath);
  if (!BUILD_ID) return false;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(256);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n).toString('latin1').includes(`build ${BUILD_ID}`);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * A plugin `type` is joined under each CNI_PATH dir, so it must be one plain file name.
 * The one rule for every place that takes a type (findInPath here, flannel's
 * delegate.type at parse time and in a saved config), so they can never disagree.
 */
export function isPlainPluginName(type: string): boolean {
  return type !== '' && type !== '.' && type !== '..' && !type.includes('/') && !type.includes('\\') && !type.includes('\0');
}

/** First `<dir>/<type>` that is a regular file (symlinks followed), as libcni does. */
export function findInPath(type: string, dirs: string[]): string {
  if (!isPlainPluginName(type)) {
    throw new CniError(Code.InvalidConfig, `invalid plugin type "${type}": it must be a plain file name`);
  }
  for (const dir of dirs) {
    // A relative CNI_PATH entry would resolve against whatever directory we were started in.
    if (!path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, type);
    try {
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  throw new CniError(Code.InvalidConfig, `failed to find plugin "${type}" in path [${dirs.join(' ')}]`);
}

export interface DelegateOptions {
  path: string[];
  env?: NodeJS.ProcessEnv;
  /** Kill the plugin (SIGKILL) after this long, as a runtime's deadline does. Exec only. */
  timeoutMs?: number;
}

/** A delegate found in CNI_PATH: its file, and our own plugin when it may run in this process. */
export interface DelegateTarget {
  type: string;
  file: string;
  /**
   * Set when the file is this very build: the plugin then runs in this process, and a
   * failed ADD of ours has undone exactly what it created before it returns.
   */
  local?: PluginSpec;
}

export function resolveDelegate(type: string, dirs: string[]): DelegateTarget {
  const file = findInPath(type, dirs);
  const local = inProcess.get(type);
  return local && isThisBuild(file) ? { type, file, local: local() } : { type, file };
}

/**
 * Execute a delegate plugin. Returns the parsed stdout for ADD (and undefined for the
 * other verbs); a failing delegate's error is rethrown with its own code, message
 * and details so the runtime sees exactly what the delegate said.
 */
export function delegate(verb: Verb, plugin: string | Pick<DelegateTarget, 'type' | 'file'>, stdin: Buffer | string, opts: DelegateOptions): unknown {
  const { type, file } = typeof plugin === 'string' ? { type: plugin, file: findInPath(plugin, opts.path) } : plugin;
  const env = { ...(opts.env ?? process.env), CNI_COMMAND: verb };
  mark(`${verb}: delegating to ${type}`);
  const spawnOpts = { input: stdin, env, maxBuffer: 16 << 20, ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}) };
  let res = childProcess().spawnSync(file, [], spawnOpts);
  // A binary being replaced under us (an upgrade copying into /opt/cni/bin) fails with
  // ETXTBSY for a moment; the Go invoke retries the same way.
  for (let i = 0; i < 5 && (res.error as NodeJS.ErrnoException | undefined)?.code === 'ETXTBSY'; i++) {
    sleepSync(200);
    res = childProcess().spawnSync(file, [], spawnOpts);
  }
  if (res.stderr?.length) process.stderr.write(res.stderr);
  // A plugin may exit without reading its stdin (failing early, or not needing it); the
  // broken pipe is then ours, not an error of the plugin, and its own answer still counts.
  const errCode = (res.error as NodeJS.ErrnoException | undefined)?.code;
  if (errCode === 'ETIMEDOUT') {
    throw new CniError(Code.Internal, `plugin "${type}" did not finish ${verb} within ${opts.timeoutMs! / 1000} s and was killed`);
  }
  const epipe = errCode === 'EPIPE' && (res.status !== null || res.signal !== null);
  if (res.error && !epipe) throw new CniError(Code.Internal, `failed to run plugin "${file}": ${res.error.message}`);
  const failed = res.status !== 0 ? (res.signal ? `killed by ${res.signal}` : `exit status ${res.status}`) : undefined;
  return handleOutput(type, verb, res.stdout.toString('utf8'), failed, res.stderr.toString('utf8'));
}

/** A delegate's stdout: its result for ADD, its own error rethrown as is when it failed. */
function handleOutput(type: string, verb: Verb, stdout: string, failed: string | undefined, stderr: string): unknown {
  const out = stdout.trim();
  if (failed) {
    let parsed: { code?: unknown; msg?: unknown; details?: unknown } | undefined;
    try {
      parsed = out ? JSON.parse(out) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed && typeof parsed.code === 'number' && typeof parsed.msg === 'string') {
      throw new CniError(parsed.code, parsed.msg, typeof parsed.details === 'string' ? parsed.details : undefined);
    }
    const text = out || stderr.trim();
    throw new CniError(Code.Internal, `plugin "${type}" failed (${failed})${text ? `: ${text}` : ' with no error message'}`);
  }
  if (verb !== 'ADD') return undefined;
  try {
    return JSON.parse(out);
  } catch {
    throw new CniError(Code.DecodeFailure, `plugin "${type}" printed a result that is not JSON: ${out.slice(0, 200)}`);
  }
}
