// The reference-parity fields of the bridge (vlan, vlanTrunk, preserveDefaultVlan,
// macspoofchk, ipMasqBackend, disableContainerInterface) as a black box: the BUILT
// dist/bridge runs in a namespace standing in for the node, every assertion reads
// the kernel (bridge -j vlan, nft -j, iptables -S, ip -j link). Where the installed
// reference (/usr/lib/cni/bridge, Debian 1.1.1) knows a field, it runs the same
// config in a second node namespace and the kernel states are compared.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { networkTag } from '../../lib/nft/spoofcheck';
import { Netns, builds, isRoot, kernelFiltersVlans, runPlugin, tempDir, uniqueName, type CniEnv, type PluginRun } from '../helpers/ns';

const REF_DIR = '/usr/lib/cni';
const hasRef = fs.existsSync(path.join(REF_DIR, 'bridge'));

const vlanKernel = kernelFiltersVlans();

function runRef(node: Netns, env: CniEnv, conf: object): PluginRun {
  const e: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: env.command, CNI_PATH: REF_DIR };
  if (env.containerId !== undefined) e.CNI_CONTAINERID = env.containerId;
  if (env.netns !== undefined) e.CNI_NETNS = env.netns;
  if (env.ifName !== undefined) e.CNI_IFNAME = env.ifName;
  const r = spawnSync('ip', ['netns', 'exec', node.name, path.join(REF_DIR, 'bridge')], { input: JSON.stringify(conf), env: e, encoding: 'utf8' });
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = r.stdout ? JSON.parse(r.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
}

type NftObj = Record<string, Record<string, unknown>>;

/** `nft -j list table …` without handles and metainfo, host veth names replaced; undefined when the table is absent. */
function nftTable(n: Netns, family: string, table: string, hostVeth?: string): NftObj[] | undefined {
  const r = n.exec(['nft', '-j', 'list', 'table', family, table], { allowFail: true });
  if (r.status !== 0) return undefined;
  const text = hostVeth ? r.stdout.split(JSON.stringify(hostVeth)).join('"<host veth>"') : r.stdout;
  return (JSON.parse(text).nftables as NftObj[])
    .filter((o) => !o.metainfo)
    .map((o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).filter(([f]) => f !== 'handle'))])));
}

const chainNames = (objs: NftObj[] | undefined): string[] => (objs ?? []).filter((o) => o.chain).map((o) => o.chain.name as string).sort();
const rulesWithComment = (objs: NftObj[] | undefined, text: string) => (objs ?? []).filter((o) => o.rule && String(o.rule.comment ?? '').includes(text));

describe.skipIf(!isRoot)('bridge reference-parity fields on real namespaces', () => {
  let node: Netns;
  let refNode: Netns;
  let pods: Netns[];
  let dataDir: string;
  let refDataDir: string;
  let bridge: string;

  const conf = (extra: Record<string, unknown> = {}, dir = dataDir) => ({
    cniVersion: '1.0.0',
    name: 'parnet',
    type: 'bridge',
    bridge,
    isGateway: true,
    ipam: { type: 'host-local', dataDir: dir, ranges: [[{ subnet: '10.79.0.0/24' }]] },
    ...extra,
  });
  const l2 = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: 'parnet', type: 'bridge', bridge, ipam: {}, ...extra });
  const pod = () => {
    const p = Netns.create('cnit-par-pod-');
    pods.push(p);
    return p;
  };
  const env = (command: string, p: Netns | undefined, id: string, ifName = 'eth0'): CniEnv => ({ command, containerId: id, netns: p ? p.path : '', ifName });
  const ours = (command: string, p: Netns | undefined, id: string, c: object) => runPlugin(node, 'bridge', env(command, p, id), c);
  const hostVeths = (n: Netns) => n.json<{ ifname: string }[]>('link show type veth').map((l) => l.ifname);
  const ipFiles = () => {
    const dir = path.join(dataDir, 'parnet');
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
  };

  beforeEach(() => {
    node = Netns.create('cnit-par-node-');
    refNode = Netns.create('cnit-par-ref-');
    pods = [];
    dataDir = tempDir('cnit-par-ipam-');
    refDataDir = tempDir('cnit-par-refipam-');
    bridge = uniqueName('cnp'); // short: "<bridge>.<vlan>" must fit in 15 bytes
  });
  afterEach(() => {
    for (const p of pods) p.destroy();
    node.destroy();
    refNode.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(refDataDir, { recursive: true, force: true });
  });

  describe('macspoofchk', () => {
    const mac = '02:42:0a:4f:00:07';

    it.skipIf(!hasRef)('makes the same nftables objects as the reference, and DEL leaves the same table', () => {
      const c = l2({ macspoofchk: true, runtimeConfig: { mac } });
      const p1 = pod();
      const p2 = pod();
      const a = ours('ADD', p1, 'spoof1', c);
      expect(a.status, a.stdout + a.stderr).toBe(0);
      const r = runRef(refNode, env('ADD', p2, 'spoof1'), c);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const mine = nftTable(node, 'bridge', 'nat', a.json.interfaces[1].name);
      const theirs = nftTable(refNode, 'bridge', 'nat', r.json.interfaces[1].name);
      expect(chainNames(mine)).toEqual(['PREROUTING', 'cni-br-iface-spoof1-eth0', 'cni-br-iface-spoof1-eth0-mac']);
      // One deliberate difference: the rule inside the iface chain, which nothing of the
      // reference reads, names the network that made the chain (so GC stays in its network).
      expect(rulesWithComment(mine, networkTag(c.name))).toHaveLength(1);
      expect(rulesWithComment(mine, 'macspoofchk-spoof1-eth0')).toHaveLength(3);
      expect(JSON.parse(JSON.stringify(mine).replaceAll(networkTag(c.name), 'macspoofchk-spoof1-eth0'))).toEqual(theirs);

      expect(ours('DEL', p1, 'spoof1', c).status).toBe(0);
      expect(runRef(refNode, env('DEL', p2, 'spoof1'), c).status).toBe(0);
      expect(chainNames(nftTable(node, 'bridge', 'nat'))).toEqual(['PREROUTING']);
      expect(nftTable(node, 'bridge', 'nat')).toEqual(nftTable(refNode, 'bridge', 'nat'));
    });

    it('drops frames from the pod once its MAC is spoofed; CHECK notices missing rules', () => {
      const p = pod();
      const c = conf({ macspoofchk: true, runtimeConfig: { mac } });
      const add = ours('ADD', p, 'spoof2', c);
      expect(add.status, add.stdout + add.stderr).toBe(0);
      expect(add.json.interfaces[2].mac).toBe(mac);
      const rules = nftTable(node, 'bridge', 'nat', add.json.interfaces[1].name);
      expect(JSON.stringify(rulesWithComment(rules, 'macspoofchk-spoof2-eth0'))).toContain(`"right":"${mac}"`);
      expect(JSON.stringify(rulesWithComment(rules, 'macspoofchk-spoof2-eth0'))).toContain('"right":"<host veth>"');
      expect(p.exec(['ping', '-c', '1', '-W', '2', '10.79.0.1'], { allowFail: true }).status).toBe(0);
      expect(ours('CHECK', p, 'spoof2', { ...c, prevResult: add.json }).status).toBe(0);

      node.exec(['nft', 'flush', 'chain', 'bridge', 'nat', 'cni-br-iface-spoof2-eth0-mac']);
      const check = ours('CHECK', p, 'spoof2', { ...c, prevResult: add.json });
      expect(check.status).toBe(1);
      expect(check.json.msg).toContain('macspoofchk for "eth0"');
      expect(ours('DEL', p, 'spoof2', c).status).toBe(0);

      const again = ours('ADD', p, 'spoof3', c);
      expect(again.status, again.stdout).toBe(0);
      p.ip('neigh flush all');
      p.ip('link set eth0 address 02:42:0a:4f:00:99');
      expect(p.exec(['ping', '-c', '1', '-W', '1', '10.79.0.1'], { allowFail: true }).status).not.toBe(0);
      expect(ours('DEL', p, 'spoof3', c).status).toBe(0);
    });

    it('DEL without a netns still removes the chains (the reference leaks them, plugins#810)', () => {
      const p = pod();
      const c = l2({ macspoofchk: true });
      expect(ours('ADD', p, 'spoof4', c).status).toBe(0);
      expect(chainNames(nftTable(node, 'bridge', 'nat'))).toContain('cni-br-iface-spoof4-eth0');
      const del = ours('DEL', undefined, 'spoof4', c);
      expect(del.status, del.stdout).toBe(0);
      expect(chainNames(nftTable(node, 'bridge', 'nat'))).toEqual(['PREROUTING']);
      expect(rulesWithComment(nftTable(node, 'bridge', 'nat'), 'spoof4')).toEqual([]);
      expect(ours('DEL', undefined, 'spoof4', c).status).toBe(0);
    });

    it('rolls the spoof-check back when a later ADD step fails', () => {
      const p = pod();
      // The bridge holds another IPv4 address and forceAddress is off: the gateway
      // step fails after the veth, spoof-check and pod addresses were made.
      node.ip(`link add ${bridge} type bridge`);
      node.ip(`addr add 192.168.251.1/24 dev ${bridge}`);
      const add = ours('ADD', p, 'spoof5', conf({ macspoofchk: true, ipMasq: true, ipMasqBackend: 'nftables' }));
      expect(add.status).toBe(1);
      expect(add.json.msg).toContain('already has an IP address different from 10.79.0.1/24');
      const t = nftTable(node, 'bridge', 'nat');
      expect(chainNames(t).filter((n) => n.includes('spoof5'))).toEqual([]);
      expect(rulesWithComment(t, 'spoof5')).toEqual([]);
      expect(hostVeths(node)).toEqual([]);
      expect(ipFiles()).toEqual([]);
    });
  });

  describe('ipMasqBackend', () => {
    const masqRules = (n: Netns) => (nftTable(n, 'inet', 'cni_plugins_masquerade') ?? []).filter((o) => o.rule);

    it('nftables: the reference table and chains, one rule per IP; DEL by hash, even without netns or IPs', () => {
      const p1 = pod();
      const p2 = pod();
      const c = conf({ ipMasq: true, ipMasqBackend: 'nftables' });
      expect(ours('ADD', p1, 'nft1', c).status).toBe(0);
      const add2 = ours('ADD', p2, 'nft2', c);
      expect(add2.status, add2.stdout).toBe(0);
      const ruleset = node.exec(['nft', 'list', 'table', 'inet', 'cni_plugins_masquerade']).stdout;
      expect(ruleset).toContain('comment "Masquerading for plugins from github.com/containernetworking/plugins"');
      expect(ruleset).toMatch(/chain postrouting \{\s+type nat hook postrouting priority srcnat; policy accept;\s+ip daddr 224\.0\.0\.0\/4 return\s+ip6 daddr ff00::\/8 return\s+goto masq_checks\s+\}/);
      expect(ruleset).toMatch(/ip saddr 10\.79\.0\.2 ip daddr != 10\.79\.0\.0\/24 masquerade comment "[0-9a-f]{16}-[0-9a-f]{16}, net: parnet, if: eth0, id: nft1"/);
      expect(ruleset).toMatch(/ip saddr 10\.79\.0\.3 ip daddr != 10\.79\.0\.0\/24 masquerade comment "[0-9a-f]{16}-[0-9a-f]{16}, net: parnet, if: eth0, id: nft2"/);
      // postrouting is rewritten, not appended to, by the second ADD.
      expect(ruleset.match(/goto masq_checks/g)).toHaveLength(1);
      expect(node.exec(['iptables', '-t', 'nat', '-S']).stdout).not.toContain('CNI-');

      // DEL with the config switched to iptables still removes the nft rule: both backends are torn down.
      expect(ours('DEL', p1, 'nft1', conf({ ipMasq: true, ipMasqBackend: 'iptables' })).status).toBe(0);
      expect(JSON.stringify(masqRules(node))).not.toContain('id: nft1');
      const del2 = ours('DEL', undefined, 'nft2', c);
      expect(del2.status, del2.stdout).toBe(0);
      expect(masqRules(node).filter((o) => o.rule.chain === 'masq_checks')).toEqual([]);
      expect(ours('DEL', undefined, 'nft2', c).status).toBe(0);
    });

    it('nftables: pod traffic leaving the pod subnet is masqueraded (an outside host without a route back still answers)', () => {
      const outside = pod();
      node.ip(`link add uplink type veth peer name wan netns ${outside.name}`);
      node.ip('addr add 192.168.77.1/24 dev uplink');
      node.ip('link set uplink up');
      outside.ip('addr add 192.168.77.2/24 dev wan');
      outside.ip('link set wan up');
      const p = pod();
      const c = conf({ isDefaultGateway: true, ipMasq: true, ipMasqBackend: 'nftables' });
      expect(ours('ADD', p, 'masq1', c).status).toBe(0);
      expect(p.exec(['ping', '-c', '1', '-W', '2', '192.168.77.2'], { allowFail: true }).status).toBe(0);
      expect(ours('DEL', p, 'masq1', c).status).toBe(0);
      // Without the rule the echo request arrives from 10.79.0.x, which the outside host cannot answer.
      const plain = conf({ isDefaultGateway: true });
      expect(ours('ADD', p, 'masq2', plain).status).toBe(0);
      expect(p.exec(['ping', '-c', '1', '-W', '1', '192.168.77.2'], { allowFail: true }).status).not.toBe(0);
      expect(ours('DEL', p, 'masq2', plain).status).toBe(0);
    });

    it.skipIf(!hasRef)('automatic = iptables here (iptables works): same rules as the reference', () => {
      const p1 = pod();
      const p2 = pod();
      const norm = (n: Netns) => n.exec(['iptables', '-t', 'nat', '-S']).stdout.split('\n').filter((l) => l.includes('CNI-')).sort();
      expect(ours('ADD', p1, 'auto1', conf({ ipMasq: true })).status).toBe(0);
      expect(runRef(refNode, env('ADD', p2, 'auto1'), conf({ ipMasq: true }, refDataDir)).status).toBe(0);
      expect(norm(node).length).toBeGreaterThan(0);
      expect(norm(node)).toEqual(norm(refNode));
      expect(nftTable(node, 'inet', 'cni_plugins_masquerade')).toBeUndefined();
      expect(ours('DEL', p1, 'auto1', conf({ ipMasq: true })).status).toBe(0);
      expect(norm(node)).toEqual([]);
    });
  });

  describe('disableContainerInterface', () => {
    it('leaves the pod end down, skips the port-up wait, and refuses an IPAM type', () => {
      const p = pod();
      const c = l2({ disableContainerInterface: true });
      const add = ours('ADD', p, 'down1', c);
      expect(add.status, add.stdout + add.stderr).toBe(0);
      const eth0 = p.json<{ flags: string[]; operstate: string }[]>('link show dev eth0')[0];
      expect(eth0.flags).not.toContain('UP');
      const port = node.json<{ flags: string[]; master: string }[]>(`link show dev ${add.json.interfaces[1].name}`)[0];
      expect(port.flags).toContain('UP');
      expect(port.master).toBe(bridge);
      expect(ours('DEL', p, 'down1', c).status).toBe(0);
      expect(hostVeths(node)).toEqual([]);

      const bad = ours('ADD', p, 'down2', conf({ disableContainerInterface: true }));
      expect(bad.status).toBe(1);
      expect(bad.json).toMatchObject({ code: 7, msg: expect.stringContaining('cannot use IPAM when DisableContainerInterface flag is set') });
      expect(hostVeths(node)).toEqual([]);
    });
  });

  describe.skipIf(vlanKernel)('vlan on a kernel without bridge VLAN filtering', () => {
    it.skipIf(!hasRef)('fails like the reference, but leaves nothing behind', () => {
      const p1 = pod();
      const p2 = pod();
      const c = conf({ vlan: 100 });
      const a = ours('ADD', p1, 'vlan1', c);
      const r = runRef(refNode, env('ADD', p2, 'vlan1'), conf({ vlan: 100 }, refDataDir));
      expect(r.status).toBe(1);
      expect(r.json.msg).toContain(`failed to create bridge "${bridge}"`);
      expect(a.status).toBe(1);
      expect(a.json.msg).toContain(`failed to create bridge "${bridge}"`);
      expect(a.json.details).toContain('CONFIG_BRIDGE_VLAN_FILTERING');
      expect(ipFiles()).toEqual([]);

      // An existing bridge (no filtering): the port's vlan step fails, for both.
      node.ip(`link add ${bridge} type bridge`);
      refNode.ip(`link add ${bridge} type bridge`);
      const a2 = ours('ADD', p1, 'vlan2', c);
      const r2 = runRef(refNode, env('ADD', p2, 'vlan2'), conf({ vlan: 100 }, refDataDir));
      expect(r2.json.msg).toMatch(/failed to setup vlan tag on interface "veth[0-9a-f]{8}"/);
      expect(a2.json.msg).toMatch(/failed to setup vlan tag on interface "veth[0-9a-f]{8}"/);
      // The reference leaves its veth for the runtime's DEL; ours unwinds.
      expect(hostVeths(node)).toEqual([]);
      expect(p1.json<{ ifname: string }[]>('link show').map((l) => l.ifname)).toEqual(['lo']);
      expect(ipFiles()).toEqual([]);
    });

    // No longer refused as a config (reference v1.8.0): it reaches the kernel, which cannot do it.
    it.each(builds)('vlan with vlanTrunk fails in the kernel with the hint and leaves nothing (%s)', (dir) => {
      const p = pod();
      const a = runPlugin(node, 'bridge', env('ADD', p, 'native1'), conf({ vlan: 100, vlanTrunk: [{ id: 101 }] }), dir);
      expect(a.status).toBe(1);
      expect(a.json.msg).toContain(`failed to create bridge "${bridge}"`);
      expect(a.json.details).toContain('CONFIG_BRIDGE_VLAN_FILTERING');
      expect(hostVeths(node)).toEqual([]);
      expect(ipFiles()).toEqual([]);
    });
  });

  describe.skipIf(!vlanKernel)('vlan on a kernel with bridge VLAN filtering', () => {
    type VlanShow = { ifname: string; vlans: { vlan: number; vlanEnd?: number; flags?: string[] }[] }[];
    const portVlans = (n: Netns, port: string) => {
      const all = JSON.parse(n.exec(['bridge', '-j', 'vlan', 'show']).stdout || '[]') as VlanShow;
      return (all.find((e) => e.ifname === port)?.vlans ?? []).map((v) => ({ vid: v.vlan, end: v.vlanEnd, flags: (v.flags ?? []).sort() }));
    };
    const filtering = (n: Netns) => n.json<{ linkinfo: { info_data: { vlan_filtering: number } } }[]>(`-d link show dev ${bridge}`)[0].linkinfo.info_data.vlan_filtering;

    it('access port: filtering bridge, vlan as PVID untagged, default vid removed; gateway on <bridge>.<vlan>', () => {
      const p = pod();
      const c = conf({ vlan: 100 });
      const add = ours('ADD', p, 'vlan3', c);
      expect(add.status, add.stdout + add.stderr).toBe(0);
      expect(filtering(node)).toBe(1);
      expect(portVlans(node, add.json.interfaces[1].name)).toEqual([{ vid: 100, end: undefined, flags: ['Egress Untagged', 'PVID'] }]);
      expect(add.json.interfaces[3]).toMatchObject({ name: `${bridge}.100` });
      expect(node.ip(`-br addr show dev ${bridge}.100`)).toContain('10.79.0.1/24');
      // The pod and the gateway meet in vlan 100 only.
      expect(p.exec(['ping', '-c', '1', '-W', '2', '10.79.0.1'], { allowFail: true }).status).toBe(0);
      expect(ours('CHECK', p, 'vlan3', { ...c, prevResult: add.json }).status).toBe(0);
      node.exec(['bridge', 'vlan', 'del', 'dev', add.json.interfaces[1].name, 'vid', '100']);
      const check = ours('CHECK', p, 'vlan3', { ...c, prevResult: add.json });
      expect(check.status).toBe(1);
      expect(check.json.msg).toContain('vlan 100 is missing');
      expect(ours('DEL', p, 'vlan3', c).status).toBe(0);
      expect(hostVeths(node).filter((v) => v !== `${bridge}.100`)).toHaveLength(1); // only the gateway's port stays
    });

    it('trunk: native vid 1 as PVID untagged plus tagged trunk vids', () => {
      const p = pod();
      const add = ours('ADD', p, 'trunk1', l2({ vlanTrunk: [{ id: 42 }, { minID: 200, maxID: 203 }] }));
      expect(add.status, add.stdout + add.stderr).toBe(0);
      const vlans = portVlans(node, add.json.interfaces[1].name);
      expect(vlans[0]).toEqual({ vid: 1, end: undefined, flags: ['Egress Untagged', 'PVID'] });
      const tagged = vlans.slice(1).flatMap((v) => Array.from({ length: (v.end ?? v.vid) - v.vid + 1 }, (_, i) => v.vid + i));
      expect(tagged).toEqual([42, 200, 201, 202, 203]);
    });

    it.each(builds)('vlan with vlanTrunk: vlan is the native vlan (PVID untagged), trunk vids tagged, no vid 1; CHECK verifies it (%s)', (dir) => {
      const p = pod();
      const c = conf({ vlan: 100, vlanTrunk: [{ id: 42 }, { minID: 200, maxID: 201 }] });
      const run = (command: string, cfg: object) => runPlugin(node, 'bridge', env(command, p, 'native2'), cfg, dir);
      const add = run('ADD', c);
      expect(add.status, add.stdout + add.stderr).toBe(0);
      expect(filtering(node)).toBe(1);
      const port = add.json.interfaces[1].name as string;
      const vlans = portVlans(node, port);
      expect(vlans.find((v) => v.vid === 100)).toEqual({ vid: 100, end: undefined, flags: ['Egress Untagged', 'PVID'] });
      expect(vlans.some((v) => v.vid === 1)).toBe(false);
      const tagged = vlans.filter((v) => v.vid !== 100).flatMap((v) => Array.from({ length: (v.end ?? v.vid) - v.vid + 1 }, (_, i) => v.vid + i));
      expect(tagged).toEqual([42, 200, 201]);
      // The gateway sits on <bridge>.<vlan>, reached untagged through the native vlan.
      expect(node.ip(`-br addr show dev ${bridge}.100`)).toContain('10.79.0.1/24');
      expect(p.exec(['ping', '-c', '1', '-W', '2', '10.79.0.1'], { allowFail: true }).status).toBe(0);
      expect(run('CHECK', { ...c, prevResult: add.json }).status).toBe(0);
      node.exec(['bridge', 'vlan', 'add', 'dev', port, 'vid', '100']); // now tagged, PVID gone
      const check = run('CHECK', { ...c, prevResult: add.json });
      expect(check.status).toBe(1);
      expect(check.json.msg).toContain('vlan 100 is not PVID untagged');
      expect(run('DEL', c).status).toBe(0);
    });

    it.skipIf(!hasRef)('preserveDefaultVlan: true keeps vid 1, exactly as the (always-preserving) reference 1.1.1', () => {
      const p1 = pod();
      const p2 = pod();
      const c = l2({ vlan: 100, preserveDefaultVlan: true });
      const a = ours('ADD', p1, 'keep1', c);
      const r = runRef(refNode, env('ADD', p2, 'keep1'), c);
      expect(a.status, a.stdout).toBe(0);
      expect(r.status, r.stdout).toBe(0);
      expect(portVlans(node, a.json.interfaces[1].name)).toEqual(portVlans(refNode, r.json.interfaces[1].name));
      expect(portVlans(node, a.json.interfaces[1].name).map((v) => v.vid)).toEqual([1, 100]);
    });
  });
});

// White box: the "<bridge>.<vlan>" gateway (a host-side veth pair, one end a vlan
// access port) made through our netlink code in a throwaway node namespace.
describe.skipIf(!isRoot)('ensureVlanGateway', () => {
  let node: Netns;
  beforeEach(() => {
    node = Netns.create('cnit-par-gw-');
  });
  afterEach(() => node.destroy());

  const withNodeSocket = async <T>(fn: (nl: import('../../lib/netlink/socket').Nl) => T): Promise<T> => {
    const { openNetns } = await import('../../lib/netns');
    const { openSocket } = await import('../../lib/netlink/socket');
    const { ns, value: nl } = openNetns(node.path, openSocket);
    try {
      return fn(nl);
    } finally {
      nl.close();
      ns.close();
    }
  };

  it(vlanKernel ? 'makes <bridge>.<vlan> whose peer is an access port of the vlan, once' : 'fails with the kernel hint and removes its half-made veth pair', async () => {
    const { ensureVlanGateway } = await import('../../plugins/bridge/bridge');
    const { getLink } = await import('../../lib/netlink/link');
    node.ip(`link add brg type bridge${vlanKernel ? ' vlan_filtering 1' : ''}`);
    await withNodeSocket((nl) => {
      const br = getLink(nl, 'brg')!;
      if (!vlanKernel) {
        expect(() => ensureVlanGateway(nl, br, 100, false)).toThrowError(expect.objectContaining({
          message: expect.stringContaining('failed to create vlan interface: failed to setup vlan tag on interface'),
          details: expect.stringContaining('CONFIG_BRIDGE_VLAN_FILTERING'),
        }));
        expect(node.json('link show type veth')).toEqual([]);
        return;
      }
      const gw = ensureVlanGateway(nl, br, 100, false);
      expect(gw.name).toBe('brg.100');
      expect(gw.up).toBe(true);
      const port = node.json<{ ifname: string; master?: string }[]>('link show type veth').find((l) => l.master === 'brg')!;
      const vlans = JSON.parse(node.exec(['bridge', '-j', 'vlan', 'show', 'dev', port.ifname]).stdout) as { vlans: { vlan: number; flags?: string[] }[] }[];
      expect(vlans[0].vlans.map((v) => [v.vlan, (v.flags ?? []).sort()])).toEqual([[100, ['Egress Untagged', 'PVID']]]);
      expect(ensureVlanGateway(nl, br, 100, false).index).toBe(gw.index);
    });
  });
});
