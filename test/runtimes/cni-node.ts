// The CNI side of a sandboxed node, as an operator sets up a kube-flannel node: the built
// plugins installed by conf/install.sh into /opt/cni/bin with the kube-flannel conflist in
// /etc/cni/net.d (both private to the sandbox), the reference portmap and loopback beside them, and
// the subnet.env flanneld would write at its default path. Plus what the suites check
// after a container is gone, and the busybox image they run.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ociArch } from '../../tools/install/requirements';
import { repoRoot } from '../helpers/ns';
import { runtimesRoot, type NodeSandbox } from './sandbox';

export const NETWORK = 'cbr0';
export const GATEWAY = '10.244.1.1';
export const SUBNET_ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';
/** An address of the node itself, on a veth pair that never leaves the node namespace: what `-p` publishes on. */
export const NODE_IP = '198.18.0.1';
/** Debian's reference plugins: portmap chained after flannel, loopback (containerd brings the pod's lo up with it). */
export const REFERENCE_DIR = '/usr/lib/cni';
export const TEST_IMAGE = 'localhost/cnit-busybox:latest';

export type Build = 'node' | 'standalone';

export function installPlugins(box: NodeSandbox, build: Build): void {
  box.run(['bash', path.join(repoRoot, 'conf', 'install.sh'), ...(build === 'standalone' ? ['--standalone'] : [])]);
  for (const p of ['portmap', 'loopback']) box.run(['cp', path.join(REFERENCE_DIR, p), `/opt/cni/bin/${p}`]);
  box.run(['sh', '-c', `cat > /run/flannel/subnet.env`], { input: SUBNET_ENV });
  box.run(['sh', '-c', `ip link add ul0 type veth peer name ul0p && ip addr add ${NODE_IP}/24 dev ul0 && ip link set ul0p up && ip link set ul0 up`]);
}

export interface Leftovers {
  reservations: string[];
  savedConfigs: string[];
  cacheEntries: string[];
  veths: string[];
  chains: string[];
}

const ls = (box: NodeSandbox, dir: string): string[] =>
  box
    .run(['sh', '-c', `[ -d ${dir} ] && ls -A ${dir} || true`])
    .stdout.split('\n')
    .filter(Boolean);

/** What a container that is gone must not have left: host-local's files are records, not reservations. */
export function leftovers(box: NodeSandbox): Leftovers {
  const records = new Set(['lock', 'boot_id', 'bridge_gateways']);
  return {
    reservations: ls(box, `/var/lib/cni/networks/${NETWORK}`).filter((f) => !records.has(f) && !f.startsWith('last_reserved_ip.')),
    savedConfigs: ls(box, '/var/lib/cni/flannel'),
    cacheEntries: ls(box, '/var/lib/cni/results'),
    veths: box
      .run(['ip', '-o', 'link', 'show', 'type', 'veth'])
      .stdout.split('\n')
      .map((l) => l.split(': ')[1]?.split('@')[0])
      .filter((n): n is string => !!n && !n.startsWith('ul0')),
    // portmap's per-container DNAT chains and bridge's masquerade chains (CNI-<hash>).
    chains: box
      .run(['iptables-save', '-t', 'nat'])
      .stdout.split('\n')
      .filter((l) => /^:CNI-(DN-)?[0-9a-f]{20,}/.test(l))
      .map((l) => l.slice(1).split(' ')[0]),
  };
}

export const NOTHING_LEFT: Leftovers = { reservations: [], savedConfigs: [], cacheEntries: [], veths: [], chains: [] };

/** A busybox image (Debian's busybox-static) with every applet linked, as a docker-archive. */
export function buildTestImage(out: string): string {
  const busybox = path.join(runtimesRoot, 'bin', 'busybox');
  const applets = execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  const files: object[] = ['bin', 'dev', 'etc', 'proc', 'root', 'run', 'sys', 'tmp'].map((p) => ({ path: p, dir: true }));
  files.push({ path: 'bin/busybox', src: busybox, mode: 0o755 });
  for (const a of applets) files.push({ path: `bin/${a}`, symlink: 'busybox' });
  // PID 1 that a runtime stops with SIGKILL anyway: it also serves as the CRI pause image.
  const spec = { tag: TEST_IMAGE, arch: ociArch(process.arch), cmd: ['/bin/sleep', '2147483647'], files };
  const specFile = `${out}.json`;
  fs.writeFileSync(specFile, JSON.stringify(spec));
  execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'image', 'archive.mjs'), specFile, out], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}
