// `cnictl doctor` on real, deliberately broken nodes. Each case builds a node in a
// throwaway namespace, adds a pod through the BUILT dist/flannel, breaks one thing the
// way it breaks in the field, and runs doctor inside the node namespace. The exact set
// of problems doctor reports is asserted (so a spurious finding fails as well as a
// missing one), and a healthy node must give exit 0 with no warnings.
// dist/cnictl is used when the build has it; otherwise (or with DOCTOR_FROM_SOURCE=1)
// doctor's own entry is bundled the way scripts/build.mjs bundles the plugins.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findExecutable } from '../../lib/exec';
import { masqChainName, masqComment } from '../../lib/masq/rules';
import { Netns, distDir, isRoot, repoRoot, runPlugin, tempDir, uniqueName } from '../helpers/ns';

const NETWORK = 'docnet';
const hasIptables = findExecutable('iptables', process.env.PATH) !== undefined;

interface Finding {
  severity: 'error' | 'warning' | 'info';
  check: string;
  detail: string;
  fix: string;
  subject?: string;
}

/** The command that runs `cnictl doctor`: dist/cnictl when built, else a bundle of doctor's entry. */
async function doctorCommand(out: string): Promise<string[]> {
  const cnictl = path.join(distDir, 'cnictl');
  // DOCTOR_FROM_SOURCE=1: test the sources without rebuilding dist/ (while working on doctor)
  if (fs.existsSync(cnictl) && !process.env.DOCTOR_FROM_SOURCE) return [process.execPath, cnictl, 'doctor'];
  const file = path.join(out, 'cnictl-doctor');
  await esbuild.build({
    entryPoints: [path.join(repoRoot, 'tools', 'cnictl', 'doctor', 'cli-entry.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // as scripts/build.mjs: a Node bundle, loading cninative.node from beside itself
    define: { __CNI_BUILD_ID__: JSON.stringify('doctor-test'), __CNI_BUILD_KIND__: JSON.stringify('node') },
    logLevel: 'warning',
  });
  fs.copyFileSync(path.join(distDir, 'cninative.node'), path.join(out, 'cninative.node'));
  return [process.execPath, file];
}

describe.skipIf(!isRoot)('cnictl doctor on broken nodes', () => {
  let doctor: string[];
  let bundleDir: string;
  let node: Netns;
  let pod: Netns;
  let state: string;
  let bridge: string;
  let veth: string;
  let podIP: string;

  const p = (...s: string[]): string => path.join(state, ...s);
  const subnetEnv = (subnet = '10.233.1.1/24', extra = 'FLANNEL_MTU=1450\n'): void =>
    fs.writeFileSync(p('subnet.env'), `FLANNEL_NETWORK=10.233.0.0/16\nFLANNEL_SUBNET=${subnet}\n${extra}FLANNEL_IPMASQ=false\n`);
  const plugin = () => ({
    type: 'flannel',
    subnetFile: p('subnet.env'),
    dataDir: p('flannel'),
    ipam: { dataDir: p('networks') },
    delegate: { bridge, hairpinMode: true, isDefaultGateway: true },
  });
  const resvDir = (): string => p('networks', NETWORK);

  function run(args: string[] = ['--json']): { status: number; stdout: string; stderr: string } {
    const flags = ['--confdir', p('conf'), '--network', NETWORK, '--cache-dir', p('cache'), '--subnet-file', p('subnet.env'),
      '--flannel-data-dir', p('flannel'), '--ipam-data-dir', p('networks'), '--bridge', bridge, '--bin', p('bin')];
    // A hang (a FIFO read without O_NONBLOCK) fails the test instead of blocking the suite.
    const r = spawnSync('ip', ['netns', 'exec', node.name, ...doctor, ...args, ...flags], { encoding: 'utf8', timeout: 30_000 });
    if (r.error) throw new Error(`cnictl doctor: ${r.error.message}`);
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }
  function doctorJson(): { status: number; ok: boolean; findings: Finding[] } {
    const r = run();
    let j: { ok: boolean; findings: Finding[] };
    try {
      j = JSON.parse(r.stdout);
    } catch {
      throw new Error(`doctor printed no JSON (exit ${r.status}): ${r.stdout}${r.stderr}`);
    }
    return { status: r.status, ...j };
  }
  /** severity/check/subject of every finding that is not information, sorted. */
  const problems = (fs_: Finding[]): string[] => fs_.filter((f) => f.severity !== 'info').map((f) => `${f.severity} ${f.check} ${f.subject ?? ''}`).sort();

  beforeAll(async () => {
    bundleDir = tempDir('cnit-doc-bundle-');
    doctor = await doctorCommand(bundleDir);
  });
  afterAll(() => fs.rmSync(bundleDir, { recursive: true, force: true }));

  beforeEach(() => {
    node = Netns.create('cnit-doc-node-');
    pod = Netns.create('cnit-doc-pod-');
    state = tempDir('cnit-doc-');
    bridge = uniqueName('cnidoc');
    for (const d of ['conf', 'cache/results', 'bin']) fs.mkdirSync(p(d), { recursive: true });
    subnetEnv();
    // flanneld's vxlan device, with the MTU it wrote into subnet.env
    node.ip('link add flannel.1 type vxlan id 1 dstport 8472 nolearning');
    node.ip('link set flannel.1 mtu 1450 up');
    fs.writeFileSync(p('conf', '10-flannel.conflist'), JSON.stringify({ name: NETWORK, cniVersion: '1.0.0', plugins: [plugin(), { type: 'portmap', capabilities: { portMappings: true } }] }));
    const add = runPlugin(node, 'flannel', { command: 'ADD', containerId: 'pod1', netns: pod.path, ifName: 'eth0' }, { name: NETWORK, cniVersion: '1.0.0', ...plugin() });
    expect(add.status, add.stdout + add.stderr).toBe(0);
    veth = add.json.interfaces[1].name;
    podIP = (add.json.ips[0].address as string).split('/')[0];
    // what libcni leaves for a live attachment
    fs.writeFileSync(p('cache', 'results', `${NETWORK}-pod1-eth0`), JSON.stringify({ kind: 'cniCacheV1', result: add.json }));
  });
  afterEach(() => {
    pod.destroy();
    node.destroy();
    fs.rmSync(state, { recursive: true, force: true });
  });

  it('a healthy node: exit 0, no warnings, in JSON and as a table', () => {
    const j = doctorJson();
    expect(problems(j.findings)).toEqual([]);
    expect(j.ok).toBe(true);
    expect(j.status).toBe(0);
    const t = run([]);
    expect(t.status, t.stdout + t.stderr).toBe(0);
    expect(t.stdout).toMatch(/\nok: nothing wrong/);
    // the paths come from the network's config when no flag names them
    const r = spawnSync('ip', ['netns', 'exec', node.name, ...doctor, '--json', '--confdir', p('conf'), '--network', NETWORK, '--cache-dir', p('cache')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).inputs).toMatchObject({ subnetFile: p('subnet.env'), bridge, ipamDataDir: p('networks'), flannelDataDir: p('flannel') });
  });

  it('the lease changed: stale gateway on the bridge, the pod on the old subnet', () => {
    subnetEnv('10.233.9.1/24');
    const j = doctorJson();
    expect(problems(j.findings)).toEqual(['error bridge-gateway ' + bridge, `warning reservation-subnet ${path.join(resvDir(), podIP)}`].sort());
    const gw = j.findings.find((f) => f.check === 'bridge-gateway')!;
    expect(gw.detail).toContain(`${bridge} holds 10.233.1.1/24, a gateway this network set under an earlier lease`);
    expect(gw.fix).toContain('the next pod ADD by this bridge plugin replaces it with 10.233.9.1/24');
    expect(j.status).toBe(1);
    expect(j.ok).toBe(false);
  });

  it('subnet.env missing, then incomplete', () => {
    fs.rmSync(p('subnet.env'));
    let j = doctorJson();
    expect(problems(j.findings)).toEqual([`error subnet-env ${p('subnet.env')}`]);
    expect(j.status).toBe(1);
    subnetEnv('10.233.1.1/24', '');
    j = doctorJson();
    expect(problems(j.findings)).toEqual([`error subnet-env ${p('subnet.env')}`]);
    expect(j.findings[0].detail).toContain('missing FLANNEL_MTU');
  });

  it('ip_forward turned off', () => {
    node.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    const j = doctorJson();
    expect(problems(j.findings)).toEqual(['error ip-forward net.ipv4.ip_forward']);
    expect(j.status).toBe(1);
  });

  it('flannel lost its saved config: a warning while the runtime knows the pod, an orphan once it does not', () => {
    fs.rmSync(p('flannel', 'pod1'));
    expect(problems(doctorJson().findings)).toEqual([`warning reservation-without-scratch ${p('flannel', 'pod1')}`]);
    fs.rmSync(p('cache', 'results', `${NETWORK}-pod1-eth0`));
    expect(problems(doctorJson().findings)).toEqual([`warning orphan-reservation ${path.join(resvDir(), podIP)}`]);
  });

  it('reservations of gone containers: one with no trace, one from before this boot', () => {
    const gone = path.join(resvDir(), '10.233.1.77');
    const old = path.join(resvDir(), '10.233.1.78');
    fs.writeFileSync(gone, 'gone1\r\neth0');
    fs.writeFileSync(old, 'old1\r\neth0');
    // the owner of the pre-boot one still looks known: flannel's file and the cache survive reboots
    fs.writeFileSync(p('flannel', 'old1'), JSON.stringify({ name: NETWORK }));
    fs.writeFileSync(p('cache', 'results', `${NETWORK}-old1-eth0`), '{}');
    // This boot's record lists it among the reservations found when the boot began (lib/ipam/boot.ts).
    const st = fs.statSync(old, { bigint: true });
    const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const earlier = [{ name: '10.233.1.78', ino: Number(st.ino), size: Number(st.size), mtimeNs: String(st.mtimeNs), owner: 'old1\r\neth0' }];
    fs.writeFileSync(path.join(resvDir(), 'boot_id'), `${bootId}\n${JSON.stringify(earlier)}`);
    const j = doctorJson();
    expect(problems(j.findings)).toEqual([`warning orphan-reservation ${gone}`, `warning orphan-reservation ${old}`]);
    expect(j.findings.find((f) => f.subject === old)!.detail).toContain('reserved in an earlier boot');
    expect(j.findings.find((f) => f.subject === gone)!.fix).toContain('cnictl gc');
    expect(j.status).toBe(1);
  });

  it('a saved flannel config without a reservation', () => {
    fs.writeFileSync(p('flannel', 'lost1'), JSON.stringify({ name: NETWORK, type: 'bridge' }));
    expect(problems(doctorJson().findings)).toEqual([`warning scratch-without-reservation ${p('flannel', 'lost1')}`]);
  });

  it.skipIf(!hasIptables)('a masquerade chain of a gone container (the live pod\'s chain is fine)', () => {
    const chain = masqChainName(NETWORK, 'ghost1');
    const comment = masqComment(NETWORK, 'ghost1');
    node.exec(['iptables', '-w', '-t', 'nat', '-N', chain]);
    node.exec(['iptables', '-w', '-t', 'nat', '-A', chain, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE', '-m', 'comment', '--comment', comment]);
    node.exec(['iptables', '-w', '-t', 'nat', '-A', 'POSTROUTING', '-s', '10.233.1.99', '-j', chain, '-m', 'comment', '--comment', comment]);
    expect(node.exec(['iptables', '-w', '-t', 'nat', '-S']).stdout).toContain(masqChainName(NETWORK, 'pod1'));
    const j = doctorJson();
    expect(problems(j.findings)).toEqual([`warning orphan-masq-chain iptables ${chain}`]);
    expect(j.findings[0].fix).toContain(`-X ${chain}`);
  });

  it('hairpin turned off on the pod port', () => {
    node.ip(`link set ${veth} type bridge_slave hairpin off`);
    const j = doctorJson();
    expect(problems(j.findings)).toEqual([`warning hairpin ${veth}`]);
    expect(j.findings[0].fix).toContain(`ip link set ${veth} type bridge_slave hairpin on`);
  });

  it('MTU: the bridge, a pod port and flannel.1 differing from FLANNEL_MTU', () => {
    node.ip(`link set ${bridge} mtu 1400`);
    node.ip(`link set ${veth} mtu 1500`);
    node.ip('link set flannel.1 mtu 1400');
    const j = doctorJson();
    expect(problems(j.findings)).toEqual([`error mtu ${veth}`, `warning mtu ${bridge}`, 'warning mtu flannel.1']);
  });

  it('a FIFO and a link to /dev/zero in the config dir: doctor finishes, skips them, and reports each', () => {
    const fifo = p('conf', '01-fifo.conflist');
    const zero = p('conf', '02-zero.conflist');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    fs.symlinkSync('/dev/zero', zero);
    const j = doctorJson();
    expect(problems(j.findings)).toEqual([`warning network-config ${fifo}`, `warning network-config ${zero}`]);
    expect(j.findings.find((f) => f.subject === fifo)!.detail).toContain('is a FIFO, not a regular file');
    expect(j.findings.find((f) => f.subject === zero)!.fix).toContain(`rm ${zero}`);
    expect(j.status).toBe(1);
    // the network's config behind them was still found: its paths are used without flags
    const r = spawnSync('ip', ['netns', 'exec', node.name, ...doctor, '--json', '--confdir', p('conf'), '--network', NETWORK, '--cache-dir', p('cache')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.stdout).inputs).toMatchObject({ subnetFile: p('subnet.env'), bridge });
  });

  it('a range filled by ADDs: an error naming the range and its numbers; one DEL later, nothing', () => {
    // A plain bridge network beside the flannel one: 3 addresses, 10.233.60.10-12.
    const net = 'docfull';
    const br = uniqueName('cnifull');
    const conf = {
      name: net,
      cniVersion: '1.0.0',
      type: 'bridge',
      bridge: br,
      isGateway: true,
      ipam: { type: 'host-local', dataDir: p('networks'), ranges: [[{ subnet: '10.233.60.0/24', rangeStart: '10.233.60.10', rangeEnd: '10.233.60.12' }]] },
    };
    fs.writeFileSync(p('conf', '20-full.conf'), JSON.stringify(conf));
    const add = (i: number) => runPlugin(node, 'bridge', { command: 'ADD', containerId: `full${i}`, netns: pod.path, ifName: `eth${i}` }, conf);
    for (const i of [1, 2, 3]) {
      const r = add(i);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      fs.writeFileSync(p('cache', 'results', `${net}-full${i}-eth${i}`), JSON.stringify({ kind: 'cniCacheV1', result: r.json }));
    }
    const fourth = add(4);
    expect(fourth.status).toBe(1);
    expect(fourth.json.msg).toContain('no IP addresses available in range set');
    // an absent subnet.env: this network is not flannel's (and the machine's own /run/flannel is never read)
    const doctorOf = () => {
      const r = spawnSync('ip', ['netns', 'exec', node.name, ...doctor, '--json', '--confdir', p('conf'), '--network', net, '--cache-dir', p('cache'), '--subnet-file', p('absent.env')], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.error).toBeUndefined();
      return { status: r.status, ...(JSON.parse(r.stdout) as { ok: boolean; findings: Finding[] }) };
    };
    let j = doctorOf();
    expect(problems(j.findings)).toEqual(['error range-capacity 10.233.60.10-10.233.60.12']);
    const f = j.findings.find((x) => x.check === 'range-capacity')!;
    expect(f.detail).toContain(`all 3 allocatable addresses (every address from rangeStart to rangeEnd but the gateway) are reserved in ${p('networks', net)}`);
    expect(f.fix).toContain(`cnictl gc ${net} --valid`);
    expect(f.fix).toContain(`widen the range (ipam.ranges subnet, rangeStart, rangeEnd in ${p('conf', '20-full.conf')})`);
    expect(j.status).toBe(1);
    const del = runPlugin(node, 'bridge', { command: 'DEL', containerId: 'full3', netns: pod.path, ifName: 'eth3' }, conf);
    expect(del.status, del.stdout + del.stderr).toBe(0);
    fs.rmSync(p('cache', 'results', `${net}-full3-eth3`));
    j = doctorOf();
    expect(problems(j.findings)).toEqual([]);
    expect(j.status).toBe(0);
  });

  it('the reference flannel put back under this 1.0.0 conflist: a warning; our own flannel there: nothing', () => {
    // What the reference flannel Debian and older kube-flannel releases ship answers to VERSION.
    fs.writeFileSync(p('bin', 'flannel'), `#!/bin/sh\n[ "$CNI_COMMAND" = VERSION ] && echo '{"cniVersion":"0.4.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0"]}'\n`, { mode: 0o755 });
    let j = doctorJson();
    expect(problems(j.findings)).toEqual([`warning flannel-version ${p('bin', 'flannel')}`]);
    expect(j.findings.find((f) => f.check === 'flannel-version')!.detail).toContain(`asks for 1.0.0`);
    fs.copyFileSync(path.join(distDir, 'flannel'), p('bin', 'flannel'));
    j = doctorJson();
    expect(problems(j.findings)).toEqual([]);
  });

  it('everything at once, as a table', () => {
    subnetEnv('10.233.9.1/24');
    node.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    node.ip(`link set ${veth} type bridge_slave hairpin off`);
    fs.writeFileSync(path.join(resvDir(), '10.233.1.77'), 'gone1\r\neth0');
    const t = run([]);
    if (process.env.DOCTOR_SHOW) console.log(t.stdout);
    expect(t.status, t.stderr).toBe(1);
    const lines = t.stdout.trim().split('\n');
    expect(lines[1]).toMatch(/^SEVERITY\s+CHECK\s+DETAIL\s+FIX$/);
    const rows = lines.slice(2, -1).map((l) => l.split(/\s+/).slice(0, 2).join(' ')).sort();
    expect(rows).toEqual(['ERROR bridge-gateway', 'ERROR ip-forward', 'WARNING hairpin', 'WARNING orphan-reservation', 'WARNING reservation-subnet']);
    expect(lines.at(-1)).toBe('not ok: 2 error(s), 3 warning(s), 0 for information');
  });
});
