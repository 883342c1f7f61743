// Running one plugin of the list as libcni does: the caller's whole environment plus
// every CNI_* variable set (empty ones included, as libcni sets them for GC and STATUS),
// the built config on stdin. lib/cni/invoke.ts does the work; only a --timeout needs a
// run of our own, because delegate() waits with spawnSync and has no deadline.
import { spawnSync } from 'node:child_process';
import { CniError, Code } from '../../lib/cni/errors';
import { delegate, findInPath } from '../../lib/cni/invoke';
import type { Verb } from '../../lib/cni/types';

export interface Attachment {
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs, joined with ";" in order. */
  args: [string, string][];
}

export interface Runner {
  /** CNI_PATH, in search order. */
  path: string[];
  /** Per plugin call; the plugin is killed (SIGKILL) when it is exceeded, as a runtime's deadline does. */
  timeoutMs?: number;
  /** The environment handed down (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** libcni's invoke.Args as environment: GC and STATUS get empty attachment variables. */
export function pluginEnv(verb: Verb, runner: Runner, att?: Attachment): NodeJS.ProcessEnv {
  return {
    ...(runner.env ?? process.env),
    CNI_COMMAND: verb,
    CNI_CONTAINERID: att?.containerId ?? '',
    CNI_NETNS: att?.netns ?? '',
    CNI_IFNAME: att?.ifName ?? '',
    CNI_ARGS: (att?.args ?? []).map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: runner.path.join(':'),
  };
}

/** Exec `type` with `verb`: the parsed result for ADD, undefined otherwise; a plugin's error as a CniError with its code. */
export async function execPlugin(verb: Verb, type: string, stdin: Buffer, runner: Runner, att?: Attachment): Promise<unknown> {
  const env = pluginEnv(verb, runner, att);
  if (runner.timeoutMs === undefined) return delegate(verb, type, stdin, { path: runner.path, env });
  return execWithTimeout(verb, type, stdin, runner.path, env, runner.timeoutMs);
}

function execWithTimeout(verb: Verb, type: string, stdin: Buffer, dirs: string[], env: NodeJS.ProcessEnv, timeoutMs: number): unknown {
  const file = findInPath(type, dirs);
  const res = spawnSync(file, [], { input: stdin, env, maxBuffer: 16 << 20, timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (res.stderr?.length) process.stderr.write(res.stderr);
  const code = (res.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ETIMEDOUT') {
    throw new CniError(Code.Internal, `plugin "${type}" did not finish ${verb} within ${timeoutMs / 1000} s and was killed (--timeout)`);
  }
  // A plugin that exits without reading stdin leaves us an EPIPE; its own answer still counts.
  if (res.error && !(code === 'EPIPE' && (res.status !== null || res.signal !== null))) {
    throw new CniError(Code.Internal, `failed to run plugin "${file}": ${res.error.message}`);
  }
  const out = (res.stdout ?? Buffer.alloc(0)).toString('utf8').trim();
  if (res.status !== 0) {
    let parsed: { code?: unknown; msg?: unknown; details?: unknown } | undefined;
    try {
      parsed = out ? JSON.parse(out) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed && typeof parsed.code === 'number' && typeof parsed.msg === 'string') {
      throw new CniError(parsed.code, parsed.msg, typeof parsed.details === 'string' ? parsed.details : undefined);
    }
    const why = res.signal ? `killed by ${res.signal}` : `exit status ${res.status}`;
    const text = out || (res.stderr ?? Buffer.alloc(0)).toString('utf8').trim();
    throw new CniError(Code.Internal, `plugin "${type}" failed (${why})${text ? `: ${text}` : ' with no error message'}`);
  }
  if (verb !== 'ADD') return undefined;
  try {
    return JSON.parse(out);
  } catch {
    throw new CniError(Code.DecodeFailure, `plugin "${type}" printed a result that is not JSON: ${out.slice(0, 200)}`);
  }
}
