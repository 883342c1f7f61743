// CNI 1.1 GC and STATUS of the built dist/bridge, run as a runtime runs it inside a
// throwaway namespace standing in for the node: reservations on disk, masquerade
// chains in that namespace's nat tables, links in its netlink view. The machine's
// own namespace is never read or written.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { masqChainName, masqComment } from '../../lib/masq/rules';
import { Netns, isRoot, runPlugin, tempDir, uniqueName } from '../helpers/ns';

const NET = 'gcnet';
type Att = { containerID: string; ifname: string };

describe.skipIf(!isRoot)('bridge GC and STATUS (root, throwaway namespaces)', () => {
  let node: Netns;
  let pods: Netns[];
  let dataDir: string;
  let bridge: string;

  const conf = (extra: Record<string, unknown> = {}, cniVersion = '1.1.0') => ({
    cniVersion,
    name: NET,
    type: 'bridge',
    bridge,
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.79.0.0/24' }], [{ subnet: 'fd00:79::/64' }]] },
    ...extra,
  });
  const pod = (): Netns => {
    const p = Netns.create('cnit-gc-pod-');
    pods.push(p);
    return p;
  };
  const netDir = () => path.join(dataDir, NET);
  const ipFiles = () => fs.readdirSync(netDir()).filter((f) => /^[0-9a-f.:]+$/.test(f)).sort();
  const nat = (family: 4 | 6): string[] =>
    node.exec([family === 4 ? 'iptables' : 'ip6tables', '-w', '-t', 'nat', '-S']).stdout.split('\n').filter((l) => l !== '' && !l.startsWith('-P '));
  const chainLines = (family: 4 | 6, id: string, network = NET) => {
    const c = masqChainName(network, id);
    return nat(family).filter((l) => l.split(' ').includes(c));
  };
  const gc = (body: Record<string, unknown>, cniVersion = '1.1.0', extra: Record<string, unknown> = {}) =>
    runPlugin(node, 'bridge', { command: 'GC' }, { ...conf(extra, cniVersion), ...body });
  const status = (extra: Record<string, unknown> = {}, cniVersion = '1.1.0', env: Record<string, string> = {}, cniPath?: string) =>
    runPlugin(node, 'bridge', { command: 'STATUS', extra: env, path: cniPath }, conf(extra, cniVersion));

  /** ADD `ids` on eth0, each in its own pod; returns id → [v4, v6] file names. */
  function addPods(ids: string[], extra: Record<string, unknown> = {}): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const id of ids) {
      const p = pod();
      const add = runPlugin(node, 'bridge', { command: 'ADD', containerId: id, netns: p.path, ifName: 'eth0' }, conf(extra));
      expect(add.status, add.stdout + add.stderr).toBe(0);
      out.set(id, add.json.ips.map((i: { address: string }) => i.address.split('/')[0]));
    }
    return out;
  }

  beforeEach(() => {
    node = Netns.create('cnit-gc-node-');
    pods = [];
    dataDir = tempDir('cnit-gc-ipam-');
    bridge = uniqueName('cnit-gc-');
  });
  afterEach(() => {
    for (const p of pods) p.destroy();
    node.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('GC removes exactly the unlisted attachment: reservations, chains and POSTROUTING jumps, v4 and v6', () => {
    const ips = addPods(['gc-a', 'gc-b', 'gc-c']);
    expect(ipFiles()).toEqual([...ips.values()].flat().sort());
    for (const id of ips.keys()) for (const f of [4, 6] as const) expect(chainLines(f, id).length, `${id} v${f}`).toBe(4);

    // Neighbours GC must not touch: another network's chain for the same container ID,
    // and a CNI- chain without our comment.
    const other = masqChainName('othernet', 'gc-c');
    node.exec(['iptables', '-w', '-t', 'nat', '-N', other]);
    node.exec(['iptables', '-w', '-t', 'nat', '-A', other, '-j', 'MASQUERADE', '-m', 'comment', '--comment', masqComment('othernet', 'gc-c')]);
    node.exec(['iptables', '-w', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.99.0.3', '-j', other, '-m', 'comment', '--comment', masqComment('othernet', 'gc-c')]);
    node.exec(['iptables', '-w', '-t', 'nat', '-N', 'CNI-000000000000000000000000']);
    node.exec(['iptables', '-w', '-t', 'nat', '-A', 'CNI-000000000000000000000000', '-j', 'MASQUERADE']);
    const untouched = nat(4).filter((l) => l.includes(other) || l.includes('CNI-0000'));
    expect(untouched).toHaveLength(5);

    const r = gc({ 'cni.dev/valid-attachments': [{ containerID: 'gc-a', ifname: 'eth0' }, { containerID: 'gc-b', ifname: 'eth0' }] satisfies Att[] });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toBe('');

    expect(ipFiles()).toEqual([...ips.get('gc-a')!, ...ips.get('gc-b')!].sort());
    for (const f of [4, 6] as const) {
      expect(chainLines(f, 'gc-c'), `v${f}`).toEqual([]);
      expect(chainLines(f, 'gc-a')).toHaveLength(4);
      expect(chainLines(f, 'gc-b')).toHaveLength(4);
      expect(nat(f).filter((l) => l.startsWith('-A POSTROUTING') && l.includes(masqChainName(NET, 'gc-c')))).toEqual([]);
    }
    expect(nat(4).filter((l) => l.includes(other) || l.includes('CNI-0000'))).toEqual(untouched);
    for (const id of ['gc-a', 'gc-b']) expect(fs.readFileSync(path.join(netDir(), ips.get(id)![0]), 'latin1')).toBe(`${id}\r\neth0`);

    // A second identical GC finds nothing more to do.
    expect(gc({ 'cni.dev/valid-attachments': [{ containerID: 'gc-a', ifname: 'eth0' }, { containerID: 'gc-b', ifname: 'eth0' }] }).status).toBe(0);
    expect(ipFiles()).toHaveLength(4);

    // The legacy key alone works too.
    const legacy = gc({ 'cni.dev/attachments': [{ containerID: 'gc-a', ifname: 'eth0' }] });
    expect(legacy.status, legacy.stdout + legacy.stderr).toBe(0);
    expect(ipFiles()).toEqual([...ips.get('gc-a')!].sort());
    expect(chainLines(4, 'gc-b')).toEqual([]);
    expect(chainLines(6, 'gc-b')).toEqual([]);
    expect(chainLines(4, 'gc-a')).toHaveLength(4);
  });

  it('GC without the list, with disableGC, or with a malformed list removes nothing; the malformed one is code 7', () => {
    const ips = addPods(['gc-a', 'gc-b']);
    const files = ipFiles();
    const rules4 = nat(4);
    expect(gc({}).status).toBe(0);
    expect(gc({ disableGC: true, 'cni.dev/valid-attachments': [] }).status).toBe(0);
    const bad = gc({ 'cni.dev/valid-attachments': [{ containerID: 'gc-a' }] });
    expect(bad.status).toBe(1);
    expect(bad.json.code).toBe(7);
    expect(ipFiles()).toEqual(files);
    expect(nat(4)).toEqual(rules4);
    // proof that these GCs could have removed something
    expect(gc({ 'cni.dev/valid-attachments': [] }).status).toBe(0);
    expect(ipFiles()).toEqual([]);
    expect(chainLines(4, 'gc-a')).toEqual([]);
    expect(ips.size).toBe(2);
  });

  it('GC touches only what the config enables: with ipMasq off it leaves masquerade chains alone', () => {
    addPods(['gc-a', 'gc-b']);
    const r = gc({ 'cni.dev/valid-attachments': [{ containerID: 'gc-a', ifname: 'eth0' }] }, '1.1.0', { ipMasq: false });
    expect(r.status, r.stdout).toBe(0);
    expect(chainLines(4, 'gc-b')).toHaveLength(4);
    expect(chainLines(4, 'gc-a')).toHaveLength(4);
    expect(ipFiles()).toHaveLength(2); // gc-a's v4 and v6; gc-b's reservations went
  });

  it('STATUS: 0 when ready and also with a full range (capacity is not unavailability), whose ADD fails naming it', () => {
    const small = { ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.79.0.0/30' }]] } };
    const ok = status(small);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toBe('');
    addPods(['gc-a'], small);
    const full = status(small);
    expect(full.status, full.stdout).toBe(0);
    const p = pod();
    const add = runPlugin(node, 'bridge', { command: 'ADD', containerId: 'gc-z', netns: p.path, ifName: 'eth0' }, conf(small));
    expect(add.status).toBe(1);
    expect(add.json.msg).toContain('no IP addresses available in range set: 10.79.0.1-10.79.0.2');
  });

  it('STATUS: 50 when the bridge name belongs to a link that is not a bridge (e.g. a veth), 0 once it is gone', () => {
    // a veth rather than a dummy: the dummy module is not available on every test kernel
    node.ip(`link add ${bridge} type veth peer name ${uniqueName('cnit-gcp-')}`);
    const r = status();
    expect(r.status).toBe(1);
    expect(r.json.code).toBe(50);
    expect(r.json.msg).toContain(`"${bridge}" exists but is a veth device, not a bridge`);
    node.ip(`link del ${bridge}`);
    expect(status().status).toBe(0);
    // and an existing real bridge is fine
    addPods(['gc-a']);
    expect(status().status).toBe(0);
  });

  it('STATUS: 50 when the host-local data dir cannot be created', () => {
    const f = path.join(dataDir, 'file');
    fs.writeFileSync(f, '');
    const r = status({ ipam: { type: 'host-local', dataDir: path.join(f, 'x'), ranges: [[{ subnet: '10.79.0.0/24' }]] } });
    expect(r.status).toBe(1);
    expect(r.json.code).toBe(50);
    expect(r.json.msg).toContain(f);
  });

  it('GC and STATUS under cniVersion 1.0.0 are refused with code 1', () => {
    addPods(['gc-a']);
    const g = gc({ 'cni.dev/valid-attachments': [] }, '1.0.0');
    expect(g.status).toBe(1);
    expect(g.json.code).toBe(1);
    expect(ipFiles()).toHaveLength(2);
    const s = status({}, '1.0.0');
    expect(s.status).toBe(1);
    expect(s.json.code).toBe(1);
  });

  it('an external IPAM gets STATUS and GC forwarded (both list keys), and its error passes through', () => {
    const bin = tempDir('cnit-gc-bin-');
    try {
      const log = path.join(bin, 'calls.log');
      fs.writeFileSync(
        path.join(bin, 'ext-ipam'),
        `#!/bin/sh\necho "$CNI_COMMAND" >> ${log}\ncat >> ${log}\necho >> ${log}\n` +
          `[ -n "$EXT_FAIL" ] && { echo '{"cniVersion":"1.1.0","code":51,"msg":"ext-ipam: daemon unreachable"}'; exit 1; }\nexit 0\n`,
        { mode: 0o755 },
      );
      const ext = { ipam: { type: 'ext-ipam' } };
      expect(status(ext, '1.1.0', {}, bin).status).toBe(0);
      const failed = status(ext, '1.1.0', { EXT_FAIL: '1' }, bin);
      expect(failed.status).toBe(1);
      expect(failed.json).toMatchObject({ code: 51, msg: 'ext-ipam: daemon unreachable' });
      const g = runPlugin(node, 'bridge', { command: 'GC', path: bin }, { ...conf(ext), 'cni.dev/attachments': [{ containerID: 'x', ifname: 'eth0' }] });
      expect(g.status, g.stdout).toBe(0);
      const calls = fs.readFileSync(log, 'utf8').trim().split('\n');
      expect(calls.filter((l) => /^[A-Z]+$/.test(l))).toEqual(['STATUS', 'STATUS', 'GC']);
      const gcStdin = JSON.parse(calls[calls.indexOf('GC') + 1]);
      expect(gcStdin['cni.dev/valid-attachments']).toEqual([{ containerID: 'x', ifname: 'eth0' }]);
      expect(gcStdin['cni.dev/attachments']).toEqual([{ containerID: 'x', ifname: 'eth0' }]);
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });
});
