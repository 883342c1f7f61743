// conf/kube-flannel.yml: kube-flannel's DaemonSet with this project's image in its two init
// containers, mounted as kube-flannel mounts them, the conflist in its ConfigMap ours, and
// flanneld untouched. The image reference is the one `npm run image` tags (scripts/release/image.mjs);
// test/runtimes/image.test.ts compares it with the built tarballs too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../helpers/ns';

interface Mount {
  name: string;
  mountPath: string;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  volumeMounts: Mount[];
}
interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  spec?: { template: { spec: { initContainers: Container[]; containers: Container[]; volumes: Array<{ name: string; hostPath?: { path: string }; configMap?: { name: string } }> } } };
}

const docs = parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'conf', 'kube-flannel.yml'), 'utf8')).map((d) => {
  if (d.errors.length) throw d.errors[0];
  return d.toJS() as Doc;
});
const daemonSet = docs.find((d) => d.kind === 'DaemonSet')!;
const pod = daemonSet.spec!.template.spec;
const mounts = (c: Container) => Object.fromEntries(c.volumeMounts.map((m) => [m.name, m.mountPath]));
const volume = (name: string) => pod.volumes.find((v) => v.name === name);

describe('conf/kube-flannel.yml', () => {
  let imageRef: string;
  beforeAll(async () => {
    const imageModule = path.join(repoRoot, 'scripts', 'release', 'image.mjs');
    imageRef = ((await import(imageModule)) as { IMAGE_REF: string }).IMAGE_REF;
  });

  it('holds kube-flannel\'s objects', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Namespace/kube-flannel',
      'ClusterRole/flannel',
      'ClusterRoleBinding/flannel',
      'ServiceAccount/flannel',
      'ConfigMap/kube-flannel-cfg',
      'DaemonSet/kube-flannel-ds',
    ]);
  });

  it('runs our image in both init containers, with no command: the image\'s installer is its entrypoint', () => {
    expect(pod.initContainers.map((c) => c.name)).toEqual(['install-cni-plugin', 'install-cni']);
    for (const c of pod.initContainers) {
      expect(c.image).toBe(imageRef);
      expect(c.command).toBeUndefined();
    }
  });

  it('installs the plugins with no arguments into the node\'s /opt/cni/bin', () => {
    const [plugin] = pod.initContainers;
    expect(plugin.args).toBeUndefined();
    expect(mounts(plugin)).toEqual({ 'cni-plugin': '/opt/cni/bin' });
    expect(volume('cni-plugin')).toEqual({ name: 'cni-plugin', hostPath: { path: '/opt/cni/bin' } });
  });

  it('installs the ConfigMap\'s conflist into the node\'s /etc/cni/net.d, and that conflist is ours', () => {
    const conf = pod.initContainers[1];
    expect(mounts(conf)).toEqual({ cni: '/etc/cni/net.d', 'flannel-cfg': '/etc/kube-flannel/' });
    expect(conf.args).toEqual(['--conflist', path.posix.join(mounts(conf)['flannel-cfg'], 'cni-conf.json')]);
    expect(volume('cni')).toEqual({ name: 'cni', hostPath: { path: '/etc/cni/net.d' } });
    expect(volume('flannel-cfg')).toEqual({ name: 'flannel-cfg', configMap: { name: 'kube-flannel-cfg' } });
    const cm = docs.find((d) => d.kind === 'ConfigMap')!;
    expect(JSON.parse(cm.data!['cni-conf.json'])).toEqual(JSON.parse(fs.readFileSync(path.join(repoRoot, 'conf', '10-flannel.conflist'), 'utf8')));
  });

  it('leaves flanneld as kube-flannel runs it', () => {
    const [flanneld] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    expect(flanneld.image).toMatch(/^ghcr\.io\/flannel-io\/flannel:v/);
    expect(flanneld.command).toEqual(['/opt/bin/flanneld']);
    expect(flanneld.args).toEqual(['--ip-masq', '--kube-subnet-mgr', '--healthz-port=8081']);
    expect(mounts(flanneld)).toEqual({ run: '/run/flannel', 'flannel-cfg': '/etc/kube-flannel/', 'xtables-lock': '/run/xtables.lock' });
  });
});
