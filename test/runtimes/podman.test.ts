// The built plugins (each build) under podman 4.3 with its CNI backend, on the kube-flannel
// conflist (flannel, then the reference portmap): what a container gets, -p through
// portmap, --ip, parallel starts, and that rm -f and run --rm leave nothing behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { distDir, standaloneDir, uniqueName } from '../helpers/ns';
import { GATEWAY, NETWORK, NODE_IP, NOTHING_LEFT, TEST_IMAGE, buildTestImage, installPlugins, leftovers, type Build } from './cni-node';
import { Podman, setUpPodman } from './podman';
import { NodeSandbox, cgroupLeftovers, sandboxUnavailable } from './sandbox';

const unavailable = sandboxUnavailable();
if (unavailable) console.warn(`test/runtimes/podman skipped: ${unavailable}`);
const builds: Build[] = (['node', 'standalone'] as const).filter((b) => fs.existsSync(path.join(b === 'node' ? distDir : standaloneDir, 'flannel')));

describe.skipIf(!!unavailable).each(builds)('podman, %s build', (build) => {
  let box: NodeSandbox;
  let podman: Podman;
  const name = (tag: string) => uniqueName(`cnit-pm-${tag}-`);
  const ipOf = (c: string) => podman.inspect(c, `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`);

  beforeAll(async () => {
    box = await NodeSandbox.create('cnit-pm-');
    installPlugins(box, build);
    setUpPodman(box);
    podman = new Podman(box);
    podman.run(['load', '--input', buildTestImage(path.join(box.work, 'busybox.tar'))]);
  }, 120_000);
  afterEach(() => podman?.removeAll());
  afterAll(() => {
    if (!box) return;
    const cg = box.cgroupParent;
    box.destroy();
    expect(cgroupLeftovers(cg)).toEqual([]);
  });

  it('gives two containers the node subnet, MTU 1450, the default and cluster routes; they ping the gateway and each other', () => {
    const [a, b] = [name('a'), name('b')];
    for (const c of [a, b]) podman.start(['-d', '--name', c, '--network', NETWORK, '--cap-add', 'NET_RAW', TEST_IMAGE]);
    const ips = [a, b].map(ipOf);
    for (const [c, ip] of [[a, ips[0]], [b, ips[1]]]) {
      expect(ip).toMatch(/^10\.244\.1\.\d+$/);
      // busybox's ip, as a container sees itself.
      const eth0 = podman.exec(c, ['ip', 'addr', 'show', 'eth0']).stdout;
      expect(eth0).toMatch(/mtu 1450/);
      expect(eth0).toContain(`inet ${ip}/24`);
      const routes = podman.exec(c, ['ip', 'route']).stdout;
      expect(routes).toMatch(new RegExp(`^default via ${GATEWAY.replace(/\./g, '\\.')} dev eth0`, 'm'));
      expect(routes).toMatch(/^10\.244\.0\.0\/16 via 10\.244\.1\.1 dev eth0/m);
      podman.exec(c, ['ping', '-c', '1', '-W', '2', GATEWAY]);
    }
    expect(ips[0]).not.toBe(ips[1]);
    podman.exec(a, ['ping', '-c', '1', '-W', '2', ips[1]]);
    podman.exec(b, ['ping', '-c', '1', '-W', '2', ips[0]]);
    // The calls came from podman through our plugins, and succeeded.
    const adds = box.calls().filter((c) => c.verb === 'ADD' && c.plugin === 'flannel');
    expect(adds.length).toBeGreaterThanOrEqual(2);
    expect(adds.every((c) => c.result === 'ok')).toBe(true);
  });

  it('publishes a port through portmap, reached from the node and by hairpin from the container itself', () => {
    const c = name('web');
    podman.start(['-d', '--name', c, '--network', NETWORK, '-p', '8080:80', TEST_IMAGE, 'sh', '-c', 'mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 80 -h /www']);
    const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${NODE_IP} 8080`;
    // From the node: a connection to the node's own address, DNATed by portmap.
    let fromNode = '';
    for (let i = 0; i < 20 && !fromNode.includes('hello-from-pod'); i++) {
      if (i > 0) box.run(['sleep', '0.2']);
      fromNode = box.run([process.execPath, '-e', `require('net').connect(8080, '${NODE_IP}', function () { this.end('GET / HTTP/1.0\\r\\n\\r\\n'); }).on('data', (d) => process.stdout.write(d)).on('error', (e) => console.log(e.message))`], { timeoutMs: 10_000 }).stdout;
    }
    expect(fromNode).toContain('hello-from-pod');
    // Hairpin: out through cni0 to the node address and DNATed back to the same port (the delegate's hairpinMode).
    expect(podman.exec(c, ['sh', '-c', get]).stdout).toContain('hello-from-pod');
    podman.run(['rm', '-f', '-t', '0', c]);
    expect(leftovers(box)).toEqual(NOTHING_LEFT);
  });

  it('honours --ip', () => {
    const c = name('ip');
    podman.start(['-d', '--name', c, '--network', NETWORK, '--ip', '10.244.1.77', TEST_IMAGE]);
    expect(ipOf(c)).toBe('10.244.1.77');
    expect(podman.exec(c, ['ip', 'addr', 'show', 'eth0']).stdout).toContain('inet 10.244.1.77/24');
    const add = box.calls().find((x) => x.verb === 'ADD' && x.plugin === 'flannel' && x.containerId === podman.inspect(c, '{{.Id}}'));
    expect(add?.result).toBe('ok');
  });

  it('gives six parallel starts six distinct addresses', async () => {
    const names = Array.from({ length: 6 }, (_, i) => name(`p${i}`));
    const runs = await Promise.all(names.map((c) => podman.startAsync(['-d', '--name', c, '--network', NETWORK, TEST_IMAGE])));
    for (const r of runs) expect(r.status, r.stderr).toBe(0);
    const ips = names.map(ipOf);
    expect(new Set(ips).size).toBe(6);
    for (const ip of ips) expect(ip).toMatch(/^10\.244\.1\.\d+$/);
    expect(leftovers(box).reservations.sort()).toEqual([...ips].sort());
  });

  it('leaves no reservation, saved config, cache entry, veth or chain after rm -f and run --rm', () => {
    const c = name('rm');
    podman.start(['-d', '--name', c, '--network', NETWORK, '-p', '8081:80', TEST_IMAGE]);
    const id = podman.inspect(c, '{{.Id}}');
    const during = leftovers(box);
    expect(during.reservations).toEqual([ipOf(c)]);
    expect(during.savedConfigs).toEqual([id]);
    expect(during.cacheEntries).toEqual([`${NETWORK}-${id}-eth0`]);
    expect(during.veths).toHaveLength(1);
    expect(during.chains).toHaveLength(1);
    podman.run(['rm', '-f', '-t', '0', c]);
    expect(leftovers(box)).toEqual(NOTHING_LEFT);

    const out = podman.start(['--rm', '--name', name('once'), '--network', NETWORK, '-p', '8082:80', TEST_IMAGE, 'ip', 'addr', 'show', 'eth0']).stdout;
    expect(out).toMatch(/inet 10\.244\.1\.\d+\/24/);
    expect(leftovers(box)).toEqual(NOTHING_LEFT);
    // podman sends ADD and DEL, balanced, and every one succeeded.
    const calls = box.calls().filter((x) => x.plugin === 'flannel');
    expect(calls.filter((x) => x.verb === 'DEL').length).toBe(calls.filter((x) => x.verb === 'ADD').length);
    expect(calls.filter((x) => x.result !== 'ok')).toEqual([]);
  });
});
