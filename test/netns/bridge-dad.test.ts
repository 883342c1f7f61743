// `enabledad` on real namespaces, both builds as black boxes: with it, the pod's IPv6
// addresses go through duplicate address detection and the ADD fails (leaving nothing)
// when a live neighbour on the bridge already holds the address; without it the
// address is added with nodad and a duplicate goes live, which is why enabledad exists.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Netns, builds, isRoot, runPlugin, tempDir, uniqueName, type CniEnv } from '../helpers/ns';

type AddrInfo = { family: string; local: string; nodad?: boolean; tentative?: boolean; dadfailed?: boolean };

describe.skipIf(!isRoot).each(builds)('enabledad on real namespaces (%s)', (dir) => {
  let node: Netns;
  let neighbour: Netns;
  let pods: Netns[];
  let dataDir: string;
  let bridge: string;

  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: 'dadnet',
    type: 'bridge',
    bridge,
    isGateway: true,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: 'fd00:77::/64' }]] },
    ...extra,
  });
  const pod = () => {
    const p = Netns.create('cnit-dad-pod-');
    pods.push(p);
    return p;
  };
  const env = (command: string, p: Netns, id: string): CniEnv => ({ command, containerId: id, netns: p.path, ifName: 'eth0', path: dir });
  const run = (command: string, p: Netns, id: string, c: object) => runPlugin(node, 'bridge', env(command, p, id), c, dir);
  const ipFiles = () => {
    const d = path.join(dataDir, 'dadnet');
    return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
  };
  const hostVeths = () => node.json<{ ifname: string }[]>('link show type veth').map((l) => l.ifname);
  const podAddr = (p: Netns, local: string) => p.json<{ addr_info: AddrInfo[] }[]>('addr show dev eth0')[0].addr_info.find((a) => a.local === local);

  /** A live neighbour on the bridge: another namespace whose port already holds `cidr` (added nodad, so it is valid at once). */
  const liveNeighbour = (cidr: string): string => {
    node.ip(`link add ${bridge} type bridge`);
    node.ip(`link set ${bridge} up`);
    const port = uniqueName('nbr');
    node.ip(`link add ${port} type veth peer name nb0 netns ${neighbour.name}`);
    node.ip(`link set ${port} master ${bridge} up`);
    neighbour.ip('link set nb0 up');
    neighbour.ip(`addr add ${cidr} dev nb0 nodad`);
    return port;
  };

  beforeEach(() => {
    node = Netns.create('cnit-dad-node-');
    neighbour = Netns.create('cnit-dad-nb-');
    pods = [];
    dataDir = tempDir('cnit-dad-ipam-');
    bridge = uniqueName('cnidad');
  });
  afterEach(() => {
    for (const p of pods) p.destroy();
    neighbour.destroy();
    node.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('with a free address: the ADD waits out DAD and the address ends neither tentative nor dadfailed', () => {
    const p = pod();
    const c = conf({ enabledad: true });
    const add = run('ADD', p, 'dad1', c);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(add.json.ips[0].address).toBe('fd00:77::2/64');
    const a = podAddr(p, 'fd00:77::2');
    expect(a).toBeDefined();
    expect(a!.nodad).toBeUndefined(); // it went through DAD
    expect(a!.tentative).toBeUndefined(); // and the ADD waited for the end of it
    expect(a!.dadfailed).toBeUndefined();
    expect(p.exec(['cat', '/proc/sys/net/ipv6/conf/eth0/accept_dad']).stdout.trim()).toBe('1');
    expect(p.exec(['ping', '-6', '-c', '1', '-W', '2', 'fd00:77::1'], { allowFail: true }).status).toBe(0);
    expect(run('DEL', p, 'dad1', c).status).toBe(0);
    expect(ipFiles()).toEqual([]);
  });

  it('with a live neighbour holding the address: the ADD fails naming the duplicate and leaves nothing', () => {
    const nbPort = liveNeighbour('fd00:77::2/64');
    const p = pod();
    const add = run('ADD', p, 'dad2', conf({ enabledad: true }));
    expect(add.status, add.stdout + add.stderr).toBe(1);
    expect(add.json.msg).toMatch(/fd00:77::2/);
    expect(add.json.msg).toMatch(/dadfailed|duplicate/i);
    expect(hostVeths()).toEqual([nbPort]);
    expect(p.exec(['ip', 'link', 'show', 'eth0'], { allowFail: true }).status).not.toBe(0);
    expect(ipFiles()).toEqual([]);
    // The neighbour keeps its address, untouched.
    expect(neighbour.ip('-6 addr show dev nb0')).toContain('fd00:77::2/64');
  });

  // hairpinMode is on in kube-flannel's conflist, so enabledad must work beside it.
  it('with hairpinMode: DAD passes, enhanced_dad set as the reference sets it', () => {
    const p = pod();
    const c = conf({ enabledad: true, hairpinMode: true });
    const add = run('ADD', p, 'dad4', c);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(p.exec(['cat', '/proc/sys/net/ipv6/conf/eth0/enhanced_dad']).stdout.trim()).toBe('1');
    expect(podAddr(p, 'fd00:77::2')?.dadfailed).toBeUndefined();
    expect(run('DEL', p, 'dad4', c).status).toBe(0);
  });

  it('without enabledad the same duplicate goes live (nodad, no wait): the reason enabledad exists', () => {
    liveNeighbour('fd00:77::2/64');
    const p = pod();
    const c = conf();
    const add = run('ADD', p, 'dad3', c);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    const a = podAddr(p, 'fd00:77::2');
    expect(a).toMatchObject({ nodad: true });
    expect(a!.tentative).toBeUndefined();
    expect(a!.dadfailed).toBeUndefined();
    expect(p.exec(['cat', '/proc/sys/net/ipv6/conf/eth0/accept_dad']).stdout.trim()).toBe('0');
    expect(run('DEL', p, 'dad3', c).status).toBe(0);
  });
});
