// npm run bench: our flannel → bridge (host-local built in) side by side with the Go
// reference (/usr/lib/cni/bridge + host-local from Debian's containernetworking-plugins),
// interleaved so machine noise hits both equally. Prints ours/reference ratios to
// stdout and writes the raw numbers to bench/results/latest.json.
//
// Everything happens in throwaway namespaces named cnib-*: one "node" namespace per
// implementation (each with its own cni0, state in its own temp dir) and one namespace
// per pod. The root namespace is never touched and no traffic is sent.
//
//   node bench/run.mjs            full run (~1–3 min on 2 cores)
//   node bench/run.mjs --quick    a few iterations of everything
//   BENCH_CYCLES, BENCH_BURST, BENCH_BURST_ROUNDS, BENCH_FLOOR_RUNS, BENCH_RSS_RUNS,
//   BENCH_IPAM_RUNS, BENCH_IPAM_BIG, BENCH_OUT override the counts / output file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Netns, aptInstall, beforeCleanup, cleanupAll, installSignalCleanup, isExecutable, log, sh, strayNamespaces, tempDir } from './lib/sys.mjs';
import { cniEnv, failureText, invokeAsync, invokeSync, killLiveChildren, snapshotDist } from './lib/cni.mjs';
import { prefill, reservations, scratchFiles } from './lib/ipam.mjs';
import { median, renderTable, round, summary } from './lib/stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// BENCH_DIST=dist-standalone measures the self-contained build instead of the Node bundles.
const DIST = path.resolve(root, process.env.BENCH_DIST ?? 'dist');
const REF_DIR = '/usr/lib/cni';
const REF_BRIDGE = path.join(REF_DIR, 'bridge');
const REF_HOST_LOCAL = path.join(REF_DIR, 'host-local');
const NET_NAME = 'cbr0';
const CNI_VERSION = '0.3.1'; // kube-flannel's cni-conf.json
const PREFIX = 'cnib-';

// ---------------------------------------------------------------- configuration
const QUICK = process.argv.includes('--quick');
function count(name, full, quick, { min = 1, max = Infinity } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return QUICK ? quick : full;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${raw}: expected an integer in ${min}..${max}`);
  return n;
}
const CFG = {
  mode: QUICK ? 'quick' : 'full',
  cycles: count('BENCH_CYCLES', 50, 5),
  burst: count('BENCH_BURST', 40, 8, { max: 250 }),
  burstRounds: count('BENCH_BURST_ROUNDS', 2, 1),
  floorRuns: count('BENCH_FLOOR_RUNS', 21, 5),
  rssRuns: count('BENCH_RSS_RUNS', 5, 2),
  ipamRuns: count('BENCH_IPAM_RUNS', 15, 3),
  ipamBig: count('BENCH_IPAM_BIG', 10000, 10000, { max: 65000 }),
  out: process.env.BENCH_OUT || path.join(root, 'bench', 'results', 'latest.json'),
};

// ---------------------------------------------------------------- results
const R = {
  meta: {},
  config: CFG,
  warmup: {},
  sequential: {},
  burst: [],
  rss: {},
  floor: {},
  ipam: {},
  leakChecks: [],
  errors: [],
};
const elapsed = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
/** Let the event loop run, so a SIGINT/SIGTERM handler can clean up between invocations. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

function recordError(phase, side, command, id, text) {
  R.errors.push({ phase, side, command, id, text });
  log(`ERROR ${phase} ${side} ${command} ${id ?? ''}: ${text}`);
}

/** ok && (for ADD) a result with an IP; failures go to R.errors. */
function checked(r, phase, side, command, id) {
  if (!r.ok) {
    recordError(phase, side, command, id, failureText(r));
    return false;
  }
  if (command === 'ADD' && !(r.json && Array.isArray(r.json.ips) && r.json.ips[0]?.address)) {
    recordError(phase, side, command, id, `ADD succeeded without an IP in its result: ${r.stdout.slice(0, 300)}`);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- prerequisites
function prerequisites() {
  if (process.getuid?.() !== 0) throw new Error('the bench needs root (network namespaces); run it as root');
  for (const f of ['bridge', 'flannel']) {
    if (!isExecutable(path.join(DIST, f))) throw new Error(`${path.join(DIST, f)} is missing: run npm run build (npm run bench does)`);
  }
  if (!isExecutable(REF_BRIDGE) || !isExecutable(REF_HOST_LOCAL)) aptInstall('containernetworking-plugins');
  if (!isExecutable(REF_BRIDGE) || !isExecutable(REF_HOST_LOCAL)) throw new Error(`${REF_BRIDGE} / ${REF_HOST_LOCAL} still missing after installing containernetworking-plugins`);
  for (const tool of ['ip']) if (sh(['sh', '-c', `command -v ${tool}`], { allowFail: true }).status !== 0) throw new Error(`${tool} (iproute2) is required`);
}

/** How peak RSS is read: GNU time's %M, else a python wait4() wrapper, else nothing. */
function rssTool() {
  if (!isExecutable('/usr/bin/time')) {
    try {
      aptInstall('time');
    } catch (err) {
      log(`cannot install GNU time: ${err.message}`);
    }
  }
  if (isExecutable('/usr/bin/time')) {
    return { name: '/usr/bin/time -f %M', wrap: (file) => ['/usr/bin/time', '-f', '%M', '-o', file] };
  }
  if (sh(['sh', '-c', 'command -v python3'], { allowFail: true }).status === 0) {
    // ru_maxrss of the child (and the descendants it waited for), as time(1) reports it.
    const py = 'import os,sys\npid=os.fork()\nif pid==0:\n os.execvp(sys.argv[2],sys.argv[2:])\n_,st,ru=os.wait4(pid,0)\nopen(sys.argv[1],"w").write(str(ru.ru_maxrss))\nsys.exit(os.waitstatus_to_exitcode(st))';
    return { name: 'python3 os.wait4 ru_maxrss', wrap: (file) => ['python3', '-c', py, file] };
  }
  return null;
}

// ---------------------------------------------------------------- the two sides
const tag = randomBytes(2).toString('hex');
const idBase = `cnib${tag}`;

function makeSide(key, label) {
  const dir = tempDir(`${PREFIX}${key}-`);
  const node = Netns.create(`${PREFIX}${tag}-${key}-node`);
  return {
    key,
    label,
    dir,
    node,
    ipamDir: path.join(dir, 'ipam'),
    flannelDir: path.join(dir, 'flannel'),
    pods: new Map(),
    /** Set below: the plugin file, CNI_PATH and the main config on stdin. */
    file: '',
    cniPath: '',
    conf: '',
  };
}

function pod(side, name, { lo = true } = {}) {
  if (!side.pods.has(name)) side.pods.set(name, Netns.create(`${PREFIX}${tag}-${side.key}-${name}`, { lo }));
  return side.pods.get(name);
}

function call(side, command, p, id, { stdin, file, wrap } = {}) {
  return invokeSync({
    node: side.node,
    file: file ?? side.file,
    env: cniEnv({ command, id, netns: p.path, cniPath: side.cniPath, podName: p.name }),
    stdin: stdin ?? side.conf,
    wrap,
  });
}

function flannelConf(ours, { subnetFile, ipamDataDir, delegate }) {
  return JSON.stringify({
    cniVersion: CNI_VERSION,
    name: NET_NAME,
    type: 'flannel',
    subnetFile,
    dataDir: ours.flannelDir,
    ipam: { dataDir: ipamDataDir },
    delegate: { hairpinMode: true, isDefaultGateway: true, ...delegate },
  });
}

function writeSubnetEnv(file, network, subnetWithGateway) {
  fs.writeFileSync(file, `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${subnetWithGateway}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
}

/** Our flannel's scratch file for a container: exactly what it piped to the delegate. */
function readRendered(ours, id) {
  const file = path.join(ours.flannelDir, id);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`our flannel left no delegate config at ${file} after ADD: ${err.message}`);
  }
}

/** The reference's config: the delegate our flannel rendered, pointed at the reference's own store / bridge. */
function refConfFrom(rendered, ipamDataDir, bridge) {
  const c = JSON.parse(rendered);
  c.ipam = { ...(c.ipam ?? {}), dataDir: ipamDataDir };
  c.bridge = bridge;
  return JSON.stringify(c);
}

/**
 * What a result says, minus the things that legitimately differ run to run (MACs, veth
 * names, the netns path) and an empty "dns": {} (Go's 0.3.x result type always prints
 * one; leaving it out says the same thing).
 */
function normaliseResult(j) {
  if (!j) return j;
  return JSON.parse(
    JSON.stringify(j, (k, v) => {
      if (k === 'dns' && v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) return undefined;
      if (k === 'mac' && typeof v === 'string') return 'MAC';
      if (k === 'sandbox' && typeof v === 'string') return 'SANDBOX';
      if (k === 'name' && typeof v === 'string' && /^veth/.test(v)) return 'vethXXXX';
      return v;
    }),
  );
}

function sortedJson(v) {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

// ---------------------------------------------------------------- leak checks
/** After a phase: no veth on the node, no reservation beyond `keep`, no scratch file, pods back to lo only. */
function leakCheck(phase, side, networkDir, pods, keep = new Set()) {
  const veths = side.node.links('veth');
  const res = reservations(networkDir);
  const extra = res.filter((n) => !keep.has(n));
  const missing = [...keep].filter((n) => !res.includes(n));
  const scratch = side.key === 'ours' ? scratchFiles(side.flannelDir) : [];
  const dirtyPods = [];
  for (const p of pods) {
    const links = p.links();
    if (links === null || links.some((l) => l !== 'lo')) dirtyPods.push(`${p.name}:${links === null ? 'unreadable' : links.join(',')}`);
  }
  const entry = {
    phase,
    side: side.key,
    veths: veths === null ? null : veths.length,
    reservations: extra.length,
    prefilledMissing: missing.length,
    scratchFiles: scratch.length,
    podsNotClean: dirtyPods.length,
    details: { veths: (veths ?? []).slice(0, 10), reservations: extra.slice(0, 10), scratch: scratch.slice(0, 10), pods: dirtyPods.slice(0, 5) },
  };
  R.leakChecks.push(entry);
  const bad = (entry.veths ?? 1) + entry.reservations + entry.prefilledMissing + entry.scratchFiles + entry.podsNotClean;
  log(`leak check ${phase}/${side.key}: veth=${entry.veths} reservations=${entry.reservations}${keep.size ? ` (+${keep.size - missing.length} prefilled kept)` : ''} scratch=${entry.scratchFiles} pods-not-clean=${entry.podsNotClean}${bad ? '  <-- LEAK' : ''}`);
  return entry;
}

const totalLeaks = (e) => (e.veths ?? 0) + e.reservations + e.prefilledMissing + e.scratchFiles + e.podsNotClean;

// ---------------------------------------------------------------- phases
async function warmup(ours, ref) {
  log('warm-up: one ADD+DEL each; deriving the reference config from our flannel scratch file');
  const po = pod(ours, 'seq');
  const pr = pod(ref, 'seq');
  const id = `${idBase}w`;
  const a = call(ours, 'ADD', po, id);
  if (!checked(a, 'warmup', 'ours', 'ADD', id)) throw new Error(`our warm-up ADD failed: ${failureText(a)}`);
  const rendered = readRendered(ours, id);
  const podAddr = sh(['ip', '-n', po.name, '-br', '-4', 'addr', 'show', 'dev', 'eth0'], { allowFail: true }).stdout.trim();
  const podRoutes = sh(['ip', '-n', po.name, 'route'], { allowFail: true }).stdout.trim().split('\n');
  const d = call(ours, 'DEL', po, id);
  checked(d, 'warmup', 'ours', 'DEL', id);

  // the reference flannel's rendering of kube-flannel's conflist, with flannel's ipam.dataDir passed through.
  const expected = `{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"dataDir":${JSON.stringify(ours.ipamDir)},"ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}`;
  ref.conf = refConfFrom(rendered, ref.ipamDir, 'cni0');

  const b = call(ref, 'ADD', pr, id);
  if (!checked(b, 'warmup', 'ref', 'ADD', id)) throw new Error(`reference warm-up ADD failed: ${failureText(b)}`);
  const refPodAddr = sh(['ip', '-n', pr.name, '-br', '-4', 'addr', 'show', 'dev', 'eth0'], { allowFail: true }).stdout.trim();
  const refPodRoutes = sh(['ip', '-n', pr.name, 'route'], { allowFail: true }).stdout.trim().split('\n');
  checked(call(ref, 'DEL', pr, id), 'warmup', 'ref', 'DEL', id);

  const same = sortedJson(normaliseResult(a.json)) === sortedJson(normaliseResult(b.json));
  const rawKeys = (j) => Object.keys(j ?? {}).sort().join(',');
  R.warmup = {
    resultTopLevelKeys: { ours: rawKeys(a.json), ref: rawKeys(b.json) },
    renderedDelegate: rendered,
    renderedMatchesReference: rendered === expected,
    expectedDelegate: expected,
    referenceConf: ref.conf,
    ours: { ms: round(a.ms), result: a.json, podAddr, podRoutes },
    ref: { ms: round(b.ms), result: b.json, podAddr: refPodAddr, podRoutes: refPodRoutes },
    resultsEquivalent: same,
  };
  if (rendered !== expected) log(`NOTE: our rendered delegate differs from the reference flannel's:\n  ours: ${rendered}\n  want: ${expected}`);
  if (!same) log(`NOTE: ADD results differ (beyond MACs / veth names):\n  ours: ${sortedJson(normaliseResult(a.json))}\n  ref:  ${sortedJson(normaliseResult(b.json))}`);
  if (podAddr.replace(/\s+/g, ' ').split(' ').slice(2).join(' ') !== refPodAddr.replace(/\s+/g, ' ').split(' ').slice(2).join(' ')) {
    log(`NOTE: pod eth0 differs: ours "${podAddr}" vs ref "${refPodAddr}"`);
  }
  if (podRoutes.join('|') !== refPodRoutes.join('|')) log(`NOTE: pod routes differ: ours ${JSON.stringify(podRoutes)} vs ref ${JSON.stringify(refPodRoutes)}`);
}

async function sequential(ours, ref) {
  log(`sequential: ${CFG.cycles} ADD+DEL cycles each, interleaved`);
  const po = pod(ours, 'seq');
  const pr = pod(ref, 'seq');
  const samples = { ours: { ADD: [], DEL: [] }, ref: { ADD: [], DEL: [] } };
  const ips = { ours: [], ref: [] };
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CFG.cycles; i++) {
    const order = i % 2 === 0 ? [[ours, po], [ref, pr]] : [[ref, pr], [ours, po]];
    await tick();
    for (const [side, p] of order) {
      const id = `${idBase}s${i}`;
      const a = call(side, 'ADD', p, id);
      if (checked(a, 'sequential', side.key, 'ADD', id)) {
        samples[side.key].ADD.push(a.ms);
        ips[side.key].push(a.json.ips[0].address);
      }
      const d = call(side, 'DEL', p, id);
      if (checked(d, 'sequential', side.key, 'DEL', id)) samples[side.key].DEL.push(d.ms);
    }
    if ((i + 1) % 10 === 0 || i + 1 === CFG.cycles) {
      log(`  ${i + 1}/${CFG.cycles}  ours ADD median ${median(samples.ours.ADD)?.toFixed(1)} ms, ref ${median(samples.ref.ADD)?.toFixed(1)} ms`);
    }
  }
  // host-local's round-robin: both should hand out the same sequence of addresses.
  const sameIps = ips.ours.join(',') === ips.ref.join(',');
  if (!sameIps) log(`NOTE: sequential IP sequences differ: ours ${ips.ours.slice(0, 6).join(' ')}... ref ${ips.ref.slice(0, 6).join(' ')}...`);
  R.sequential = {
    wallMs: round(elapsed(t0)),
    ipSequencesMatch: sameIps,
    ipsHandedOut: ips,
    samples,
    ours: { ADD: summary(samples.ours.ADD), DEL: summary(samples.ours.DEL) },
    ref: { ADD: summary(samples.ref.ADD), DEL: summary(samples.ref.DEL) },
  };
  leakCheck('sequential', ours, path.join(ours.ipamDir, NET_NAME), [po]);
  leakCheck('sequential', ref, path.join(ref.ipamDir, NET_NAME), [pr]);
}

async function burstOnce(side, pods, command, ids, round_) {
  const t0 = process.hrtime.bigint();
  const results = await Promise.all(
    pods.map((p, i) => invokeAsync({ node: side.node, file: side.file, env: cniEnv({ command, id: ids[i], netns: p.path, cniPath: side.cniPath, podName: p.name }), stdin: side.conf })),
  );
  const wall = elapsed(t0);
  let failures = 0;
  const ips = [];
  results.forEach((r, i) => {
    if (!checked(r, `burst#${round_}`, side.key, command, ids[i])) failures++;
    else if (command === 'ADD') ips.push(r.json.ips[0].address);
  });
  const entry = { round: round_, side: side.key, command, n: pods.length, wallMs: round(wall), failures, perCall: summary(results.map((r) => r.ms)) };
  if (command === 'ADD') {
    entry.uniqueIps = new Set(ips).size;
    if (entry.uniqueIps !== ips.length) recordError(`burst#${round_}`, side.key, 'ADD', '', `duplicate IPs handed out: ${ips.length} results, ${entry.uniqueIps} distinct`);
    // Mid-burst sanity: every successful ADD left a veth and a reservation.
    const veths = side.node.links('veth')?.length ?? null;
    const res = reservations(path.join(side.ipamDir, NET_NAME)).length;
    entry.afterAdd = { veths, reservations: res };
    if (veths !== pods.length - failures || res !== pods.length - failures) {
      log(`NOTE burst#${round_} ${side.key}: after ADD expected ${pods.length - failures} veths/reservations, found ${veths}/${res}`);
    }
  }
  R.burst.push(entry);
  log(`  burst#${round_} ${side.key} ${command} x${pods.length}: ${wall.toFixed(0)} ms wall, slowest call ${entry.perCall.max?.toFixed(0)} ms, failures ${failures}`);
  return entry;
}

async function burst(ours, ref) {
  log(`burst: ${CFG.burst} pod namespaces per side, ${CFG.burstRounds} round(s) of ${CFG.burst} concurrent ADDs then DELs`);
  const podsOf = (side) => Array.from({ length: CFG.burst }, (_, i) => pod(side, `b${i}`, { lo: false }));
  const po = podsOf(ours);
  const pr = podsOf(ref);
  for (let r = 0; r < CFG.burstRounds; r++) {
    const order = r % 2 === 0 ? [[ours, po], [ref, pr]] : [[ref, pr], [ours, po]];
    const ids = Array.from({ length: CFG.burst }, (_, i) => `${idBase}b${r}x${i}`);
    for (const [side, pods] of order) await burstOnce(side, pods, 'ADD', ids, r);
    for (const [side, pods] of order) await burstOnce(side, pods, 'DEL', ids, r);
    leakCheck(`burst#${r}`, ours, path.join(ours.ipamDir, NET_NAME), po);
    leakCheck(`burst#${r}`, ref, path.join(ref.ipamDir, NET_NAME), pr);
  }
}

async function rss(ours, ref, bin, tool) {
  if (!tool) {
    log('peak RSS: no way to read ru_maxrss (no /usr/bin/time, no python3); skipped');
    R.rss = { tool: null };
    return;
  }
  log(`peak RSS: ${CFG.rssRuns} ADDs per variant via ${tool.name}`);
  const po = pod(ours, 'seq');
  const pr = pod(ref, 'seq');
  const file = path.join(ours.dir, 'rss.out');
  const readKb = () => {
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    const kb = Number(lines[lines.length - 1].trim());
    return Number.isFinite(kb) ? kb : null;
  };
  // Our bridge alone, fed the delegate config our flannel renders (for the breakdown).
  const bridgeConf = R.warmup.renderedDelegate;
  const variants = [
    { key: 'oursFlannelBridge', side: ours, p: po, opts: {} },
    { key: 'refBridge', side: ref, p: pr, opts: {} },
    { key: 'oursBridgeOnly', side: ours, p: po, opts: { file: path.join(bin, 'bridge'), stdin: bridgeConf } },
  ];
  const kb = Object.fromEntries(variants.map((v) => [v.key, []]));
  for (let i = 0; i < CFG.rssRuns; i++) {
    const order = i % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      await tick();
      const id = `${idBase}m${i}`;
      fs.rmSync(file, { force: true });
      const a = call(v.side, 'ADD', v.p, id, { ...v.opts, wrap: tool.wrap(file) });
      if (checked(a, 'rss', v.key, 'ADD', id)) {
        try {
          kb[v.key].push(readKb());
        } catch (err) {
          recordError('rss', v.key, 'ADD', id, `cannot read ${tool.name} output: ${err.message}`);
        }
      }
      checked(call(v.side, 'DEL', v.p, id, v.opts), 'rss', v.key, 'DEL', id);
    }
  }
  fs.rmSync(file, { force: true });
  const nodeKb = [];
  for (let i = 0; i < Math.min(3, CFG.rssRuns); i++) {
    const r = invokeSync({ node: null, file: process.execPath, args: ['-e', '0'], env: { PATH: process.env.PATH }, wrap: tool.wrap(file) });
    if (r.ok) nodeKb.push(readKb());
  }
  fs.rmSync(file, { force: true });
  R.rss = { tool: tool.name, unit: 'KiB', samples: { ...kb, nodeE0: nodeKb }, max: Object.fromEntries(Object.entries({ ...kb, nodeE0: nodeKb }).map(([k, v]) => [k, v.length ? Math.max(...v) : null])) };
  leakCheck('rss', ours, path.join(ours.ipamDir, NET_NAME), [po]);
  leakCheck('rss', ref, path.join(ref.ipamDir, NET_NAME), [pr]);
}

async function floor(ours, bin) {
  log(`process floor: ${CFG.floorRuns} runs of each probe, rotated`);
  const versionIn = JSON.stringify({ cniVersion: CNI_VERSION });
  const probes = [
    { key: 'oursBridgeVersion', file: path.join(bin, 'bridge'), env: cniEnv({ command: 'VERSION', cniPath: bin }), stdin: versionIn },
    { key: 'refBridgeVersion', file: REF_BRIDGE, env: cniEnv({ command: 'VERSION', cniPath: REF_DIR }), stdin: versionIn },
    { key: 'oursFlannelVersion', file: path.join(bin, 'flannel'), env: cniEnv({ command: 'VERSION', cniPath: bin }), stdin: versionIn },
    { key: 'refHostLocalVersion', file: REF_HOST_LOCAL, env: cniEnv({ command: 'VERSION', cniPath: REF_DIR }), stdin: versionIn },
    { key: 'nodeE0', file: process.execPath, args: ['-e', '0'], env: { PATH: process.env.PATH } },
    { key: 'ipNetnsExecTrue', node: ours.node, file: '/bin/true', env: { PATH: process.env.PATH } },
  ];
  const samples = Object.fromEntries(probes.map((p) => [p.key, []]));
  const outputs = {};
  for (let i = 0; i < CFG.floorRuns; i++) {
    await tick();
    for (let j = 0; j < probes.length; j++) {
      const p = probes[(i + j) % probes.length];
      const r = invokeSync({ node: p.node ?? null, file: p.file, args: p.args, env: p.env, stdin: p.stdin ?? '' });
      if (!r.ok) recordError('floor', p.key, 'VERSION', '', failureText(r));
      else samples[p.key].push(r.ms);
      if (i === 0) outputs[p.key] = r.stdout.trim();
    }
  }
  R.floor = { samples, outputs, summary: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)])) };
}

const SCENARIOS = () => [
  { key: 'empty24', label: '/24, 0 reserved', subnet: '10.250.0.0/24', gateway: '10.250.0.1/24', fill: 0, bridge: 'cnib0' },
  { key: 'full24', label: '/24, 250 reserved', subnet: '10.251.0.0/24', gateway: '10.251.0.1/24', fill: 250, bridge: 'cnib24' },
  { key: 'big16', label: `/16, ${CFG.ipamBig} reserved`, subnet: '10.252.0.0/16', gateway: '10.252.0.1/16', fill: CFG.ipamBig, bridge: 'cnib16' },
];

async function ipamScale(ours, ref) {
  log(`IPAM at scale: ${CFG.ipamRuns} ADD+DEL per side and store size`);
  const po = pod(ours, 'seq');
  const pr = pod(ref, 'seq');
  for (const sc of SCENARIOS()) {
    await tick();
    const t0 = process.hrtime.bigint();
    const subnetFile = path.join(ours.dir, `subnet-${sc.key}.env`);
    writeSubnetEnv(subnetFile, '10.240.0.0/12', sc.gateway);
    const oursData = path.join(ours.dir, `ipam-${sc.key}`);
    const refData = path.join(ref.dir, `ipam-${sc.key}`);
    const oursNet = path.join(oursData, NET_NAME);
    const refNet = path.join(refData, NET_NAME);
    const keepO = prefill(oursNet, sc.subnet, sc.fill);
    const keepR = prefill(refNet, sc.subnet, sc.fill);
    const oursConf = flannelConf(ours, { subnetFile, ipamDataDir: oursData, delegate: { bridge: sc.bridge } });

    // Warm-up (creates the scenario's bridge on each side) and the reference's config.
    const wid = `${idBase}i${sc.key}w`;
    const wa = call(ours, 'ADD', po, wid, { stdin: oursConf });
    if (!checked(wa, `ipam:${sc.key}`, 'ours', 'ADD', wid)) {
      log(`  skipping ${sc.label}: our warm-up ADD failed`);
      continue;
    }
    const refConf = refConfFrom(readRendered(ours, wid), refData, sc.bridge);
    checked(call(ours, 'DEL', po, wid, { stdin: oursConf }), `ipam:${sc.key}`, 'ours', 'DEL', wid);
    const wb = call(ref, 'ADD', pr, wid, { stdin: refConf });
    checked(wb, `ipam:${sc.key}`, 'ref', 'ADD', wid);
    checked(call(ref, 'DEL', pr, wid, { stdin: refConf }), `ipam:${sc.key}`, 'ref', 'DEL', wid);

    const samples = { ours: { ADD: [], DEL: [] }, ref: { ADD: [], DEL: [] } };
    const ipsSeen = { ours: [], ref: [] };
    for (let i = 0; i < CFG.ipamRuns; i++) {
      const order = i % 2 === 0 ? [[ours, po, oursConf], [ref, pr, refConf]] : [[ref, pr, refConf], [ours, po, oursConf]];
      await tick();
      for (const [side, p, conf] of order) {
        const id = `${idBase}i${sc.key}${i}`;
        const a = call(side, 'ADD', p, id, { stdin: conf });
        if (checked(a, `ipam:${sc.key}`, side.key, 'ADD', id)) {
          samples[side.key].ADD.push(a.ms);
          ipsSeen[side.key].push(a.json.ips[0].address);
        }
        const d = call(side, 'DEL', p, id, { stdin: conf });
        if (checked(d, `ipam:${sc.key}`, side.key, 'DEL', id)) samples[side.key].DEL.push(d.ms);
      }
    }
    const sameIps = ipsSeen.ours.join(',') === ipsSeen.ref.join(',');
    if (!sameIps) log(`NOTE: ${sc.label}: IP sequences differ: ours ${ipsSeen.ours.join(' ')} ref ${ipsSeen.ref.join(' ')}`);
    R.ipam[sc.key] = {
      label: sc.label,
      ipSequencesMatch: sameIps,
      subnet: sc.subnet,
      reserved: sc.fill,
      samples,
      ipsHandedOut: ipsSeen,
      ours: { ADD: summary(samples.ours.ADD), DEL: summary(samples.ours.DEL) },
      ref: { ADD: summary(samples.ref.ADD), DEL: summary(samples.ref.DEL) },
    };
    log(`  ${sc.label}: ADD median ours ${R.ipam[sc.key].ours.ADD.median} ms, ref ${R.ipam[sc.key].ref.ADD.median} ms (${(elapsed(t0) / 1000).toFixed(1)} s)`);
    leakCheck(`ipam:${sc.key}`, ours, oursNet, [po], keepO);
    leakCheck(`ipam:${sc.key}`, ref, refNet, [pr], keepR);
    // The big stores are only needed for this scenario.
    fs.rmSync(oursData, { recursive: true, force: true });
    fs.rmSync(refData, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- report
function table() {
  const S = R.sequential;
  const rows = [];
  const ms = (label, o, r, note) => rows.push({ label, ours: o ?? null, ref: r ?? null, unit: 'ms', note });
  rows.push({ section: `sequential: ${CFG.cycles} ADD+DEL cycles, one pod (ours flannel->bridge, ref bridge+host-local)` });
  ms('ADD median', S.ours?.ADD.median, S.ref?.ADD.median);
  ms('ADD p90', S.ours?.ADD.p90, S.ref?.ADD.p90);
  ms('DEL median', S.ours?.DEL.median, S.ref?.DEL.median);
  ms('DEL p90', S.ours?.DEL.p90, S.ref?.DEL.p90);

  const b = (side, cmd, f) => median(R.burst.filter((e) => e.side === side && e.command === cmd).map(f));
  rows.push({ section: `burst: ${CFG.burst} pods at once, median of ${CFG.burstRounds} round(s)` });
  ms(`${CFG.burst} ADDs, wall`, b('ours', 'ADD', (e) => e.wallMs), b('ref', 'ADD', (e) => e.wallMs));
  ms(`${CFG.burst} DELs, wall`, b('ours', 'DEL', (e) => e.wallMs), b('ref', 'DEL', (e) => e.wallMs));
  ms('slowest single ADD in burst', b('ours', 'ADD', (e) => e.perCall.max), b('ref', 'ADD', (e) => e.perCall.max));

  if (R.rss.tool) {
    const mb = (k) => (R.rss.max[k] === null ? null : R.rss.max[k] / 1024);
    rows.push({ section: `peak RSS of one ADD (max of ${CFG.rssRuns}, ${R.rss.tool})` });
    rows.push({ label: 'ADD, every process', ours: mb('oursFlannelBridge'), ref: mb('refBridge'), unit: 'MB', note: 'ours: flannel+bridge; ref: bridge+host-local' });
    rows.push({ label: 'bridge alone', ours: mb('oursBridgeOnly'), ref: mb('refBridge'), unit: 'MB', note: 'ref column as above' });
    rows.push({ label: 'node -e 0', ours: mb('nodeE0'), ref: null, unit: 'MB', note: 'for scale' });
  }

  const F = R.floor.summary ?? {};
  rows.push({ section: `process floor (median of ${CFG.floorRuns})` });
  ms('bridge VERSION', F.oursBridgeVersion?.median, F.refBridgeVersion?.median);
  ms('flannel VERSION (ref: host-local)', F.oursFlannelVersion?.median, F.refHostLocalVersion?.median);
  ms('node -e 0', F.nodeE0?.median, null, 'bare Node start');
  ms('ip netns exec NODE /bin/true', F.ipNetnsExecTrue?.median, null, 'included in every timed ADD/DEL');

  rows.push({ section: `IPAM at scale (median of ${CFG.ipamRuns}; ours via flannel)` });
  for (const sc of SCENARIOS()) {
    const x = R.ipam[sc.key];
    ms(`ADD, ${sc.label}`, x?.ours.ADD.median, x?.ref.ADD.median);
  }
  for (const sc of SCENARIOS()) {
    const x = R.ipam[sc.key];
    ms(`DEL, ${sc.label}`, x?.ours.DEL.median, x?.ref.DEL.median);
  }
  const base = R.ipam.empty24;
  const big = R.ipam.big16;
  if (base && big) {
    const d = (s, c) => (big[s][c].median !== null && base[s][c].median !== null ? round(big[s][c].median - base[s][c].median) : null);
    ms(`ADD cost of ${CFG.ipamBig} reservations`, d('ours', 'ADD'), d('ref', 'ADD'), 'big16 minus empty24');
    ms(`DEL cost of ${CFG.ipamBig} reservations`, d('ours', 'DEL'), d('ref', 'DEL'), 'big16 minus empty24');
  }

  const errs = (side) => R.errors.filter((e) => e.side === side || e.side?.startsWith(side)).length;
  const leaks = (side) => R.leakChecks.filter((e) => e.side === side).reduce((n, e) => n + totalLeaks(e), 0);
  rows.push({ section: 'correctness' });
  rows.push({ label: 'plugin errors', ours: errs('ours'), ref: errs('ref'), unit: 'n' });
  rows.push({ label: `leaks (veth/IP/scratch/pod) over ${R.leakChecks.length / 2} checks`, ours: leaks('ours'), ref: leaks('ref'), unit: 'n' });
  return renderTable(rows.map((r) => (r.unit === 'n' ? { ...r, unit: undefined, noRatio: true } : r)));
}

// ---------------------------------------------------------------- main
async function main() {
  const t0 = process.hrtime.bigint();
  installSignalCleanup();
  beforeCleanup(() => {
    const n = killLiveChildren();
    if (n) log(`stopped ${n} plugin process(es) still running`);
  });
  prerequisites();
  const tool = rssTool();
  const stray = strayNamespaces(PREFIX);
  if (stray.length) log(`NOTE: ${stray.length} ${PREFIX}* namespaces from another (running or interrupted) bench exist: ${stray.slice(0, 5).join(' ')}${stray.length > 5 ? ' ...' : ''}`);

  const scratchRoot = tempDir(`${PREFIX}bin-`);
  const bin = path.join(scratchRoot, 'bin');
  const builds = snapshotDist(DIST, bin);
  R.meta = {
    startedAt: new Date().toISOString(),
    host: os.hostname(),
    kernel: os.release(),
    cpus: os.cpus().length,
    node: process.version,
    loadavgStart: os.loadavg().map((x) => round(x, 2)),
    ourBuild: builds.bridgeBuild,
    inProcessDelegation: builds.bridgeBuild !== null && builds.bridgeBuild === builds.flannelBuild,
    referencePackage: sh(['dpkg-query', '-W', '-f', '${Version}', 'containernetworking-plugins'], { allowFail: true }).stdout.trim() || null,
    referenceDir: REF_DIR,
    rssTool: tool?.name ?? null,
    tag,
  };
  log(`mode ${CFG.mode}; our build ${builds.bridgeBuild} (copied to ${bin}); reference containernetworking-plugins ${R.meta.referencePackage}; load ${R.meta.loadavgStart.join(' ')}`);

  const ours = makeSide('ours', 'ours (flannel -> bridge)');
  const ref = makeSide('ref', 'reference (bridge + host-local)');
  ours.file = path.join(bin, 'flannel');
  ours.cniPath = bin;
  const subnetFile = path.join(ours.dir, 'subnet.env');
  writeSubnetEnv(subnetFile, '10.244.0.0/16', '10.244.1.1/24');
  ours.conf = flannelConf(ours, { subnetFile, ipamDataDir: ours.ipamDir, delegate: {} });
  ref.file = REF_BRIDGE;
  ref.cniPath = REF_DIR;

  let failure;
  try {
    await warmup(ours, ref);
    await sequential(ours, ref);
    await burst(ours, ref);
    await rss(ours, ref, bin, tool);
    await floor(ours, bin);
    await ipamScale(ours, ref);
  } catch (err) {
    failure = err;
    R.aborted = String(err?.stack ?? err);
    log(`ABORTED: ${err?.message ?? err}`);
  }
  R.meta.loadavgEnd = os.loadavg().map((x) => round(x, 2));
  R.meta.totalSeconds = round(elapsed(t0) / 1000, 1);

  fs.mkdirSync(path.dirname(CFG.out), { recursive: true });
  fs.writeFileSync(CFG.out, `${JSON.stringify(R, null, 2)}\n`);
  const text = table();
  process.stdout.write(`\n${text}\n\n`);
  const notes = [
    `mode ${CFG.mode}, ${R.meta.totalSeconds} s, load ${R.meta.loadavgStart.join('/')} -> ${R.meta.loadavgEnd.join('/')}, ${R.meta.cpus} CPUs; reference containernetworking-plugins ${R.meta.referencePackage}`,
    `our build ${R.meta.ourBuild}${R.meta.inProcessDelegation ? ' (flannel and bridge from one build: flannel may run bridge in-process)' : ''}`,
    `delegate config rendered by our flannel ${R.warmup.renderedMatchesReference ? 'matches' : 'DIFFERS from'} the reference flannel's; warm-up ADD results ${R.warmup.resultsEquivalent ? 'equivalent' : 'DIFFER (see JSON: warmup)'}${R.warmup.resultTopLevelKeys && R.warmup.resultTopLevelKeys.ours !== R.warmup.resultTopLevelKeys.ref ? ` (top-level keys: ours ${R.warmup.resultTopLevelKeys.ours}; ref ${R.warmup.resultTopLevelKeys.ref})` : ''}`,
    `same IP allocation order as the reference: sequential ${R.sequential.ipSequencesMatch ?? '—'}; IPAM scenarios ${Object.values(R.ipam).map((x) => x.ipSequencesMatch).join('/') || '—'}`,
    `raw numbers: ${path.relative(process.cwd(), CFG.out) || CFG.out}`,
  ];
  if (R.errors.length) notes.push(`${R.errors.length} plugin error(s); first: ${R.errors[0].phase} ${R.errors[0].side} ${R.errors[0].command}: ${R.errors[0].text}`);
  if (failure) notes.push(`run ABORTED: ${failure.message}`);
  process.stdout.write(notes.map((n) => `- ${n}`).join('\n') + '\n');
  return failure || R.errors.length || R.leakChecks.some((e) => totalLeaks(e) > 0) ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  log(`failed: ${err?.stack ?? err}`);
} finally {
  log('cleaning up namespaces and temp dirs');
  cleanupAll();
}
process.exitCode = code;
