// hairpinMode, end to end: a pod reaches itself through a Service IP (flannel#849).
// In the node netns an iptables DNAT stands in for kube-proxy (plus its hairpin
// MASQUERADE for source == endpoint). With bridge-nf-call-iptables=1 (the
// Kubernetes requirement; per netns and on by default wherever br_netfilter is
// built in) the DNAT happens while the frame crosses the bridge, and br_netfilter
// then *bridges* the rewritten frame back out of the port it came in on, which
// the bridge only allows on a port in hairpin mode. So: hairpin on → "hi";
// hairpin off → the SYN is dropped; the same pod is reachable from another pod.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Netns, isRoot, runPlugin, tempDir, uniqueName } from '../helpers/ns';

const SERVER = "require('net').createServer((s) => s.end(process.argv[1])).listen(8080, () => console.log('ready'))";
// Prints what the service answered, or "timeout"/"error …" (exit 0 either way).
const CLIENT =
  "const s = require('net').connect({ host: process.argv[1], port: 80, timeout: 1500 }); let d = '';" +
  "s.on('data', (x) => (d += x)); s.on('end', () => console.log(d));" +
  "s.on('timeout', () => { console.log('timeout'); process.exit(0); }); s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });";

// Without br_netfilter the service traffic is routed, not bridged, and hairpin mode
// never matters (both pods would answer): nothing to show on such a kernel.
const brNetfilter = fs.existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables');

describe.skipIf(!isRoot || !brNetfilter)('hairpin: a pod reaches itself through a service IP (needs br_netfilter)', () => {
  let node: Netns;
  let pods: Netns[];
  let servers: ChildProcess[];
  let dataDir: string;
  const bridge = uniqueName('cnihp');

  const conf = (hairpinMode: boolean) => ({
    cniVersion: '1.0.0',
    name: 'hairpin',
    type: 'bridge',
    bridge,
    isDefaultGateway: true,
    hairpinMode,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.89.0.0/24' }]] },
  });

  /** ADD a pod, start its server answering `reply`, and publish it as `serviceIP`:80 the way kube-proxy would. */
  async function podBehindService(id: string, hairpinMode: boolean, serviceIP: string, reply: string): Promise<Netns> {
    const p = Netns.create('cnit-hp-pod-');
    pods.push(p);
    const add = runPlugin(node, 'bridge', { command: 'ADD', containerId: id, netns: p.path, ifName: 'eth0' }, conf(hairpinMode));
    expect(add.status, add.stdout + add.stderr).toBe(0);
    const podIP = (add.json.ips[0].address as string).split('/')[0];
    const server = spawn('ip', ['netns', 'exec', p.name, process.execPath, '-e', SERVER, reply], { stdio: ['ignore', 'pipe', 'inherit'] });
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      server.on('exit', (code) => reject(new Error(`server in ${p.name} exited with ${code}`)));
    });
    node.exec(['iptables', '-w', '-t', 'nat', '-A', 'PREROUTING', '-d', serviceIP, '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', `${podIP}:8080`]);
    // kube-proxy's hairpin masquerade (KUBE-MARK-MASQ for source == endpoint): without
    // it the pod would get a SYN from its own address and answer it locally.
    node.exec(['iptables', '-w', '-t', 'nat', '-A', 'POSTROUTING', '-s', podIP, '-d', podIP, '-j', 'MASQUERADE']);
    return p;
  }

  const ask = (from: Netns, serviceIP: string): string =>
    spawnSync('ip', ['netns', 'exec', from.name, process.execPath, '-e', CLIENT, serviceIP], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();

  const hairpinFlag = (hostVeth: string): boolean =>
    (node.json<{ linkinfo: { info_slave_data: { hairpin: boolean } } }[]>(`-d link show dev ${hostVeth}`)[0]).linkinfo.info_slave_data.hairpin;

  beforeEach(() => {
    node = Netns.create('cnit-hp-node-');
    pods = [];
    servers = [];
    dataDir = tempDir('cnit-hp-ipam-');
  });
  afterEach(() => {
    for (const s of servers) s.kill('SIGKILL');
    for (const p of pods) p.destroy();
    node.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('works with hairpinMode and fails without it, while the same pod stays reachable from others', async () => {
    // Per netns since Linux 5.3 and on by default; kube-proxy setups require it on.
    expect(node.exec(['cat', '/proc/sys/net/bridge/bridge-nf-call-iptables']).stdout.trim()).toBe('1');

    const withHairpin = await podBehindService('hp-on', true, '10.96.0.10', 'hi');
    const without = await podBehindService('hp-off', false, '10.96.0.11', 'hi from the other pod');
    const veths = node.json<{ ifname: string; master?: string }[]>('link show type veth').filter((l) => l.master === bridge).map((l) => l.ifname);
    expect(veths.map(hairpinFlag).sort()).toEqual([false, true]);

    expect(ask(withHairpin, '10.96.0.10')).toBe('hi');
    expect(ask(without, '10.96.0.11')).toBe('timeout');
    // Not a broken service: the hairpin-less pod answers when asked by someone else,
    // and reaches other pods' services itself.
    expect(ask(withHairpin, '10.96.0.11')).toBe('hi from the other pod');
    expect(ask(without, '10.96.0.10')).toBe('hi');
  }, 30_000);
});
