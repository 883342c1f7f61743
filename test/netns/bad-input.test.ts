// Bad input, the list: each gets one CNI error JSON on stdout with the right
// code, exit status 1, and leaves no link, IP reservation or scratch file behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, isRoot, runPlugin, tempDir, type CniEnv } from '../helpers/ns';

describe.skipIf(!isRoot)('bad input', () => {
  let node: Netns;
  let pod: Netns;
  let state: string;
  let subnetEnv: string;

  const flannel = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: 'badnet',
    type: 'flannel',
    subnetFile: subnetEnv,
    dataDir: path.join(state, 'flannel'),
    ipam: { dataDir: path.join(state, 'networks') },
    delegate: { bridge: 'cnibad0' },
    ...extra,
  });
  const addEnv = (over: Partial<CniEnv> = {}): CniEnv => ({ command: 'ADD', containerId: 'bad1', netns: pod.path, ifName: 'eth0', ...over });
  const writeEnv = (text: string, file = subnetEnv) => fs.writeFileSync(file, text);
  const GOOD_ENV = 'FLANNEL_NETWORK=10.91.0.0/16\nFLANNEL_SUBNET=10.91.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

  const leftovers = () => {
    const ipDir = path.join(state, 'networks', 'badnet');
    return {
      links: pod.json<{ ifname: string }[]>('link show').map((l) => l.ifname).filter((n) => n !== 'lo'),
      veths: node.json<{ ifname: string }[]>('link show type veth').map((l) => l.ifname),
      ips: fs.existsSync(ipDir) ? fs.readdirSync(ipDir).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [],
      scratch: fs.existsSync(path.join(state, 'flannel')) ? fs.readdirSync(path.join(state, 'flannel')) : [],
    };
  };
  const clean = { links: [], veths: [], ips: [], scratch: [] };

  beforeAll(() => {
    node = Netns.create('cnit-bad-node-');
    pod = Netns.create('cnit-bad-pod-');
    state = tempDir('cnit-bad-');
    subnetEnv = path.join(state, 'subnet.env');
  });
  afterAll(() => {
    pod.destroy();
    node.destroy();
    fs.rmSync(state, { recursive: true, force: true });
  });

  // stdin: a string is sent as is; `exact` objects are sent as they are; `merge` objects
  // are laid over a good config for that plugin.
  type Stdin = string | { exact: object } | { merge: object };
  const cases: [string, string, Partial<CniEnv>, Stdin, number, string][] = [
    ['malformed JSON', 'flannel', {}, '{"cniVersion": "1.0.0", "name": ', 6, 'decode'],
    ['empty stdin', 'bridge', {}, '', 6, 'stdin is empty'],
    ['missing name', 'flannel', {}, { exact: { cniVersion: '1.0.0', type: 'flannel' } }, 7, 'name'],
    ['missing type', 'bridge', {}, { exact: { cniVersion: '1.0.0', name: 'badnet' } }, 7, 'type'],
    ['missing cniVersion', 'flannel', {}, { exact: { name: 'badnet', type: 'flannel' } }, 7, 'cniVersion'],
    ['unsupported cniVersion', 'flannel', {}, { merge: { cniVersion: '9.9.9' } }, 1, 'incompatible CNI versions'],
    ['missing CNI_COMMAND', 'bridge', { command: '' }, { merge: {} }, 4, 'CNI_COMMAND'],
    ['unknown CNI_COMMAND', 'flannel', { command: 'FROB' }, { merge: {} }, 4, 'unknown CNI_COMMAND: FROB'],
    ['missing CNI_CONTAINERID', 'flannel', { containerId: undefined }, { merge: {} }, 4, 'CNI_CONTAINERID'],
    ['missing CNI_IFNAME', 'bridge', { ifName: undefined }, { merge: {} }, 4, 'CNI_IFNAME'],
    ['a CNI_NETNS that does not exist', 'flannel', { netns: '/run/netns/cnit-does-not-exist' }, { merge: {} }, 4, 'does not exist'],
    ['an ifname longer than 15 bytes', 'flannel', { ifName: 'eth0123456789abc' }, { merge: {} }, 4, 'longer than 15'],
    ['a container id with illegal characters', 'bridge', { containerId: 'bad id/..' }, { merge: {} }, 4, 'invalid characters in containerID'],
    ['a network name with /', 'flannel', {}, { merge: { name: 'bad/net' } }, 7, 'network name'],
    ['a network name ..', 'bridge', {}, { merge: { name: '..' } }, 7, 'network name'],
  ];
  const goodBridge = () => ({
    cniVersion: '1.0.0',
    name: 'badnet',
    type: 'bridge',
    bridge: 'cnibad0',
    ipam: { type: 'host-local', dataDir: path.join(state, 'networks'), subnet: '10.92.0.0/24' },
  });

  it.each(cases)('%s', (_what, plugin, over, stdin, code, text) => {
    writeEnv(GOOD_ENV);
    const body =
      typeof stdin === 'string' ? stdin : 'exact' in stdin ? stdin.exact : { ...(plugin === 'flannel' ? flannel() : goodBridge()), ...stdin.merge };
    const r = runPlugin(node, plugin, addEnv(over), body);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.json, r.stdout).toMatchObject({ code, msg: expect.stringContaining(text) });
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(leftovers()).toEqual(clean);
  });

  it.each([
    ['a missing subnet.env', null, 11, 'subnet.env'],
    ['a subnet.env without FLANNEL_SUBNET', 'FLANNEL_NETWORK=10.91.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', 11, 'FLANNEL_SUBNET'],
    ['a non-numeric FLANNEL_MTU', 'FLANNEL_NETWORK=10.91.0.0/16\nFLANNEL_SUBNET=10.91.3.1/24\nFLANNEL_MTU=big\nFLANNEL_IPMASQ=true\n', 7, 'FLANNEL_MTU'],
  ])('%s', (_what, envText, code, text) => {
    fs.rmSync(subnetEnv, { force: true });
    if (envText) writeEnv(envText);
    const r = runPlugin(node, 'flannel', addEnv(), flannel());
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.json).toMatchObject({ code, msg: expect.stringContaining(text) });
    expect(leftovers()).toEqual(clean);
  });

  it('an exhausted subnet', () => {
    // A /30 holds one pod: the range is .1-.2, .1 is the gateway (skipped), .3 the broadcast.
    writeEnv('FLANNEL_NETWORK=10.93.0.0/16\nFLANNEL_SUBNET=10.93.0.1/30\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
    const conf = flannel({ name: 'badnet' });
    const first = runPlugin(node, 'flannel', addEnv({ containerId: 'full1' }), conf);
    expect(first.status, first.stdout).toBe(0);
    const second = Netns.create('cnit-bad-pod2-');
    try {
      const r = runPlugin(node, 'flannel', addEnv({ containerId: 'full2', netns: second.path }), conf);
      expect(r.status).toBe(1);
      expect(r.json.msg).toContain('no IP addresses available in range set: 10.93.0.1-10.93.0.2');
      expect(second.json<{ ifname: string }[]>('link show').map((l) => l.ifname)).toEqual(['lo']);
    } finally {
      second.destroy();
    }
    expect(runPlugin(node, 'flannel', { command: 'DEL', containerId: 'full1', netns: pod.path, ifName: 'eth0' }, conf).status).toBe(0);
    expect(leftovers()).toEqual(clean);
  });
});
