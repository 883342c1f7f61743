// Which pod sysctls an ADD must be able to write, on a real kernel, both builds as
// black boxes. The plugin runs in a mount namespace of its own where /proc/sys is
// read-only (what an unprivileged container gives a process): every sysctl write
// fails with EROFS. As the reference since v1.7, an ADD that gives the pod IPv6 fails
// when it cannot enable IPv6 (disable_ipv6=0 on lo and the interface) or set
// keep_addr_on_down, and undoes itself; the other sysctls stay best effort.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Netns, builds, isRoot, runPlugin, tempDir, uniqueName, type CniEnv } from '../helpers/ns';

describe.skipIf(!isRoot).each(builds)('pod sysctls an ADD cannot write (%s)', (dir) => {
  let node: Netns;
  let pods: Netns[];
  let dataDir: string;
  let wrapperDir: string;
  let bridge: string;

  // No isGateway: forwarding on the node is a sysctl too, and not the one under test.
  const conf = (subnet: string) => ({
    cniVersion: '1.0.0',
    name: 'sysnet',
    type: 'bridge',
    bridge,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet }]] },
  });
  const v6 = () => conf('fd00:78::/64');
  const pod = () => {
    const p = Netns.create('cnit-sys-pod-');
    pods.push(p);
    return p;
  };
  const env = (command: string, p: Netns, id: string): CniEnv => ({ command, containerId: id, netns: p.path, ifName: 'eth0', path: dir });
  /** The plugin with /proc/sys read-only. */
  const runRo = (command: string, p: Netns, id: string, c: object) => runPlugin(node, 'bridge', env(command, p, id), c, wrapperDir);
  const run = (command: string, p: Netns, id: string, c: object) => runPlugin(node, 'bridge', env(command, p, id), c, dir);
  const ipFiles = () => {
    const d = path.join(dataDir, 'sysnet');
    return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
  };
  const expectNothingLeft = (p: Netns) => {
    expect(node.json('link show type veth')).toEqual([]);
    expect(p.exec(['ip', 'link', 'show', 'eth0'], { allowFail: true }).status).not.toBe(0);
    expect(ipFiles()).toEqual([]);
  };

  beforeEach(() => {
    node = Netns.create('cnit-sys-node-');
    pods = [];
    dataDir = tempDir('cnit-sys-ipam-');
    wrapperDir = tempDir('cnit-sys-ro-');
    bridge = uniqueName('cnisys');
    // unshare's new mount namespace is private, so the read-only /proc/sys stays the plugin's.
    const wrapper = path.join(wrapperDir, 'bridge');
    const inner = 'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$0"';
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec unshare --mount sh -c '${inner}' ${JSON.stringify(path.join(dir, 'bridge'))}\n`, { mode: 0o755 });
  });
  afterEach(() => {
    for (const p of pods) p.destroy();
    node.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(wrapperDir, { recursive: true, force: true });
  });

  it('keep_addr_on_down cannot be set: the IPv6 ADD fails naming it and leaves nothing', () => {
    const p = pod();
    const add = runRo('ADD', p, 'sys1', v6());
    expect(add.status, add.stdout + add.stderr).toBe(1);
    expect(add.json.msg).toContain('keep_addr_on_down');
    expect(add.json.msg).toContain('/proc/sys/net/ipv6/conf/eth0/keep_addr_on_down');
    expectNothingLeft(p);
  });

  it('IPv6 off on the interface and cannot be turned on: the ADD fails naming disable_ipv6 of "eth0"', () => {
    const p = pod();
    // A new interface of the pod netns starts with the netns default.
    p.exec(['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    const add = runRo('ADD', p, 'sys2', v6());
    expect(add.status, add.stdout + add.stderr).toBe(1);
    expect(add.json.msg).toContain('failed to enable IPv6 on "eth0"');
    expect(add.json.msg).toContain('/proc/sys/net/ipv6/conf/eth0/disable_ipv6');
    expectNothingLeft(p);
  });

  it('IPv6 off on the pod\'s lo and cannot be turned on: the ADD fails naming lo', () => {
    const p = pod();
    p.exec(['sysctl', '-q', '-w', 'net.ipv6.conf.lo.disable_ipv6=1']);
    const add = runRo('ADD', p, 'sys3', v6());
    expect(add.status, add.stdout + add.stderr).toBe(1);
    expect(add.json.msg).toContain('failed to enable IPv6 on "lo"');
    expectNothingLeft(p);
  });

  it('with a writable /proc/sys the same pod gets IPv6 turned on', () => {
    const p = pod();
    p.exec(['sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.lo.disable_ipv6=1']);
    const add = run('ADD', p, 'sys4', v6());
    expect(add.status, add.stdout + add.stderr).toBe(0);
    for (const dev of ['lo', 'eth0']) expect(p.exec(['cat', `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`]).stdout.trim()).toBe('0');
    expect(p.exec(['cat', '/proc/sys/net/ipv6/conf/eth0/keep_addr_on_down']).stdout.trim()).toBe('1');
    expect(run('DEL', p, 'sys4', v6()).status).toBe(0);
  });

  it('an IPv4-only pod does not need them: the other sysctls are best effort and the ADD succeeds', () => {
    const p = pod();
    const v4 = conf('10.78.0.0/24');
    const add = runRo('ADD', p, 'sys5', v4);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    // arp_notify was not written (read-only), and nothing failed for it.
    expect(p.exec(['cat', '/proc/sys/net/ipv4/conf/eth0/arp_notify']).stdout.trim()).toBe('0');
    expect(p.ip('-4 -br addr show dev eth0')).toContain('10.78.0.2/24');
    expect(run('DEL', p, 'sys5', v4).status).toBe(0);
    expectNothingLeft(p);
  });
});
