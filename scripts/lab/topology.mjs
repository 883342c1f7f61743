// The overlay lab's fixed topology and the shell helpers it uses. The lab is a
// teaching tool: it builds and reads the network with `ip` and `bridge`, inside
// namespaces it creates; the plugins themselves never run those tools.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const dist = path.join(root, 'dist');

/** Where the lab keeps each node's subnet.env, flannel's saved configs and host-local's store. */
export const STATE_DIR = '/run/cni-lab';
export const FLANNEL_NETWORK = '172.16.0.0/16';
export const UNDERLAY_MTU = 1500;
/** flanneld's vxlan backend: the underlay MTU minus 50 bytes of encapsulation. */
export const FLANNEL_MTU = UNDERLAY_MTU - 50;
export const VXLAN_ID = 1;
export const VXLAN_PORT = 8472;
export const VXLAN_DEV = 'flannel.1';
export const UNDERLAY_DEV = 'ul0';

/** The two nodes, their pods, and what flanneld would have leased them. Names are fixed and documented. */
export const NODES = [
  { label: 'A', ns: 'lab-node-a', pod: 'lab-pod-a', subnet: '172.16.99.0/24', underlayIp: '192.168.199.1' },
  { label: 'B', ns: 'lab-node-b', pod: 'lab-pod-b', subnet: '172.16.57.0/24', underlayIp: '192.168.199.2' },
].map((n) => {
  const base = n.subnet.split('/')[0]; // 172.16.99.0: flannel.1's address
  const prefix = base.split('.').slice(0, 3).join('.');
  const dir = path.join(STATE_DIR, n.ns);
  return {
    ...n,
    subnetAddr: base,
    gateway: `${prefix}.1`,
    podIp: `${prefix}.2`, // host-local's first pick in an empty store
    containerId: n.pod,
    dir,
    subnetFile: path.join(dir, 'subnet.env'),
    confFile: path.join(dir, 'flannel.conf'),
  };
});

/** Every namespace the lab creates, pods first (the order --down removes them in). */
export const NAMESPACES = [...NODES.map((n) => n.pod), ...NODES.map((n) => n.ns)];

/** Run a command; throws with its stderr unless allowFail. */
export function sh(argv, { input, allowFail = false, env } = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { input, encoding: 'utf8', env: env ?? process.env });
  const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (r.error) out.stderr = String(r.error.message);
  if (!allowFail && out.status !== 0) throw new Error(`${argv.join(' ')} failed (${out.status}): ${(out.stderr || out.stdout).trim()}`);
  return out;
}

/** `ip -n <ns> ...` */
export const ip = (ns, ...args) => sh(['ip', '-n', ns, ...args]).stdout;
/** `ip -j -n <ns> ...`, parsed */
export const ipj = (ns, ...args) => JSON.parse(sh(['ip', '-j', '-n', ns, ...args]).stdout || '[]');
/** A command inside a namespace (`ip netns exec`). */
export const inNs = (ns, argv, opts) => sh(['ip', 'netns', 'exec', ns, ...argv], opts);

/** The lab's namespaces that exist right now. */
export function existingNamespaces() {
  const r = sh(['ip', '-j', 'netns', 'list'], { allowFail: true });
  let names = [];
  try {
    names = (JSON.parse(r.stdout || '[]') ?? []).map((e) => e.name);
  } catch {
    names = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : [];
  }
  return NAMESPACES.filter((n) => names.includes(n));
}

/** Anything of a lab on this machine (whole or a leftover of an interrupted run). */
export function labPresence() {
  return { namespaces: existingNamespaces(), stateDir: fs.existsSync(STATE_DIR) };
}

/** The flannel CNI config kube-flannel installs (cni-conf.json), pointed at the node's state dir. */
export function flannelConf(node) {
  return {
    cniVersion: '0.3.1',
    name: 'cbr0',
    type: 'flannel',
    subnetFile: node.subnetFile,
    dataDir: path.join(node.dir, 'flannel'),
    ipam: { dataDir: path.join(node.dir, 'networks') },
    delegate: { hairpinMode: true, isDefaultGateway: true },
  };
}

/** The CNI environment a runtime (containerd, CRI-O) gives the plugin for this pod. */
export function cniEnv(node, command) {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: node.containerId,
    CNI_NETNS: `/run/netns/${node.pod}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: dist,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=${node.pod}`,
  };
}

/** Run dist/flannel inside the node's namespace, config on stdin, as a runtime would. */
export function runFlannel(node, command) {
  const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...cniEnv(node, command) };
  const conf = fs.existsSync(node.confFile) ? fs.readFileSync(node.confFile, 'utf8') : JSON.stringify(flannelConf(node));
  const r = spawnSync('ip', ['netns', 'exec', node.ns, path.join(dist, 'flannel')], { input: conf, env, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The same call as a shell command an operator can paste. */
export function flannelCommandLine(node, command) {
  const env = Object.entries(cniEnv(node, command))
    .map(([k, v]) => `${k}=${/[;]/.test(v) ? `'${v}'` : v}`)
    .join(' ');
  return `ip netns exec ${node.ns} env ${env} ${path.join(dist, 'flannel')} < ${node.confFile}`;
}

/**
 * Remove the lab: DEL each pod through dist/flannel (as a runtime would, best effort), then the
 * namespaces and the state dir. Only the lab's fixed names are touched; safe to run any number of times.
 */
export function down(say = console.log) {
  const { namespaces, stateDir } = labPresence();
  if (namespaces.length === 0 && !stateDir) {
    say('lab: nothing to remove, no lab is up');
    return true;
  }
  say('lab: taking the overlay lab down');
  let ok = true;
  if (fs.existsSync(path.join(dist, 'flannel'))) {
    for (const node of NODES) {
      if (!namespaces.includes(node.ns) || !namespaces.includes(node.pod) || !fs.existsSync(node.confFile)) continue;
      const r = runFlannel(node, 'DEL');
      say(r.status === 0 ? `  flannel DEL ${node.pod} on ${node.ns}: ok` : `  flannel DEL ${node.pod} on ${node.ns} failed (removing the namespaces anyway): ${(r.stdout || r.stderr).trim()}`);
    }
  }
  for (const ns of namespaces) {
    const r = sh(['ip', 'netns', 'del', ns], { allowFail: true });
    if (r.status === 0) say(`  removed namespace ${ns}`);
    else {
      ok = false;
      say(`  could not remove namespace ${ns}: ${r.stderr.trim()}`);
    }
  }
  if (stateDir) {
    fs.rmSync(STATE_DIR, { recursive: true, force: true });
    say(`  removed ${STATE_DIR}`);
  }
  const left = labPresence();
  if (left.namespaces.length || left.stateDir) ok = false;
  say(ok ? 'lab: down' : `lab: some of it is left: ${[...left.namespaces, ...(left.stateDir ? [STATE_DIR] : [])].join(', ')}`);
  return ok;
}
