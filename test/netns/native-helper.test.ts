// A build loads cninative.node only from beside its own file. Before, a plugin without
// one fell back to <build tree>/build/Release/cninative.node, a path fixed at build time
// that may be writable by anyone on the node that runs it: code loaded into a root process.
// Each build is copied without the helper; a call that needs it must fail as a CNI error
// naming the one path it looked at, and leave nothing behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Netns, builds, isRoot, runPlugin, standaloneDir, tempDir, uniqueName, type PluginRun } from '../helpers/ns';

/** Copy a build's files minus cninative.node, as they would sit in /opt/cni/bin. */
function copyWithoutHelper(build: string, to: string): void {
  if (build === standaloneDir) {
    fs.copyFileSync(path.join(build, 'cni-plugins'), path.join(to, 'cni-plugins'));
    for (const f of ['bridge', 'flannel']) fs.symlinkSync('cni-plugins', path.join(to, f));
    return;
  }
  for (const f of fs.readdirSync(build).filter((f) => f !== 'cninative.node')) fs.copyFileSync(path.join(build, f), path.join(to, f));
}

describe.skipIf(!isRoot || builds.length === 0)('a build without cninative.node beside it (root)', () => {
  let node: Netns;
  let pod: Netns;
  let tmp: string;
  let bin: string;
  let bridge: string;

  beforeEach(() => {
    node = Netns.create('cnit-nat-');
    pod = Netns.create('cnit-nat-pod-');
    // the real path: the plugin names the file beside its real location
    tmp = fs.realpathSync(tempDir('cnit-nat-'));
    bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    bridge = uniqueName('cninat');
    fs.writeFileSync(path.join(tmp, 'subnet.env'), 'FLANNEL_NETWORK=10.237.0.0/16\nFLANNEL_SUBNET=10.237.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
  });
  afterEach(() => {
    node.destroy();
    pod.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const expectHelperError = (r: PluginRun, code: number): void => {
    expect(r.status, r.stderr).not.toBe(0);
    expect(r.stdout.trim().split('\n'), 'one JSON object on stdout').toHaveLength(1);
    expect(r.json?.code, r.stdout).toBe(code);
    expect(r.json.msg).toContain(`native helper ${path.join(bin, 'cninative.node')} not found: install cninative.node`);
    expect(r.json.msg).not.toContain('build/Release');
  };

  for (const build of builds) {
    it(`${path.basename(build)}: STATUS and ADD fail naming <bin>/cninative.node, and leave nothing behind`, () => {
      copyWithoutHelper(build, bin);
      const bridgeConf = { cniVersion: '1.1.0', name: 'cnit-nat', type: 'bridge', bridge, ipam: { type: 'host-local', subnet: '10.237.1.0/24', dataDir: path.join(tmp, 'ipam') } };
      expectHelperError(runPlugin(node, 'bridge', { command: 'STATUS' }, bridgeConf, bin), 50);

      const flannelConf = { cniVersion: '1.1.0', name: 'cnit-nat', type: 'flannel', subnetFile: path.join(tmp, 'subnet.env'), dataDir: path.join(tmp, 'flannel'), ipam: { dataDir: path.join(tmp, 'ipam') }, delegate: { bridge } };
      expectHelperError(runPlugin(node, 'flannel', { command: 'ADD', containerId: 'nat1', netns: pod.path, ifName: 'eth0' }, flannelConf, bin), 999);
      expect(node.json<{ ifname: string }[]>('link show').map((l) => l.ifname)).toEqual(['lo']);
      expect(pod.json<{ ifname: string }[]>('link show').map((l) => l.ifname)).toEqual(['lo']);
    });
  }
});
