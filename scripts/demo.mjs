// npm run demo: a real ADD → ping → DEL of two pods through dist/flannel → dist/bridge,
// with an embedded subnet.env and temporary state directories. Everything happens in
// throwaway namespaces (one stands in for the node), so this machine's own network,
// sysctls and iptables are never touched. The demo itself uses `ip` to build and
// inspect the namespaces; the plugins never do.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
if (process.getuid?.() !== 0) {
  console.error('demo: network namespaces need root; run it as root (sudo npm run demo)');
  process.exit(1);
}

const SUBNET_ENV = 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';
const tag = randomBytes(2).toString('hex');
const node = `demo-node-${tag}`;
const pods = [`demo-pod-a-${tag}`, `demo-pod-b-${tag}`];
const state = fs.mkdtempSync(path.join(os.tmpdir(), 'cni-demo-'));
const subnetFile = path.join(state, 'subnet.env');
const conf = {
  cniVersion: '1.0.0',
  name: 'cbr0',
  type: 'flannel',
  subnetFile,
  dataDir: path.join(state, 'flannel'),
  ipam: { dataDir: path.join(state, 'networks') },
  delegate: { hairpinMode: true, isDefaultGateway: true },
};

function run(argv, input) {
  const r = spawnSync(argv[0], argv.slice(1), { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout;
}
const say = (s) => console.log(s);
const step = (s) => console.log(`\n== ${s}`);

function cni(command, pod, id) {
  const env = {
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: `/run/netns/${pod}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: dist,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=${pod}`,
  };
  const started = process.hrtime.bigint();
  const r = spawnSync('ip', ['netns', 'exec', node, path.join(dist, 'flannel')], { input: JSON.stringify(conf), env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`flannel ${command} for ${pod} failed: ${r.stdout || r.stderr}`);
  return { out: r.stdout, ms };
}

let ok = false;
try {
  step('setting up: a node namespace and two pod namespaces');
  for (const ns of [node, ...pods]) run(['ip', 'netns', 'add', ns]);
  run(['ip', '-n', node, 'link', 'set', 'lo', 'up']);
  fs.writeFileSync(subnetFile, SUBNET_ENV);
  say(`node netns: ${node}; pods: ${pods.join(', ')}; state: ${state}`);
  say(`subnet.env:\n${SUBNET_ENV.trimEnd().replace(/^/gm, '  ')}`);

  const ips = [];
  for (const [i, pod] of pods.entries()) {
    step(`ADD ${pod} (flannel → bridge, host-local IPAM)`);
    const { out, ms } = cni('ADD', pod, `demo${tag}${i}`);
    const result = JSON.parse(out);
    const ip = result.ips[0].address;
    ips.push(ip.split('/')[0]);
    say(`result in ${ms.toFixed(0)} ms: ${ip} via ${result.ips[0].gateway}; interfaces ${result.interfaces.map((x) => x.name).join(', ')}`);
    say(run(['ip', '-n', pod, '-br', 'addr', 'show', 'eth0']).trim());
    say(run(['ip', '-n', pod, 'route']).trim().replace(/^/gm, '  route: '));
  }

  step('node state');
  say(run(['ip', '-n', node, '-br', 'addr', 'show', 'cni0']).trim());
  say(run(['ip', '-n', node, '-br', 'link', 'show', 'master', 'cni0']).trim());
  say(`reservations: ${fs.readdirSync(path.join(state, 'networks', 'cbr0')).join(' ')}`);

  step(`ping ${pods[0]} → ${pods[1]} (${ips[1]}) and → the gateway 10.244.1.1`);
  say(run(['ip', 'netns', 'exec', pods[0], 'ping', '-c', '2', '-W', '2', ips[1]]).trim().split('\n').slice(-2).join('\n'));
  say(run(['ip', 'netns', 'exec', pods[0], 'ping', '-c', '1', '-W', '2', '10.244.1.1']).trim().split('\n').slice(-2).join('\n'));

  for (const [i, pod] of pods.entries()) {
    step(`DEL ${pod}`);
    const { ms } = cni('DEL', pod, `demo${tag}${i}`);
    say(`done in ${ms.toFixed(0)} ms`);
  }

  step('what is left after DEL');
  const left = fs.readdirSync(path.join(state, 'networks', 'cbr0')).filter((f) => /^[0-9a-f.:]+$/.test(f)); // reservations are named by their address
  const veths = run(['ip', '-n', node, '-br', 'link', 'show', 'type', 'veth']).trim();
  const scratch = fs.readdirSync(path.join(state, 'flannel'));
  say(`IP reservations: ${left.length ? left.join(' ') : 'none'}; host veths: ${veths || 'none'}; flannel scratch files: ${scratch.length ? scratch.join(' ') : 'none'}`);
  ok = left.length === 0 && !veths && scratch.length === 0;
} catch (err) {
  console.error(`\ndemo failed: ${err.message}`);
} finally {
  for (const ns of [...pods, node]) spawnSync('ip', ['netns', 'del', ns]);
  fs.rmSync(state, { recursive: true, force: true });
  say(`\ncleaned up namespaces and ${state}`);
}
say(ok ? 'demo: OK' : 'demo: FAILED');
process.exit(ok ? 0 : 1);
