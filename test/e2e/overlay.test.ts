// End to end: the two-node flannel vxlan network flanneld would program, built on one
// machine out of namespaces, with the built dist/flannel (→ dist/bridge → host-local)
// adding one pod per node exactly as a runtime would. Proves pod-to-pod traffic and
// the 1450 MTU across the overlay, then that DEL leaves nothing behind.
//
//   pod A eth0 ─ veth ─ cni0 ─┐ node A                 node B ┌─ cni0 ─ veth ─ eth0 pod B
//                             └ flannel.1 ─ ul0 ══ ul0 ─ flannel.1 ┘
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, builds, runPlugin, type PluginRun } from '../helpers/ns';
import { FLANNEL_MTU, FLANNEL_NETWORK, FlannelNode, VXLAN_DEV, joinUnderlay } from './flannel-node';

interface Link {
  ifname: string;
  mtu: number;
  address: string;
  stats64?: { rx: { packets: number }; tx: { packets: number } };
}
interface Addr {
  addr_info: { family: string; local: string; prefixlen: number }[];
}
interface Route {
  dst: string;
  gateway?: string;
  dev: string;
}

describe.skipIf(process.getuid?.() !== 0).each(builds)('flannel vxlan overlay across two nodes (%s)', (dir) => {
  let a: FlannelNode;
  let b: FlannelNode;
  const pods: Netns[] = [];
  let podA: Netns;
  let podB: Netns;
  const idA = 'e2e-pod-a-0123456789abcdef';
  const idB = 'e2e-pod-b-fedcba9876543210';

  const run = (node: FlannelNode, command: string, pod: Netns, id: string): PluginRun =>
    runPlugin(node.ns, 'flannel', { command, containerId: id, netns: pod.path, ifName: 'eth0' }, node.conf(), dir);
  const ping = (from: Netns, to: string, ...extra: string[]) => from.exec(['ping', '-n', '-c', '1', '-W', '2', ...extra, to], { allowFail: true });
  const podIp = (p: Netns): string => p.json<Addr[]>('-4 addr show dev eth0')[0].addr_info.map((i) => `${i.local}/${i.prefixlen}`).join(',');
  const vtepRx = (node: FlannelNode): number => node.ns.json<Link[]>(`-s link show dev ${VXLAN_DEV}`)[0].stats64!.rx.packets;
  const ipamFiles = (node: FlannelNode): string[] => {
    const dir = path.join(node.ipamDataDir, 'cbr0');
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
  };
  const veths = (node: FlannelNode): string[] => node.ns.json<Link[]>('link show type veth').map((l) => l.ifname).filter((n) => n !== 'ul0');

  beforeAll(() => {
    try {
      a = new FlannelNode({ subnet: '172.16.99.0/24', underlayIp: '192.168.199.1' });
      b = new FlannelNode({ subnet: '172.16.57.0/24', underlayIp: '192.168.199.2' });
      joinUnderlay(a, b);
      a.setUp();
      b.setUp();
      podA = Netns.create('cnit-e2e-pod-');
      pods.push(podA);
      podB = Netns.create('cnit-e2e-pod-');
      pods.push(podB);
    } catch (err) {
      // afterAll still runs, but say plainly that the fixture, not the product, broke.
      throw new Error(`building the two-node topology failed: ${(err as Error).message}`);
    }
  });

  afterAll(() => {
    for (const p of pods) p.destroy();
    a?.destroy();
    b?.destroy();
  });

  it('the underlay works and flannel.1 is set up as flanneld does', () => {
    expect(ping(a.ns, '192.168.199.2').status).toBe(0);
    for (const n of [a, b]) {
      const vtep = n.ns.json<(Link & { linkinfo: { info_kind: string; info_data: { id: number; port: number; learning: boolean } } })[]>(`-d link show dev ${VXLAN_DEV}`)[0];
      expect(vtep.mtu).toBe(FLANNEL_MTU);
      expect(vtep.linkinfo.info_kind).toBe('vxlan');
      expect(vtep.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, learning: false });
      expect(n.ns.ip(`-4 -br addr show dev ${VXLAN_DEV}`)).toContain(`${n.subnetAddr}/32`);
      expect(n.ns.exec(['cat', '/proc/sys/net/ipv4/ip_forward']).stdout.trim()).toBe('1');
    }
  });

  it('flannel ADD gives each pod an address from its node subnet, MTU 1450 and the overlay routes', () => {
    const addA = run(a, 'ADD', podA, idA);
    expect(addA.status, addA.stdout + addA.stderr).toBe(0);
    const addB = run(b, 'ADD', podB, idB);
    expect(addB.status, addB.stdout + addB.stderr).toBe(0);

    for (const [node, pod, add, id] of [
      [a, podA, addA, idA],
      [b, podB, addB, idB],
    ] as const) {
      const ip = node.host(2);
      const gw = node.gateway;
      // What the runtime is told (0.3.1 shape, as kube-flannel's cniVersion).
      expect(add.json.cniVersion).toBe('0.3.1');
      expect(add.json.ips).toEqual([expect.objectContaining({ version: '4', address: `${ip}/24`, gateway: gw, interface: 2 })]);
      // What the kernel has.
      expect(podIp(pod)).toBe(`${ip}/24`);
      expect(pod.json<Link[]>('link show dev eth0')[0].mtu).toBe(FLANNEL_MTU);
      expect(node.ns.ip('-4 -br addr show dev cni0')).toContain(`${gw}/24`);
      expect(node.ns.json<Link[]>('link show dev cni0')[0].mtu).toBe(FLANNEL_MTU);
      const routes = pod.json<Route[]>('-4 route show');
      expect(routes).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ dst: 'default', gateway: gw, dev: 'eth0' }),
          expect.objectContaining({ dst: FLANNEL_NETWORK, gateway: gw, dev: 'eth0' }),
        ]),
      );
      // One host veth, hairpin on (kube-flannel's delegate), on cni0.
      const hostVeth = add.json.interfaces[1].name as string;
      expect(veths(node)).toEqual([hostVeth]);
      const port = node.ns.json<{ master: string; linkinfo: { info_slave_data: { hairpin: boolean } } }[]>(`-d link show dev ${hostVeth}`)[0];
      expect(port.master).toBe('cni0');
      expect(port.linkinfo.info_slave_data.hairpin).toBe(true);
      // State on disk: the IP reservation and flannel's saved delegate config.
      expect(ipamFiles(node)).toEqual([ip]);
      expect(fs.readFileSync(path.join(node.ipamDataDir, 'cbr0', ip), 'latin1')).toBe(`${id}\r\neth0`);
      const saved = JSON.parse(fs.readFileSync(path.join(node.flannelDataDir, id), 'utf8'));
      expect(saved).toMatchObject({
        type: 'bridge',
        name: 'cbr0',
        cniVersion: '0.3.1',
        mtu: FLANNEL_MTU,
        ipMasq: false,
        isGateway: true,
        isDefaultGateway: true,
        hairpinMode: true,
        ipam: { type: 'host-local', dataDir: node.ipamDataDir, ranges: [[{ subnet: node.spec.subnet }]], routes: [{ dst: FLANNEL_NETWORK }] },
      });
    }
  });

  it('pods cannot reach each other until the peer is programmed (the overlay is the only path)', () => {
    expect(ping(podA, b.host(2)).status).not.toBe(0);
    expect(ping(podB, a.host(2)).status).not.toBe(0);
  });

  it('with flanneld’s route, ARP and FDB entries, pods ping each other across vxlan both ways', () => {
    a.addPeer(b);
    b.addPeer(a);
    const rxA = vtepRx(a);
    const rxB = vtepRx(b);
    const ab = ping(podA, b.host(2));
    expect(ab.status, ab.stdout + ab.stderr).toBe(0);
    const ba = ping(podB, a.host(2));
    expect(ba.status, ba.stdout + ba.stderr).toBe(0);
    // Decapsulated by flannel.1 on both sides: the packets really crossed the vxlan tunnel.
    expect(vtepRx(a)).toBeGreaterThan(rxA);
    expect(vtepRx(b)).toBeGreaterThan(rxB);
    // Pod to the remote node's gateway as well (pod → cni0 → flannel.1 → node B's cni0 address).
    expect(ping(podA, b.gateway).status).toBe(0);
  });

  it('the path MTU is 1450: 1422 bytes of ICMP payload fit with DF, 1423 do not', () => {
    const fits = ping(podA, b.host(2), '-M', 'do', '-s', String(FLANNEL_MTU - 28));
    expect(fits.status, fits.stdout + fits.stderr).toBe(0);
    const fitsBack = ping(podB, a.host(2), '-M', 'do', '-s', String(FLANNEL_MTU - 28));
    expect(fitsBack.status, fitsBack.stdout + fitsBack.stderr).toBe(0);
    const tooBig = ping(podA, b.host(2), '-M', 'do', '-s', String(FLANNEL_MTU - 27));
    expect(tooBig.status).not.toBe(0);
    // Refused in the pod itself (eth0 MTU), not somewhere down the path.
    expect(tooBig.stdout + tooBig.stderr).toMatch(/mtu[ =]1450/i);
  });

  it('DEL (twice) removes the veths, the IP reservations and the saved delegate configs', () => {
    for (const [node, pod, id] of [
      [a, podA, idA],
      [b, podB, idB],
    ] as const) {
      for (let i = 0; i < 2; i++) {
        const del = run(node, 'DEL', pod, id);
        expect(del.status, `DEL #${i + 1} of ${id}: ${del.stdout}${del.stderr}`).toBe(0);
        expect(del.stdout).toBe('');
      }
      expect(pod.exec(['ip', 'link', 'show', 'eth0'], { allowFail: true }).status).not.toBe(0);
      expect(veths(node)).toEqual([]);
      expect(ipamFiles(node)).toEqual([]);
      expect(fs.readdirSync(node.flannelDataDir)).toEqual([]);
    }
    expect(ping(podA, b.host(2)).status).not.toBe(0);
  });
});
