// The dispatcher: CNI env and stdin in, exactly one protocol document out.
// Validation follows the Go skel's order (github.com/containernetworking/cni pkg/skel) so that runtimes see the
// same codes: env (4) → stdin (5/6) → name/type (7) → version (6/1) → verb gates (1).
import * as path from 'node:path';
import { CniError, Code, errorText, type CniErrorJson } from './errors';
import { selfPath } from '../runtime';
import { mark, now, startRecording } from '../trace';
import { log } from '../log';
import { callLogFile, writeCallLog } from '../calllog';
import { isOwnNetns, netnsTypeProblem, onStranded } from '../netns';
import type { CmdArgs, NetConf, Result, Verb } from './types';
import { SUPPORTED_VERSIONS, convertResult, versionAtLeast } from './version';
import { checkConf, parseConf, validateContainerId, validateIfName } from './conf';
import { readStdinSync, writeAll } from './stdio';
import { versionOutput } from './version-verb';

/**
 * A plugin's verbs. Synchronous from start to end: every kernel, file and process call
 * of a plugin is, so no event loop runs and a plugin of this build can be called from
 * another in the same process as a plain function (callInProcess).
 */
export interface PluginSpec {
  /** Shown on stderr when CNI_COMMAND is unset. */
  about: string;
  add(args: CmdArgs): Result;
  del(args: CmdArgs): void;
  check(args: CmdArgs): void;
  status(args: CmdArgs): void;
  gc(args: CmdArgs): void;
}

export interface Outcome {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const VERBS: readonly Verb[] = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'];
// CNI_PATH as the Go skel requires it: a runtime that forgot it is misconfigured and
// must hear so. STATUS and GC keep the spec's "optional" (no attachment is at stake,
// and a failing STATUS marks the whole node NotReady); they fall back to our own dir.
const REQUIRED_ENV: Partial<Record<Verb, string[]>> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
};

function gate(verb: Verb, version: string): void {
  const min = verb === 'CHECK' ? '0.4.0' : verb === 'GC' || verb === 'STATUS' ? '1.1.0' : undefined;
  if (min && !versionAtLeast(version, min)) {
    throw new CniError(Code.IncompatibleVersion, `config version "${version}" does not allow ${verb} (it needs ${min} or later)`);
  }
}


/** The whole protocol as a function: env + stdin in, stdout/exit code out. */
export function dispatch(spec: PluginSpec, env: NodeJS.ProcessEnv, readStdin: () => Buffer): Outcome {
  const t0 = now();
  const seen: Seen = {};
  const outcome = dispatchCall(spec, env, readStdin, seen);
  let error: CniErrorJson | undefined;
  if (outcome.exitCode !== 0) {
    try {
      error = JSON.parse(outcome.stdout) as CniErrorJson;
    } catch {
      error = { code: Code.Internal, msg: outcome.stdout.trim() };
    }
  }
  const verb = env.CNI_COMMAND ?? '';
  if (seen.conf || (verb && verb !== 'VERSION')) recordCall(seen.conf, env, verb, seen.result, error, t0);
  return outcome;
}

/** One line of the call log, when it is on (the config's `callLog`, else CNI_CALL_LOG). */
function recordCall(conf: NetConf | undefined, env: NodeJS.ProcessEnv, verb: string, result: Result | undefined, error: CniErrorJson | undefined, t0: number): void {
  const file = callLogFile(conf, env);
  if (!file) return;
  writeCallLog(
    file,
    {
      plugin: typeof conf?.type === 'string' ? conf.type : 'unknown',
      verb,
      network: conf?.name,
      cniVersion: conf?.cniVersion,
      containerId: env.CNI_CONTAINERID || undefined,
      ifName: env.CNI_IFNAME || undefined,
      netns: env.CNI_NETNS || undefined,
      ips: result?.ips?.map((ip) => ip.address),
      error,
    },
    t0,
  );
}

/**
 * A delegate of this very build, called in this process as the spec's own function
 * (no second start, no environment or JSON round trip, the result stays typed). `args`
 * carries the caller's validated attachment and the delegate's config; that config is
 * checked as the dispatcher checks stdin, and the verb gate applies. The delegate's
 * errors propagate unchanged, as an executed delegate's would, and it gets its own
 * line in the call log.
 */
export function callInProcess(spec: PluginSpec, verb: Exclude<Verb, 'VERSION'>, args: CmdArgs, env: NodeJS.ProcessEnv = process.env): Result | undefined {
  const t0 = now();
  const conf = args.conf;
  mark(`${verb}: ${conf.type} in this process`);
  const callEnv = { ...env, CNI_COMMAND: verb, CNI_CONTAINERID: args.containerId, CNI_NETNS: args.netns, CNI_IFNAME: args.ifName };
  let result: Result | undefined;
  try {
    checkConf(conf as Record<string, unknown>, verb);
    gate(verb, conf.cniVersion);
    const call = { ...args, command: verb };
    if (verb === 'ADD') result = spec.add(call);
    else ({ DEL: spec.del, CHECK: spec.check, GC: spec.gc, STATUS: spec.status } as const)[verb].call(spec, call);
    recordCall(conf, callEnv, verb, result, undefined, t0);
    return result;
  } catch (err) {
    const e = isCniError(err) ? err : new CniError(Code.Internal, safeText(err), undefined, { cause: err });
    recordCall(conf, callEnv, verb, undefined, e.toJSON(conf.cniVersion), t0);
    throw e;
  }
}

/** What a call got as far as knowing, for the call log. */
interface Seen {
  conf?: NetConf;
  result?: Result;
}

function dispatchCall(spec: PluginSpec, env: NodeJS.ProcessEnv, readStdin: () => Buffer, seen: Seen): Outcome {
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
    if ((verb === 'ADD' || verb === 'CHECK') && isOwnNetns(netns) && !/^(1|true)$/i.test(env.CNI_NETNS_OVERRIDE ?? '')) {
      throw new CniError(Code.InvalidEnv, `CNI_NETNS "${netns}" is the plugin's own network namespace`);
    }
    // A FIFO, a directory, a socket...: refused by its type before the handler creates
    // anything (and without blocking or entering it: lib/netns.ts); the handler's one
    // visit proves the rest. DEL is not checked: it must still release what lives outside
    // the namespace, and the handler treats a non-namespace as gone.
    const notNetns = verb === 'ADD' || verb === 'CHECK' ? netnsTypeProblem(netns) : undefined;
    if (notNetns) throw new CniError(Code.InvalidEnv, `CNI_NETNS ${notNetns}`);
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
      const result = spec.add(args);
      seen.result = result;
      mark('ADD: handler done');
      let converted: Record<string, unknown>;
      try {
        converted = convertResult(result, conf.cniVersion);
      } catch (err) {
        // The attachment exists but cannot be described in this version (a result with
        // no IP in 0.1.0/0.2.0): an ADD that fails must leave nothing, so undo it here.
        try {
          spec.del(args);
        } catch (delErr) {
          log.warn(`undoing the ADD whose result could not be converted failed too: ${safeText(delErr)}`);
        }
        throw err;
      }
      return { stdout: JSON.stringify(converted, null, 2) + '\n', stderr: '', exitCode: 0 };
    }
    const handlers: Record<Exclude<Verb, 'ADD' | 'VERSION'>, (a: CmdArgs) => void> = {
      DEL: (a) => spec.del(a),
      CHECK: (a) => spec.check(a),
      GC: (a) => spec.gc(a),
      STATUS: (a) => spec.status(a),
    };
    handlers[verb as Exclude<Verb, 'ADD' | 'VERSION'>](args);
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

/** CNI_PATH, or (STATUS and GC without one) the directory this executable lives in. */
export function splitPath(cniPath: string | undefined): string[] {
  if (cniPath) return cniPath.split(':').filter(Boolean);
  return [path.dirname(selfPath())];
}

/** Entry point of an executable: run, print, exit. */
export function runPlugin(spec: PluginSpec): void {
  mark('modules loaded');
  // Stranded in a pod netns, the process ends at once; the runtime still gets its one document.
  onStranded((msg) => {
    writeAll(1, `${JSON.stringify(new CniError(Code.Internal, msg).toJSON())}\n`);
    writeAll(2, `fatal: ${msg}\n`);
  });
  // VERSION never gets here: the executables answer it before loading a plugin (version-verb.ts).
  let outcome: Outcome;
  try {
    outcome = dispatch(spec, process.env, readStdinSync);
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
