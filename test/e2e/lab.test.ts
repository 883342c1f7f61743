// `npm run lab` (scripts/lab.mjs), the overlay lab, run for real: it must build the two-node
// flannel vxlan network, print each hop of the ping with what the kernel holds (checked here
// against the kernel read independently with ip -j), pass the 1422-byte DF ping and fail the
// 1423-byte one, refuse to rebuild a lab that is up, and leave nothing after --down.
//
// The lab uses fixed names (lab-node-a, lab-node-b, lab-pod-a, lab-pod-b, /run/cni-lab), so this
// test skips itself when a lab is already up on this machine rather than destroying it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, repoRoot, sh } from '../helpers/ns';

const LAB = path.join(repoRoot, 'scripts', 'lab.mjs');
const STATE_DIR = '/run/cni-lab';
const [NODE_A, NODE_B, POD_A, POD_B] = ['lab-node-a', 'lab-node-b', 'lab-pod-a', 'lab-pod-b'];

interface Link {
  ifindex: number;
  ifname: string;
  address: string;
  mtu: number;
  master?: string;
  link_index?: number;
}

function labNamespaces(): string[] {
  const r = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' });
  const list = (JSON.parse(r.stdout || '[]') ?? []) as { name: string }[];
  return list.map((e) => e.name).filter((n) => n.startsWith('lab-'));
}

function whyNot(): string {
  if (!isRoot) return 'needs root';
  const up = labNamespaces();
  if (up.length || fs.existsSync(STATE_DIR)) {
    return `a lab is already up on this machine (${[...up, ...(fs.existsSync(STATE_DIR) ? [STATE_DIR] : [])].join(', ')}); not touching it, run \`npm run lab -- --down\` first`;
  }
  return '';
}
const skipReason = whyNot();
if (skipReason && isRoot) console.warn(`test/e2e/lab.test.ts skipped: ${skipReason}`);

const lab = (...args: string[]) => {
  const r = spawnSync(process.execPath, [LAB, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
const ipj = <T>(ns: string, ...args: string[]): T => JSON.parse(sh(['ip', '-j', '-n', ns, ...args]).stdout || '[]') as T;
const ipText = (ns: string, ...args: string[]): string => sh(['ip', '-n', ns, ...args]).stdout;
/** The host end of a pod's eth0, read from the kernel. */
function hostPort(node: string, pod: string): { eth0: Link; port: Link } {
  const eth0 = ipj<Link[]>(pod, 'link', 'show', 'dev', 'eth0')[0];
  const port = ipj<Link[]>(node, 'link', 'show').find((l) => l.ifindex === eth0.link_index)!;
  return { eth0, port };
}

describe.skipIf(skipReason !== '')(`npm run lab, the overlay lab${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let out = '';
  let status = -1;

  beforeAll(() => {
    const r = lab();
    out = r.stdout + r.stderr;
    status = r.status;
  }, 150_000);

  afterAll(() => {
    // Whatever happened, leave no lab behind (safe when it is already down).
    lab('--down');
  }, 60_000);

  it('builds the lab and every check passes', () => {
    expect(status, out).toBe(0);
    expect(out).toMatch(/lab: up, all \d+ checks passed/);
    expect(out).not.toContain('✗');
    expect(labNamespaces().sort()).toEqual([NODE_A, NODE_B, POD_A, POD_B].sort());
  });

  it('writes subnet.env per node and adds the pods through dist/flannel', () => {
    expect(fs.readFileSync(path.join(STATE_DIR, NODE_A, 'subnet.env'), 'utf8')).toBe(
      'FLANNEL_NETWORK=172.16.0.0/16\nFLANNEL_SUBNET=172.16.99.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
    expect(fs.readFileSync(path.join(STATE_DIR, NODE_B, 'subnet.env'), 'utf8')).toContain('FLANNEL_SUBNET=172.16.57.1/24\n');
    // host-local's reservation and flannel's saved delegate config: the plugin really ran.
    expect(fs.readFileSync(path.join(STATE_DIR, NODE_A, 'networks', 'cbr0', '172.16.99.2'), 'latin1')).toBe(`${POD_A}\r\neth0`);
    expect(fs.readFileSync(path.join(STATE_DIR, NODE_B, 'networks', 'cbr0', '172.16.57.2'), 'latin1')).toBe(`${POD_B}\r\neth0`);
    expect(JSON.parse(fs.readFileSync(path.join(STATE_DIR, NODE_A, 'flannel', POD_A), 'utf8'))).toMatchObject({ type: 'bridge', mtu: 1450 });
    expect(out).toContain(`ip netns exec ${NODE_A} env CNI_COMMAND=ADD CNI_CONTAINERID=${POD_A} CNI_NETNS=/run/netns/${POD_A} CNI_IFNAME=eth0`);
  });

  it('hop 1: the pod route, as `ip -n lab-pod-a route get` prints it now', () => {
    const now = ipText(POD_A, 'route', 'get', '172.16.57.2').split('\n')[0].trim();
    expect(now).toMatch(/^172\.16\.57\.2 via 172\.16\.99\.1 dev eth0 src 172\.16\.99\.2/);
    expect(out).toContain(`$ ip -n ${POD_A} route get 172.16.57.2\n      ${now}`);
    const cni0 = ipj<Link[]>(NODE_A, 'link', 'show', 'dev', 'cni0')[0];
    expect(out).toContain(`the frame goes to cni0's MAC ${cni0.address}`);
  });

  it('hop 2: the cni0 port of pod A and its MAC', () => {
    const { port } = hostPort(NODE_A, POD_A);
    expect(port.master).toBe('cni0');
    expect(out).toContain(`the frame enters cni0 through port ${port.ifname} (MAC ${port.address}), the host end of ${POD_A}'s eth0`);
  });

  it('hop 3: the node route to flannel.1', () => {
    expect(out).toContain('172.16.57.0/24 via 172.16.57.0 dev flannel.1 onlink');
    expect(out).toMatch(/172\.16\.57\.2 from 172\.16\.99\.2 via 172\.16\.57\.0 dev flannel\.1/);
  });

  it("hop 4: the neighbour entry gives node B's VTEP MAC (flannel.1's MAC on lab-node-b)", () => {
    const vtepB = ipj<Link[]>(NODE_B, 'link', 'show', 'dev', 'flannel.1')[0].address;
    const neigh = ipj<{ dst: string; lladdr: string; state: string[] }[]>(NODE_A, 'neigh', 'show', '172.16.57.0', 'dev', 'flannel.1')[0];
    expect(neigh).toMatchObject({ lladdr: vtepB, state: ['PERMANENT'] });
    expect(out).toContain(`172.16.57.0 lladdr ${vtepB} PERMANENT`);
    expect(out).toContain(`peer VTEP MAC ${vtepB} = flannel.1's MAC on ${NODE_B}, read there: ${vtepB}`);
  });

  it("hop 5: the fdb entry gives node B's IP on the underlay", () => {
    const vtepB = ipj<Link[]>(NODE_B, 'link', 'show', 'dev', 'flannel.1')[0].address;
    const fdb = JSON.parse(sh(['bridge', '-j', '-n', NODE_A, 'fdb', 'show', 'dev', 'flannel.1']).stdout) as { mac: string; dst: string }[];
    expect(fdb).toEqual([expect.objectContaining({ mac: vtepB, dst: '192.168.199.2' })]);
    expect(out).toContain(`${vtepB} dst 192.168.199.2 self permanent`);
  });

  it('hop 6: the encapsulation, UDP 8472, +50 bytes, 1450 inside 1500', () => {
    expect(out).toMatch(/vxlan id 1 local 192\.168\.199\.1 dev ul0 .*dstport 8472 nolearning/);
    expect(out).toContain('[UDP 8: → 8472][VXLAN 8: VNI 1]');
    expect(out).toContain('1450 inside + 50 = 1500 = ul0\'s MTU 1500');
  });

  it("hop 7: delivery on node B through its cni0 and pod B's veth", () => {
    const { eth0, port } = hostPort(NODE_B, POD_B);
    const cni0 = ipj<Link[]>(NODE_B, 'link', 'show', 'dev', 'cni0')[0];
    expect(port.master).toBe('cni0');
    expect(out).toMatch(/172\.16\.57\.2 from 172\.16\.99\.2 dev cni0/);
    expect(out).toContain(`172.16.57.2 is on cni0 (172.16.57.1/24, MAC ${cni0.address}); cni0 delivers the frame through port ${port.ifname} (MAC ${port.address})`);
    expect(out).toContain(`to ${POD_B}'s eth0 (MAC ${eth0.address}, 172.16.57.2, mtu 1450)`);
  });

  it('the ping passes over vxlan; 1422 bytes with DF pass and 1423 fail', () => {
    expect(out).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);
    expect(out).toMatch(/flannel\.1 on lab-node-a sent [3-9]\d* frames, flannel\.1 on lab-node-b received [3-9]\d*/);
    expect(out).toMatch(/DF ping of 1422 bytes: passed/);
    expect(out).toMatch(/DF ping of 1423 bytes: failed/);
    expect(out).toMatch(/mtu=1450/);
  });

  it('a second run says the lab is already up, offers --down and changes nothing', () => {
    const before = hostPort(NODE_A, POD_A).port.ifindex;
    const again = lab();
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already up/);
    expect(again.stderr).toContain('npm run lab -- --down');
    expect(hostPort(NODE_A, POD_A).port.ifindex).toBe(before);
    expect(fs.existsSync(path.join(STATE_DIR, NODE_A, 'subnet.env'))).toBe(true);
  });

  it('--down removes every namespace and the state dir, and is safe to run twice', () => {
    const first = lab('--down');
    expect(first.status, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain(`flannel DEL ${POD_A} on ${NODE_A}: ok`);
    expect(labNamespaces()).toEqual([]);
    expect(fs.existsSync(STATE_DIR)).toBe(false);
    const second = lab('--down');
    expect(second.status).toBe(0);
    expect(second.stdout).toContain('nothing to remove');
  });
});
