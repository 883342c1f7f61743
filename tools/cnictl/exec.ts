// Running one plugin of the list as libcni does: the caller's whole environment plus
// every CNI_* variable set (empty ones included, as libcni sets them for GC and STATUS),
// the built config on stdin. lib/cni/invoke.ts does the work (with --timeout as its deadline).
import { delegate } from '../../lib/cni/invoke';
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
  return delegate(verb, type, stdin, { path: runner.path, env: pluginEnv(verb, runner, att), timeoutMs: runner.timeoutMs });
}
