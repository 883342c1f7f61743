// The first rule: no call (a retried ADD, a failed ADD, GC, drift repair) ever takes a
// live pod's network away or hands one IP to two pods. Each case puts a live pod next
// to the call and checks afterwards that the pod still has its address, its interface,
// its reservation, its saved config and its gateway, and still pings it. The built
// executables of both builds, run as a runtime runs them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { builds, isRoot, runPlugin as run, useNode, type CniEnv, type Netns } from '../helpers/ns';

const SUBNET_ENV = 'FLANNEL_NETWORK=10.61.0.0/16\nFLANNEL_SUBNET=10.61.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

describe.skipIf(!isRoot).each(builds)('a live pod beside every call (%s)', (dir) => {
  const f = useNode('own');
  const runPlugin = (plugin: string, env: CniEnv, stdin: object) => run(f.node, plugin, env, stdin, dir);
  const newPod = () => f.pod();
  const flannel = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: 'ownnet',
    type: 'flannel',
    subnetFile: path.join(f.state, 'subnet.env'),
    dataDir: path.join(f.state, 'flannel'),
    ipam: { dataDir: path.join(f.state, 'networks') },
    delegate: { bridge: f.bridge, isDefaultGateway: true, ...extra },
  });
  const env = (command: string, id: string, p: Netns, ifName = 'eth0'): CniEnv => ({ command, containerId: id, netns: p.path, ifName });
  const reservations = (network = 'ownnet') => {
    const d = path.join(f.state, 'networks', network);
    if (!fs.existsSync(d)) return {};
    return Object.fromEntries(
      fs
        .readdirSync(d)
        .filter((f) => /^[0-9a-f.:]+$/.test(f))
        .map((f) => [f, fs.readFileSync(path.join(d, f), 'latin1')]),
    );
  };
  const savedConf = (id: string) => fs.readFileSync(path.join(f.state, 'flannel', id), 'utf8');
  const podAddr = (p: Netns) => p.json<{ addr_info: { family: string; local: string }[] }[]>('addr show dev eth0')[0]?.addr_info.find((a) => a.family === 'inet')?.local;
  const pings = (p: Netns, to: string) => p.exec(['ping', '-c', '1', '-W', '2', to], { allowFail: true }).status === 0;

  /** A live pod through flannel, checked whole. */
  function livePod(id: string) {
    const p = newPod();
    const add = runPlugin('flannel', env('ADD', id, p), flannel());
    expect(add.status, add.stdout + add.stderr).toBe(0);
    const ip = add.json.ips[0].address.split('/')[0];
    return { p, ip, saved: savedConf(id), hostVeths: f.node.json<{ ifname: string }[]>('link show type veth').map((l) => l.ifname) };
  }
  function expectAlive(live: ReturnType<typeof livePod>, id: string) {
    expect(podAddr(live.p)).toBe(live.ip);
    expect(reservations()[live.ip]).toBe(`${id}\r\neth0`);
    expect(savedConf(id)).toBe(live.saved);
    for (const v of live.hostVeths) expect(f.node.json('link show dev ' + v)).toHaveLength(1);
    expect(pings(live.p, '10.61.7.1')).toBe(true);
  }

  beforeEach(() => fs.writeFileSync(path.join(f.state, 'subnet.env'), SUBNET_ENV));

  it('a retried ADD of a live attachment (same id, ifname, netns) fails clearly and undoes nothing of the live pod', () => {
    const live = livePod('retry1');
    // The retry renders a different delegate config (flanneld changed the MTU meanwhile),
    // so flannel overwrites the saved config before the delegate fails: it must restore it.
    fs.writeFileSync(path.join(f.state, 'subnet.env'), SUBNET_ENV.replace('1450', '1400'));
    const again = runPlugin('flannel', env('ADD', 'retry1', live.p), flannel());
    expect(again.status).toBe(1);
    expect(again.json.code).toBe(999);
    expect(again.json.msg).toContain('duplicate allocation is not allowed');
    expectAlive(live, 'retry1');
    // And its own DEL still works with its own config.
    expect(runPlugin('flannel', env('DEL', 'retry1', live.p), flannel()).status).toBe(0);
    expect(reservations()).toEqual({});
  });

  it('a failed ADD of a live container id into another netns releases nothing; the next pod gets another address', () => {
    const live = livePod('twice');
    const other = newPod();
    const dup = runPlugin('flannel', env('ADD', 'twice', other), flannel());
    expect(dup.status).toBe(1);
    expect(dup.json.msg).toContain('duplicate allocation is not allowed');
    expect(other.json<{ ifname: string }[]>('link show').filter((l) => l.ifname !== 'lo')).toEqual([]);
    expectAlive(live, 'twice');
    const next = livePod('next');
    expect(next.ip).not.toBe(live.ip);
    expect(new Set(Object.keys(reservations())).size).toBe(2);
  });

  it('bridge alone: a retry asking for a static IP is refused too, and undoes nothing', () => {
    const p = newPod();
    const conf = { cniVersion: '1.0.0', name: 'ownbr', type: 'bridge', bridge: f.bridge, isGateway: true, ipam: { type: 'host-local', dataDir: path.join(f.state, 'networks'), ranges: [[{ subnet: '10.62.0.0/24' }]] } };
    const add = runPlugin('bridge', env('ADD', 'st1', p), conf);
    expect(add.status, add.stdout).toBe(0);
    const other = newPod();
    const again = runPlugin('bridge', { ...env('ADD', 'st1', other), args: 'IP=10.62.0.77' }, conf);
    expect(again.status).toBe(1);
    expect(again.json.msg).toContain('duplicate allocation is not allowed');
    expect(reservations('ownbr')).toEqual({ '10.62.0.2': 'st1\r\neth0' });
    expect(p.exec(['ping', '-c', '1', '-W', '2', '10.62.0.1'], { allowFail: true }).status).toBe(0);
  });

  it('an exec\'d IPAM: a retried ADD into the live pod fails before IPAM, so no DEL releases the pod\'s address', () => {
    const bin = path.join(f.state, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.copyFileSync(path.join(__dirname, '..', 'fixtures', 'fake-ipam'), path.join(bin, 'fake-ipam'));
    fs.chmodSync(path.join(bin, 'fake-ipam'), 0o755);
    const log = path.join(bin, 'calls.log');
    const conf = { cniVersion: '1.0.0', name: 'ownext', type: 'bridge', bridge: f.bridge, isGateway: true, ipam: { type: 'fake-ipam' } };
    const p = newPod();
    const ext = (command: string) => ({ ...env(command, 'ext1', p), path: bin, extra: { FAKE_IPAM_LOG: log } });
    expect(runPlugin('bridge', ext('ADD'), conf).status).toBe(0);
    const again = runPlugin('bridge', ext('ADD'), conf);
    expect(again.status).toBe(1);
    expect(again.json.msg).toContain('container veth name "eth0" already exists');
    // The IPAM saw the first ADD only: no second reservation, and no undoing DEL of the first.
    expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toEqual(['ADD ext1 eth0']);
    expect(p.ip('-br addr show dev eth0')).toContain('10.78.0.42/24');
    expect(p.exec(['ping', '-c', '1', '-W', '2', '10.78.0.1'], { allowFail: true }).status).toBe(0);
  });

  it('two networks on one bridge: the second neither takes nor breaks the first one’s gateway', () => {
    const conf = (name: string, subnet: string) => ({
      cniVersion: '1.0.0',
      name,
      type: 'bridge',
      bridge: f.bridge,
      isGateway: true,
      ipam: { type: 'host-local', dataDir: path.join(f.state, 'networks'), ranges: [[{ subnet }]], routes: [{ dst: '10.60.0.0/16' }] },
    });
    const p1 = newPod();
    expect(runPlugin('bridge', env('ADD', 'n1', p1), conf('net1', '10.60.1.0/24')).status).toBe(0);
    const p2 = newPod();
    const add2 = runPlugin('bridge', env('ADD', 'n2', p2), conf('net2', '10.60.2.0/24'));
    // The reference's answer: the bridge holds another IPv4 address and forceAddress is off.
    expect(add2.status).toBe(1);
    expect(add2.json.msg).toContain(`"${f.bridge}" already has an IP address different from 10.60.2.1/24 (10.60.1.1/24)`);
    const addrs = f.node.json<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(`addr show dev ${f.bridge}`)[0].addr_info;
    expect(addrs.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.60.1.1/24']);
    expect(p1.exec(['ping', '-c', '1', '-W', '2', '10.60.1.1'], { allowFail: true }).status).toBe(0);
    expect(p2.json<{ ifname: string }[]>('link show').filter((l) => l.ifname !== 'lo')).toEqual([]);
    expect(reservations('net2')).toEqual({});
  });

  it('GC of a network without macspoofchk leaves another network’s spoof-check rules alone; GC of one with it keeps foreign chains', () => {
    if (!fs.existsSync('/usr/sbin/nft')) return;
    const secure = { cniVersion: '1.1.0', name: 'secure', type: 'bridge', bridge: f.bridge, macspoofchk: true, ipam: { type: 'host-local', dataDir: path.join(f.state, 'networks'), ranges: [[{ subnet: '10.63.0.0/24' }]] } };
    const p = newPod();
    const add = runPlugin('bridge', env('ADD', 'sec1', p), secure);
    expect(add.status, add.stdout).toBe(0);
    const chains = () => f.node.exec(['nft', 'list', 'table', 'bridge', 'nat']).stdout.match(/chain cni-br-iface-\S+/g) ?? [];
    expect(chains()).toEqual(['chain cni-br-iface-sec1-eth0', 'chain cni-br-iface-sec1-eth0-mac']);
    for (const other of [
      { ...secure, name: 'plain', macspoofchk: false, ipam: { ...secure.ipam, ranges: [[{ subnet: '10.64.0.0/24' }]] } },
      { ...secure, name: 'plain2', ipam: { ...secure.ipam, ranges: [[{ subnet: '10.65.0.0/24' }]] } },
    ]) {
      const gc = runPlugin('bridge', { command: 'GC' }, { ...other, 'cni.dev/valid-attachments': [] });
      expect(gc.status, gc.stdout).toBe(0);
      expect(chains()).toHaveLength(2);
    }
    const check = runPlugin('bridge', env('CHECK', 'sec1', p), { ...secure, prevResult: add.json });
    expect(check.status, check.stdout).toBe(0);
    // Its own network's GC does remove it once it is no longer valid.
    expect(runPlugin('bridge', { command: 'GC' }, { ...secure, 'cni.dev/valid-attachments': [] }).status).toBe(0);
    expect(chains()).toEqual([]);
  });

  it('flannel GC removes only saved configs it wrote for this network, and only its own temp files', () => {
    const live = livePod('keepme');
    const fdir = path.join(f.state, 'flannel');
    fs.writeFileSync(path.join(fdir, 'foreign'), 'not a delegate config');
    fs.writeFileSync(path.join(fdir, 'othernet1'), JSON.stringify({ name: 'othernet', type: 'bridge' }));
    const gone = livePod('gone');
    runPlugin('flannel', env('DEL', 'gone', gone.p), flannel()); // DEL first...
    fs.writeFileSync(path.join(fdir, 'gone'), gone.saved); // ...then a leftover of this network
    const gc = runPlugin('flannel', { command: 'GC' }, { ...flannel(), cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'keepme', ifname: 'eth0' }] });
    expect(gc.status, gc.stdout + gc.stderr).toBe(0);
    expect(fs.readdirSync(fdir).sort()).toEqual(['foreign', 'keepme', 'othernet1']);
    expectAlive(live, 'keepme');
  });
});
