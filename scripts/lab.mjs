// npm run lab: the overlay lab. Builds, on this machine, the two-node flannel vxlan
// network (nodes and pods are namespaces with fixed names), programs flannel.1 the way
// flanneld's vxlan backend does, adds one pod per node through dist/flannel as a runtime
// would, then walks one ping from pod A to pod B hop by hop with what the kernel holds
// at that moment, runs it, and shows the 1450-byte path MTU. The lab stays up to be
// explored; `npm run lab -- --down` removes it (safe to run twice).
//
// Never touches the root namespace; all traffic stays inside the namespaces it creates.
// The diagram of this path is in docs/lab.md, "Across nodes".
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  FLANNEL_MTU,
  FLANNEL_NETWORK,
  NAMESPACES,
  NODES,
  STATE_DIR,
  UNDERLAY_DEV,
  UNDERLAY_MTU,
  VXLAN_DEV,
  VXLAN_ID,
  VXLAN_PORT,
  dist,
  down,
  flannelCommandLine,
  flannelConf,
  inNs,
  ip,
  ipj,
  labPresence,
  runFlannel,
  sh,
} from './lab/topology.mjs';

const say = (s = '') => console.log(s);
const step = (s) => console.log(`\n== ${s}`);
const indent = (s, pad = '    ') => s.trimEnd().replace(/^/gm, pad);
/** Print a command and its real output. */
function show(argv) {
  const out = sh(argv).stdout;
  say(`    $ ${argv.join(' ')}`);
  if (out.trim()) say(indent(out, '      '));
  return out;
}
const showIp = (ns, ...args) => show(['ip', '-n', ns, ...args]);

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  say(`usage: node scripts/lab.mjs [--down]   (npm run lab, npm run lab -- --down)

Builds the two-node flannel vxlan lab: namespaces ${NAMESPACES.join(', ')}, state in ${STATE_DIR}.
Walks and runs one ping from lab-pod-a to lab-pod-b, then leaves the lab up.
--down removes the namespaces and ${STATE_DIR}; it is safe to run when nothing is up.
Exit status: 0 lab up and every check passed, 1 something failed, 2 a lab was already up (nothing changed).`);
  process.exit(0);
}
const unknown = args.filter((a) => a !== '--down');
if (unknown.length) {
  console.error(`lab: unknown argument ${unknown.join(' ')} (try --help)`);
  process.exit(1);
}
if (process.getuid?.() !== 0) {
  console.error('lab: network namespaces need root; run it as root (sudo npm run lab)');
  process.exit(1);
}

if (args.includes('--down')) {
  process.exit(down() ? 0 : 1);
}

// ---------------------------------------------------------------------------------------------
// Already up? Say so and change nothing (the lab may be in use). mkdir of the state dir is the
// claim: two labs started at once cannot both build.
function alreadyUp(p) {
  const what = [...p.namespaces.map((n) => `namespace ${n}`), ...(p.stateDir ? [STATE_DIR] : [])].join(', ');
  const whole = p.namespaces.length === NAMESPACES.length && p.stateDir;
  console.error(`lab: the overlay lab is already ${whole ? 'up' : 'partly up (left by an interrupted run?)'}: ${what}.
  nothing was changed. Look around, e.g.:  ip -n lab-node-a route; bridge -n lab-node-a fdb show dev ${VXLAN_DEV}
  remove it:   npm run lab -- --down
  rebuild it:  npm run lab -- --down && npm run lab`);
  process.exit(2);
}
const presence = labPresence();
if (presence.namespaces.length || presence.stateDir) alreadyUp(presence);
if (!fs.existsSync(path.join(dist, 'flannel'))) {
  console.error(`lab: ${path.join(dist, 'flannel')} is missing; build it first (npm run build:node), or use npm run lab`);
  process.exit(1);
}
try {
  fs.mkdirSync(STATE_DIR, { mode: 0o755 });
} catch (err) {
  if (err.code === 'EEXIST') alreadyUp(labPresence());
  throw err;
}

const [A, B] = NODES;

// ---------------------------------------------------------------------------------------------
// Build.
function build() {
  step('the lab: two flannel vxlan nodes on this machine, each a network namespace');
  say(`  network ${FLANNEL_NETWORK}, vxlan backend (VNI ${VXLAN_ID}, UDP ${VXLAN_PORT}), underlay MTU ${UNDERLAY_MTU} → pod MTU ${FLANNEL_MTU}`);
  for (const n of NODES) say(`  node ${n.label}: ${n.ns}  underlay ${n.underlayIp}/24 on ${UNDERLAY_DEV}  subnet ${n.subnet}  pod ${n.pod}  state ${n.dir}`);
  for (const ns of NAMESPACES) {
    sh(['ip', 'netns', 'add', ns]);
    ip(ns, 'link', 'set', 'lo', 'up');
  }

  step(`the underlay: a veth pair ${UNDERLAY_DEV} ⇄ ${UNDERLAY_DEV} standing in for the wire between two machines`);
  showIp(A.ns, 'link', 'add', UNDERLAY_DEV, 'type', 'veth', 'peer', 'name', UNDERLAY_DEV, 'netns', B.ns);
  for (const n of NODES) {
    inNs(n.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    showIp(n.ns, 'addr', 'add', `${n.underlayIp}/24`, 'dev', UNDERLAY_DEV);
    showIp(n.ns, 'link', 'set', UNDERLAY_DEV, 'mtu', String(UNDERLAY_MTU), 'up');
  }

  step(`flanneld starts on each node: ${VXLAN_DEV} and subnet.env`);
  for (const n of NODES) {
    showIp(n.ns, 'link', 'add', VXLAN_DEV, 'type', 'vxlan', 'id', String(VXLAN_ID), 'local', n.underlayIp, 'dev', UNDERLAY_DEV, 'dstport', String(VXLAN_PORT), 'nolearning');
    showIp(n.ns, 'link', 'set', VXLAN_DEV, 'mtu', String(FLANNEL_MTU));
    showIp(n.ns, 'addr', 'add', `${n.subnetAddr}/32`, 'dev', VXLAN_DEV);
    showIp(n.ns, 'link', 'set', VXLAN_DEV, 'up');
    fs.mkdirSync(n.dir, { recursive: true });
    const env = `FLANNEL_NETWORK=${FLANNEL_NETWORK}\nFLANNEL_SUBNET=${n.gateway}/24\nFLANNEL_MTU=${FLANNEL_MTU}\nFLANNEL_IPMASQ=true\n`;
    fs.writeFileSync(n.subnetFile, env);
    fs.writeFileSync(n.confFile, `${JSON.stringify(flannelConf(n), null, 2)}\n`);
    say(`    ${n.subnetFile} (what flanneld writes to /run/flannel/subnet.env):`);
    say(indent(env, '      '));
  }

  step('flanneld learns the peer lease: route, neighbour entry, fdb entry (one set per peer)');
  for (const [n, peer] of [
    [A, B],
    [B, A],
  ]) {
    const mac = ipj(peer.ns, 'link', 'show', 'dev', VXLAN_DEV)[0].address;
    say(`  on ${n.ns}, for ${peer.ns} (subnet ${peer.subnet}, node IP ${peer.underlayIp}, VTEP MAC ${mac}):`);
    showIp(n.ns, 'route', 'add', peer.subnet, 'via', peer.subnetAddr, 'dev', VXLAN_DEV, 'onlink');
    showIp(n.ns, 'neigh', 'replace', peer.subnetAddr, 'lladdr', mac, 'dev', VXLAN_DEV, 'nud', 'permanent');
    show(['bridge', '-n', n.ns, 'fdb', 'append', mac, 'dev', VXLAN_DEV, 'dst', peer.underlayIp]);
  }
  const ul = inNs(A.ns, ['ping', '-n', '-c', '1', '-W', '2', B.underlayIp], { allowFail: true });
  if (ul.status !== 0) throw new Error(`the underlay does not work: ${A.ns} cannot ping ${B.underlayIp}: ${ul.stdout}${ul.stderr}`);
  say(`  underlay check: ${A.ns} → ${B.underlayIp}: ${ul.stdout.match(/time=\S+ ms/)?.[0] ?? 'ok'}`);

  step('the kubelet adds one pod per node: dist/flannel run inside the node namespace, CNI env + config on stdin');
  for (const n of NODES) {
    say(`    $ ${flannelCommandLine(n, 'ADD')}`);
    const r = runFlannel(n, 'ADD');
    if (r.status !== 0) throw new Error(`flannel ADD of ${n.pod} failed: ${(r.stdout || r.stderr).trim()}`);
    const res = JSON.parse(r.stdout);
    const ips = res.ips.map((i) => `${i.address} gw ${i.gateway}`).join(', ');
    say(`      → ${res.cniVersion} result: ${ips}; interfaces ${res.interfaces.map((i) => i.name + (i.sandbox ? ' (in the pod)' : '')).join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The walk: one ping from pod A to pod B, hop by hop, read from the kernel now.
const checks = [];
function check(ok, what) {
  checks.push({ ok, what });
  return ok ? `✓ ${what}` : `✗ MISMATCH: ${what}`;
}
const link = (ns, dev) => ipj(ns, '-d', 'link', 'show', 'dev', dev)[0];
/** The host end (in the node namespace) of a pod's eth0: the veth whose ifindex eth0 points at. */
function hostPort(node) {
  const eth0 = link(node.pod, 'eth0');
  const port = ipj(node.ns, '-d', 'link', 'show').find((l) => l.ifindex === eth0.link_index);
  return { eth0, port };
}
const podAddr = (node) => ipj(node.pod, '-4', 'addr', 'show', 'dev', 'eth0')[0].addr_info[0].local;
const stats = (ns, dev) => ipj(ns, '-s', 'link', 'show', 'dev', dev)[0].stats64;

function walk() {
  const dst = podAddr(B);
  const src = podAddr(A);
  step(`walking one ping: ${A.pod} (${src}) → ${B.pod} (${dst}), as the kernel holds it now`);

  // 1. In pod A.
  const a = hostPort(A);
  const cni0A = link(A.ns, 'cni0');
  say(`\n[1] ${A.pod}: the route to ${dst}`);
  showIp(A.pod, 'route', 'get', dst);
  const rA = ipj(A.pod, 'route', 'get', dst)[0];
  say(`    → out of eth0 (MAC ${a.eth0.address}, mtu ${a.eth0.mtu}) to the gateway ${rA.gateway}: the frame goes to cni0's MAC ${cni0A.address}`);
  say(`      ${check(rA.dev === 'eth0' && rA.gateway === A.gateway, `via ${A.gateway} dev eth0 (the default and ${FLANNEL_NETWORK} routes flannel gave the pod)`)}`);

  // 2. The bridge on node A.
  say(`\n[2] ${A.ns}: the bridge cni0`);
  showIp(A.ns, '-br', 'link', 'show', 'master', 'cni0');
  showIp(A.ns, '-br', 'addr', 'show', 'dev', 'cni0');
  say(`    → the frame enters cni0 through port ${a.port.ifname} (MAC ${a.port.address}), the host end of ${A.pod}'s eth0`);
  say(`      it is addressed to cni0 itself (MAC ${cni0A.address}, ${A.gateway}), so node A routes the packet`);
  say(`      ${check(a.port.master === 'cni0', `${a.port.ifname} is a port of cni0`)}`);

  // 3. Node A's route to node B's subnet.
  say(`\n[3] ${A.ns}: the route to ${B.subnet}`);
  showIp(A.ns, 'route', 'get', dst, 'from', src, 'iif', 'cni0');
  showIp(A.ns, 'route', 'show', B.subnet);
  const rNode = ipj(A.ns, 'route', 'get', dst, 'from', src, 'iif', 'cni0')[0];
  say(`    → next hop ${rNode.gateway} (node B's ${VXLAN_DEV} address, the .0 of its subnet) on ${rNode.dev}; "onlink" because`);
  say(`      no subnet of ${VXLAN_DEV} contains it (${VXLAN_DEV} holds only ${A.subnetAddr}/32)`);
  say(`      ${check(rNode.dev === VXLAN_DEV && rNode.gateway === B.subnetAddr, `via ${B.subnetAddr} dev ${VXLAN_DEV}`)}`);

  // 4. The neighbour entry: next hop → peer VTEP MAC.
  const vtepB = link(B.ns, VXLAN_DEV);
  say(`\n[4] ${A.ns}: the neighbour entry for ${B.subnetAddr}, the peer VTEP MAC`);
  showIp(A.ns, 'neigh', 'show', B.subnetAddr, 'dev', VXLAN_DEV);
  const neigh = ipj(A.ns, 'neigh', 'show', B.subnetAddr, 'dev', VXLAN_DEV)[0];
  say(`    → the inner frame is addressed to ${neigh?.lladdr}; PERMANENT: flanneld wrote it, no ARP ever crosses the overlay`);
  say(`      ${check(neigh?.lladdr === vtepB.address, `peer VTEP MAC ${neigh?.lladdr} = ${VXLAN_DEV}'s MAC on ${B.ns}, read there: ${vtepB.address}`)}`);

  // 5. The fdb entry: peer VTEP MAC → peer node IP.
  say(`\n[5] ${A.ns}: the fdb entry for ${neigh?.lladdr}, the peer node IP`);
  show(['bridge', '-n', A.ns, 'fdb', 'show', 'dev', VXLAN_DEV]);
  const fdb = JSON.parse(sh(['bridge', '-j', '-n', A.ns, 'fdb', 'show', 'dev', VXLAN_DEV]).stdout || '[]').find((e) => e.mac === neigh?.lladdr);
  say(`    → ${VXLAN_DEV} sends frames for ${fdb?.mac} inside a UDP packet to ${fdb?.dst}`);
  say(`      ${check(fdb?.dst === B.underlayIp, `fdb dst ${fdb?.dst} = ${B.ns}'s underlay address ${B.underlayIp}`)}`);

  // 6. The encapsulation.
  const vx = link(A.ns, VXLAN_DEV);
  const ulA = link(A.ns, UNDERLAY_DEV);
  const info = vx.linkinfo.info_data;
  say(`\n[6] ${A.ns}: the encapsulation by ${VXLAN_DEV}`);
  const details = sh(['ip', '-d', '-n', A.ns, 'link', 'show', 'dev', VXLAN_DEV]).stdout.split('\n');
  say(`    $ ip -d -n ${A.ns} link show dev ${VXLAN_DEV}   (first lines)`);
  say(indent(details.slice(0, 3).join('\n'), '      '));
  showIp(A.ns, 'route', 'get', fdb?.dst ?? B.underlayIp);
  say(`    → VNI ${info.id}, UDP to port ${info.port} from ${info.local} over ${UNDERLAY_DEV}:`);
  say(`      [Ethernet 14][IP 20: ${info.local} → ${fdb?.dst}][UDP 8: → ${info.port}][VXLAN 8: VNI ${info.id}] + [inner Ethernet 14][inner IP packet ≤ ${vx.mtu}]`);
  say(`      +50 bytes on the wire beyond the inner IP packet: ${vx.mtu} inside + 50 = ${vx.mtu + 50} = ${UNDERLAY_DEV}'s MTU ${ulA.mtu}`);
  say(`      ${check(info.id === VXLAN_ID && info.port === VXLAN_PORT && vx.mtu + 50 === ulA.mtu, `vxlan id ${info.id}, dstport ${info.port}, mtu ${vx.mtu} + 50 = ${ulA.mtu}`)}`);

  // 7. Node B: decapsulation and delivery.
  const b = hostPort(B);
  const cni0B = link(B.ns, 'cni0');
  say(`\n[7] ${B.ns}: decapsulation and delivery to ${B.pod}`);
  say(`    ${B.ns}'s ${VXLAN_DEV} (MAC ${vtepB.address}, VNI ${vtepB.linkinfo.info_data.id}, port ${vtepB.linkinfo.info_data.port}) takes the UDP packet off ${UNDERLAY_DEV} (${B.underlayIp}),`);
  say(`    strips the 50 bytes, and the inner frame is addressed to its own MAC: node B routes the inner packet`);
  showIp(B.ns, 'route', 'get', dst, 'from', src, 'iif', VXLAN_DEV);
  showIp(B.ns, '-br', 'addr', 'show', 'dev', 'cni0');
  showIp(B.ns, '-br', 'link', 'show', 'master', 'cni0');
  const rB = ipj(B.ns, 'route', 'get', dst, 'from', src, 'iif', VXLAN_DEV)[0];
  say(`    → ${dst} is on cni0 (${B.gateway}/24, MAC ${cni0B.address}); cni0 delivers the frame through port ${b.port.ifname} (MAC ${b.port.address})`);
  say(`      to ${B.pod}'s eth0 (MAC ${b.eth0.address}, ${dst}, mtu ${b.eth0.mtu})`);
  say(`      ${check(rB.dev === 'cni0' && b.port.master === 'cni0', `${dst} dev cni0, ${b.port.ifname} is a port of cni0`)}`);
  return { dst, b };
}

function ping(dst, b) {
  step(`the ping itself: ${A.pod} → ${B.pod}`);
  const txA = stats(A.ns, VXLAN_DEV).tx.packets;
  const rxB = stats(B.ns, VXLAN_DEV).rx.packets;
  const argv = ['ip', 'netns', 'exec', A.pod, 'ping', '-n', '-c', '3', '-W', '2', dst];
  say(`    $ ${argv.join(' ')}`);
  const r = sh(argv, { allowFail: true });
  say(indent(r.stdout.trim().split('\n').slice(-2).join('\n') || r.stderr, '      '));
  const sent = stats(A.ns, VXLAN_DEV).tx.packets - txA;
  const got = stats(B.ns, VXLAN_DEV).rx.packets - rxB;
  say(`    ${VXLAN_DEV} on ${A.ns} sent ${sent} frames, ${VXLAN_DEV} on ${B.ns} received ${got}: the packets crossed the tunnel`);
  say(`    ${check(r.status === 0 && sent >= 3 && got >= 3, `ping ${A.pod} → ${B.pod} passed over vxlan`)}`);
  say('    learned while it ran:');
  showIp(A.pod, 'neigh', 'show', A.gateway);
  showIp(B.ns, 'neigh', 'show', dst, 'dev', 'cni0');
  const learned = sh(['bridge', '-n', B.ns, 'fdb', 'show', 'br', 'cni0']).stdout.split('\n').filter((l) => l.startsWith(b.eth0.address));
  say(`    $ bridge -n ${B.ns} fdb show br cni0 | grep ${b.eth0.address}`);
  if (learned.length) say(indent(learned.join('\n'), '      '));
  say(`    → ${A.pod} resolved its gateway to cni0's MAC; ${B.ns} resolved ${dst} on cni0, and cni0 learned ${B.pod}'s MAC on ${b.port.ifname}`);
}

function mtu(dst) {
  step('the path MTU: why the pod MTU must be FLANNEL_MTU');
  const fit = FLANNEL_MTU - 28;
  const sA = stats(A.ns, VXLAN_DEV).tx;
  const uA = stats(A.ns, UNDERLAY_DEV).tx;
  const argvFit = ['ip', 'netns', 'exec', A.pod, 'ping', '-n', '-c', '1', '-W', '2', '-M', 'do', '-s', String(fit), dst];
  say(`    $ ${argvFit.join(' ')}`);
  const r1 = sh(argvFit, { allowFail: true });
  say(indent((r1.stdout + r1.stderr).trim().split('\n').filter((l) => /bytes from|transmitted|error|too long/.test(l)).join('\n'), '      '));
  const s1 = stats(A.ns, VXLAN_DEV).tx;
  const u1 = stats(A.ns, UNDERLAY_DEV).tx;
  const [vp, vb, up, ub] = [s1.packets - sA.packets, s1.bytes - sA.bytes, u1.packets - uA.packets, u1.bytes - uA.bytes];
  say(`    DF ping of ${fit} bytes: ${r1.status === 0 ? 'passed' : 'FAILED'}: ${fit} + 8 (ICMP) + 20 (IP) = ${fit + 28}, exactly the pod's MTU`);
  say(`      on ${A.ns}: ${VXLAN_DEV} sent ${vp} packet(s), ${vb} bytes (it counts the inner IP packet); ${UNDERLAY_DEV} sent ${up} frame(s), ${ub} bytes`);
  if (vp === 1 && up === 1) {
    const outer = ub - 14; // ul0 counts its Ethernet header, which the MTU does not
    say(`      ${UNDERLAY_DEV}'s frame = Ethernet 14 + an outer IP packet of ${outer} bytes = ${vb} + ${outer - vb} (inner Ethernet 14 + VXLAN 8 + UDP 8 + IP 20)`);
    say(`      ${outer === UNDERLAY_MTU ? `exactly ${UNDERLAY_DEV}'s MTU ${UNDERLAY_MTU}: not one byte to spare` : `(${UNDERLAY_DEV}'s MTU is ${UNDERLAY_MTU})`}`);
  }
  say(`      ${check(r1.status === 0, `${fit} bytes with DF passed`)}`);

  const big = fit + 1;
  const argvBig = ['ip', 'netns', 'exec', A.pod, 'ping', '-n', '-c', '1', '-W', '2', '-M', 'do', '-s', String(big), dst];
  say(`    $ ${argvBig.join(' ')}`);
  const r2 = sh(argvBig, { allowFail: true });
  say(indent((r2.stdout + r2.stderr).trim().split('\n').filter((l) => /bytes from|transmitted|error|too long/.test(l)).join('\n'), '      '));
  say(`    DF ping of ${big} bytes: ${r2.status === 0 ? 'PASSED (unexpected)' : 'failed'}: ${big} + 28 = ${big + 28} > ${FLANNEL_MTU}, and DF forbids fragmenting it, so the`);
  say(`      pod's own eth0 (mtu ${FLANNEL_MTU}) refuses it. A pod with MTU ${UNDERLAY_MTU} would send it and lose it further on: encapsulated it`);
  say(`      would need ${big + 28 + 50} bytes on a ${UNDERLAY_MTU}-byte underlay. That is why flannel gives the pod FLANNEL_MTU (${UNDERLAY_MTU} - 50).`);
  say(`      ${check(r2.status !== 0, `${big} bytes with DF failed`)}`);
}

let built = false;
try {
  build();
  built = true;
  const { dst, b } = walk();
  ping(dst, b);
  mtu(dst);
} catch (err) {
  console.error(`\nlab: ${err.message}`);
  if (!built) {
    console.error('lab: the build failed; removing what was created');
    down((s) => console.error(s));
    process.exit(1);
  }
  checks.push({ ok: false, what: err.message });
}

const failed = checks.filter((c) => !c.ok);
step(failed.length ? `lab: ${failed.length} check(s) failed; the lab is left up to look at` : `lab: up, all ${checks.length} checks passed`);
for (const c of failed) say(`  ✗ ${c.what}`);
say(`  the path drawn: docs/lab.md, "Across nodes"
  look around:  ip -n lab-node-a route; ip -n lab-node-a neigh show dev ${VXLAN_DEV}; bridge -n lab-node-a fdb show dev ${VXLAN_DEV}
                ip netns exec lab-pod-a ping ${B.podIp}; ip -s -n lab-node-b link show ${VXLAN_DEV}
  state:        ${STATE_DIR}/<node>/subnet.env, flannel.conf, flannel/ (saved delegate configs), networks/ (host-local)
  remove it:    npm run lab -- --down`);
process.exit(failed.length ? 1 : 0);
