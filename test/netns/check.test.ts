// CHECK as a black box on the BUILT executables of both builds: it passes right after
// ADD for every config shape we support (CRI-O runs CHECK right after ADD, so a CHECK
// that fails a healthy pod fails its creation), it changes nothing on disk or in the
// node's rulesets, and it notices what upstream's bridge cmdCheck notices.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Netns, builds, isRoot, kernelFiltersVlans, runPlugin as run, tempDir, uniqueName, type CniEnv } from '../helpers/ns';

const VERSIONS = ['0.4.0', '1.0.0', '1.1.0'];
const NET = 'checknet';
const vlanKernel = kernelFiltersVlans();

/** Every entry under `root`: kind, mode, inode, times and the bytes of each file. */
function snapshotDir(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string): void => {
    const st = fs.lstatSync(p, { bigint: true });
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'link' : 'other';
    const line = `${kind} ${rel} mode=${(st.mode & 0o7777n).toString(8)} ino=${st.ino} mtime=${st.mtimeNs} ctime=${st.ctimeNs}`;
    out.push(st.isFile() ? `${line} ${fs.readFileSync(p).toString('base64')}` : line);
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n), path.join(rel, n));
  };
  walk(root, '.');
  return out;
}

/** The node's nftables and iptables rulesets, without the dump's date and the packet counters. */
function rulesets(node: Netns): Record<string, string> {
  const clean = (text: string) =>
    text
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/g, '').replace(/counter packets \d+ bytes \d+/g, 'counter'))
      .join('\n');
  const out: Record<string, string> = {};
  for (const argv of [['nft', 'list', 'ruleset'], ['iptables-save'], ['ip6tables-save']]) {
    const r = node.exec(argv, { allowFail: true });
    out[argv[0]] = r.status === 0 ? clean(r.stdout) : `exit ${r.status}`;
  }
  return out;
}

interface Ctx {
  bridge: string;
  state: string;
}

interface Shape {
  name: string;
  plugin: 'bridge' | 'flannel';
  conf: (v: string, c: Ctx) => Record<string, unknown>;
  args?: string;
  vlan?: boolean;
  subnetEnv?: string;
}

const ipam = (c: Ctx, extra: Record<string, unknown> = {}) => ({
  type: 'host-local',
  dataDir: path.join(c.state, 'networks'),
  ranges: [[{ subnet: '10.78.0.0/24' }]],
  routes: [{ dst: '10.78.0.0/16' }],
  ...extra,
});
const bridgeConf = (extra: Record<string, unknown>) => (v: string, c: Ctx) => ({ cniVersion: v, name: NET, type: 'bridge', bridge: c.bridge, ipam: ipam(c), ...extra });
const flannelConf = (v: string, c: Ctx) => ({
  cniVersion: v,
  name: NET,
  type: 'flannel',
  subnetFile: path.join(c.state, 'subnet.env'),
  dataDir: path.join(c.state, 'flannel'),
  ipam: { dataDir: path.join(c.state, 'networks') },
  delegate: { bridge: c.bridge, hairpinMode: true, isDefaultGateway: true },
});
const SUBNET_ENV = 'FLANNEL_NETWORK=172.16.0.0/16\nFLANNEL_SUBNET=172.16.98.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

const SHAPES: Shape[] = [
  { name: 'plain bridge', plugin: 'bridge', conf: bridgeConf({}) },
  { name: 'isGateway', plugin: 'bridge', conf: bridgeConf({ isGateway: true }) },
  { name: 'isDefaultGateway', plugin: 'bridge', conf: bridgeConf({ isDefaultGateway: true }) },
  { name: 'ipMasq (iptables)', plugin: 'bridge', conf: bridgeConf({ isGateway: true, ipMasq: true, ipMasqBackend: 'iptables' }) },
  { name: 'ipMasq (nftables)', plugin: 'bridge', conf: bridgeConf({ isGateway: true, ipMasq: true, ipMasqBackend: 'nftables' }) },
  { name: 'hairpinMode', plugin: 'bridge', conf: bridgeConf({ isGateway: true, hairpinMode: true }) },
  { name: 'promiscMode', plugin: 'bridge', conf: bridgeConf({ isGateway: true, promiscMode: true }) },
  { name: 'portIsolation', plugin: 'bridge', conf: bridgeConf({ isGateway: true, portIsolation: true }) },
  { name: 'vlan', plugin: 'bridge', conf: bridgeConf({ isDefaultGateway: true, vlan: 100 }), vlan: true },
  { name: 'vlanTrunk', plugin: 'bridge', conf: bridgeConf({ isGateway: true, vlanTrunk: [{ id: 101 }, { minID: 200, maxID: 203 }] }), vlan: true },
  { name: 'macspoofchk', plugin: 'bridge', conf: bridgeConf({ isGateway: true, macspoofchk: true }) },
  {
    name: 'dual stack',
    plugin: 'bridge',
    conf: (v, c) => ({ ...bridgeConf({ isDefaultGateway: true })(v, c), ipam: ipam(c, { ranges: [[{ subnet: '10.78.0.0/24' }], [{ subnet: 'fd78::/64' }]], routes: [{ dst: '10.78.0.0/16' }, { dst: 'fd00::/8' }] }) }),
  },
  { name: 'static IP (CNI_ARGS IP=)', plugin: 'bridge', conf: bridgeConf({ isGateway: true }), args: 'IgnoreUnknown=1;IP=10.78.0.42' },
  { name: 'runtimeConfig mac', plugin: 'bridge', conf: bridgeConf({ isGateway: true, capabilities: { mac: true }, runtimeConfig: { mac: '0a:58:0a:4e:00:2a' } }) },
  { name: 'L2 only (ipam {})', plugin: 'bridge', conf: (v, c) => ({ ...bridgeConf({})(v, c), ipam: {} }) },
  { name: 'disableContainerInterface', plugin: 'bridge', conf: (v, c) => ({ ...bridgeConf({ disableContainerInterface: true })(v, c), ipam: {} }) },
  { name: 'DNS', plugin: 'bridge', conf: bridgeConf({ isGateway: true, dns: { nameservers: ['10.78.0.10'], domain: 'cluster.local', search: ['svc.cluster.local'], options: ['ndots:5'] } }) },
  { name: 'flannel (kube-flannel delegate)', plugin: 'flannel', conf: flannelConf },
  { name: 'flannel with ipMasq', plugin: 'flannel', conf: flannelConf, subnetEnv: SUBNET_ENV.replace('IPMASQ=true', 'IPMASQ=false') },
];

const cases = (shapes: Shape[]) => shapes.flatMap((s) => VERSIONS.map((v) => [s.name, v, s] as const));

describe.skipIf(!isRoot).each(builds)('CHECK on real namespaces (%s)', (dir) => {
  let node: Netns;
  let pod: Netns;
  let ctx: Ctx;
  const runPlugin = (plugin: string, env: CniEnv, stdin: object) => run(node, plugin, env, stdin, dir);
  const env = (command: string, args?: string): CniEnv => ({ command, containerId: 'ck1', netns: pod.path, ifName: 'eth0', args });
  const bridgeJson = () => node.json<{ address: string; flags: string[] }[]>(`link show dev ${ctx.bridge}`)[0];

  beforeEach(() => {
    node = Netns.create('cnit-ck-node-');
    pod = Netns.create('cnit-ck-pod-');
    ctx = { bridge: uniqueName('cnick'), state: tempDir('cnit-ck-') };
    fs.writeFileSync(path.join(ctx.state, 'subnet.env'), SUBNET_ENV);
  });
  afterEach(() => {
    pod.destroy();
    node.destroy();
    fs.rmSync(ctx.state, { recursive: true, force: true });
  });

  const checkAfterAdd = (shape: Shape, v: string) => {
    if (shape.subnetEnv) fs.writeFileSync(path.join(ctx.state, 'subnet.env'), shape.subnetEnv);
    const c = shape.conf(v, ctx);
    const add = runPlugin(shape.plugin, env('ADD', shape.args), c);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    try {
      // A network directory without `lock` (as a copy or a restore leaves it) and a
      // crash leftover in it: CHECK must neither create the one nor remove the other.
      const netDir = path.join(ctx.state, 'networks', NET);
      if (fs.existsSync(netDir)) {
        fs.rmSync(path.join(netDir, 'lock'));
        fs.writeFileSync(path.join(netDir, '.tmp-0123456789abcdef'), 'leftover');
      }
      const disk = snapshotDir(ctx.state);
      const rules = rulesets(node);
      const check = runPlugin(shape.plugin, env('CHECK', shape.args), { ...c, prevResult: add.json });
      expect(check.status, check.stdout + check.stderr).toBe(0);
      expect(check.stdout).toBe('');
      expect(snapshotDir(ctx.state)).toEqual(disk);
      expect(rulesets(node)).toEqual(rules);
      if (fs.existsSync(netDir)) expect(fs.existsSync(path.join(netDir, 'lock'))).toBe(false);
    } finally {
      const del = runPlugin(shape.plugin, env('DEL', shape.args), c);
      expect(del.status, del.stdout + del.stderr).toBe(0);
    }
  };
  const title = '%s, cniVersion %s: CHECK right after ADD passes and changes nothing';
  it.each(cases(SHAPES.filter((s) => !s.vlan)))(title, (_name, v, shape) => checkAfterAdd(shape, v));
  // Skipped where the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING).
  it.skipIf(!vlanKernel).each(cases(SHAPES.filter((s) => s.vlan)))(title, (_name, v, shape) => checkAfterAdd(shape, v));

  describe('what CHECK notices', () => {
    const gwConf = (extra: Record<string, unknown> = {}) => bridgeConf({ isDefaultGateway: true, ...extra })('1.0.0', ctx);
    const added = (c: object) => {
      const add = runPlugin('bridge', env('ADD'), c);
      expect(add.status, add.stdout + add.stderr).toBe(0);
      return add.json;
    };
    const failsWith = (c: object, prev: object, ...words: string[]) => {
      const check = runPlugin('bridge', env('CHECK'), { ...c, prevResult: prev });
      expect(check.status, check.stdout + check.stderr).toBe(1);
      expect(check.json.code, check.stdout).toBe(999);
      for (const w of words) expect(check.json.msg).toContain(w);
    };
    const passes = (c: object, prev: object) => {
      const check = runPlugin('bridge', env('CHECK'), { ...c, prevResult: prev });
      expect(check.status, check.stdout + check.stderr).toBe(0);
    };

    it('a route whose gateway changed', () => {
      const c = gwConf();
      const prev = added(c);
      passes(c, prev);
      pod.ip('route replace 10.78.0.0/16 via 10.78.0.3 dev eth0');
      failsWith(c, prev, '10.78.0.0/16', '10.78.0.1', '10.78.0.3');
    });

    it('a default route whose gateway changed', () => {
      const c = gwConf();
      const prev = added(c);
      pod.ip('route replace default via 10.78.0.7 dev eth0');
      failsWith(c, prev, '0.0.0.0/0', '10.78.0.1', '10.78.0.7');
    });

    it('a route that is gone', () => {
      const c = gwConf();
      const prev = added(c);
      pod.ip('route del 10.78.0.0/16');
      failsWith(c, prev, '10.78.0.0/16');
    });

    it('a changed bridge MAC, when the bridge holds the gateway (its MAC is pinned)', () => {
      const c = gwConf();
      const prev = added(c);
      node.ip(`link set dev ${ctx.bridge} address 02:00:5e:00:53:42`);
      failsWith(c, prev, ctx.bridge, '02:00:5e:00:53:42', prev.interfaces[0].mac);
    });

    it('a prevResult whose sandbox is not CNI_NETNS', () => {
      const c = gwConf();
      const prev = added(c);
      const wrong = { ...prev, interfaces: prev.interfaces.map((i: { sandbox?: string }) => (i.sandbox ? { ...i, sandbox: '/run/netns/elsewhere' } : i)) };
      failsWith(c, wrong, '/run/netns/elsewhere', pod.path);
    });

    it('a prevResult without the bridge or the container interface', () => {
      const c = gwConf();
      const prev = added(c);
      failsWith(c, { ...prev, interfaces: prev.interfaces.slice(1) }, ctx.bridge);
      failsWith(c, { ...prev, interfaces: prev.interfaces.slice(0, 2) }, 'eth0');
    });

    it('promiscMode: a bridge that is no longer promiscuous', () => {
      const c = gwConf({ promiscMode: true });
      const prev = added(c);
      passes(c, prev);
      node.ip(`link set dev ${ctx.bridge} promisc off`);
      failsWith(c, prev, ctx.bridge, 'promisc');
    });

    it('hairpinMode and portIsolation: a port flag turned off', () => {
      for (const [field, flag] of [['hairpinMode', 'hairpin'], ['portIsolation', 'isolated']] as const) {
        const c = gwConf({ [field]: true });
        const prev = added(c);
        node.exec(['bridge', 'link', 'set', 'dev', prev.interfaces[1].name, flag, 'off']);
        failsWith(c, prev, prev.interfaces[1].name, flag);
        expect(runPlugin('bridge', env('DEL'), c).status).toBe(0);
      }
    });

    it('a host veth taken off the bridge', () => {
      const c = gwConf();
      const prev = added(c);
      node.ip(`link set dev ${prev.interfaces[1].name} nomaster`);
      failsWith(c, prev, prev.interfaces[1].name, ctx.bridge);
    });

    it('an address that is gone', () => {
      const c = gwConf();
      const prev = added(c);
      pod.ip('addr del 10.78.0.2/24 dev eth0');
      failsWith(c, prev, '10.78.0.2/24');
    });

    // Never stricter than what a healthy pod keeps:
    it('passes with promiscMode false on a bridge someone else made promiscuous (ADD never turns it off)', () => {
      node.ip(`link add ${ctx.bridge} type bridge`);
      node.ip(`link set dev ${ctx.bridge} promisc on`);
      const c = gwConf();
      const prev = added(c);
      expect(bridgeJson().flags).toContain('PROMISC');
      passes(c, prev);
    });

    it('passes when a non-gateway bridge takes another port MAC (it follows its ports)', () => {
      const c = bridgeConf({})('1.0.0', ctx);
      const prev = added(c);
      const other = Netns.create('cnit-ck-pod-');
      try {
        const add2 = runPlugin('bridge', { ...env('ADD'), containerId: 'ck2', netns: other.path }, c);
        expect(add2.status, add2.stdout).toBe(0);
        node.ip(`link set dev ${add2.json.interfaces[1].name} address 02:00:00:00:00:01`);
        expect(bridgeJson().address).not.toBe(prev.interfaces[0].mac);
        passes(c, prev);
        expect(runPlugin('bridge', { ...env('DEL'), containerId: 'ck2', netns: other.path }, c).status).toBe(0);
      } finally {
        other.destroy();
      }
    });

    it('passes with two IPv6 routes to one destination, which the kernel merges into one multipath route', () => {
      const ranges = [[{ subnet: '10.78.0.0/24' }], [{ subnet: 'fd78::/64' }]];
      const routes = [{ dst: 'fd00::/8', gw: 'fd78::1' }, { dst: 'fd00::/8', gw: 'fd78::3' }];
      const c = { ...gwConf(), ipam: ipam(ctx, { ranges, routes }) };
      const prev = added(c);
      expect(pod.ip('-6 route show fd00::/8')).toMatch(/nexthop via fd78::1 .*\n.*nexthop via fd78::3/s);
      passes(c, prev);
      pod.ip('-6 route del fd00::/8');
      pod.ip('-6 route add fd00::/8 via fd78::1 dev eth0');
      failsWith(c, prev, 'fd00::/8', 'fd78::3');
    });

    it('passes with the host veth MAC changed after ADD (udev may do that: plugins#805)', () => {
      const c = gwConf();
      const prev = added(c);
      node.ip(`link set dev ${prev.interfaces[1].name} address 02:00:5e:00:53:77`);
      passes(c, prev);
    });
  });
});
