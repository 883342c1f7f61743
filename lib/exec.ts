// The one door for running the node's own tools (iptables, ip6tables, nft); plugin
// delegation has its own in lib/cni/invoke.ts. Synchronous and with an argv array,
// never a shell: callers may run inside lib/netns.inNetns, and a child started by
// spawnSync inherits the calling thread's netns. A timeout only stops a wedged tool
// from hanging the plugin until the runtime's own deadline.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as ChildProcess from 'node:child_process';
import { log } from './log';

// kubelet/containerd exec plugins with their own PATH, which on some distros lacks
// the sbin directories where iptables and nft live; look there too before giving up.
export const FALLBACK_DIRS: readonly string[] = ['/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/bin', '/bin'];

/** First executable `name` in PATH (absolute entries only), then in the usual sbin directories. */
export function findExecutable(name: string, pathEnv: string | undefined, fallback: readonly string[] = FALLBACK_DIRS): string | undefined {
  const dirs = [...(pathEnv ?? '').split(':').filter((d) => path.isAbsolute(d)), ...fallback];
  for (const dir of dirs) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The command as an operator could paste it into a shell (for messages and logs). */
export function renderCommand(bin: string, args: readonly string[]): string {
  const q = (a: string): string => (/^[A-Za-z0-9_\-./:=,@%+!]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [bin, ...args].map(q).join(' ');
}

export interface ToolRun {
  /** exit status 0 */
  ok: boolean;
  stdout: string;
  /** stderr lines, trimmed and joined; on a failure with no stderr, why it failed */
  stderr: string;
  command: string;
  /** spawn itself failed: 'ENOENT' (not installed), 'ETIMEDOUT', ... */
  spawnError?: string;
}

export interface ToolOptions {
  timeoutMs: number;
  dropLine?: (l: string) => boolean;
  /** Variables added to this process's environment for the tool. */
  env?: Record<string, string>;
  /** argv[0] when it is not `file` (a multi-call executable picks its role by it). */
  argv0?: string;
}

export function runTool(file: string, name: string, args: readonly string[], opts: ToolOptions): ToolRun {
  const command = renderCommand(name, args);
  log.debug(command);
  const r = childProcess().spawnSync(file, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    // a node with thousands of pods has long rule listings
    maxBuffer: 64 * 1024 * 1024,
    ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}),
    ...(opts.argv0 ? { argv0: opts.argv0 } : {}),
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ETIMEDOUT' ? `timed out after ${opts.timeoutMs / 1000} s` : r.error.message;
    return { ok: false, stdout: '', stderr: why, command, spawnError: code };
  }
  const drop = opts.dropLine ?? (() => false);
  const stderr = (r.stderr ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !drop(l))
    .join(' ');
  const ok = r.status === 0;
  return { ok, stdout: r.stdout ?? '', stderr: ok ? stderr : stderr || (r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`), command };
}

let cp: typeof ChildProcess | undefined;
/** node:child_process on first use: most calls start no process, and loading it costs the standalone build ~3 MB of RSS. */
export function childProcess(): typeof ChildProcess {
  return (cp ??= require('node:child_process') as typeof ChildProcess);
}
