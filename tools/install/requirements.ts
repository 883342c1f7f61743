// What a build needs of a node (the `host-requirements` file the build writes beside it,
// scripts/release/requirements.mjs) against what this node has. Pure but for readHostFacts.
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface Requirements {
  arch: string;
  kernel: string;
  glibc: string;
  cpu: string[];
}

export interface HostFacts {
  arch: string;
  kernel: string;
  /** The node's C library version; undefined where it cannot be seen (inside the image). */
  glibc?: string;
  /** /proc/cpuinfo's flags (x86) or Features (arm64); undefined when unreadable. */
  cpu?: string[];
}

export function parseRequirements(text: string): Requirements {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)="([^"]*)"$/.exec(line.trim());
    if (m) kv.set(m[1], m[2]);
  }
  const need = (k: string): string => {
    const v = kv.get(k);
    if (v === undefined) throw new Error(`host-requirements has no ${k}`);
    return v;
  };
  return { arch: need('ARCH'), kernel: need('KERNEL'), glibc: need('GLIBC'), cpu: need('CPU').split(/\s+/).filter(Boolean) };
}

/** -1, 0, 1 for a kernel or glibc version ("4.18" < "6.1.0-13-amd64"): a distribution suffix is ignored, not refused as a CNI version would be. */
export function compareHostVersions(a: string, b: string): number {
  const parts = (v: string) => (/^\d+(\.\d+)*/.exec(v)?.[0] ?? '0').split('.').map(Number);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export const ociArch = (nodeArch: string): string => ({ x64: 'amd64', x86_64: 'amd64', arm64: 'arm64', aarch64: 'arm64' })[nodeArch] ?? nodeArch;

/** Every way this node falls short, one sentence each; empty when it can run the build. */
export function checkHost(req: Requirements, host: HostFacts): string[] {
  const problems: string[] = [];
  if (host.arch !== req.arch) problems.push(`this build is for ${req.arch}, the node is ${host.arch}: use the ${host.arch} build`);
  if (compareHostVersions(host.kernel, req.kernel) < 0) problems.push(`kernel ${host.kernel} is older than ${req.kernel}, the oldest this build supports`);
  if (host.glibc !== undefined && compareHostVersions(host.glibc, req.glibc) < 0) problems.push(`glibc ${host.glibc} is older than ${req.glibc}, which the executable links against`);
  if (host.cpu !== undefined && host.arch === req.arch) {
    const missing = req.cpu.filter((f) => !host.cpu!.includes(f));
    if (missing.length > 0) {
      const hint = req.arch === 'amd64' && missing.includes('avx2') ? ' (this CPU has no AVX2: use the release build for any x86-64, release/linux-amd64)' : '';
      problems.push(`the CPU lacks ${missing.join(', ')}, which this build's runtime is compiled for${hint}`);
    }
  }
  return problems;
}

export function parseCpuFlags(cpuinfo: string): string[] | undefined {
  const m = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(cpuinfo);
  return m ? m[1].trim().split(/\s+/) : undefined;
}

/** This node as a process sees it; a container shares the node's kernel and CPU, not its C library. */
export function readHostFacts(): HostFacts {
  let cpu: string[] | undefined;
  try {
    cpu = parseCpuFlags(fs.readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    cpu = undefined;
  }
  return { arch: ociArch(os.machine()), kernel: os.release(), cpu };
}
