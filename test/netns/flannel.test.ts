// dist/flannel → dist/bridge as a runtime drives them, under every spec version, with
// the saved delegate config checked byte for byte against the reference's format.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Netns, builds, isRoot, runPlugin as run, tempDir, uniqueName, type CniEnv } from '../helpers/ns';

const VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

describe.skipIf(!isRoot).each(builds)('flannel on real namespaces (%s)', (dir) => {
  const runPlugin = (node: Netns, plugin: string, env: CniEnv, stdin: object) => run(node, plugin, env, stdin, dir);
  let node: Netns;
  let pod: Netns;
  let state: string;
  let bridge: string;

  const conf = (cniVersion: string) => ({
    cniVersion,
    name: 'cbr0',
    type: 'flannel',
    subnetFile: path.join(state, 'subnet.env'),
    dataDir: path.join(state, 'flannel'),
    ipam: { dataDir: path.join(state, 'networks') },
    delegate: { bridge, hairpinMode: true, isDefaultGateway: true },
  });
  const env = (command: string) => ({ command, containerId: 'f1', netns: pod.path, ifName: 'eth0' });

  beforeEach(() => {
    node = Netns.create('cnit-fl-node-');
    pod = Netns.create('cnit-fl-pod-');
    state = tempDir('cnit-fl-');
    bridge = uniqueName('cnifl');
    fs.writeFileSync(path.join(state, 'subnet.env'), 'FLANNEL_NETWORK=172.16.0.0/16\nFLANNEL_SUBNET=172.16.99.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
  });
  afterEach(() => {
    pod.destroy();
    node.destroy();
    fs.rmSync(state, { recursive: true, force: true });
  });

  it.each(VERSIONS)('ADD → CHECK → DEL → DEL under cniVersion %s', (v) => {
    const c = conf(v);
    const add = runPlugin(node, 'flannel', env('ADD'), c);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(add.json.cniVersion).toBe(v);
    if (v < '0.3.0') expect(add.json.ip4).toMatchObject({ ip: '172.16.99.2/24', gateway: '172.16.99.1' });
    else expect(add.json.ips[0]).toMatchObject({ address: '172.16.99.2/24', gateway: '172.16.99.1', interface: 2 });

    // The saved delegate config: the reference's bytes (compact, keys sorted, no newline).
    const saved = fs.readFileSync(path.join(state, 'flannel', 'f1'), 'utf8');
    const ipamDir = JSON.stringify(path.join(state, 'networks'));
    expect(saved).toBe(
      `{"bridge":"${bridge}","cniVersion":"${v}","hairpinMode":true,"ipMasq":false,"ipam":{"dataDir":${ipamDir},"ranges":[[{"subnet":"172.16.99.0/24"}]],"routes":[{"dst":"172.16.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}`,
    );
    expect(fs.statSync(path.join(state, 'flannel', 'f1')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(state, 'flannel')).mode & 0o777).toBe(0o700);
    expect(pod.json<{ mtu: number }[]>('link show dev eth0')[0].mtu).toBe(1450);
    expect(pod.ip('route show default')).toContain('via 172.16.99.1');

    if (v >= '0.4.0') {
      const check = runPlugin(node, 'flannel', env('CHECK'), { ...c, prevResult: add.json });
      expect(check.status, check.stdout + check.stderr).toBe(0);
    } else {
      const check = runPlugin(node, 'flannel', env('CHECK'), { ...c, prevResult: add.json });
      expect(check.json.code).toBe(1);
    }
    for (let i = 0; i < 2; i++) {
      const del = runPlugin(node, 'flannel', env('DEL'), c);
      expect(del.status, del.stdout + del.stderr).toBe(0);
    }
    expect(fs.readdirSync(path.join(state, 'flannel'))).toEqual([]);
    expect(fs.readdirSync(path.join(state, 'networks', 'cbr0')).filter((f) => /^\d/.test(f) && !f.startsWith('last'))).toEqual([]);
    expect(node.json('link show type veth')).toEqual([]);
  });

  it('DEL works with flanneld down (subnet.env gone) from the saved config', () => {
    const c = conf('1.0.0');
    expect(runPlugin(node, 'flannel', env('ADD'), c).status).toBe(0);
    fs.rmSync(path.join(state, 'subnet.env'));
    const del = runPlugin(node, 'flannel', env('DEL'), c);
    expect(del.status, del.stdout).toBe(0);
    expect(fs.readdirSync(path.join(state, 'networks', 'cbr0')).filter((f) => /^[0-9a-f.:]+$/.test(f))).toEqual([]);
    expect(node.json('link show type veth')).toEqual([]);
  });

  it('CNI_CALL_LOG: one JSON line per plugin call, flannel and its bridge', () => {
    const file = path.join(state, 'calls.log');
    const c = conf('1.0.0');
    const add = runPlugin(node, 'flannel', { ...env('ADD'), extra: { CNI_CALL_LOG: file } }, c);
    expect(add.status, add.stdout).toBe(0);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => `${l.plugin} ${l.verb} ${l.result}`).sort()).toEqual(['bridge ADD ok', 'flannel ADD ok']);
    const br = lines.find((l) => l.plugin === 'bridge');
    expect(br).toMatchObject({ network: 'cbr0', containerId: 'f1', ifName: 'eth0', ips: ['172.16.99.2/24'] });
    expect(br.steps.map((s: { step: string }) => s.step)).toContain('ADD: IPAM host-local done');
    expect(runPlugin(node, 'flannel', env('DEL'), c).status).toBe(0);
  });

  it('STATUS answers 50 without subnet.env and 0 with it', () => {
    const c = conf('1.1.0');
    const ok = runPlugin(node, 'flannel', { command: 'STATUS' }, c);
    expect(ok.status, ok.stdout).toBe(0);
    fs.rmSync(path.join(state, 'subnet.env'));
    const down = runPlugin(node, 'flannel', { command: 'STATUS' }, c);
    expect(down.status).toBe(1);
    expect(down.json).toMatchObject({ code: 50, msg: expect.stringContaining('subnet.env') });
  });
});
