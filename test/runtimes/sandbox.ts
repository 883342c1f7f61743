// A node for a real container runtime, on this machine and apart from it: a network
// namespace standing in for the node, and a private mount namespace (held by holder.sh)
// where the runtimes' packages are overlaid and /etc/cni, /opt/cni, /var/lib/cni and /run
// are private tmpfs. Every command runs inside both with nsenter. Containers go into a
// cgroup of the sandbox's own, so destroy() finds and stops everything it started: the
// daemons by pid, every process left in the mount namespace, every process in the cgroup.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, sh, tempDir, uniqueName } from '../helpers/ns';

export const runtimesRoot = path.join(process.env.CNI_RUNTIMES_DIR ?? path.join(repoRoot, '.runtimes'), 'root');

/** Why the runtime suites cannot run here, or undefined. */
export function sandboxUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network and mount namespaces)';
  if (!fs.existsSync(path.join(runtimesRoot, '.unpacked'))) return `${runtimesRoot} is missing: run scripts/runtimes/setup.sh (npm run test:runtimes does)`;
  for (const tool of ['unshare', 'nsenter', 'ip', 'iptables']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return undefined;
}

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  input?: string;
  allowFail?: boolean;
  timeoutMs?: number;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class NodeSandbox {
  readonly name: string;
  readonly work: string;
  /** The cgroup (relative to each hierarchy's root) every container of this sandbox goes under. */
  readonly cgroupParent: string;
  /** Written by the plugins (CNI_CALL_LOG): one JSON line per call. */
  readonly callLog = '/run/cni-calls.log';
  private holder?: ChildProcess;
  private daemons: ChildProcess[] = [];

  private constructor(prefix: string) {
    this.name = uniqueName(prefix);
    this.work = tempDir(`${this.name}-`);
    this.cgroupParent = `/${this.name}`;
  }

  static async create(prefix: string): Promise<NodeSandbox> {
    const box = new NodeSandbox(prefix);
    try {
      sh(['ip', 'netns', 'add', box.name]);
      const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'nsenter', `--net=/run/netns/${box.name}`, '--', 'sh', path.join(__dirname, 'holder.sh'), box.work, runtimesRoot], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      box.holder = holder;
      await new Promise<void>((resolve, reject) => {
        let out = '';
        let err = '';
        holder.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready')) resolve();
        });
        holder.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        holder.on('exit', (code) => reject(new Error(`sandbox holder exited (${code}): ${err}`)));
      });
      return box;
    } catch (e) {
      box.destroy();
      throw e;
    }
  }

  get pid(): number {
    return this.holder!.pid!;
  }

  private argv(argv: string[]): string[] {
    return ['nsenter', '-t', String(this.pid), '-m', '-n', '--', ...argv];
  }

  private env(extra: Record<string, string> = {}): Record<string, string> {
    return { PATH, HOME: '/root', CNI_CALL_LOG: this.callLog, ...extra };
  }

  /** Runs a command inside the sandbox (the node's network and the private mounts). */
  run(argv: string[], opts: RunOptions = {}): Run {
    const full = this.argv(argv);
    const r = spawnSync(full[0], full.slice(1), { input: opts.input, env: this.env(opts.env), encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000 });
    const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
    if (!opts.allowFail && out.status !== 0) throw new Error(`[${this.name}] ${argv.join(' ')} failed (${out.status}): ${out.stderr || out.stdout}${r.error ? ` ${r.error.message}` : ''}`);
    return out;
  }

  /** The same, started without waiting (for parallel starts). */
  runAsync(argv: string[], opts: RunOptions = {}): Promise<Run> {
    const full = this.argv(argv);
    return new Promise((resolve) => {
      const p = spawn(full[0], full.slice(1), { env: this.env(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
    });
  }

  /** A daemon inside the sandbox, its output in `log` (a host path); stopped by destroy() or stopDaemon(). */
  startDaemon(argv: string[], log: string, env: Record<string, string> = {}): ChildProcess {
    const fd = fs.openSync(log, 'a');
    const full = this.argv(argv);
    const p = spawn(full[0], full.slice(1), { env: this.env(env), stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    this.daemons.push(p);
    return p;
  }

  async stopDaemon(p: ChildProcess): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Calls the plugins logged since the sandbox started, as parsed JSON lines. */
  calls(): Array<{ plugin: string; verb: string; containerId: string; netns?: string; result: string; error?: { msg?: string } }> {
    const r = this.run(['cat', this.callLog], { allowFail: true });
    return r.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
  }

  /** Stops everything the sandbox holds and removes it; safe to call twice. */
  destroy(): void {
    for (const d of this.daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
    const holderPid = this.holder?.pid;
    if (holderPid !== undefined && this.holder!.exitCode === null) {
      // conmon and containerd's shims leave their parents and live on in the mount
      // namespace; the containers' own processes live in the sandbox's cgroup.
      const mnt = readLink(`/proc/${holderPid}/ns/mnt`);
      for (let round = 0; round < 20; round++) {
        const left = [...(mnt ? pidsInMountNs(mnt).filter((p) => p !== holderPid) : []), ...pidsInCgroup(this.cgroupParent)];
        if (left.length === 0) break;
        for (const p of left) killPid(p);
        spawnSync('sleep', ['0.1']);
      }
      killPid(holderPid);
    }
    for (let round = 0; round < 20 && pidsInCgroup(this.cgroupParent).length > 0; round++) spawnSync('sleep', ['0.1']);
    removeCgroup(this.cgroupParent);
    sh(['ip', 'netns', 'del', this.name], { allowFail: true });
    // The overlay upper dirs and the runtimes' storage; every mount over them went with the namespace.
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function pidsInMountNs(mnt: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => readLink(`/proc/${d}/ns/mnt`) === mnt)
    .map(Number);
}

/** The cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, or v2 alone). */
function cgroupRoots(): string[] {
  const base = '/sys/fs/cgroup';
  if (fs.existsSync(path.join(base, 'cgroup.procs'))) return [base];
  return fs
    .readdirSync(base)
    .map((d) => path.join(base, d))
    .filter((d) => fs.existsSync(path.join(d, 'cgroup.procs')));
}

function cgroupDirs(rel: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
    out.push(dir);
  };
  for (const root of cgroupRoots()) walk(path.join(root, rel));
  return out; // children before parents
}

function pidsInCgroup(rel: string): number[] {
  const pids = new Set<number>();
  for (const dir of cgroupDirs(rel)) {
    try {
      for (const l of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (l.trim()) pids.add(Number(l));
    } catch {
      // gone meanwhile
    }
  }
  return [...pids];
}

function removeCgroup(rel: string): void {
  for (const dir of cgroupDirs(rel)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // not empty or gone: left for the report below to show
    }
  }
}

/** Cgroups of a sandbox that could not be removed (a leak the suite reports). */
export function cgroupLeftovers(rel: string): string[] {
  return cgroupDirs(rel);
}
