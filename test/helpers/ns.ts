// Test-only helpers: throwaway network namespaces and the built plugins run as a
// runtime runs them. Tests may use `ip`; the product never does.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach } from 'vitest';

export const isRoot = process.getuid?.() === 0;
export const repoRoot = path.resolve(__dirname, '..', '..');
export const distDir = path.join(repoRoot, 'dist');
/** The standalone executable (Bun-compiled), when it was built. */
export const standaloneDir = path.join(repoRoot, 'dist-standalone');
/** Every build present: the root tests of whole flows run against each. */
export const builds = [distDir, standaloneDir].filter((d) => fs.existsSync(path.join(d, 'flannel')));

export function sh(argv: string[], opts: { input?: string; allowFail?: boolean } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0], argv.slice(1), { input: opts.input, encoding: 'utf8' });
  const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (!opts.allowFail && out.status !== 0) throw new Error(`${argv.join(' ')} failed (${out.status}): ${out.stderr || out.stdout}`);
  return out;
}

/** A unique name with a recognisable prefix, short enough for interface names where needed. */
export const uniqueName = (prefix: string): string => `${prefix}${randomBytes(3).toString('hex')}`;

export class Netns {
  readonly path: string;
  constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }
  static create(prefix = 'cnit-'): Netns {
    const ns = new Netns(uniqueName(prefix));
    sh(['ip', 'netns', 'add', ns.name]);
    sh(['ip', '-n', ns.name, 'link', 'set', 'lo', 'up']);
    return ns;
  }
  exec(argv: string[], opts: { input?: string; allowFail?: boolean } = {}) {
    return sh(['ip', 'netns', 'exec', this.name, ...argv], opts);
  }
  ip(args: string): string {
    return sh(['ip', '-n', this.name, ...args.split(' ')]).stdout;
  }
  json<T = unknown>(args: string): T {
    return JSON.parse(sh(['ip', '-j', '-n', this.name, ...args.split(' ')]).stdout || '[]') as T;
  }
  destroy(): void {
    sh(['ip', 'netns', 'del', this.name], { allowFail: true });
  }
}

export interface PluginRun {
  status: number;
  stdout: string;
  stderr: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface CniEnv {
  command: string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: string;
  path?: string;
  extra?: Record<string, string>;
  /** The working directory the runtime starts the plugin in (by default the test's own). */
  cwd?: string;
}

/** Run a built plugin inside `node` (the namespace standing in for the node), as a runtime would. */
export function runPlugin(node: Netns, plugin: string, env: CniEnv, stdin: string | object, dir = distDir): PluginRun {
  const e: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: env.command, CNI_PATH: env.path ?? dir };
  if (env.containerId !== undefined) e.CNI_CONTAINERID = env.containerId;
  if (env.netns !== undefined) e.CNI_NETNS = env.netns;
  if (env.ifName !== undefined) e.CNI_IFNAME = env.ifName;
  if (env.args !== undefined) e.CNI_ARGS = env.args;
  Object.assign(e, env.extra ?? {});
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
  const r = spawnSync('ip', ['netns', 'exec', node.name, path.join(dir, plugin)], { input, env: e, cwd: env.cwd, encoding: 'utf8' });
  let json: unknown;
  try {
    json = r.stdout ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

/** Can this kernel create a vlan-filtering bridge? (CONFIG_BRIDGE_VLAN_FILTERING) */
export function kernelFiltersVlans(): boolean {
  if (!isRoot) return false;
  const probe = Netns.create('cnit-vlan-probe-');
  try {
    return sh(['ip', '-n', probe.name, 'link', 'add', 'b0', 'type', 'bridge', 'vlan_filtering', '1'], { allowFail: true }).status === 0;
  } finally {
    probe.destroy();
  }
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Per test: a namespace standing in for the node, pods made on demand, a state
 * directory and a unique bridge name; all of it removed after the test, even on failure.
 * Call inside a describe().
 */
export function useNode(prefix: string) {
  const f = {
    node: undefined as unknown as Netns,
    pods: [] as Netns[],
    state: '',
    bridge: '',
    /** A new pod namespace, destroyed with the test. */
    pod(): Netns {
      const p = Netns.create(`cnit-${prefix}-pod-`);
      f.pods.push(p);
      return p;
    },
  };
  beforeEach(() => {
    f.node = Netns.create(`cnit-${prefix}-node-`);
    f.pods = [];
    f.state = tempDir(`cnit-${prefix}-`);
    f.bridge = uniqueName(`cni${prefix.slice(0, 3)}`);
  });
  afterEach(() => {
    for (const p of f.pods) p.destroy();
    f.node?.destroy();
    fs.rmSync(f.state, { recursive: true, force: true });
  });
  return f;
}
