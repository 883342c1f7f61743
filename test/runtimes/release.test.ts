// `npm run release`: a build per architecture a cluster mixes. The arm64 executable, with
// its cross-compiled helper, starts here under Debian's qemu-user-static on an emulated
// Cortex-A53 (ARMv8.0) and does a real flannel ADD and DEL; the amd64 one, built on Bun's
// baseline runtime, answers VERSION on an emulated Nehalem (no AVX).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRequirements } from '../../tools/install/requirements';
import { Netns, repoRoot, tempDir } from '../helpers/ns';

const release = (arch: string) => path.join(repoRoot, 'release', `linux-${arch}`);
const QEMU = { arm64: { bin: 'qemu-aarch64-static', cpu: 'cortex-a53', sysroot: '/usr/aarch64-linux-gnu' }, amd64: { bin: 'qemu-x86_64-static', cpu: 'Nehalem', sysroot: '/' } };
const which = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).stdout.trim();
/** ELF e_machine: where the file can run. */
const machine = (file: string) => {
  const h = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, h, 0, 20, 0);
  fs.closeSync(fd);
  return ({ 0x3e: 'amd64', 0xb7: 'arm64' } as Record<number, string>)[h.readUInt16LE(18)] ?? `machine ${h.readUInt16LE(18)}`;
};

for (const arch of ['amd64', 'arm64'] as const) {
  const qemu = which(QEMU[arch].bin);
  if (!qemu) console.warn(`test/runtimes/release: ${arch} not started under emulation: ${QEMU[arch].bin} is not installed (Debian qemu-user-static)`);

  describe(`release/linux-${arch}`, () => {
    const dirs: string[] = [];
    const nss: Netns[] = [];
    afterEach(() => {
      for (const n of nss.splice(0)) n.destroy();
      for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    });

    it('holds the executable and helper for that architecture, the links, and what it needs of a node', () => {
      const dir = release(arch);
      expect(fs.existsSync(dir), `${dir} is missing: npm run test:runtimes builds it (npm run release)`).toBe(true);
      expect(fs.readdirSync(dir).sort()).toEqual(['bridge', 'cni-plugins', 'cninative.node', 'flannel', 'host-requirements']);
      expect(machine(path.join(dir, 'cni-plugins'))).toBe(arch);
      expect(machine(path.join(dir, 'cninative.node'))).toBe(arch);
      for (const l of ['bridge', 'flannel']) expect(fs.readlinkSync(path.join(dir, l))).toBe('cni-plugins');
      const req = parseRequirements(fs.readFileSync(path.join(dir, 'host-requirements'), 'utf8'));
      expect(req.arch).toBe(arch);
      // Any x86-64 since Nehalem: no AVX, which Bun's default x64 runtime needs.
      expect(req.cpu).toEqual(arch === 'amd64' ? ['sse4_2', 'popcnt'] : ['asimd']);
      expect(req.glibc).toMatch(/^2\.\d+$/);
    });

    it.skipIf(!qemu)(`starts under ${QEMU[arch].bin} -cpu ${QEMU[arch].cpu} and answers VERSION`, () => {
      // bridge through the link, so the executable picks its role by name as on a node.
      const r = spawnSync(qemu, ['-cpu', QEMU[arch].cpu, '-L', QEMU[arch].sysroot, path.join(release(arch), 'bridge')], { encoding: 'utf8', env: { CNI_COMMAND: 'VERSION' }, timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).supportedVersions).toEqual(expect.arrayContaining(['0.3.1', '0.4.0', '1.0.0', '1.1.0']));
    });

    if (arch === 'arm64') it.skipIf(!qemu || process.getuid?.() !== 0)('does a real flannel ADD and DEL under emulation, its cross-compiled helper included', () => {
      const node = Netns.create('cnit-rel-node-');
      nss.push(node);
      const pod = Netns.create('cnit-rel-pod-');
      nss.push(pod);
      const state = tempDir('cnit-rel-');
      dirs.push(state);
      fs.writeFileSync(path.join(state, 'subnet.env'), 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
      const conf = JSON.stringify({
        cniVersion: '1.0.0',
        name: 'cbr0',
        type: 'flannel',
        subnetFile: path.join(state, 'subnet.env'),
        dataDir: path.join(state, 'flannel'),
        ipam: { dataDir: path.join(state, 'networks') },
        delegate: { isDefaultGateway: true },
      });
      const call = (command: string) =>
        spawnSync('ip', ['netns', 'exec', node.name, qemu, '-cpu', QEMU.arm64.cpu, '-L', QEMU.arm64.sysroot, path.join(release('arm64'), 'flannel')], {
          input: conf,
          encoding: 'utf8',
          timeout: 120_000,
          env: { PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: 'cnit-rel-1', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', CNI_PATH: release('arm64') },
        });
      const add = call('ADD');
      expect(add.status, add.stderr + add.stdout).toBe(0);
      expect(JSON.parse(add.stdout).ips[0].address).toBe('10.244.1.2/24');
      expect(pod.ip('-br addr show eth0')).toContain('10.244.1.2/24');
      const del = call('DEL');
      expect(del.status, del.stderr + del.stdout).toBe(0);
      expect(pod.ip('-br link').includes('eth0')).toBe(false);
      expect(fs.readdirSync(path.join(state, 'networks', 'cbr0')).filter((f) => /^\d/.test(f))).toEqual([]);
    });
  });
}
