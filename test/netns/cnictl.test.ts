// The built dist/cnictl as an operator runs it, on a kube-flannel style network (flannel →
// bridge → host-local, no portmap) inside a throwaway namespace standing in for the node.
// Every path it would default to (/etc/cni/net.d, /var/lib/cni, /run/flannel) is a temp dir.
//
// cnictl runs under `nsenter --net=NODE`, not `ip netns exec NODE`: the latter also gives
// the command a private mount namespace, where the pod namespace --create mounts would
// die with the command (cnictl refuses that; the last test proves it).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCache } from '../../tools/cnictl/cache';
import { Netns, distDir, isRoot, sh, tempDir, uniqueName } from '../helpers/ns';

const cnictl = path.join(distDir, 'cnictl');

describe.skipIf(!isRoot)('dist/cnictl on real namespaces (root)', () => {
  let node: Netns;
  let state: string;
  let confDir: string;
  let cacheDir: string;
  let bridge: string;
  const pods: Netns[] = [];

  const ctl = (args: string[], how: 'nsenter' | 'ip-netns-exec' = 'nsenter') => {
    const common = ['--confdir', confDir, '--cache-dir', cacheDir, '--bin', distDir];
    const argv =
      how === 'nsenter' ? ['nsenter', `--net=${node.path}`, process.execPath, cnictl, ...args, ...common] : ['ip', 'netns', 'exec', node.name, process.execPath, cnictl, ...args, ...common];
    // A hang (a FIFO read without O_NONBLOCK) fails the test instead of blocking the suite.
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 });
    if (r.error) throw new Error(`cnictl ${args.join(' ')}: ${r.error.message}`);
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const newPod = (): Netns => {
    const p = new Netns(uniqueName('cnit-ctl-pod-'));
    pods.push(p);
    return p;
  };
  const reservations = () => {
    const d = path.join(state, 'networks', 'cbr0');
    return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => /^[0-9a-f.:]+$/.test(f)) : [];
  };
  const results = () => (fs.existsSync(path.join(cacheDir, 'results')) ? fs.readdirSync(path.join(cacheDir, 'results')) : []);
  const isNsfs = (p: string) => fs.existsSync(p) && fs.statfsSync(p).type === 0x6e736673;
  const hostVeths = () => node.json<{ ifname: string }[]>('link show type veth').map((l) => l.ifname);

  beforeAll(() => {
    expect(fs.existsSync(cnictl), 'dist/cnictl is missing: npm run build:node').toBe(true);
    node = Netns.create('cnit-ctl-node-');
    state = tempDir('cnit-ctl-');
    confDir = path.join(state, 'net.d');
    cacheDir = path.join(state, 'cache');
    bridge = uniqueName('cnictl');
    fs.mkdirSync(confDir);
    fs.writeFileSync(path.join(state, 'subnet.env'), 'FLANNEL_NETWORK=10.77.0.0/16\nFLANNEL_SUBNET=10.77.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
    // kube-flannel's conflist without portmap, state in temp dirs; cniVersions lets it speak 1.1.0.
    const conflist = {
      name: 'cbr0',
      cniVersion: '0.3.1',
      cniVersions: ['0.3.1', '1.0.0', '1.1.0'],
      plugins: [
        {
          type: 'flannel',
          subnetFile: path.join(state, 'subnet.env'),
          dataDir: path.join(state, 'flannel'),
          ipam: { dataDir: path.join(state, 'networks') },
          delegate: { bridge, hairpinMode: true, isDefaultGateway: true },
        },
      ],
    };
    fs.writeFileSync(path.join(confDir, '10-flannel.conflist'), `${JSON.stringify(conflist, null, 2)}\n`);
    // A broken file that sorts after ours is never read: the search stops at the match.
    fs.writeFileSync(path.join(confDir, '99-zz.conflist'), '{not json');
  });
  afterAll(() => {
    for (const p of pods) p.destroy();
    node?.destroy();
    if (state) fs.rmSync(state, { recursive: true, force: true });
  });

  it('add --create → check → status → gc (keeping it) → del --create', () => {
    const pod = newPod();
    const add = ctl(['add', 'cbr0', pod.name, '--create']);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(add.stdout).toContain(`created netns ${pod.path}\n`);
    expect(add.stdout).toMatch(/^eth0 10\.77\.5\.2\/24 gw 10\.77\.5\.1 mac ([0-9a-f]{2}:){5}[0-9a-f]{2} mtu 1450$/m);
    expect(add.stdout).toContain('  route 0.0.0.0/0 via 10.77.5.1\n');
    expect(isNsfs(pod.path)).toBe(true);
    // The pod really has it.
    const addrs = pod.json<{ addr_info: { local: string; prefixlen: number }[] }[]>('addr show dev eth0')[0]!.addr_info;
    expect(addrs).toContainEqual(expect.objectContaining({ local: '10.77.5.2', prefixlen: 24 }));
    expect(pod.ip('route show default')).toContain('via 10.77.5.1');

    // The cache entry, as libcni names and writes it.
    const id = /added (cnitool-[0-9a-f]{20}) eth0/.exec(add.stdout)![1]!;
    const file = path.join(cacheDir, 'results', `cbr0-${id}-eth0`);
    expect(results()).toEqual([`cbr0-${id}-eth0`]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const text = fs.readFileSync(file, 'utf8');
    expect(text.startsWith(`{"kind":"cniCacheV1","containerId":"${id}","config":"`)).toBe(true);
    const cached = parseCache(text)!;
    expect(cached.config.equals(fs.readFileSync(path.join(confDir, '10-flannel.conflist')))).toBe(true);
    expect(cached).toMatchObject({ ifName: 'eth0', networkName: 'cbr0', netns: pod.path, result: { cniVersion: '1.1.0', ips: [{ address: '10.77.5.2/24', interface: 2 }] } });
    expect(reservations()).toEqual(['10.77.5.2']);

    const check = ctl(['check', 'cbr0', pod.name]);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toBe(`ok: ${id} eth0 (netns ${pod.path})\n`);

    const status = ctl(['status', 'cbr0']);
    expect(status.status, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toBe('ready\n');

    const gc = ctl(['gc', 'cbr0', '--valid', `${id}:eth0`]);
    expect(gc.status, gc.stdout + gc.stderr).toBe(0);
    expect(gc.stdout).toContain('deleted 0 stale attachment(s), kept 1 listed\nGC sent to flannel\n');
    expect(results()).toEqual([`cbr0-${id}-eth0`]);
    expect(reservations()).toEqual(['10.77.5.2']);
    expect(pod.json('addr show dev eth0')).toHaveLength(1);

    const del = ctl(['del', 'cbr0', pod.name, '--create']);
    expect(del.status, del.stdout + del.stderr).toBe(0);
    expect(del.stdout).toBe(`cbr0: deleted ${id} eth0 (netns ${pod.path})\nremoved netns ${pod.path}\n`);
    expect(results()).toEqual([]);
    expect(reservations()).toEqual([]);
    expect(fs.existsSync(pod.path)).toBe(false);
    expect(hostVeths()).toEqual([]);
  });

  it('gc with no valid attachment DELs the cached one (flannel, bridge, host-local all cleaned)', () => {
    const pod = newPod();
    const add = ctl(['add', 'cbr0', pod.name, '--create', '--json', '--id', 'ctl-gc-1']);
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ cniVersion: '1.1.0', ips: [{ gateway: '10.77.5.1' }] });
    expect(add.stderr).toContain(`created netns ${pod.path}`);
    expect(results()).toEqual(['cbr0-ctl-gc-1-eth0']);
    expect(reservations()).toHaveLength(1);
    expect(hostVeths()).toHaveLength(1);
    expect(fs.readdirSync(path.join(state, 'flannel'))).toEqual(['ctl-gc-1']);

    expect(ctl(['gc', 'cbr0']).status).toBe(2); // no --valid: refused, nothing touched
    expect(results()).toEqual(['cbr0-ctl-gc-1-eth0']);

    const gc = ctl(['gc', 'cbr0', '--valid', 'none']);
    expect(gc.status, gc.stdout + gc.stderr).toBe(0);
    expect(gc.stdout).toContain(`deleting stale attachment ctl-gc-1 eth0 (netns ${pod.path})`);
    expect(results()).toEqual([]);
    expect(reservations()).toEqual([]);
    expect(hostVeths()).toEqual([]);
    expect(fs.readdirSync(path.join(state, 'flannel'))).toEqual([]);
    expect(pod.json<{ ifname: string }[]>('link show').map((l) => l.ifname)).toEqual(['lo']);

    const del = ctl(['del', 'cbr0', pod.name, '--create', '--id', 'ctl-gc-1']);
    expect(del.status, del.stdout + del.stderr).toBe(0);
    expect(fs.existsSync(pod.path)).toBe(false);
  });

  it('a FIFO and a link to /dev/zero in --confdir: add, status and del finish, skip them and say so', () => {
    const fifo = path.join(confDir, '01-fifo.conflist');
    const zero = path.join(confDir, '02-zero.conflist');
    sh(['mkfifo', fifo]);
    fs.symlinkSync('/dev/zero', zero);
    const pod = newPod();
    try {
      const skipped = [`cnictl: skipped ${fifo}: it is a FIFO, not a regular file`, `cnictl: skipped ${zero}: it is a character device, not a regular file`];
      const status = ctl(['status', 'cbr0']);
      expect(status.status, status.stdout + status.stderr).toBe(0);
      expect(status.stdout).toBe('ready\n');
      for (const line of skipped) expect(status.stderr).toContain(line);
      const add = ctl(['add', 'cbr0', pod.name, '--create', '--json']);
      expect(add.status, add.stdout + add.stderr).toBe(0);
      expect(JSON.parse(add.stdout)).toMatchObject({ ips: [{ gateway: '10.77.5.1' }] });
      for (const line of skipped) expect(add.stderr).toContain(line);
      const del = ctl(['del', 'cbr0', pod.name, '--create']);
      expect(del.status, del.stdout + del.stderr).toBe(0);
      expect(results()).toEqual([]);
      expect(reservations()).toEqual([]);
    } finally {
      fs.rmSync(fifo, { force: true });
      fs.rmSync(zero, { force: true });
    }
  });

  it('a plugin error is shown with its code and message, exit 1', () => {
    const pod = newPod();
    fs.renameSync(path.join(state, 'subnet.env'), path.join(state, 'subnet.env.off'));
    try {
      const status = ctl(['status', 'cbr0']);
      expect(status.status).toBe(1);
      expect(status.stderr).toMatch(/^error 50: .*subnet\.env/m);
      expect(status.stderr).toContain('(plugin "flannel", STATUS)');
      const add = ctl(['add', 'cbr0', pod.name, '--create']);
      expect(add.status).toBe(1);
      expect(add.stderr).toMatch(/^error 11: /m);
      expect(results()).toEqual([]);
      expect(ctl(['del', 'cbr0', pod.name, '--create']).status).toBe(0);
      expect(fs.existsSync(pod.path)).toBe(false);
    } finally {
      fs.renameSync(path.join(state, 'subnet.env.off'), path.join(state, 'subnet.env'));
    }
  });

  it('a plugin missing from --bin (kube-flannel\'s portmap) fails before the namespace is made', () => {
    const pod = newPod();
    const withPortmap = path.join(state, 'with-portmap.conflist');
    const list = JSON.parse(fs.readFileSync(path.join(confDir, '10-flannel.conflist'), 'utf8'));
    list.plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
    fs.writeFileSync(withPortmap, JSON.stringify(list));
    const add = ctl(['add', '--conf', withPortmap, pod.name, '--create']);
    expect(add.status).toBe(1);
    expect(add.stderr).toContain(`failed to find plugin "portmap" in path [${distDir}]`);
    expect(fs.existsSync(pod.path)).toBe(false);
    expect(results()).toEqual([]);
    expect(reservations()).toEqual([]);
  });

  it('refuses --create inside `ip netns exec` (a private mount namespace) and leaves nothing', () => {
    const pod = newPod();
    const add = ctl(['add', 'cbr0', pod.name, '--create'], 'ip-netns-exec');
    expect(add.status).toBe(1);
    expect(add.stderr).toContain('mount namespace of its own');
    expect(fs.existsSync(pod.path)).toBe(false);
    expect(results()).toEqual([]);
    expect(reservations()).toEqual([]);
  });
});
