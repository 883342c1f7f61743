// The dispatcher: CNI env and stdin in, exactly one protocol document out.
// Validation follows the Go skel's order (cni-spec.md §6) so that runtimes see the
// same codes: env (4) → stdin (5/6) → name/type (7) → version (6/1) → verb gates (1).
import * as path from 'node:path';
import { CniError, Code, errorText, type CniErrorJson } from './errors';
import { selfPath } from '../runtime';
import { mark, now, startRecording } from '../trace';
import { log } from '../log';
import { callLogFile, writeCallLog } from '../calllog';
import { isOwnNetns, netnsProblem } from '../netns';
import type { CmdArgs, NetConf, Result, Verb } from './types';
import { SUPPORTED_VERSIONS, convertResult, versionAtLeast } from './version';
import { parseConf, validateContainerId, validateIfName } from './conf';
import { readStdinSync, stdinIsFinite, writeAll } from './stdio';

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
    if ((verb === 'ADD' || verb === 'CHECK') && isOwnNetns(netns) && !/^(1|true)$/i.test(env.CNI_NETNS_OVERRIDE ?? '')) {
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
      let converted: Record<string, unknown>;
      try {
        converted = convertResult(result, conf.cniVersion);
      } catch (err) {
        // The attachment exists but cannot be described in this version (a result with
        // no IP in 0.1.0/0.2.0): an ADD that fails must leave nothing, so undo it here.
        try {
          await spec.del(args);
        } catch (delErr) {
          log.warn(`undoing the ADD whose result could not be converted failed too: ${safeText(delErr)}`);
        }
        throw err;
      }
      return { stdout: JSON.stringify(converted, null, 2) + '\n', stderr: '', exitCode: 0 };
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

/** CNI_PATH, or (STATUS and GC without one) the directory this executable lives in. */
export function splitPath(cniPath: string | undefined): string[] {
  if (cniPath) return cniPath.split(':').filter(Boolean);
  return [path.dirname(selfPath())];
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
