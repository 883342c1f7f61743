// The built plugins (each build) under containerd 1.6: `ctr run --cni` (go-cni in ctr) and
// the CRI plugin, the path kubelet uses, driven by our CRI client: a pod's network comes
// up, shows in PodSandboxStatus, and goes away with StopPodSandbox and RemovePodSandbox
// (two DELs, the second without a netns); a failed ADD fails the sandbox and leaves nothing.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { distDir, standaloneDir, uniqueName } from '../helpers/ns';
import { GATEWAY, NOTHING_LEFT, SUBNET_ENV, TEST_IMAGE, buildTestImage, installPlugins, leftovers, type Build } from './cni-node';
import { Containerd } from './containerd';
import { CriClient } from './cri/client';
import { NodeSandbox, cgroupLeftovers, sandboxUnavailable } from './sandbox';

const unavailable = sandboxUnavailable();
if (unavailable) console.warn(`test/runtimes/containerd skipped: ${unavailable}`);
const builds: Build[] = (['node', 'standalone'] as const).filter((b) => fs.existsSync(path.join(b === 'node' ? distDir : standaloneDir, 'flannel')));

describe.skipIf(!!unavailable).each(builds)('containerd, %s build', (build) => {
  let box: NodeSandbox;
  let containerd: Containerd;
  let cri: CriClient;
  const sandboxes: string[] = [];

  beforeAll(async () => {
    box = await NodeSandbox.create('cnit-ctd-');
    installPlugins(box, build);
    containerd = new Containerd(box);
    await containerd.start();
    containerd.importImage(buildTestImage(path.join(box.work, 'busybox.tar')));
    cri = new CriClient(containerd.socket);
  }, 120_000);
  afterEach(async () => {
    for (const id of sandboxes.splice(0)) {
      await cri.stopPodSandbox(id).catch(() => undefined);
      await cri.removePodSandbox(id).catch(() => undefined);
    }
    box?.run(['sh', '-c', 'cat > /run/flannel/subnet.env'], { input: SUBNET_ENV });
  });
  afterAll(async () => {
    cri?.close();
    await containerd?.stop();
    if (!box) return;
    const cg = box.cgroupParent;
    box.destroy();
    expect(cgroupLeftovers(cg)).toEqual([]);
  });

  const callsFor = (id: string) => box.calls().filter((c) => c.plugin === 'flannel' && c.containerId === id);

  it('ctr run --cni: the container gets the node subnet, MTU 1450 and the routes, and --rm leaves nothing', () => {
    const id = uniqueName('cnit-ctr-');
    const out = containerd.ctr(['-n', 'default', 'run', '--rm', '--cni', '--cgroup', `${box.cgroupParent}/${id}`, TEST_IMAGE, id, 'sh', '-c', `ip addr show eth0 && ip route && ping -c 1 -W 2 ${GATEWAY}`]).stdout;
    expect(out).toMatch(/mtu 1450/);
    expect(out).toMatch(/inet 10\.244\.1\.\d+\/24/);
    expect(out).toMatch(/^default via 10\.244\.1\.1 dev eth0/m);
    expect(out).toMatch(/^10\.244\.0\.0\/16 via 10\.244\.1\.1 dev eth0/m);
    expect(out).toMatch(/1 packets received/);
    expect(leftovers(box)).toEqual(NOTHING_LEFT);
    // go-cni keys the attachment by <namespace>-<id>; ctr's DEL comes without a netns.
    const calls = callsFor(`default-${id}`);
    expect(calls.map((c) => [c.verb, c.netns ? 'netns' : 'no netns', c.result])).toEqual([
      ['ADD', 'netns', 'ok'],
      ['DEL', 'no netns', 'ok'],
    ]);
  });

  it('CRI: RunPodSandbox, the IP in PodSandboxStatus, StopPodSandbox and RemovePodSandbox leave nothing', async () => {
    const conditions = await cri.status();
    expect(conditions).toContainEqual(expect.objectContaining({ type: 'NetworkReady', status: true }));
    const name = uniqueName('cnit-pod-');
    const id = await cri.runPodSandbox({ name, uid: randomUUID(), namespace: 'default', cgroupParent: box.cgroupParent });
    sandboxes.push(id);
    const status = await cri.podSandboxStatus(id);
    expect(status.state).toBe('SANDBOX_READY');
    expect(status.network?.ip).toMatch(/^10\.244\.1\.\d+$/);
    // The pod's own view, in the netns CRI gave the plugins.
    const [add] = callsFor(id);
    expect(add).toMatchObject({ verb: 'ADD', result: 'ok' });
    const eth0 = box.run(['nsenter', `--net=${add.netns}`, 'ip', '-j', 'addr', 'show', 'eth0']).stdout;
    expect(JSON.parse(eth0)[0]).toMatchObject({ mtu: 1450, addr_info: expect.arrayContaining([expect.objectContaining({ local: status.network?.ip, prefixlen: 24 })]) });
    expect(box.run(['nsenter', `--net=${add.netns}`, 'ip', 'route', 'show', 'default']).stdout).toContain(`via ${GATEWAY}`);
    expect(leftovers(box).reservations).toEqual([status.network?.ip]);

    await cri.stopPodSandbox(id);
    expect(leftovers(box)).toEqual(NOTHING_LEFT);
    await cri.removePodSandbox(id);
    sandboxes.splice(sandboxes.indexOf(id), 1);
    expect(leftovers(box)).toEqual(NOTHING_LEFT);
    expect((await cri.listPodSandbox()).map((s) => s.id)).not.toContain(id);
    expect(box.run(['ls', '-A', '/run/netns']).stdout.trim()).toBe('');
    expect(callsFor(id).map((c) => [c.verb, c.netns ? 'netns' : 'no netns', c.result])).toEqual([
      ['ADD', 'netns', 'ok'],
      ['DEL', 'netns', 'ok'],
      ['DEL', 'no netns', 'ok'],
    ]);
  });

  it('CRI: a failed ADD (subnet.env missing) fails the sandbox and leaves nothing', async () => {
    box.run(['rm', '/run/flannel/subnet.env']);
    const name = uniqueName('cnit-pod-');
    await expect(cri.runPodSandbox({ name, uid: randomUUID(), namespace: 'default', cgroupParent: box.cgroupParent })).rejects.toThrow(/subnet\.env/);
    expect((await cri.listPodSandbox()).filter((s) => s.metadata.name === name)).toEqual([]);
    expect(leftovers(box)).toEqual(NOTHING_LEFT);
    expect(box.run(['ls', '-A', '/run/netns']).stdout.trim()).toBe('');
    const failed = box.calls().filter((c) => c.plugin === 'flannel' && c.verb === 'ADD' && c.result !== 'ok');
    expect(failed).toHaveLength(1);
    expect(failed[0].error?.msg).toMatch(/subnet\.env/);
  });
});
