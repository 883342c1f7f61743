// What a runtime, a tenant or a broken node can hand the built plugins, and what they
// must do with it: refuse a name the kernel would rewrite, hear about a missing
// CNI_PATH, tell this boot's reservations from an earlier boot's by the boot record
// (never by file times), go on past stray entries in the store, handle any container
// ID a runtime can pass, never write a log through a link, and answer with one CNI
// error even when the process cannot leave the pod's namespace. Both builds.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Netns, builds, isRoot, runPlugin as run, tempDir, uniqueName, useNode, type CniEnv } from '../helpers/ns';

describe.skipIf(!isRoot).each(builds)('trust boundaries of the built plugins (%s)', (dir) => {
  const f = useNode('tr');
  const runPlugin = (plugin: string, env: CniEnv, stdin: object) => run(f.node, plugin, env, stdin, dir);
  const newPod = () => f.pod();
  const netDir = () => path.join(f.state, 'networks', 'trnet');
  const bridgeConf = (extra: Record<string, unknown> = {}, subnet = '10.66.0.0/24') => ({
    cniVersion: '1.1.0',
    name: 'trnet',
    type: 'bridge',
    bridge: f.bridge,
    isGateway: true,
    ipam: { type: 'host-local', dataDir: path.join(f.state, 'networks'), ranges: [[{ subnet }]] },
    ...extra,
  });
  const flannelConf = () => ({
    cniVersion: '1.0.0',
    name: 'trnet',
    type: 'flannel',
    subnetFile: path.join(f.state, 'subnet.env'),
    dataDir: path.join(f.state, 'flannel'),
    ipam: { dataDir: path.join(f.state, 'networks') },
    delegate: { bridge: f.bridge },
  });
  const env = (command: string, id: string, p: Netns, ifName = 'eth0'): CniEnv => ({ command, containerId: id, netns: p.path, ifName });
  const reservations = () => (fs.existsSync(netDir()) ? fs.readdirSync(netDir()).filter((n) => /^[0-9a-f.:]+$/.test(n)).sort() : []);
  const podLinks = (p: Netns) => p.json<{ ifname: string }[]>('link show').map((l) => l.ifname).filter((n) => n !== 'lo');
  const hostVeths = () => f.node.json<{ ifname: string }[]>('link show type veth').map((l) => l.ifname);

  beforeEach(() => {
    fs.writeFileSync(path.join(f.state, 'subnet.env'), 'FLANNEL_NETWORK=10.66.0.0/16\nFLANNEL_SUBNET=10.66.0.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
  });

  it('CNI_IFNAME "eth%d" is refused with code 4 by ADD, CHECK and DEL, before anything is created', () => {
    const p = newPod();
    for (const plugin of ['bridge', 'flannel']) {
      for (const command of ['ADD', 'CHECK', 'DEL']) {
        const r = runPlugin(plugin, env(command, 'pct1', p, 'eth%d'), plugin === 'bridge' ? bridgeConf() : flannelConf());
        expect(r.status, `${plugin} ${command}`).toBe(1);
        expect(r.json.code).toBe(4);
        expect(r.json.msg).toContain('invalid interface name "eth%d"');
      }
    }
    expect(podLinks(p)).toEqual([]);
    expect(hostVeths()).toEqual([]);
    expect(fs.existsSync(path.join(f.state, 'networks'))).toBe(false);
    expect(fs.existsSync(path.join(f.state, 'flannel'))).toBe(false);
  });

  it('a missing CNI_PATH is code 4, as every Go plugin answers, for ADD, CHECK and DEL of both plugins', () => {
    const p = newPod();
    for (const plugin of ['bridge', 'flannel']) {
      for (const command of ['ADD', 'CHECK', 'DEL']) {
        // runPlugin always sets CNI_PATH; an empty one is what a runtime that forgot it sends.
        const r = runPlugin(plugin, { ...env(command, 'nopath', p), path: '' }, plugin === 'bridge' ? bridgeConf() : flannelConf());
        expect(r.json, `${plugin} ${command}`).toEqual({ code: 4, msg: 'required env variables [CNI_PATH] missing' });
      }
    }
    expect(podLinks(p)).toEqual([]);
    expect(fs.existsSync(path.join(f.state, 'networks'))).toBe(false);
  });

  it('reboot reclaim by the boot record: a reservation of this boot stays however old its mtime; one of an earlier boot gives way when the range is full', () => {
    const small = bridgeConf({}, '10.66.0.0/29'); // .2-.6 allocatable
    const live = ['b1', 'b2', 'b3', 'b4', 'b5'].map((id) => {
      const p = newPod();
      expect(runPlugin('bridge', env('ADD', id, p), small).status).toBe(0);
      return p;
    });
    const old = new Date('2001-01-01T00:00:00Z');
    for (const f of reservations()) fs.utimesSync(path.join(netDir(), f), old, old);
    const full = runPlugin('bridge', env('ADD', 'b6', newPod()), small);
    expect(full.status).toBe(1);
    expect(full.json.msg).toContain('no IP addresses available in range set: 10.66.0.1-10.66.0.6');
    expect(reservations()).toHaveLength(5);
    for (const p of live) expect(p.exec(['ping', '-c', '1', '-W', '2', '10.66.0.1'], { allowFail: true }).status).toBe(0);
    // A reboot: every pod is gone (their namespaces with them), the store names an older boot.
    for (const p of live) p.destroy();
    fs.writeFileSync(path.join(netDir(), 'boot_id'), '00000000-0000-4000-8000-000000000000');
    const fresh = newPod();
    const add = runPlugin('bridge', env('ADD', 'after', fresh), small);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(add.stderr).toContain('reserved in an earlier boot');
    expect(fs.readFileSync(path.join(netDir(), add.json.ips[0].address.split('/')[0]), 'latin1')).toBe('after\r\neth0');
    expect(fresh.exec(['ping', '-c', '1', '-W', '2', '10.66.0.1'], { allowFail: true }).status).toBe(0);
  });

  it('a stray directory, FIFO or socket in the store is skipped: ADD, DEL and GC go on', async () => {
    fs.mkdirSync(path.join(netDir(), '.tmp-x'), { recursive: true });
    fs.mkdirSync(path.join(netDir(), '10.66.0.2'));
    expect(spawnSync('mkfifo', [path.join(netDir(), 'pipe')]).status).toBe(0);
    const server = net.createServer().listen(path.join(netDir(), '10.66.0.3'));
    await new Promise((r) => server.once('listening', r));
    try {
      const p = newPod();
      const add = runPlugin('bridge', env('ADD', 'stray1', p), bridgeConf());
      expect(add.status, add.stdout + add.stderr).toBe(0);
      // the two entries named by an address still hold it
      expect(add.json.ips[0].address).toBe('10.66.0.4/24');
      expect(add.stderr).toContain('left alone');
      const gc = runPlugin('bridge', { command: 'GC' }, { ...bridgeConf(), 'cni.dev/valid-attachments': [{ containerID: 'stray1', ifname: 'eth0' }] });
      expect(gc.status, gc.stdout).toBe(0);
      expect(runPlugin('bridge', env('DEL', 'stray1', p), bridgeConf()).status).toBe(0);
      expect(fs.readdirSync(netDir()).sort()).toEqual(['.tmp-x', '10.66.0.2', '10.66.0.3', 'boot_id', 'bridge_gateways', 'last_reserved_ip.0', 'lock', 'pipe']);
    } finally {
      server.close();
    }
  });

  it('a container ID as long as the environment allows: ADD, GC keeping it, DEL releasing it', () => {
    // MAX_ARG_STRLEN (128 KiB) counts "CNI_CONTAINERID=" and the NUL: the longest ID a runtime can pass.
    const id = `L${'x'.repeat(131_072 - 'CNI_CONTAINERID='.length - 2)}`;
    const p = newPod();
    const add = runPlugin('bridge', env('ADD', id, p), bridgeConf());
    expect(add.status, add.stdout.slice(0, 300)).toBe(0);
    const ip = add.json.ips[0].address.split('/')[0];
    expect(fs.readFileSync(path.join(netDir(), ip), 'latin1')).toBe(`${id}\r\neth0`);
    const gc = runPlugin('bridge', { command: 'GC' }, { ...bridgeConf(), 'cni.dev/valid-attachments': [{ containerID: id, ifname: 'eth0' }] });
    expect(gc.status, gc.stdout).toBe(0);
    expect(reservations()).toEqual([ip]);
    expect(runPlugin('bridge', env('DEL', id, p), bridgeConf()).status).toBe(0);
    expect(reservations()).toEqual([]);
    expect(hostVeths()).toEqual([]);
    // flannel names a file after the ID: it refuses one longer than a file name can be, before writing anything.
    const fl = runPlugin('flannel', env('ADD', id.slice(0, 300), newPod()), flannelConf());
    expect(fl.json.code).toBe(4);
    expect(fs.existsSync(path.join(f.state, 'flannel'))).toBe(false);
    expect(reservations()).toEqual([]);
  });

  it("a missing subnet.env says upstream's words, keeps code 11 (try again) and our hint, and creates nothing", () => {
    fs.rmSync(path.join(f.state, 'subnet.env'));
    const p = newPod();
    const r = runPlugin('flannel', env('ADD', 'nosub', p), flannelConf());
    expect(r.json.code).toBe(11);
    expect(r.json.msg).toMatch(new RegExp(`^failed to load flannel 'subnet.env' file: open ${path.join(f.state, 'subnet.env')}: no such file or directory\\. flanneld writes this file`));
    expect(podLinks(p)).toEqual([]);
    expect(fs.existsSync(path.join(f.state, 'flannel'))).toBe(false);
  });

  it('CNI_LOG_FILE and the call log are never written through a symbolic link', () => {
    const target = path.join(f.state, 'victim');
    fs.writeFileSync(target, 'precious\n');
    fs.symlinkSync(target, path.join(f.state, 'plugin.log'));
    fs.symlinkSync(target, path.join(f.state, 'calls.log'));
    const p = newPod();
    const extra = { CNI_LOG_FILE: path.join(f.state, 'plugin.log'), CNI_LOG_LEVEL: 'debug', CNI_CALL_LOG: path.join(f.state, 'calls.log') };
    const add = runPlugin('bridge', { ...env('ADD', 'log1', p), extra }, bridgeConf());
    expect(add.status, add.stdout).toBe(0);
    expect(fs.readFileSync(target, 'utf8')).toBe('precious\n');
    expect(add.stderr).toContain('symbolic link');
    expect(runPlugin('bridge', { ...env('DEL', 'log1', p), extra }, bridgeConf()).status).toBe(0);
    expect(fs.readFileSync(target, 'utf8')).toBe('precious\n');
  });
});

// setns(2) back to the node's namespace cannot fail on a healthy kernel; an LD_PRELOAD
// shim makes the second setns of the process fail, which is the way back from the first.
describe.skipIf(!isRoot || !fs.existsSync('/usr/bin/cc')).each(builds)('stranded in the pod namespace (%s)', (dir) => {
  let shimDir: string;
  let node: Netns;
  let pod: Netns;
  beforeAll(() => {
    shimDir = tempDir('cnit-shim-');
    fs.writeFileSync(
      path.join(shimDir, 'shim.c'),
      `#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
static int calls;
int setns(int fd, int nstype) {
  int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "setns");
  if (++calls == 2) { errno = EPERM; return -1; }
  return real(fd, nstype);
}
`,
    );
    const cc = spawnSync('cc', ['-shared', '-fPIC', '-o', path.join(shimDir, 'shim.so'), path.join(shimDir, 'shim.c'), '-ldl'], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(cc.stderr);
  });
  afterAll(() => fs.rmSync(shimDir, { recursive: true, force: true }));
  beforeEach(() => {
    node = Netns.create('cnit-shim-node-');
    pod = Netns.create('cnit-shim-pod-');
  });
  afterEach(() => {
    pod.destroy();
    node.destroy();
  });

  it('the runtime still gets one CNI error document, and nothing was created', () => {
    const conf = { cniVersion: '1.0.0', name: 'shimnet', type: 'bridge', bridge: uniqueName('cnish'), ipam: {} };
    const r = run(node, 'bridge', { command: 'ADD', containerId: 's1', netns: pod.path, ifName: 'eth0', extra: { LD_PRELOAD: path.join(shimDir, 'shim.so') } }, conf, dir);
    expect(r.status).not.toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.json.code).toBe(999);
    expect(r.json.msg).toContain('cannot return to the host network namespace');
    expect(node.json('link show type veth')).toEqual([]);
    expect(pod.json<{ ifname: string }[]>('link show').map((l) => l.ifname)).toEqual(['lo']);
  });
});
