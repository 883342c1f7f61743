// The node's flannel lease changed (flannel-io/flannel#1850): cni0 still holds the old
// gateway and an old MTU. The reference fails every ADD until someone deletes cni0 by
// hand; ours replaces the stale gateway and reconciles the MTU, and leaves addresses that
// are not a gateway of this network alone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Netns, isRoot, runPlugin, tempDir, uniqueName } from '../helpers/ns';

describe.skipIf(!isRoot)('subnet and MTU drift', () => {
  let node: Netns;
  let pod: Netns;
  let state: string;
  let bridge: string;
  const conf = () => ({
    cniVersion: '1.0.0',
    name: 'driftnet',
    type: 'flannel',
    subnetFile: path.join(state, 'subnet.env'),
    dataDir: path.join(state, 'flannel'),
    ipam: { dataDir: path.join(state, 'networks') },
    delegate: { bridge, isDefaultGateway: true },
  });
  const lease = (subnet: string, mtu: number) =>
    fs.writeFileSync(path.join(state, 'subnet.env'), `FLANNEL_NETWORK=172.16.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=true\n`);
  const env = (command: string, id: string) => ({ command, containerId: id, netns: pod.path, ifName: 'eth0' });
  const bridgeAddrs = () => node.json<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(`addr show dev ${bridge}`)[0].addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);

  beforeEach(() => {
    node = Netns.create('cnit-drift-node-');
    pod = Netns.create('cnit-drift-pod-');
    state = tempDir('cnit-drift-');
    bridge = uniqueName('cnidr');
  });
  afterEach(() => {
    pod.destroy();
    node.destroy();
    fs.rmSync(state, { recursive: true, force: true });
  });

  it('replaces the old gateway and MTU after the lease changed', () => {
    lease('172.16.57.1/24', 1450);
    expect(runPlugin(node, 'flannel', env('ADD', 'd1'), conf()).status).toBe(0);
    expect(runPlugin(node, 'flannel', env('DEL', 'd1'), conf()).status).toBe(0);
    expect(bridgeAddrs()).toEqual(['172.16.57.1/24']);

    lease('172.16.99.1/24', 1400);
    const add = runPlugin(node, 'flannel', env('ADD', 'd2'), conf());
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(add.stderr).toContain('the gateway network "driftnet" set before its subnet changed');
    expect(bridgeAddrs()).toEqual(['172.16.99.1/24']);
    expect(node.json<{ mtu: number }[]>(`link show dev ${bridge}`)[0].mtu).toBe(1400);
    expect(pod.json<{ mtu: number }[]>('link show dev eth0')[0].mtu).toBe(1400);
    expect(pod.exec(['ping', '-c', '1', '-W', '2', '172.16.99.1'], { allowFail: true }).status).toBe(0);
    expect(runPlugin(node, 'flannel', env('DEL', 'd2'), conf()).status).toBe(0);
  });

  it('a bridge it created keeps its MTU when the last pod leaves: the next ADD has nothing to fix', () => {
    // A bridge given its MTU at creation falls back to 1500 when its last port goes (the
    // kernel's br_mtu_auto_adjust); only an MTU set afterwards stays.
    lease('172.16.57.1/24', 1450);
    expect(runPlugin(node, 'flannel', env('ADD', 'd1'), conf()).status).toBe(0);
    expect(runPlugin(node, 'flannel', env('DEL', 'd1'), conf()).status).toBe(0);
    expect(node.json<{ mtu: number }[]>(`link show dev ${bridge}`)[0].mtu).toBe(1450);
    const add = runPlugin(node, 'flannel', env('ADD', 'd2'), conf());
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(add.stderr).not.toContain('had MTU');
    expect(runPlugin(node, 'flannel', env('DEL', 'd2'), conf()).status).toBe(0);
  });

  it('raises the bridge MTU only once no pod of the old, smaller MTU is behind it', () => {
    const mtu = () => node.json<{ mtu: number }[]>(`link show dev ${bridge}`)[0].mtu;
    lease('172.16.57.1/24', 1400);
    expect(runPlugin(node, 'flannel', env('ADD', 'm1'), conf()).status).toBe(0);
    const second = Netns.create('cnit-drift-pod2-');
    try {
      lease('172.16.57.1/24', 1450);
      const add = runPlugin(node, 'flannel', { ...env('ADD', 'm2'), netns: second.path }, conf());
      expect(add.status, add.stdout + add.stderr).toBe(0);
      expect(add.stderr).toContain('left until its ports are raised');
      expect(mtu()).toBe(1400);
      expect(second.json<{ mtu: number }[]>('link show dev eth0')[0].mtu).toBe(1450);
      // The pod of the old MTU still gets a 1450-byte packet from the node: fragmented to the
      // bridge's 1400. A bridge raised to 1450 would send it whole, and its veth would drop it.
      const podIp = pod.json<{ addr_info: { family: string; local: string }[] }[]>('addr show dev eth0')[0].addr_info.find((a) => a.family === 'inet')!.local;
      expect(node.exec(['ping', '-c', '1', '-W', '2', '-M', 'dont', '-s', '1422', podIp], { allowFail: true }).status).toBe(0);
      expect(runPlugin(node, 'flannel', env('DEL', 'm1'), conf()).status).toBe(0);
      expect(runPlugin(node, 'flannel', { ...env('DEL', 'm2'), netns: second.path }, conf()).status).toBe(0);
      // With no pod of the old MTU left, the next ADD raises it.
      expect(runPlugin(node, 'flannel', env('ADD', 'm3'), conf()).status).toBe(0);
      expect(mtu()).toBe(1450);
      expect(runPlugin(node, 'flannel', env('DEL', 'm3'), conf()).status).toBe(0);
    } finally {
      second.destroy();
    }
  });

  it('still refuses an address that is not a gateway of this network', () => {
    lease('172.16.99.1/24', 1450);
    node.ip(`link add ${bridge} type bridge`);
    node.ip(`addr add 172.16.57.9/24 dev ${bridge}`); // inside the cluster network, but not a gateway
    const add = runPlugin(node, 'flannel', env('ADD', 'd3'), conf());
    expect(add.status).toBe(1);
    expect(add.json.msg).toContain('already has an IP address different from 172.16.99.1/24');
    expect(bridgeAddrs()).toEqual(['172.16.57.9/24']);
    expect(node.json('link show type veth')).toEqual([]);
  });

  it('beside an address it may not replace, leaves its own old gateway too: the bridge stays as it was', () => {
    lease('172.16.57.1/24', 1450);
    expect(runPlugin(node, 'flannel', env('ADD', 'd4'), conf()).status).toBe(0);
    expect(runPlugin(node, 'flannel', env('DEL', 'd4'), conf()).status).toBe(0);
    node.ip(`addr add 192.168.77.1/24 dev ${bridge}`); // an operator's
    lease('172.16.99.1/24', 1450);
    const add = runPlugin(node, 'flannel', env('ADD', 'd5'), conf());
    expect(add.status).toBe(1);
    expect(add.json.msg).toContain('already has an IP address different from 172.16.99.1/24 (192.168.77.1/24)');
    expect(bridgeAddrs()).toEqual(['172.16.57.1/24', '192.168.77.1/24']);
  });
});
