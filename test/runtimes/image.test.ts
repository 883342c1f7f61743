// The image `npm run image` writes, loaded by podman on a sandboxed node whose
// /opt/cni/bin and /etc/cni/net.d are empty, run the way conf/kube-flannel.yml's init
// containers run it; then podman starts a pod on the plugins it installed. The manifest's
// image reference is the one the tarballs carry.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ociArch } from '../../tools/install/requirements';
import { repoRoot, uniqueName } from '../helpers/ns';
import { NETWORK, NOTHING_LEFT, REFERENCE_DIR, SUBNET_ENV, TEST_IMAGE, buildTestImage, leftovers } from './cni-node';
import { Podman, setUpPodman } from './podman';
import { NodeSandbox, cgroupLeftovers, sandboxUnavailable } from './sandbox';

interface ImageScripts {
  IMAGE_REF: string;
  imageFile(arch: string): string;
}
interface ArchiveScripts {
  readTarJson(file: string, name: string): unknown;
}
const load = async <T>(rel: string): Promise<T> => (await import(path.join(repoRoot, rel))) as T;

const unavailable = sandboxUnavailable();
if (unavailable) console.warn(`test/runtimes/image skipped: ${unavailable}`);

describe.skipIf(!!unavailable)('the image, under podman', () => {
  let box: NodeSandbox;
  let podman: Podman;
  let image: ImageScripts;
  let archive: ArchiveScripts;
  const arch = ociArch(process.arch);

  beforeAll(async () => {
    image = await load<ImageScripts>('scripts/release/image.mjs');
    archive = await load<ArchiveScripts>('scripts/image/archive.mjs');
    for (const a of ['amd64', 'arm64']) {
      if (!fs.existsSync(image.imageFile(a))) throw new Error(`${image.imageFile(a)} is missing: npm run test:runtimes builds it (npm run release)`);
    }
    box = await NodeSandbox.create('cnit-img-');
    setUpPodman(box);
    podman = new Podman(box);
    podman.run(['load', '--input', image.imageFile(arch)]);
    podman.run(['load', '--input', buildTestImage(path.join(box.work, 'busybox.tar'))]);
  }, 120_000);
  afterAll(() => {
    if (!box) return;
    podman.removeAll();
    const cg = box.cgroupParent;
    box.destroy();
    expect(cgroupLeftovers(cg)).toEqual([]);
  });

  it('carries the reference conf/kube-flannel.yml runs, for each architecture', () => {
    const docs = parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'conf', 'kube-flannel.yml'), 'utf8')).map((d) => d.toJS());
    const ds = docs.find((d) => d.kind === 'DaemonSet');
    const refs = new Set(ds.spec.template.spec.initContainers.map((c: { image: string }) => c.image));
    expect([...refs]).toEqual([image.IMAGE_REF]);
    for (const a of ['amd64', 'arm64']) {
      const [manifest] = archive.readTarJson(image.imageFile(a), 'manifest.json') as Array<{ RepoTags: string[]; Config: string }>;
      expect(manifest.RepoTags).toEqual([image.IMAGE_REF]);
      const config = archive.readTarJson(image.imageFile(a), manifest.Config) as { architecture: string; config: { Entrypoint: string[]; Cmd?: string[] } };
      expect(config.architecture).toBe(a);
      expect(config.config.Entrypoint).toEqual(['/usr/lib/cni-flannel-bridge/install']);
      expect(config.config.Cmd).toBeUndefined();
    }
    expect(podman.run(['image', 'inspect', '--format', '{{.Architecture}}', image.IMAGE_REF]).stdout.trim()).toBe(arch);
  });

  it('with no arguments installs working plugins into the node\'s empty /opt/cni/bin; with --conflist, the conflist', () => {
    expect(box.run(['ls', '-A', '/opt/cni/bin']).stdout).toBe('');
    // install-cni-plugin: the node's plugin directory mounted, no command, no arguments.
    const plugins = podman.start(['--rm', '--network', 'none', '-v', '/opt/cni/bin:/opt/cni/bin', image.IMAGE_REF]);
    expect(plugins.stdout).toContain('installed /opt/cni/bin/flannel -> cni-plugins');
    expect(box.run(['ls', '-A', '/opt/cni/bin']).stdout.split('\n').filter(Boolean).sort()).toEqual(['bridge', 'cni-plugins', 'cninative.node', 'flannel']);
    // install-cni: the ConfigMap's file mounted where kube-flannel mounts it.
    const cfg = path.join(box.work, 'kube-flannel-cfg');
    fs.mkdirSync(cfg);
    fs.copyFileSync(path.join(repoRoot, 'conf', '10-flannel.conflist'), path.join(cfg, 'cni-conf.json'));
    podman.start(['--rm', '--network', 'none', '-v', '/etc/cni/net.d:/etc/cni/net.d', '-v', `${cfg}:/etc/kube-flannel/`, image.IMAGE_REF, '--conflist', '/etc/kube-flannel/cni-conf.json']);
    expect(box.run(['cat', '/etc/cni/net.d/10-flannel.conflist']).stdout).toBe(fs.readFileSync(path.join(repoRoot, 'conf', '10-flannel.conflist'), 'utf8'));

    // The node as kube-flannel leaves it: flanneld's subnet.env, the reference portmap from the node's packages.
    box.run(['cp', path.join(REFERENCE_DIR, 'portmap'), '/opt/cni/bin/portmap']);
    box.run(['sh', '-c', 'cat > /run/flannel/subnet.env'], { input: SUBNET_ENV });
    const pod = uniqueName('cnit-img-pod-');
    podman.start(['-d', '--name', pod, '--network', NETWORK, TEST_IMAGE]);
    expect(podman.exec(pod, ['ip', 'addr', 'show', 'eth0']).stdout).toMatch(/mtu 1450[\s\S]*inet 10\.244\.1\.\d+\/24/);
    const add = box.calls().find((c) => c.plugin === 'flannel' && c.verb === 'ADD');
    expect(add?.result).toBe('ok');
    podman.run(['rm', '-f', '-t', '0', pod]);
    expect(leftovers(box)).toEqual(NOTHING_LEFT);
  });

  it('loads for the other architecture too', () => {
    const other = arch === 'amd64' ? 'arm64' : 'amd64';
    podman.run(['load', '--input', image.imageFile(other)]);
    expect(podman.run(['image', 'inspect', '--format', '{{.Architecture}}', image.IMAGE_REF]).stdout.trim()).toBe(other);
  });
});
