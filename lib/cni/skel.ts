// The dispatcher: CNI env and stdin in, exactly one protocol document out.
// Validation follows the Go skel's order (cni-spec.md §6) so that runtimes see the
// same codes: env (4) → stdin (5/6) → name/type (7) → version (6/1) → verb gates (1).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, Code, errorText, type CniErrorJson } from './errors';
import { selfPath } from '../runtime';
import { mark, now, startRecording } from '../trace';
import { callLogFile, writeCallLog } from '../calllog';
import { netnsProblem } from '../netns';
import type { CmdArgs, NetConf, Result, Verb } from './types';
import { SUPPORTED_VERSIONS, convertResult, parseVersion, versionAtLeast } from './version';

export interface PluginSpec {
  /** Shown on stderr when CNI_COMMAND is unset. */
  about: string;
  add(args: CmdArgs): Promise<Result>;
  del(args: CmdArgs): Promise<void>;
  check(args: CmdArgs): Promise<void>;
  status(args: CmdArgs): Promise<void>;
  gc(args: CmdArgs): Promise<void>;
}

export interface Outcome {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export const MAX_STDIN = 1 << 20;
/**
 * JSON.parse itself copes with any depth, but everything after it recurses
 * (structuredClone, JSON.stringify, flannel's marshalGo) and would die with a
 * RangeError (999) half-way through a verb. Real configs are < 10 levels deep.
 */
export const MAX_JSON_DEPTH = 512;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;
const VERBS: readonly Verb[] = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'];
const REQUIRED_ENV: Partial<Record<Verb, string[]>> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
};

export function validateContainerId(id: string): void {
  if (!NAME_RE.test(id)) throw new CniError(Code.InvalidEnv, `invalid characters in containerID "${id}"`);
}

export function validateIfName(name: string): void {
  let why: string | undefined;
  if (name === '') why = 'is empty';
  else if (Buffer.byteLength(name) > 15) why = 'is longer than 15 bytes';
  else if (name === '.' || name === '..') why = 'is "." or ".."';
  else if (/[/:\s\0]/.test(name)) why = 'contains "/", ":", a NUL or white space';
  if (why) throw new CniError(Code.InvalidEnv, `invalid interface name "${name}": it ${why}`);
}

export function validateNetworkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new CniError(Code.InvalidConfig, 'missing network name: the config needs a "name"');
  if (name.length > 255 || !NAME_RE.test(name)) {
    throw new CniError(Code.InvalidConfig, `invalid characters in network name "${name}": it must match ${NAME_RE.source}`);
  }
}

/** Deepest `[`/`{` nesting of JSON text, counted on the bytes (strings skipped); stops past `limit`. */
export function jsonDepth(buf: Buffer, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte (multi-byte UTF-8 never contains '"' or '\\')
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Parse and validate stdin into a NetConf: codes 6 and 7, then 6/1 for the version. */
export function parseConf(stdin: Buffer, verb?: Verb): NetConf {
  if (stdin.length > MAX_STDIN) throw new CniError(Code.DecodeFailure, `config on stdin is larger than ${MAX_STDIN} bytes`);
  if (jsonDepth(stdin) > MAX_JSON_DEPTH) {
    throw new CniError(Code.DecodeFailure, `failed to decode the network config: JSON on stdin is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let conf: unknown;
  try {
    conf = JSON.parse(stdin.toString('utf8'));
  } catch (err) {
    const what = stdin.length === 0 ? 'stdin is empty' : errorText(err);
    throw new CniError(Code.DecodeFailure, `failed to decode the network config: ${what}`);
  }
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) {
    throw new CniError(Code.DecodeFailure, 'failed to decode the network config: it is not a JSON object');
  }
  const c = conf as Record<string, unknown>;
  validateNetworkName(c.name);
  if (typeof c.type !== 'string' || c.type === '') throw new CniError(Code.InvalidConfig, `network "${c.name}": missing plugin "type"`);
  if ((c.cniVersion === undefined || c.cniVersion === '') && verb === 'DEL') {
    // An attachment made by the reference under a config without cniVersion (which it
    // reads as 0.1.0) must still be deletable after switching plugins, or its IP leaks.
    c.cniVersion = '0.1.0';
  }
  if (c.cniVersion === undefined || c.cniVersion === '') {
    throw new CniError(Code.InvalidConfig, `network "${c.name}": missing "cniVersion" (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  if (typeof c.cniVersion !== 'string') throw new CniError(Code.DecodeFailure, `network "${c.name}": "cniVersion" must be a string`);
  try {
    parseVersion(c.cniVersion);
  } catch (err) {
    throw new CniError(Code.DecodeFailure, `network "${c.name}": "cniVersion": ${errorText(err)}`);
  }
  if (!SUPPORTED_VERSIONS.includes(c.cniVersion)) {
    throw new CniError(Code.IncompatibleVersion, 'incompatible CNI versions', `config is "${c.cniVersion}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`);
  }
  return c as NetConf;
}

function gate(verb: Verb, version: string): void {
  const min = verb === 'CHECK' ? '0.4.0' : verb === 'GC' || verb === 'STATUS' ? '1.1.0' : undefined;
  if (min && !versionAtLeast(version, min)) {
    throw new CniError(Code.IncompatibleVersion, `config version "${version}" does not allow ${verb} (it needs ${min} or later)`);
  }
}

function ownNetns(netnsPath: string): boolean {
  try {
    const a = fs.statSync(netnsPath);
    const b = fs.statSync('/proc/self/ns/net');
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false; // a netns that cannot be opened is the handler's business (DEL must still pass)
  }
}

function versionOutput(stdin: Buffer | undefined): string {
  let echo = '1.1.0';
  try {
    const v = stdin && stdin.length ? (JSON.parse(stdin.toString('utf8')) as { cniVersion?: unknown }).cniVersion : undefined;
    if (typeof v === 'string' && SUPPORTED_VERSIONS.includes(v)) echo = v;
  } catch {
    // VERSION never fails on what stdin says.
  }
  return JSON.stringify({ cniVersion: echo, supportedVersions: SUPPORTED_VERSIONS }) + '\n';
}

/** The whole protocol as a function: env + stdin in, stdout/exit code out. */
export async function dispatch(spec: PluginSpec, env: NodeJS.ProcessEnv, readStdin: () => Buffer): Promise<Outcome> {
  const t0 = now();
  const seen: Seen = {};
  const outcome = await dispatchCall(spec, env, readStdin, seen);
  const file = seen.conf ? callLogFile(seen.conf, env) : env.CNI_COMMAND && env.CNI_COMMAND !== 'VERSION' ? callLogFile(undefined, env) : undefined;
  if (file) {
    let error: CniErrorJson | undefined;
    if (outcome.exitCode !== 0) {
      try {
        error = JSON.parse(outcome.stdout) as CniErrorJson;
      } catch {
        error = { code: Code.Internal, msg: outcome.stdout.trim() };
      }
    }
    writeCallLog(
      file,
      {
        plugin: typeof seen.conf?.type === 'string' ? seen.conf.type : 'unknown',
        verb: env.CNI_COMMAND ?? '',
        network: seen.conf?.name,
        cniVersion: seen.conf?.cniVersion,
        containerId: env.CNI_CONTAINERID || undefined,
        ifName: env.CNI_IFNAME || undefined,
        netns: env.CNI_NETNS || undefined,
        ips: seen.result?.ips?.map((ip) => ip.address),
        error,
      },
      t0,
    );
  }
  return outcome;
}

/** What a call got as far as knowing, for the call log. */
interface Seen {
  conf?: NetConf;
  result?: Result;
}

async function dispatchCall(spec: PluginSpec, env: NodeJS.ProcessEnv, readStdin: () => Buffer, seen: Seen): Promise<Outcome> {
  const command = env.CNI_COMMAND;
  if (command === undefined || command === '') {
    // A person gets the about text; a runtime (reading stdout) gets a proper code-4 error.
    const err = new CniError(Code.InvalidEnv, 'required env variables [CNI_COMMAND] missing');
    return {
      stdout: JSON.stringify(err.toJSON()) + '\n',
      stderr: `${spec.about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`,
      exitCode: 1,
    };
  }
  let cniVersion: string | undefined;
  try {
    if (command === 'VERSION') {
      let stdin: Buffer | undefined;
      try {
        stdin = readStdin();
      } catch {
        stdin = undefined;
      }
      return { stdout: versionOutput(stdin), stderr: '', exitCode: 0 };
    }
    const verb = VERBS.includes(command as Verb) ? (command as Verb) : undefined;
    const missing = (verb ? (REQUIRED_ENV[verb] ?? []) : []).filter((k) => !env[k]);
    if (missing.length) throw new CniError(Code.InvalidEnv, `required env variables [${missing.join(',')}] missing`);
    const perAttachment = verb === 'ADD' || verb === 'DEL' || verb === 'CHECK';
    if (perAttachment) {
      validateContainerId(env.CNI_CONTAINERID!);
      validateIfName(env.CNI_IFNAME!);
    }
    let stdin: Buffer;
    try {
      stdin = readStdin();
    } catch (err) {
      if (isCniError(err)) throw err;
      throw new CniError(Code.IOFailure, `failed to read the config from stdin: ${safeText(err)}`);
    }
    const conf = parseConf(stdin, verb);
    seen.conf = conf;
    if (callLogFile(conf, env)) startRecording();
    mark(`${command}: config parsed`);
    cniVersion = conf.cniVersion;
    if (!verb) throw new CniError(Code.InvalidEnv, `unknown CNI_COMMAND: ${command}`);
    gate(verb, conf.cniVersion);
    const netns = env.CNI_NETNS ?? '';
    if ((verb === 'ADD' || verb === 'CHECK') && ownNetns(netns) && !/^(1|true)$/i.test(env.CNI_NETNS_OVERRIDE ?? '')) {
      throw new CniError(Code.InvalidEnv, `CNI_NETNS "${netns}" is the plugin's own network namespace`);
    }
    // A FIFO, a regular file, a directory...: refused before the handler creates anything
    // (and without blocking: see lib/netns.ts). DEL is not checked: it must still release
    // what lives outside the namespace, and the handler treats a non-namespace as gone.
    const notNetns = verb === 'ADD' || verb === 'CHECK' ? netnsProblem(netns) : undefined;
    if (notNetns) throw new CniError(Code.InvalidEnv, notNetns);
    const args: CmdArgs = {
      command: verb,
      containerId: perAttachment ? env.CNI_CONTAINERID! : (env.CNI_CONTAINERID ?? ''),
      netns: perAttachment ? netns : '',
      ifName: perAttachment ? env.CNI_IFNAME! : (env.CNI_IFNAME ?? ''),
      args: env.CNI_ARGS ?? '',
      path: splitPath(env.CNI_PATH),
      stdin,
      conf,
    };
    if (verb === 'ADD') {
      const result = await spec.add(args);
      seen.result = result;
      mark('ADD: handler done');
      return { stdout: JSON.stringify(convertResult(result, conf.cniVersion), null, 2) + '\n', stderr: '', exitCode: 0 };
    }
    const handlers: Record<Exclude<Verb, 'ADD' | 'VERSION'>, (a: CmdArgs) => Promise<void>> = {
      DEL: (a) => spec.del(a),
      CHECK: (a) => spec.check(a),
      GC: (a) => spec.gc(a),
      STATUS: (a) => spec.status(a),
    };
    await handlers[verb as Exclude<Verb, 'ADD' | 'VERSION'>](args);
    mark(`${verb}: handler done`);
    return { stdout: '', stderr: '', exitCode: 0 };
  } catch (err) {
    const typed = isCniError(err);
    const e = typed ? err : new CniError(Code.Internal, safeText(err), undefined, { cause: err });
    const stderr = typed ? '' : `${safeText(err, true)}\n`;
    return { stdout: JSON.stringify(e.toJSON(cniVersion)) + '\n', stderr, exitCode: 1 };
  }
}

// Even instanceof can throw (a Proxy's getPrototypeOf trap); a handler may throw anything.
function isCniError(err: unknown): err is CniError {
  try {
    return err instanceof CniError;
  } catch {
    return false;
  }
}

/** errorText that cannot throw: a handler may throw anything, even an object without toString. */
function safeText(err: unknown, stack = false): string {
  try {
    const s = stack ? (err as Error)?.stack : undefined;
    return typeof s === 'string' ? s : errorText(err);
  } catch {
    return 'the plugin threw a value that cannot be printed';
  }
}

/** CNI_PATH, or (for a person running a plugin by hand) the directory this executable lives in. */
export function splitPath(cniPath: string | undefined): string[] {
  if (cniPath) return cniPath.split(':').filter(Boolean);
  return [path.dirname(selfPath())];
}

/** Read all of stdin synchronously, refusing more than MAX_STDIN without buffering it whole. */
export function readStdinSync(): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A non-blocking stdin with nothing in it yet: wait instead of spinning a core.
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      if (code === 'EOF' || code === 'EBADF') break; // stdin closed or absent: treat as empty
      throw err;
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_STDIN) throw new CniError(Code.DecodeFailure, `config on stdin is larger than ${MAX_STDIN} bytes`);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

/**
 * Write all of `text`, looping over partial writes and EAGAIN (a runtime may hand us
 * a non-blocking pipe; a single write can then take less than everything, and under
 * load the pipe can be momentarily full). False when the fd is unusable.
 */
export function writeAll(fd: number, text: string): boolean {
  const buf = Buffer.from(text);
  for (let off = 0, spins = 0; off < buf.length; ) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++spins > 5000) return false;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
  return true;
}

/** Entry point of an executable: run, print, exit. */
export async function runPlugin(spec: PluginSpec): Promise<void> {
  mark('modules loaded');
  const command = process.env.CNI_COMMAND;
  // VERSION must never hang on a stdin that nobody closes (a terminal, an idle pipe).
  const read = command === 'VERSION' && !stdinIsFinite() ? () => Buffer.alloc(0) : readStdinSync;
  let outcome: Outcome;
  try {
    outcome = await dispatch(spec, process.env, read);
  } catch (err) {
    outcome = { stdout: JSON.stringify(new CniError(Code.Internal, errorText(err)).toJSON()) + '\n', stderr: '', exitCode: 1 };
  }
  writeAll(2, outcome.stderr);
  // If stdout cannot be written the runtime would read success from exit 0 with no
  // result: fail instead.
  if (!writeAll(1, outcome.stdout) && outcome.exitCode === 0) outcome.exitCode = 1;
  // Exit now: a stray handle (an unreferenced socket, a timer) must not keep the runtime waiting.
  process.exit(outcome.exitCode);
}

function stdinIsFinite(): boolean {
  try {
    return fs.fstatSync(0).isFile();
  } catch {
    return false;
  }
}
