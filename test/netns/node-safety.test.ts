// The node's side of the house: data directories behind symbolic links (a data disk
// mounted elsewhere) work as with the reference, and GC never takes what an ADD got
// while GC waited for the store's lock. Built executables of both builds.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { masqChainName, masqComment } from '../../lib/masq/rules';
import { builds, isRoot, runPlugin as run, useNode, type CniEnv, type Netns } from '../helpers/ns';

describe.skipIf(!isRoot).each(builds)('node safety (%s)', (dir) => {
  const f = useNode('ns');
  const runPlugin = (plugin: string, env: CniEnv, stdin: object) => run(f.node, plugin, env, stdin, dir);
  const newPod = () => f.pod();
  const env = (command: string, id: string, p: Netns): CniEnv => ({ command, containerId: id, netns: p.path, ifName: 'eth0' });

  beforeEach(() => {
    fs.writeFileSync(path.join(f.state, 'subnet.env'), 'FLANNEL_NETWORK=10.67.0.0/16\nFLANNEL_SUBNET=10.67.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
  });

  it('flannel dataDir and ipam.dataDir behind symbolic links are followed: ADD, DEL, and DEL of what the reference reserved there', () => {
    const disk = path.join(f.state, 'disk');
    fs.mkdirSync(path.join(disk, 'flannel'), { recursive: true });
    fs.mkdirSync(path.join(disk, 'networks'), { recursive: true });
    fs.symlinkSync(path.join(disk, 'flannel'), path.join(f.state, 'flannel'));
    fs.mkdirSync(path.join(f.state, 'lib'));
    fs.symlinkSync(disk, path.join(f.state, 'lib', 'cni')); // /var/lib/cni -> /mnt/disk
    const conf = {
      cniVersion: '1.0.0',
      name: 'linknet',
      type: 'flannel',
      subnetFile: path.join(f.state, 'subnet.env'),
      dataDir: path.join(f.state, 'flannel'),
      ipam: { dataDir: path.join(f.state, 'lib', 'cni', 'networks') },
      delegate: { bridge: f.bridge },
    };
    const p = newPod();
    const add = runPlugin('flannel', env('ADD', 'lk1', p), conf);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    const ip = add.json.ips[0].address.split('/')[0];
    expect(fs.readFileSync(path.join(disk, 'networks', 'linknet', ip), 'latin1')).toBe('lk1\r\neth0');
    expect(fs.readdirSync(path.join(disk, 'flannel'))).toEqual(['lk1']);
    expect(runPlugin('flannel', env('DEL', 'lk1', p), conf).status).toBe(0);
    // A reservation the reference made through the same links (its DEL would follow them too).
    fs.writeFileSync(path.join(disk, 'networks', 'linknet', '10.67.3.77'), 'ref1\r\neth0');
    expect(runPlugin('flannel', env('DEL', 'ref1', newPod()), conf).status).toBe(0);
    expect(fs.readdirSync(path.join(disk, 'networks', 'linknet')).filter((f) => /^[0-9a-f.:]+$/.test(f))).toEqual([]);
    expect(fs.readdirSync(path.join(disk, 'flannel'))).toEqual([]);
  });

  it('GC keeps an attachment reserved while it waited for the lock (reservation and masquerade chain), and collects the rest', async () => {
    const dataDir = path.join(f.state, 'networks');
    const conf = {
      cniVersion: '1.1.0',
      name: 'gcwait',
      type: 'bridge',
      bridge: f.bridge,
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.68.0.0/24' }]] },
    };
    const p = newPod();
    const add = runPlugin('bridge', env('ADD', 'stale1', p), conf);
    expect(add.status, add.stdout).toBe(0);
    const staleIp = add.json.ips[0].address.split('/')[0];
    const netDir = path.join(dataDir, 'gcwait');
    const log = path.join(f.state, 'gc.log');
    const young = masqChainName('gcwait', 'young1');
    // An "ADD" that holds the lock, waits until GC is waiting for it, then reserves an
    // address and makes its chain, as an ADD overlapping GC (a runtime bug) would.
    const locked = path.join(f.state, 'locked');
    const holder = spawn('ip', [
      'netns', 'exec', f.node.name, 'flock', path.join(netDir, 'lock'), 'sh', '-c',
      `touch ${locked}; n=0; while ! grep -q 'waiting for the lock' ${log} 2>/dev/null; do n=$((n+1)); [ $n -gt 1500 ] && exit 1; sleep 0.02; done; ` +
        `printf 'young1\\r\\neth0' > ${path.join(netDir, '10.68.0.50')}; ` +
        `iptables -w -t nat -N ${young} && iptables -w -t nat -A ${young} -d 10.68.0.0/24 -m comment --comment '${masqComment('gcwait', 'young1')}' -j ACCEPT`,
    ]);
    const holderDone = new Promise((r) => holder.once('exit', r));
    for (let i = 0; i < 500 && !fs.existsSync(locked); i++) await new Promise((r) => setTimeout(r, 20)); // the holder has the lock
    const gc = run(f.node, 'bridge', { command: 'GC', extra: { CNI_LOG_LEVEL: 'debug', CNI_LOG_FILE: log } }, { ...conf, 'cni.dev/valid-attachments': [] }, dir);
    await holderDone;
    expect(gc.status, gc.stdout + fs.readFileSync(log, 'utf8')).toBe(0);
    const files = fs.readdirSync(netDir).filter((f) => /^[0-9a-f.:]+$/.test(f));
    expect(files).toEqual(['10.68.0.50']);
    expect(files).not.toContain(staleIp);
    const nat = f.node.exec(['iptables', '-w', '-t', 'nat', '-S']).stdout;
    expect(nat).toContain(`-N ${young}`);
    expect(nat).not.toContain(`-N ${masqChainName('gcwait', 'stale1')}`);
    expect(fs.readFileSync(log, 'utf8')).toContain('reserved after this GC began');
  });
});
