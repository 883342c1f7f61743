// The built dist/bridge as a black box, run inside a namespace standing in for the
// node, against real pod namespaces; every assertion reads the kernel or the disk.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Netns, isRoot, runPlugin, tempDir, uniqueName } from '../helpers/ns';

const VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

describe.skipIf(!isRoot)('bridge on real namespaces', () => {
  let node: Netns;
  let pods: Netns[];
  let dataDir: string;
  let bridge: string;

  const conf = (extra: Record<string, unknown> = {}, cniVersion = '1.0.0') => ({
    cniVersion,
    name: 'testnet',
    type: 'bridge',
    bridge,
    isGateway: true,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.77.0.0/24' }]], routes: [{ dst: '10.77.0.0/16' }] },
    ...extra,
  });
  const pod = () => {
    const p = Netns.create('cnit-pod-');
    pods.push(p);
    return p;
  };
  const env = (command: string, p: Netns | undefined, id: string, ifName = 'eth0') => ({ command, containerId: id, netns: p ? p.path : '', ifName });
  const ipFiles = () => fs.readdirSync(path.join(dataDir, 'testnet')).filter((f) => /^[0-9a-f.:]+$/.test(f));
  const hostVeths = () => node.json<{ ifname: string }[]>('link show type veth').map((l) => l.ifname);

  beforeEach(() => {
    node = Netns.create('cnit-node-');
    pods = [];
    dataDir = tempDir('cnit-ipam-');
    bridge = uniqueName('cnibr');
  });
  afterEach(() => {
    for (const p of pods) p.destroy();
    node.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it.each(VERSIONS)('ADD → CHECK → DEL → DEL under cniVersion %s', (v) => {
    const p = pod();
    const c = conf({}, v);
    const add = runPlugin(node, 'bridge', env('ADD', p, 'ctr1'), c);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(add.json.cniVersion).toBe(v);
    if (v === '0.1.0' || v === '0.2.0') {
      expect(add.json.ip4.ip).toBe('10.77.0.2/24');
      expect(add.json.ip4.gateway).toBe('10.77.0.1');
      expect(add.json.interfaces).toBeUndefined();
    } else {
      expect(add.json.interfaces.map((i: { name: string }) => i.name)).toEqual([bridge, expect.stringMatching(/^veth[0-9a-f]{8}$/), 'eth0']);
      expect(add.json.interfaces[2].sandbox).toBe(p.path);
      expect(add.json.ips).toHaveLength(1);
      expect(add.json.ips[0]).toMatchObject({ address: '10.77.0.2/24', gateway: '10.77.0.1', interface: 2 });
      if (v.startsWith('0.')) expect(add.json.ips[0].version).toBe('4');
      else expect(add.json.ips[0].version).toBeUndefined();
    }
    const addrs = p.json<{ addr_info: { local: string; prefixlen: number }[] }[]>('addr show dev eth0')[0].addr_info.filter((a) => a.local.startsWith('10.'));
    expect(addrs).toEqual([expect.objectContaining({ local: '10.77.0.2', prefixlen: 24 })]);
    expect(p.ip('route show 10.77.0.0/16')).toContain('via 10.77.0.1 dev eth0');
    if (v >= '0.4.0') {
      const check = runPlugin(node, 'bridge', env('CHECK', p, 'ctr1'), { ...c, prevResult: add.json });
      expect(check.status, check.stdout).toBe(0);
      expect(check.stdout).toBe('');
    }
    for (let i = 0; i < 2; i++) {
      const del = runPlugin(node, 'bridge', env('DEL', p, 'ctr1'), c);
      expect(del.status, del.stdout).toBe(0);
      expect(del.stdout).toBe('');
    }
    expect(p.exec(['ip', 'link', 'show', 'eth0'], { allowFail: true }).status).not.toBe(0);
    expect(hostVeths()).toEqual([]);
    expect(ipFiles()).toEqual([]);
  });

  it('writes host-local state byte-for-byte in the reference format', () => {
    const p = pod();
    const add = runPlugin(node, 'bridge', env('ADD', p, 'abc123'), conf());
    expect(add.status, add.stdout).toBe(0);
    const dir = path.join(dataDir, 'testnet');
    expect(fs.readFileSync(path.join(dir, '10.77.0.2'), 'latin1')).toBe('abc123\r\neth0');
    expect(fs.statSync(path.join(dir, '10.77.0.2')).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(dir, 'last_reserved_ip.0'), 'latin1')).toBe('10.77.0.2');
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(true);
    // The reference's layout, plus our two records it ignores: this boot (lib/ipam/boot.ts)
    // and the gateway this network put on the bridge (plugins/bridge/gateway.ts).
    expect(fs.readdirSync(dir).sort()).toEqual(['10.77.0.2', 'boot_id', 'bridge_gateways', 'last_reserved_ip.0', 'lock']);
  });

  it('gives 8 pods unique addresses that reach each other and the gateway', () => {
    const ps = Array.from({ length: 8 }, () => pod());
    const ips = ps.map((p, i) => {
      const add = runPlugin(node, 'bridge', env('ADD', p, `pod${i}`), conf());
      expect(add.status, add.stdout).toBe(0);
      return add.json.ips[0].address.split('/')[0] as string;
    });
    expect(new Set(ips).size).toBe(8);
    expect(node.ip(`-br addr show dev ${bridge}`)).toContain('10.77.0.1/24');
    for (const [i, p] of ps.entries()) {
      const target = ips[(i + 1) % ips.length];
      expect(p.exec(['ping', '-c', '1', '-W', '2', target], { allowFail: true }).status, `pod${i} → ${target}`).toBe(0);
      expect(p.exec(['ping', '-c', '1', '-W', '2', '10.77.0.1'], { allowFail: true }).status).toBe(0);
    }
    const macBefore = node.json<{ address: string }[]>(`link show dev ${bridge}`)[0].address;
    for (const [i, p] of ps.entries()) expect(runPlugin(node, 'bridge', env('DEL', p, `pod${i}`), conf()).status).toBe(0);
    expect(node.json<{ address: string }[]>(`link show dev ${bridge}`)[0].address).toBe(macBefore);
    expect(hostVeths()).toEqual([]);
    expect(ipFiles()).toEqual([]);
  });

  it('applies mtu, hairpin, isDefaultGateway and dual stack', () => {
    const p = pod();
    const c = conf({
      mtu: 1450,
      hairpinMode: true,
      isDefaultGateway: true,
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.77.0.0/24' }], [{ subnet: 'fd77::/64' }]] },
    });
    const add = runPlugin(node, 'bridge', env('ADD', p, 'ds1'), c);
    expect(add.status, add.stdout).toBe(0);
    expect(add.json.ips.map((i: { address: string }) => i.address)).toEqual(['10.77.0.2/24', 'fd77::2/64']);
    expect(p.json<{ mtu: number }[]>('link show dev eth0')[0].mtu).toBe(1450);
    expect(node.json<{ mtu: number }[]>(`link show dev ${bridge}`)[0].mtu).toBe(1450);
    expect(p.ip('route show default')).toContain('via 10.77.0.1');
    expect(p.ip('-6 route show default')).toContain('via fd77::1');
    const hostVeth = add.json.interfaces[1].name as string;
    const port = node.json<{ ifname: string; hairpin: boolean }[]>(`-d link show dev ${hostVeth}`)[0] as unknown as { linkinfo: { info_slave_data: { hairpin: boolean } } };
    expect(port.linkinfo.info_slave_data.hairpin).toBe(true);
    expect(p.exec(['ping', '-6', '-c', '1', '-W', '2', 'fd77::1'], { allowFail: true }).status).toBe(0);
    expect(node.exec(['cat', '/proc/sys/net/ipv4/ip_forward']).stdout.trim()).toBe('1');
    expect(runPlugin(node, 'bridge', env('DEL', p, 'ds1'), c).status).toBe(0);
    expect(ipFiles()).toEqual([]);
  });

  it('sets and removes ipMasq rules with the reference chain name and comment', () => {
    const p = pod();
    const c = conf({ ipMasq: true });
    const add = runPlugin(node, 'bridge', env('ADD', p, 'masq1'), c);
    expect(add.status, add.stdout).toBe(0);
    const rules = node.exec(['iptables', '-t', 'nat', '-S']).stdout;
    expect(rules).toMatch(/-A POSTROUTING -s 10\.77\.0\.2\/32 -m comment --comment "name: \\?"testnet\\?" id: \\?"masq1\\?"" -j CNI-[0-9a-f]{24}/);
    expect(runPlugin(node, 'bridge', env('DEL', p, 'masq1'), c).status).toBe(0);
    expect(node.exec(['iptables', '-t', 'nat', '-S']).stdout).not.toContain('CNI-');
  });

  it('DEL with the netns gone or an empty CNI_NETNS still releases the IP and the masq chain', () => {
    const p1 = pod();
    const p2 = pod();
    const c = conf({ ipMasq: true });
    expect(runPlugin(node, 'bridge', env('ADD', p1, 'gone1'), c).status).toBe(0);
    expect(runPlugin(node, 'bridge', env('ADD', p2, 'gone2'), c).status).toBe(0);
    p1.destroy();
    expect(runPlugin(node, 'bridge', env('DEL', p1, 'gone1'), c).status).toBe(0);
    const del2 = runPlugin(node, 'bridge', env('DEL', undefined, 'gone2'), c);
    expect(del2.status, del2.stdout).toBe(0);
    expect(ipFiles()).toEqual([]);
    expect(node.exec(['iptables', '-t', 'nat', '-S']).stdout).not.toContain('CNI-');
  });

  it('undoes everything when a later ADD step fails', () => {
    const p = pod();
    // The bridge already holds a different IPv4 address and forceAddress is off: the
    // gateway step fails after IPAM, veth and pod addresses were done.
    node.ip(`link add ${bridge} type bridge`);
    node.ip(`addr add 192.168.250.1/24 dev ${bridge}`);
    const add = runPlugin(node, 'bridge', env('ADD', p, 'fail1'), conf({ ipMasq: true }));
    expect(add.status).toBe(1);
    expect(add.json.msg).toContain('already has an IP address different from 10.77.0.1/24');
    expect(hostVeths()).toEqual([]);
    expect(p.exec(['ip', 'link', 'show', 'eth0'], { allowFail: true }).status).not.toBe(0);
    expect(ipFiles()).toEqual([]);
    expect(node.exec(['iptables', '-t', 'nat', '-S']).stdout).not.toContain('CNI-');
    // forceAddress replaces the stale address instead.
    const forced = runPlugin(node, 'bridge', env('ADD', p, 'fail1'), conf({ forceAddress: true }));
    expect(forced.status, forced.stdout).toBe(0);
    expect(node.ip(`-br addr show dev ${bridge}`)).not.toContain('192.168.250.1');
  });

  it('refuses a second ADD of the same ifname and a bridge name taken by a non-bridge', () => {
    const p = pod();
    expect(runPlugin(node, 'bridge', env('ADD', p, 'dup1'), conf()).status).toBe(0);
    const again = runPlugin(node, 'bridge', env('ADD', p, 'dup2'), conf());
    expect(again.status).toBe(1);
    expect(again.json.msg).toContain('"eth0" already exists');
    expect(ipFiles()).toHaveLength(1);
    const other = runPlugin(node, 'bridge', env('ADD', p, 'dup1', 'eth1'), conf({ bridge: 'lo' }));
    expect(other.status).toBe(1);
    expect(other.json.msg).toContain('is not a bridge');
    expect(ipFiles()).toHaveLength(1);
  });
});

describe.skipIf(!isRoot)('bridge with an external IPAM and port flags', () => {
  let node: Netns;
  let p: Netns;
  let bin: string;
  let log: string;
  const bridge = uniqueName('cnibx');
  const conf = (extra: Record<string, unknown> = {}) => ({ cniVersion: '1.0.0', name: 'extnet', type: 'bridge', bridge, isGateway: true, ipam: { type: 'fake-ipam' }, ...extra });
  const env = (command: string, extra: Record<string, string> = {}) => ({ command, containerId: 'ext1', netns: p.path, ifName: 'eth0', path: `${bin}:/nonexistent`, extra: { FAKE_IPAM_LOG: log, ...extra } });

  beforeEach(() => {
    node = Netns.create('cnit-ext-node-');
    p = Netns.create('cnit-ext-pod-');
    bin = tempDir('cnit-ext-bin-');
    log = path.join(bin, 'calls.log');
    fs.copyFileSync(path.join(__dirname, '..', 'fixtures', 'fake-ipam'), path.join(bin, 'fake-ipam'));
    fs.chmodSync(path.join(bin, 'fake-ipam'), 0o755);
  });
  afterEach(() => {
    p.destroy();
    node.destroy();
    fs.rmSync(bin, { recursive: true, force: true });
  });

  it('executes ipam.type from CNI_PATH for ADD, CHECK and DEL', () => {
    const add = runPlugin(node, 'bridge', env('ADD'), conf({ promiscMode: true, portIsolation: true }));
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(add.json.ips).toEqual([{ address: '10.78.0.42/24', gateway: '10.78.0.1', interface: 2 }]);
    expect(add.json.dns).toEqual({ nameservers: ['10.78.0.53'] });
    expect(p.ip('-br addr show dev eth0')).toContain('10.78.0.42/24');
    expect(p.ip('route show 10.78.0.0/16')).toContain('via 10.78.0.1');
    const br = node.json<{ flags: string[]; promiscuity?: number }[]>(`-d link show dev ${bridge}`)[0];
    expect(br.promiscuity).toBeGreaterThan(0);
    const port = node.json<{ linkinfo: { info_slave_data: { isolated: boolean } } }[]>(`-d link show dev ${add.json.interfaces[1].name}`)[0];
    expect(port.linkinfo.info_slave_data.isolated).toBe(true);
    expect(runPlugin(node, 'bridge', env('CHECK'), { ...conf({ promiscMode: true }), prevResult: add.json }).status).toBe(0);
    expect(runPlugin(node, 'bridge', env('DEL'), conf()).status).toBe(0);
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toEqual(['ADD ext1 eth0', 'CHECK ext1 eth0', 'DEL ext1 eth0']);
  });

  it('passes an IPAM error through unchanged and leaves nothing behind', () => {
    const add = runPlugin(node, 'bridge', env('ADD', { FAKE_IPAM_FAIL: '1' }), conf());
    expect(add.status).toBe(1);
    expect(add.json).toMatchObject({ code: 11, msg: 'fake-ipam: pool is being resized', details: 'try later' });
    expect(node.json('link show type veth')).toEqual([]);
    expect(p.json<{ ifname: string }[]>('link show').map((l) => l.ifname)).toEqual(['lo']);
  });

  it('names the missing plugin when ipam.type is not in CNI_PATH', () => {
    const add = runPlugin(node, 'bridge', env('ADD'), conf({ ipam: { type: 'no-such-ipam' } }));
    expect(add.status).toBe(1);
    expect(add.json.msg).toContain('failed to find plugin "no-such-ipam" in path');
    expect(node.json('link show type veth')).toEqual([]);
  });
});

describe.skipIf(!isRoot)('bridge DEL never gets stuck, and never harms the node', () => {
  let node: Netns;
  let p: Netns;
  let dataDir: string;
  const bridge = uniqueName('cnibd');
  const conf = (extra: Record<string, unknown> = {}, cniVersion = '1.0.0') => ({
    cniVersion,
    name: 'delnet',
    type: 'bridge',
    bridge,
    isGateway: true,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.79.0.0/24' }]] },
    ...extra,
  });
  const env = (command: string, netns = p.path) => ({ command, containerId: 'del1', netns, ifName: 'eth0' });
  const ipFiles = () => (fs.existsSync(path.join(dataDir, 'delnet')) ? fs.readdirSync(path.join(dataDir, 'delnet')).filter((f) => /^\d/.test(f) && !f.startsWith('last')) : []);

  beforeEach(() => {
    node = Netns.create('cnit-del-node-');
    p = Netns.create('cnit-del-pod-');
    dataDir = tempDir('cnit-del-');
  });
  afterEach(() => {
    p.destroy();
    node.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('DEL with a config that ADD would refuse still succeeds and releases (the reference DEL ignores those fields too)', () => {
    expect(runPlugin(node, 'bridge', env('ADD'), conf()).status).toBe(0);
    expect(ipFiles()).toHaveLength(1);
    const broken = conf({ hairpinMode: true, promiscMode: true, mtu: 20, dns: { nameservers: ['not-an-ip'] }, runtimeConfig: { mac: 'zz' } });
    expect(runPlugin(node, 'bridge', env('ADD'), broken).json.code).toBe(7);
    const del = runPlugin(node, 'bridge', env('DEL'), broken);
    expect(del.status, del.stdout).toBe(0);
    expect(ipFiles()).toEqual([]);
    expect(node.json('link show type veth')).toEqual([]);
  });

  it('an ADD whose result cannot be expressed in the config version is undone', () => {
    // Layer 2 only (no IPAM) in 0.2.0: that result shape has nothing but IPs.
    const l2 = { cniVersion: '0.2.0', name: 'delnet', type: 'bridge', bridge };
    const add = runPlugin(node, 'bridge', env('ADD'), l2);
    expect(add.status).toBe(1);
    expect(add.json.msg).toContain('cannot convert');
    expect(node.json('link show type veth')).toEqual([]);
    expect(p.json<{ ifname: string }[]>('link show').map((l) => l.ifname)).toEqual(['lo']);
  });

  it('DEL with CNI_NETNS naming the node itself leaves the node\'s interface alone', () => {
    node.ip('link add eth0 type veth peer name eth0peer');
    expect(runPlugin(node, 'bridge', env('ADD'), conf()).status).toBe(0);
    const del = runPlugin(node, 'bridge', env('DEL', node.path), conf());
    expect(del.status, del.stdout).toBe(0);
    expect(node.json<{ ifname: string }[]>('link show dev eth0')[0].ifname).toBe('eth0');
    expect(ipFiles()).toEqual([]);
    expect(runPlugin(node, 'bridge', env('DEL'), conf()).status).toBe(0);
  });
});
