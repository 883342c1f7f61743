// npm run bench: our flannel -> bridge (host-local built in) side by side with the Go
// reference plugins, interleaved so machine noise hits every side equally. Two
// reference lines:
//   - refChain: what a kube-flannel node runs, reference flannel -> bridge -> host-local
//     (flannel from Debian bullseye's containernetworking-plugins 0.9.0, the last one
//     Debian packaged, fetched at bench time; bridge and host-local from the machine's
//     /usr/lib/cni). Like for like: the same kube-flannel config goes to both.
//   - refBridge: the reference bridge + host-local alone, fed what the reference flannel
//     hands its bridge. Harsher: ours still pays for flannel, this side does not.
// Also measures the process floor (CNI_COMMAND=VERSION) against `node -e 0` and a bare
// `bun build --compile --bytecode` executable built at bench time.
// Prints the table to stdout and writes the raw numbers to bench/results/latest.json.
//
// Everything happens in throwaway namespaces named cnib-*: one "node" namespace per
// side (each with its own cni0, state in its own temp dir) and one namespace per pod.
// The root namespace is never touched and no traffic is sent.
//
//   node bench/run.mjs            full run (~70 s on 2 busy cores)
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
import { assembleReferenceChain, buildBareBun, fetchReferenceFlannel, sha256 } from './lib/reference.mjs';
import { median, renderTable, round, summary } from './lib/stats.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// BENCH_DIST=dist-standalone measures the self-contained build instead of the Node bundles.
const DIST = path.resolve(root, process.env.BENCH_DIST ?? 'dist');
const REF_DIR = '/usr/lib/cni';
const REF_BRIDGE = path.join(REF_DIR, 'bridge');
const REF_HOST_LOCAL = path.join(REF_DIR, 'host-local');
const NET_NAME = 'cbr0';
// kube-flannel's cni-conf.json says 0.3.1; 0.4.0 is the newest the reference flannel
// (0.9.0) accepts, and ours accepts it too, so both chains get exactly the same config.
const CNI_VERSION = '0.4.0';
const PREFIX = 'cnib-';
const SIDES = ['ours', 'refChain', 'refBridge'];

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
  cniVersion: CNI_VERSION,
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
/** The sides in a rotated order, so each side goes first, second and last equally often. */
const rotated = (list, i) => list.map((_, j) => list[(i + j) % list.length]);

/** `side` is one of SIDES (or 'other' for probes that belong to no side); `what` says which call. */
function recordError(phase, side, command, id, text, what) {
  R.errors.push({ phase, side, what: what ?? side, command, id, text });
  log(`ERROR ${phase} ${what ?? side} ${command} ${id ?? ''}: ${text}`);
}

/** ok && (for ADD) a result with an IP; failures go to R.errors. */
function checked(r, phase, side, command, id, what) {
  if (!r.ok) {
    recordError(phase, side, command, id, failureText(r), what);
    return false;
  }
  if (command === 'ADD' && !(r.json && Array.isArray(r.json.ips) && r.json.ips[0]?.address)) {
    recordError(phase, side, command, id, `ADD succeeded without an IP in its result: ${r.stdout.slice(0, 300)}`, what);
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
  for (const tool of ['ip', 'apt-get', 'dpkg-deb']) if (sh(['sh', '-c', `command -v ${tool}`], { allowFail: true }).status !== 0) throw new Error(`${tool} is required`);
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

/** 'node' for the Node bundles (a #! script), 'standalone' for the compiled executable. */
function buildKind(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(2);
    fs.readSync(fd, head, 0, 2, 0);
    return head.toString('latin1') === '#!' ? 'node' : 'standalone';
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------- the sides
const tag = randomBytes(2).toString('hex');
const idBase = `cnib${tag}`;

/** ns: short name for the namespaces; flannel: whether the side starts at a flannel (has a scratch dir). */
function makeSide(key, ns, label, { flannel }) {
  const dir = tempDir(`${PREFIX}${ns}-`);
  const node = Netns.create(`${PREFIX}${tag}-${ns}-node`);
  return {
    key,
    ns,
    label,
    dir,
    node,
    ipamDir: path.join(dir, 'ipam'),
    flannelDir: flannel ? path.join(dir, 'flannel') : null,
    pods: new Map(),
    /** Set below: the plugin file, CNI_PATH and the main config on stdin. */
    file: '',
    cniPath: '',
    conf: '',
  };
}

function pod(side, name, { lo = true } = {}) {
  if (!side.pods.has(name)) side.pods.set(name, Netns.create(`${PREFIX}${tag}-${side.ns}-${name}`, { lo }));
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

/** kube-flannel's conflist entry for flannel, with this side's own scratch dir, store and bridge. */
function flannelConf(side, { subnetFile, ipamDataDir, bridge }) {
  return JSON.stringify({
    cniVersion: CNI_VERSION,
    name: NET_NAME,
    type: 'flannel',
    subnetFile,
    dataDir: side.flannelDir,
    ipam: { dataDir: ipamDataDir },
    // kube-flannel's delegate; no "bridge" key means cni0, as on a real node.
    delegate: { hairpinMode: true, isDefaultGateway: true, ...(bridge ? { bridge } : {}) },
  });
}

function writeSubnetEnv(file, network, subnetWithGateway) {
  fs.writeFileSync(file, `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${subnetWithGateway}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
}

/** A flannel's scratch file for a container: exactly what it piped to its delegate (both flannels keep one). */
function readRendered(side, id) {
  const file = path.join(side.flannelDir, id);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${side.key}'s flannel left no delegate config at ${file} after ADD: ${err.message}`);
  }
}

/** The bridge-only side's config: the reference flannel's rendering, pointed at that side's own store / bridge. */
function refConfFrom(rendered, ipamDataDir, bridge) {
  const c = JSON.parse(rendered);
  c.ipam = { ...(c.ipam ?? {}), dataDir: ipamDataDir };
  c.bridge = bridge;
  return JSON.stringify(c);
}

/**
 * A rendered delegate config with the per-side paths blanked. `equivalent` also writes
 * flannel 0.9.0's `ipam.subnet` as the `ipam.ranges` newer flannels render (host-local
 * reads the two the same: https://github.com/containernetworking/plugins/blob/main/plugins/ipam/host-local/backend/allocator/config.go).
 */
function normaliseDelegate(text, { equivalent = false } = {}) {
  const c = JSON.parse(text);
  if (c.ipam?.dataDir) c.ipam.dataDir = 'DATADIR';
  if (equivalent && c.ipam && typeof c.ipam.subnet === 'string' && c.ipam.ranges === undefined) {
    c.ipam.ranges = [[{ subnet: c.ipam.subnet }]];
    delete c.ipam.subnet;
  }
  return sortedJson(c);
}

/**
 * What a result says, minus the things that legitimately differ run to run (MACs, veth
 * names, the netns path) and an empty "dns": {} (Go's 0.3.x/0.4.0 result type always
 * prints one; leaving it out says the same thing).
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
/** After a phase: no veth on the node, no reservation beyond `keep`, no flannel scratch file, pods back to lo only. */
function leakCheck(phase, side, networkDir, pods, keep = new Set()) {
  const veths = side.node.links('veth');
  const res = reservations(networkDir);
  const extra = res.filter((n) => !keep.has(n));
  const missing = [...keep].filter((n) => !res.includes(n));
  const scratch = side.flannelDir ? scratchFiles(side.flannelDir) : [];
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
const podAddr = (p) => sh(['ip', '-n', p.name, '-br', '-4', 'addr', 'show', 'dev', 'eth0'], { allowFail: true }).stdout.trim();
const podRoutes = (p) => sh(['ip', '-n', p.name, 'route'], { allowFail: true }).stdout.trim().split('\n');

// ---------------------------------------------------------------- phases
/** One warm-up ADD (reading the flannel's rendered delegate and the pod's eth0/routes before DEL) and DEL. */
function warmOne(side, id) {
  const p = pod(side, 'seq');
  const a = call(side, 'ADD', p, id);
  if (!checked(a, 'warmup', side.key, 'ADD', id)) throw new Error(`${side.key} warm-up ADD failed: ${failureText(a)}`);
  const out = { ms: round(a.ms), result: a.json, podAddr: podAddr(p), podRoutes: podRoutes(p), rendered: side.flannelDir ? readRendered(side, id) : undefined };
  checked(call(side, 'DEL', p, id), 'warmup', side.key, 'DEL', id);
  return out;
}

async function warmup(ours, chain, bridge) {
  log('warm-up: one ADD+DEL per side; the bridge-only side gets what the reference flannel rendered');
  const id = `${idBase}w`;
  const o = warmOne(ours, id);
  const c = warmOne(chain, id);
  bridge.conf = refConfFrom(c.rendered, bridge.ipamDir, 'cni0');
  const b = warmOne(bridge, id);

  const renderedSame = normaliseDelegate(o.rendered) === normaliseDelegate(c.rendered);
  const renderedEquivalent = normaliseDelegate(o.rendered, { equivalent: true }) === normaliseDelegate(c.rendered, { equivalent: true });
  const key = (x) => sortedJson(normaliseResult(x.result));
  const rawKeys = (j) => Object.keys(j ?? {}).sort().join(',');
  R.warmup = {
    rendered: { ours: o.rendered, refChain: c.rendered },
    renderedSame,
    renderedEquivalent,
    refBridgeConf: bridge.conf,
    resultTopLevelKeys: { ours: rawKeys(o.result), refChain: rawKeys(c.result), refBridge: rawKeys(b.result) },
    resultsEquivalent: { refChain: key(o) === key(c), refBridge: key(o) === key(b) },
    ours: o,
    refChain: c,
    refBridge: b,
  };
  if (!renderedSame) {
    log(`NOTE: our flannel's delegate config differs from the reference flannel's (${renderedEquivalent ? 'equivalent once ipam.subnet is read as ipam.ranges' : 'NOT equivalent'}):\n  ours: ${normaliseDelegate(o.rendered)}\n  ref:  ${normaliseDelegate(c.rendered)}`);
  }
  for (const [k, x] of [['refChain', c], ['refBridge', b]]) {
    if (key(o) !== key(x)) log(`NOTE: ADD results differ from ${k} (beyond MACs / veth names):\n  ours: ${key(o)}\n  ${k}: ${key(x)}`);
    const addr = (s) => s.replace(/\s+/g, ' ').split(' ').slice(2).join(' ');
    if (addr(o.podAddr) !== addr(x.podAddr)) log(`NOTE: pod eth0 differs: ours "${o.podAddr}" vs ${k} "${x.podAddr}"`);
    if (o.podRoutes.join('|') !== x.podRoutes.join('|')) log(`NOTE: pod routes differ: ours ${JSON.stringify(o.podRoutes)} vs ${k} ${JSON.stringify(x.podRoutes)}`);
  }
}

/** Every side handed out the same addresses (host-local's round-robin, seen from each). */
function sameSequences(ips) {
  const ref = ips.ours.join(',');
  return Object.fromEntries(SIDES.filter((k) => k !== 'ours').map((k) => [k, ips[k].join(',') === ref]));
}

const perSide = (f) => Object.fromEntries(SIDES.map((k) => [k, f(k)]));

async function sequential(sides) {
  log(`sequential: ${CFG.cycles} ADD+DEL cycles per side, interleaved`);
  const samples = perSide(() => ({ ADD: [], DEL: [] }));
  const ips = perSide(() => []);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CFG.cycles; i++) {
    await tick();
    for (const side of rotated(sides, i)) {
      const p = pod(side, 'seq');
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
      log(`  ${i + 1}/${CFG.cycles}  ADD median: ${SIDES.map((k) => `${k} ${median(samples[k].ADD)?.toFixed(1)} ms`).join(', ')}`);
    }
  }
  const match = sameSequences(ips);
  for (const [k, ok] of Object.entries(match)) if (!ok) log(`NOTE: sequential IP sequences differ: ours ${ips.ours.slice(0, 6).join(' ')}... ${k} ${ips[k].slice(0, 6).join(' ')}...`);
  R.sequential = {
    wallMs: round(elapsed(t0)),
    ipSequencesMatch: match,
    ipsHandedOut: ips,
    samples,
    ...perSide((k) => ({ ADD: summary(samples[k].ADD), DEL: summary(samples[k].DEL) })),
  };
  for (const side of sides) leakCheck('sequential', side, path.join(side.ipamDir, NET_NAME), [pod(side, 'seq')]);
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

async function burst(sides) {
  log(`burst: ${CFG.burst} pod namespaces per side, ${CFG.burstRounds} round(s) of ${CFG.burst} concurrent ADDs then DELs, one side at a time`);
  const pods = new Map(sides.map((side) => [side, Array.from({ length: CFG.burst }, (_, i) => pod(side, `b${i}`, { lo: false }))]));
  for (let r = 0; r < CFG.burstRounds; r++) {
    const order = rotated(sides, r);
    const ids = Array.from({ length: CFG.burst }, (_, i) => `${idBase}b${r}x${i}`);
    for (const side of order) await burstOnce(side, pods.get(side), 'ADD', ids, r);
    for (const side of order) await burstOnce(side, pods.get(side), 'DEL', ids, r);
    for (const side of sides) leakCheck(`burst#${r}`, side, path.join(side.ipamDir, NET_NAME), pods.get(side));
  }
}

async function rss(ours, chain, bridge, bin, bareBun, tool) {
  if (!tool) {
    log('peak RSS: no way to read ru_maxrss (no /usr/bin/time, no python3); skipped');
    R.rss = { tool: null };
    return;
  }
  log(`peak RSS: ${CFG.rssRuns} ADDs per variant via ${tool.name}`);
  const file = path.join(ours.dir, 'rss.out');
  const readKb = () => {
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    const kb = Number(lines[lines.length - 1].trim());
    return Number.isFinite(kb) ? kb : null;
  };
  // ru_maxrss of the waited-for process tree is its LARGEST process, not a sum: for the
  // reference chain that is the biggest of flannel, bridge and host-local.
  const variants = [
    { key: 'ours', side: ours, opts: {} },
    { key: 'refChain', side: chain, opts: {} },
    { key: 'refBridge', side: bridge, opts: {} },
    // Our bridge alone, fed the delegate config our flannel renders (for the breakdown).
    { key: 'oursBridgeOnly', side: ours, opts: { file: path.join(bin, 'bridge'), stdin: R.warmup.rendered.ours } },
  ];
  const kb = Object.fromEntries(variants.map((v) => [v.key, []]));
  for (let i = 0; i < CFG.rssRuns; i++) {
    for (const v of rotated(variants, i)) {
      await tick();
      const id = `${idBase}m${i}`;
      const p = pod(v.side, 'seq');
      fs.rmSync(file, { force: true });
      const a = call(v.side, 'ADD', p, id, { ...v.opts, wrap: tool.wrap(file) });
      if (checked(a, 'rss', v.side.key, 'ADD', id, v.key)) {
        try {
          kb[v.key].push(readKb());
        } catch (err) {
          recordError('rss', v.side.key, 'ADD', id, `cannot read ${tool.name} output: ${err.message}`, v.key);
        }
      }
      checked(call(v.side, 'DEL', p, id, v.opts), 'rss', v.side.key, 'DEL', id, v.key);
    }
  }
  // Runtimes doing nothing, for scale.
  const bare = [
    { key: 'nodeE0', file: process.execPath, args: ['-e', '0'] },
    ...(bareBun ? [{ key: 'bareBun', file: bareBun, args: [] }] : []),
  ];
  for (const b of bare) {
    kb[b.key] = [];
    for (let i = 0; i < Math.min(3, CFG.rssRuns); i++) {
      fs.rmSync(file, { force: true });
      const r = invokeSync({ node: null, file: b.file, args: b.args, env: { PATH: process.env.PATH }, wrap: tool.wrap(file) });
      if (r.ok) kb[b.key].push(readKb());
      else recordError('rss', 'other', '', '', failureText(r), b.key);
    }
  }
  fs.rmSync(file, { force: true });
  R.rss = { tool: tool.name, unit: 'KiB', samples: kb, max: Object.fromEntries(Object.entries(kb).map(([k, v]) => [k, v.length ? Math.max(...v) : null])) };
  for (const side of [ours, chain, bridge]) leakCheck('rss', side, path.join(side.ipamDir, NET_NAME), [pod(side, 'seq')]);
}

async function floor(ours, chain, bin, bareBun) {
  log(`process floor: ${CFG.floorRuns} runs of each probe, rotated`);
  const versionIn = JSON.stringify({ cniVersion: CNI_VERSION });
  const version = (key, side, file, cniPath) => ({ key, side, file, env: cniEnv({ command: 'VERSION', cniPath }), stdin: versionIn });
  const probes = [
    version('oursFlannelVersion', 'ours', path.join(bin, 'flannel'), bin),
    version('oursBridgeVersion', 'ours', path.join(bin, 'bridge'), bin),
    version('refFlannelVersion', 'refChain', path.join(chain.cniPath, 'flannel'), chain.cniPath),
    version('refBridgeVersion', 'refBridge', REF_BRIDGE, REF_DIR),
    version('refHostLocalVersion', 'refBridge', REF_HOST_LOCAL, REF_DIR),
    { key: 'nodeE0', side: 'other', file: process.execPath, args: ['-e', '0'], env: { PATH: process.env.PATH } },
    ...(bareBun ? [{ key: 'bareBun', side: 'other', file: bareBun, env: { PATH: process.env.PATH } }] : []),
    { key: 'ipNetnsExecTrue', side: 'other', node: ours.node, file: '/bin/true', env: { PATH: process.env.PATH } },
  ];
  const samples = Object.fromEntries(probes.map((p) => [p.key, []]));
  const outputs = {};
  for (let i = 0; i < CFG.floorRuns; i++) {
    await tick();
    for (const p of rotated(probes, i)) {
      const r = invokeSync({ node: p.node ?? null, file: p.file, args: p.args, env: p.env, stdin: p.stdin ?? '' });
      if (!r.ok) recordError('floor', p.side, 'VERSION', '', failureText(r), p.key);
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

async function ipamScale(ours, chain, bridge) {
  const sides = [ours, chain, bridge];
  log(`IPAM at scale: ${CFG.ipamRuns} ADD+DEL per side and store size`);
  for (const sc of SCENARIOS()) {
    await tick();
    const t0 = process.hrtime.bigint();
    const st = new Map();
    for (const side of sides) {
      const data = path.join(side.dir, `ipam-${sc.key}`);
      const net = path.join(data, NET_NAME);
      const keep = prefill(net, sc.subnet, sc.fill);
      let conf = '';
      if (side.flannelDir) {
        const subnetFile = path.join(side.dir, `subnet-${sc.key}.env`);
        writeSubnetEnv(subnetFile, '10.240.0.0/12', sc.gateway);
        conf = flannelConf(side, { subnetFile, ipamDataDir: data, bridge: sc.bridge });
      }
      st.set(side, { data, net, keep, conf });
    }

    // Warm-up (creates the scenario's bridge on each side); the bridge-only side's config
    // is what the reference flannel rendered for this scenario.
    const wid = `${idBase}i${sc.key}w`;
    let ok = true;
    let rendered;
    for (const side of sides) {
      const s = st.get(side);
      const p = pod(side, 'seq');
      if (side === bridge) s.conf = refConfFrom(rendered, s.data, sc.bridge);
      const a = call(side, 'ADD', p, wid, { stdin: s.conf });
      if (!checked(a, `ipam:${sc.key}`, side.key, 'ADD', wid)) {
        ok = false;
        break;
      }
      if (side === chain) rendered = readRendered(chain, wid);
      checked(call(side, 'DEL', p, wid, { stdin: s.conf }), `ipam:${sc.key}`, side.key, 'DEL', wid);
    }
    if (!ok) {
      log(`  skipping ${sc.label}: a warm-up ADD failed`);
      for (const s of st.values()) fs.rmSync(s.data, { recursive: true, force: true });
      continue;
    }

    const samples = perSide(() => ({ ADD: [], DEL: [] }));
    const ips = perSide(() => []);
    for (let i = 0; i < CFG.ipamRuns; i++) {
      await tick();
      for (const side of rotated(sides, i)) {
        const { conf } = st.get(side);
        const p = pod(side, 'seq');
        const id = `${idBase}i${sc.key}${i}`;
        const a = call(side, 'ADD', p, id, { stdin: conf });
        if (checked(a, `ipam:${sc.key}`, side.key, 'ADD', id)) {
          samples[side.key].ADD.push(a.ms);
          ips[side.key].push(a.json.ips[0].address);
        }
        const d = call(side, 'DEL', p, id, { stdin: conf });
        if (checked(d, `ipam:${sc.key}`, side.key, 'DEL', id)) samples[side.key].DEL.push(d.ms);
      }
    }
    const match = sameSequences(ips);
    for (const [k, same] of Object.entries(match)) if (!same) log(`NOTE: ${sc.label}: IP sequences differ: ours ${ips.ours.join(' ')} ${k} ${ips[k].join(' ')}`);
    R.ipam[sc.key] = {
      label: sc.label,
      ipSequencesMatch: match,
      subnet: sc.subnet,
      reserved: sc.fill,
      refChainRendered: rendered,
      samples,
      ipsHandedOut: ips,
      ...perSide((k) => ({ ADD: summary(samples[k].ADD), DEL: summary(samples[k].DEL) })),
    };
    log(`  ${sc.label}: ADD median ${SIDES.map((k) => `${k} ${R.ipam[sc.key][k].ADD.median} ms`).join(', ')} (${(elapsed(t0) / 1000).toFixed(1)} s)`);
    for (const side of sides) {
      const s = st.get(side);
      leakCheck(`ipam:${sc.key}`, side, s.net, [pod(side, 'seq')], s.keep);
      // The big stores are only needed for this scenario.
      fs.rmSync(s.data, { recursive: true, force: true });
    }
  }
}

// ---------------------------------------------------------------- report
const COLUMNS = [
  { key: 'refChain', head: 'ref chain', ratioHead: 'ours/chain' },
  { key: 'refBridge', head: 'ref bridge+h-l', ratioHead: 'ours/b+h-l' },
];

function table() {
  const rows = [];
  const row = (label, ours, ref, unit, note, extra = {}) => rows.push({ label, ours: ours ?? null, ref: { refChain: ref.refChain ?? null, refBridge: ref.refBridge ?? null }, unit, note, ...extra });
  const both = (f) => ({ refChain: f('refChain'), refBridge: f('refBridge') });

  const S = R.sequential;
  rows.push({ section: `sequential: ${CFG.cycles} ADD+DEL cycles, one pod` });
  row('ADD median', S.ours?.ADD.median, both((k) => S[k]?.ADD.median), 'ms');
  row('ADD p90', S.ours?.ADD.p90, both((k) => S[k]?.ADD.p90), 'ms');
  row('DEL median', S.ours?.DEL.median, both((k) => S[k]?.DEL.median), 'ms');
  row('DEL p90', S.ours?.DEL.p90, both((k) => S[k]?.DEL.p90), 'ms');

  const b = (side, cmd, f) => median(R.burst.filter((e) => e.side === side && e.command === cmd).map(f));
  rows.push({ section: `burst: ${CFG.burst} pods at once, median of ${CFG.burstRounds} round(s)` });
  row(`${CFG.burst} ADDs, wall`, b('ours', 'ADD', (e) => e.wallMs), both((k) => b(k, 'ADD', (e) => e.wallMs)), 'ms');
  row(`${CFG.burst} DELs, wall`, b('ours', 'DEL', (e) => e.wallMs), both((k) => b(k, 'DEL', (e) => e.wallMs)), 'ms');
  row('slowest single ADD in burst', b('ours', 'ADD', (e) => e.perCall.max), both((k) => b(k, 'ADD', (e) => e.perCall.max)), 'ms');

  if (R.rss.tool) {
    const mb = (k) => (R.rss.max[k] === null || R.rss.max[k] === undefined ? null : R.rss.max[k] / 1024);
    rows.push({ section: `peak RSS of one ADD (max of ${CFG.rssRuns}; largest process of the tree, ${R.rss.tool})` });
    row('ADD', mb('ours'), both(mb), 'MB');
    row('our bridge alone', mb('oursBridgeOnly'), { refBridge: mb('refBridge') }, 'MB');
    row('node -e 0', mb('nodeE0'), {}, 'MB', 'for scale');
    row('bare Bun executable', mb('bareBun'), {}, 'MB', 'for scale');
  }

  const F = R.floor.summary ?? {};
  const f = (k) => F[k]?.median ?? null;
  rows.push({ section: `process floor: CNI_COMMAND=VERSION, run directly (median of ${CFG.floorRuns})` });
  row('flannel VERSION', f('oursFlannelVersion'), { refChain: f('refFlannelVersion') }, 'ms', 'ref: flannel 0.9.0');
  row('bridge VERSION', f('oursBridgeVersion'), both(() => f('refBridgeVersion')), 'ms');
  row('host-local VERSION', null, both(() => f('refHostLocalVersion')), 'ms', 'ours: built into bridge');
  row('node -e 0', f('nodeE0'), {}, 'ms', 'bare Node start');
  row('bare Bun executable', f('bareBun'), {}, 'ms', 'bun build --compile --bytecode of an empty file');
  row('ip netns exec NODE /bin/true', f('ipNetnsExecTrue'), {}, 'ms', 'included in every timed ADD/DEL');
  // Our VERSION against the runtime it starts on: how much of the floor is our code.
  const over = (a, b_) => (a !== null && b_ !== null && b_ > 0 ? a / b_ : null);
  const runtime = R.meta.buildKind === 'standalone' ? ['bareBun', 'bare Bun'] : ['nodeE0', 'node -e 0'];
  row(`flannel VERSION / ${runtime[1]}`, over(f('oursFlannelVersion'), f(runtime[0])), {}, 'x', `${R.meta.buildKind} build: the runtime's share of the floor`, { noRatio: true });
  row(`flannel VERSION - ${runtime[1]}`, f('oursFlannelVersion') !== null && f(runtime[0]) !== null ? f('oursFlannelVersion') - f(runtime[0]) : null, {}, 'ms', 'what our code adds to the runtime start', { noRatio: true });

  rows.push({ section: `IPAM at scale (median of ${CFG.ipamRuns})` });
  for (const cmd of ['ADD', 'DEL']) {
    for (const sc of SCENARIOS()) {
      const x = R.ipam[sc.key];
      row(`${cmd}, ${sc.label}`, x?.ours[cmd].median, both((k) => x?.[k][cmd].median), 'ms');
    }
  }
  const base = R.ipam.empty24;
  const big = R.ipam.big16;
  if (base && big) {
    const d = (s, c) => (big[s][c].median !== null && base[s][c].median !== null ? round(big[s][c].median - base[s][c].median) : null);
    for (const cmd of ['ADD', 'DEL']) row(`${cmd} cost of ${CFG.ipamBig} reservations`, d('ours', cmd), both((k) => d(k, cmd)), 'ms', 'big16 minus empty24');
  }

  const errs = (side) => R.errors.filter((e) => e.side === side).length;
  const leaks = (side) => R.leakChecks.filter((e) => e.side === side).reduce((n, e) => n + totalLeaks(e), 0);
  rows.push({ section: 'correctness' });
  row('plugin errors', errs('ours'), both(errs), undefined, errs('other') ? `${errs('other')} in probes outside the sides` : undefined, { noRatio: true });
  row(`leaks (veth/IP/scratch/pod) over ${R.leakChecks.length / SIDES.length} checks`, leaks('ours'), both(leaks), undefined, undefined, { noRatio: true });
  return renderTable(rows, COLUMNS);
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

  // The reference chain's CNI_PATH. The apt download (lists, .deb, unpacked tree) is
  // deleted as soon as flannel is copied out; tempDir's cleanup is the backstop.
  const aptDir = tempDir(`${PREFIX}apt-`);
  const refFlannel = fetchReferenceFlannel(aptDir);
  const chainDir = assembleReferenceChain(path.join(scratchRoot, 'ref'), { flannel: refFlannel.file, bridge: REF_BRIDGE, hostLocal: REF_HOST_LOCAL });
  fs.rmSync(aptDir, { recursive: true, force: true });

  // The floor under the standalone build, built fresh so it is the same Bun as ours.
  let bare = null;
  try {
    bare = buildBareBun(path.join(scratchRoot, 'bare'));
  } catch (err) {
    recordError('setup', 'other', 'build', '', `bare Bun executable: ${err.message}`, 'bareBun');
  }

  R.meta = {
    startedAt: new Date().toISOString(),
    host: os.hostname(),
    kernel: os.release(),
    cpus: os.cpus().length,
    node: process.version,
    loadavgStart: os.loadavg().map((x) => round(x, 2)),
    dist: path.relative(root, DIST),
    buildKind: buildKind(path.join(bin, 'bridge')),
    ourBuild: builds.bridgeBuild,
    inProcessDelegation: builds.bridgeBuild !== null && builds.bridgeBuild === builds.flannelBuild,
    referencePackage: sh(['dpkg-query', '-W', '-f', '${Version}', 'containernetworking-plugins'], { allowFail: true }).stdout.trim() || null,
    referenceDir: REF_DIR,
    referenceFlannel: { package: `containernetworking-plugins ${refFlannel.version} (Debian bullseye)`, debSha256: refFlannel.debSha256 },
    referenceChainSha256: Object.fromEntries(['flannel', 'bridge', 'host-local'].map((n) => [n, sha256(path.join(chainDir, n))])),
    bareBun: bare ? { bun: bare.bunVersion } : null,
    rssTool: tool?.name ?? null,
    tag,
  };
  log(`mode ${CFG.mode}; our ${R.meta.buildKind} build ${builds.bridgeBuild} (copied to ${bin}); reference bridge/host-local ${R.meta.referencePackage}, flannel ${refFlannel.version}; load ${R.meta.loadavgStart.join(' ')}`);

  const ours = makeSide('ours', 'ours', 'ours: flannel -> bridge (in-process)', { flannel: true });
  const chain = makeSide('refChain', 'chain', 'reference: flannel -> bridge -> host-local', { flannel: true });
  const bridge = makeSide('refBridge', 'bridge', 'reference: bridge -> host-local', { flannel: false });
  const sides = [ours, chain, bridge];
  ours.file = path.join(bin, 'flannel');
  ours.cniPath = bin;
  chain.file = path.join(chainDir, 'flannel');
  chain.cniPath = chainDir;
  bridge.file = REF_BRIDGE;
  bridge.cniPath = REF_DIR;
  for (const side of [ours, chain]) {
    const subnetFile = path.join(side.dir, 'subnet.env');
    writeSubnetEnv(subnetFile, '10.244.0.0/16', '10.244.1.1/24');
    side.conf = flannelConf(side, { subnetFile, ipamDataDir: side.ipamDir });
  }

  let failure;
  try {
    await warmup(ours, chain, bridge);
    await sequential(sides);
    await burst(sides);
    await rss(ours, chain, bridge, bin, bare?.file, tool);
    await floor(ours, chain, bin, bare?.file);
    await ipamScale(ours, chain, bridge);
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
  const W = R.warmup;
  const legend = [
    `ours:           our flannel -> bridge (host-local built in), ${R.meta.dist}/ (${R.meta.buildKind}), build ${R.meta.ourBuild}${R.meta.inProcessDelegation ? ', bridge run in-process' : ''}`,
    `ref chain:      reference flannel ${refFlannel.version} -> bridge -> host-local ${R.meta.referencePackage}: what a kube-flannel node runs (like for like)`,
    `ref bridge+h-l: reference bridge -> host-local alone, fed the reference flannel's delegate config (harsher: no flannel process on that side)`,
    `every side: the same kube-flannel config (cniVersion ${CNI_VERSION}), its own node namespace, cni0, store and scratch dir; calls via ip netns exec`,
  ];
  process.stdout.write(`\n${legend.join('\n')}\n\n${text}\n\n`);
  const yes = (x) => (x === undefined ? '—' : x ? 'yes' : 'NO');
  const notes = [
    `mode ${CFG.mode}, ${R.meta.totalSeconds} s, load ${R.meta.loadavgStart.join('/')} -> ${R.meta.loadavgEnd.join('/')}, ${R.meta.cpus} CPUs`,
    `delegate config our flannel renders vs the reference flannel's: ${W.renderedSame ? 'identical' : W.renderedEquivalent ? 'equivalent (0.9.0 writes ipam.subnet where newer flannels write ipam.ranges)' : W.rendered ? 'DIFFERENT (see JSON: warmup.rendered)' : '—'}`,
    `warm-up ADD results equivalent to ref chain: ${yes(W.resultsEquivalent?.refChain)}, to ref bridge+h-l: ${yes(W.resultsEquivalent?.refBridge)}${W.resultTopLevelKeys && new Set(Object.values(W.resultTopLevelKeys)).size > 1 ? ` (top-level keys: ${Object.entries(W.resultTopLevelKeys).map(([k, v]) => `${k} ${v}`).join('; ')})` : ''}`,
    `same IP allocation order as ref chain / ref bridge+h-l: sequential ${Object.values(R.sequential.ipSequencesMatch ?? {}).map(yes).join('/') || '—'}; IPAM scenarios ${Object.values(R.ipam).map((x) => Object.values(x.ipSequencesMatch).map(yes).join('/')).join(', ') || '—'}`,
    `raw numbers: ${path.relative(process.cwd(), CFG.out) || CFG.out}`,
  ];
  if (R.errors.length) notes.push(`${R.errors.length} error(s); first: ${R.errors[0].phase} ${R.errors[0].what} ${R.errors[0].command}: ${R.errors[0].text}`);
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
