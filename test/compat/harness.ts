// Side-by-side harness: the same CNI calls run through the reference Go plugins
// (bridge + host-local from /usr/lib/cni) and through our dist/bridge, each in its
// own node namespace, and the observable state of both read back in a form that can
// be compared with toEqual (random names and MACs replaced by placeholders).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Netns, distDir, sh, uniqueName, type CniEnv, type PluginRun } from '../helpers/ns';

export const REF_CNI_PATH = '/usr/lib/cni';
export const REF_BRIDGE = path.join(REF_CNI_PATH, 'bridge');
export const OUR_BRIDGE = path.join(distDir, 'bridge');
export const haveReference = fs.existsSync(REF_BRIDGE) && fs.existsSync(path.join(REF_CNI_PATH, 'host-local'));

/** Every namespace / directory created by this run, so cleanup works even after a failed assertion. */
const RUN_TAG = randomBytes(2).toString('hex');
export const NS_PREFIX = `cnic-${RUN_TAG}-`;
const liveNamespaces = new Set<Netns>();
const liveDirs = new Set<string>();

/** A fresh namespace; `lo` is left DOWN unless asked (a runtime's netns starts that way, and the loopback plugin is not ours to play). */
export function newNetns(opts: { loUp?: boolean } = {}): Netns {
  const ns = new Netns(uniqueName(NS_PREFIX));
  sh(['ip', 'netns', 'add', ns.name]);
  liveNamespaces.add(ns);
  if (opts.loUp) sh(['ip', '-n', ns.name, 'link', 'set', 'lo', 'up']);
  return ns;
}

export function newTempDir(): string {
  const d = fs.mkdtempSync(path.join('/tmp', 'cnic-ipam-'));
  liveDirs.add(d);
  return d;
}

/** Remove everything created so far (afterEach); the final sweep also catches leftovers by prefix (afterAll). */
export function cleanupAll(sweep = false): void {
  for (const ns of liveNamespaces) ns.destroy();
  liveNamespaces.clear();
  for (const d of liveDirs) fs.rmSync(d, { recursive: true, force: true });
  liveDirs.clear();
  if (sweep) {
    const names = sh(['ip', 'netns', 'list'], { allowFail: true }).stdout.split('\n').map((l) => l.split(' ')[0]);
    for (const n of names) if (n.startsWith(NS_PREFIX)) sh(['ip', 'netns', 'del', n], { allowFail: true });
  }
}

function cniEnv(env: CniEnv, cniPath: string): Record<string, string> {
  const e: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: env.command, CNI_PATH: env.path ?? cniPath };
  if (env.containerId !== undefined) e.CNI_CONTAINERID = env.containerId;
  if (env.netns !== undefined) e.CNI_NETNS = env.netns;
  if (env.ifName !== undefined) e.CNI_IFNAME = env.ifName;
  if (env.args !== undefined) e.CNI_ARGS = env.args;
  return Object.assign(e, env.extra ?? {});
}

function finish(status: number | null, stdout: string, stderr: string): PluginRun {
  let json: unknown;
  try {
    json = stdout ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { status: status ?? -1, stdout, stderr, json };
}

const cniPathFor = (bin: string) => (bin.startsWith(distDir) ? distDir : path.dirname(bin));

/** runPlugin for an arbitrary binary: run `bin` inside `node` as a runtime would. */
export function runBinary(node: Netns, bin: string, env: CniEnv, stdin: string | object): PluginRun {
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
  const r = spawnSync('ip', ['netns', 'exec', node.name, bin], { input, env: cniEnv(env, cniPathFor(bin)), encoding: 'utf8', timeout: 20_000 });
  return finish(r.status, r.stdout ?? '', r.stderr ?? '');
}

/** The same, without blocking, so the two implementations (or several pods) can run at once. */
export function runBinaryAsync(node: Netns, bin: string, env: CniEnv, stdin: string | object): Promise<PluginRun> {
  const input = typeof stdin === 'string' ? stdin : JSON.stringify(stdin);
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', node.name, bin], { env: cniEnv(env, cniPathFor(bin)), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => resolve(finish(-1, out, err + String(e))));
    child.on('close', (code) => resolve(finish(code, out, err)));
    child.stdin.end(input);
  });
}

export function supportedVersions(bin: string): string[] {
  const r = spawnSync(bin, [], { input: '{"cniVersion":"1.0.0"}', env: { PATH: process.env.PATH ?? '', CNI_COMMAND: 'VERSION' }, encoding: 'utf8' });
  try {
    return (JSON.parse(r.stdout).supportedVersions as string[]) ?? [];
  } catch {
    return [];
  }
}

export type Conf = Record<string, unknown>;
export interface RunOpts {
  ifName?: string;
  netns?: string;
  /** CNI_ARGS */
  args?: string;
  /** Overrides of CNI_CONTAINERID / CNI_IFNAME / CNI_NETNS; undefined leaves the variable out. */
  env?: Partial<Record<'CNI_CONTAINERID' | 'CNI_IFNAME' | 'CNI_NETNS', string | undefined>>;
}
export type ConfFn = (dataDir: string, cniVersion: string) => Conf | string;

/** One implementation with its own node namespace, pod namespaces and ipam dataDir. */
export class Side {
  readonly node: Netns;
  readonly dataDir: string;
  readonly pods = new Map<string, Netns>();
  constructor(
    readonly label: 'ref' | 'ours',
    readonly bin: string,
    shared?: { node: Netns; dataDir: string; pods: Map<string, Netns> },
  ) {
    this.node = shared?.node ?? newNetns({ loUp: true });
    this.dataDir = shared?.dataDir ?? newTempDir();
    if (shared) this.pods = shared.pods;
  }
  pod(id: string): Netns {
    let p = this.pods.get(id);
    if (!p) {
      p = newNetns();
      this.pods.set(id, p);
    }
    return p;
  }
  env(command: string, id: string, opts: RunOpts = {}): CniEnv {
    const e: CniEnv = { command, containerId: id, ifName: opts.ifName ?? 'eth0', netns: opts.netns ?? this.pod(id).path, args: opts.args };
    if (opts.env) {
      // Explicit overrides; undefined removes the variable.
      const all = { CNI_CONTAINERID: e.containerId, CNI_IFNAME: e.ifName, CNI_NETNS: e.netns, ...opts.env };
      return { command, containerId: all.CNI_CONTAINERID, ifName: all.CNI_IFNAME, netns: all.CNI_NETNS, args: opts.args };
    }
    return e;
  }
  run(command: string, id: string, conf: Conf | string, opts: RunOpts = {}): PluginRun {
    return runBinary(this.node, this.bin, this.env(command, id, opts), conf);
  }
  runAsync(command: string, id: string, conf: Conf | string, opts: RunOpts = {}): Promise<PluginRun> {
    return runBinaryAsync(this.node, this.bin, this.env(command, id, opts), conf);
  }
  /** Side-specific strings (pod netns paths, the dataDir, namespace names) → placeholders. */
  scrub(s: string): string {
    let out = s.split(this.dataDir).join('<dataDir>');
    for (const [id, ns] of this.pods) out = out.split(ns.path).join(`<netns:${id}>`).split(ns.name).join(`<ns:${id}>`);
    return out.split(this.node.name).join('<node>').split(`[${cniPathFor(this.bin)}]`).join('[<CNI_PATH>]');
  }
}

// ---------------------------------------------------------------------------------------------
// Normalising: random veth names, MACs and MAC-derived link-local addresses → stable placeholders
// numbered in order of first appearance, so "the bridge has the same MAC as a port" stays visible.

export class Normaliser {
  private readonly maps = new Map<string, Map<string, string>>();
  constructor(readonly scrub: (s: string) => string = (s) => s) {}
  /** The placeholder for `value`; a new one is named `<role>` when a role is given, else numbered. */
  token(kind: string, value: string, role?: string): string {
    let m = this.maps.get(kind);
    if (!m) this.maps.set(kind, (m = new Map()));
    let t = m.get(value);
    if (!t) m.set(value, (t = role ? `<${kind}:${role}>` : `<${kind}${m.size}>`));
    return t;
  }
  /**
   * Name MACs and veth names after what they belong to, reading the kernel: first the
   * bridge, then per pod its interface and the host end. A MAC already named keeps its
   * first name, so a port sharing the bridge's MAC shows up as `<mac:bridge>`.
   */
  learn(side: { node: Netns; pods: Map<string, Netns> }, bridge: string, podIds: string[], ifName = 'eth0'): void {
    const nodeLinks = ipJson(side.node, ['link', 'show']);
    const br = nodeLinks.find((l) => l.ifname === bridge);
    if (br?.address) this.token('mac', br.address, 'bridge');
    for (const id of podIds) {
      const p = side.pods.get(id);
      const link = p && ipJson(p, ['link', 'show', 'dev', ifName])[0];
      if (!link) continue;
      this.token('mac', link.address, `pod:${id}`);
      const host = nodeLinks.find((l) => l.ifindex === link.link_index);
      if (host) {
        this.token('mac', host.address, `veth:${id}`);
        if (/^veth[0-9a-f]{8}$/.test(host.ifname)) this.token('veth', host.ifname, id);
      }
    }
  }
  mac(v: string): string {
    return this.token('mac', v.toLowerCase());
  }
  ifname(v: string): string {
    return /^veth[0-9a-f]{8}$/.test(v) ? this.token('veth', v) : v;
  }
  /** fe80::/64 EUI-64 address → ll(<macN>) when it derives from a MAC, else a placeholder. */
  linkLocal(addr: string): string {
    const mac = eui64Mac(addr);
    return mac ? `ll(${this.mac(mac)})` : this.token('ll', addr);
  }
}

function expandV6(a: string): number[] | undefined {
  const parts = a.split('::');
  if (parts.length > 2) return undefined;
  const head = parts[0] ? parts[0].split(':') : [];
  const tail = parts.length === 2 && parts[1] ? parts[1].split(':') : [];
  const groups = parts.length === 2 ? [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  return groups.map((g) => parseInt(g, 16));
}

function eui64Mac(addr: string): string | undefined {
  const g = expandV6(addr);
  if (!g || g.length !== 8) return undefined;
  const b = g.slice(4).flatMap((x) => [x >> 8, x & 0xff]);
  if (b[3] !== 0xff || b[4] !== 0xfe) return undefined;
  return [b[0] ^ 2, b[1], b[2], b[5], b[6], b[7]].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A plugin's stdout (result or error) with placeholders. */
export function normaliseOutput(run: PluginRun, n: Normaliser): Json {
  const scrubAll = (v: Json): Json =>
    typeof v === 'string' ? n.scrub(v) : Array.isArray(v) ? v.map(scrubAll) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrubAll(x)])) : v;
  const j = run.json === undefined ? (run.stdout === '' ? '' : { unparsable: n.scrub(run.stdout) }) : scrubAll(run.json);
  if (j && typeof j === 'object' && Array.isArray(j.interfaces)) {
    for (const i of j.interfaces) {
      if (typeof i.name === 'string') i.name = n.ifname(i.name);
      if (typeof i.mac === 'string') i.mac = n.mac(i.mac);
    }
  }
  return { status: run.status, out: j };
}

// ---------------------------------------------------------------------------------------------
// Kernel state

const sysctlScript = 'for p in "$@"; do if [ -e "/proc/sys/$p" ]; then printf "%s=%s\\n" "$p" "$(cat "/proc/sys/$p")"; else printf "%s=ABSENT\\n" "$p"; fi; done';

export function sysctls(ns: Netns, keys: string[]): Record<string, string> {
  const out = ns.exec(['sh', '-c', sysctlScript, 'sh', ...keys]).stdout;
  return Object.fromEntries(out.trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function ipJson(ns: Netns, args: string[]): Json[] {
  const r = sh(['ip', '-j', '-n', ns.name, ...args], { allowFail: true });
  if (r.status !== 0) return [];
  return JSON.parse(r.stdout || '[]');
}

const DROP_LINK_KEYS = new Set(['ifindex', 'link_index', 'link_netnsid', 'link', 'stats', 'stats64', 'master_index']);

function dropKeys(o: Json, pred: (k: string) => boolean): Json {
  if (!o || typeof o !== 'object') return o;
  for (const k of Object.keys(o)) if (pred(k)) delete o[k];
  return o;
}

/** `ip -j -d link` entry without indexes, timers and MAC-derived bridge ids; names and MACs normalised. */
function normLink(l: Json, n: Normaliser): Json {
  const o = structuredClone(l);
  dropKeys(o, (k) => DROP_LINK_KEYS.has(k));
  o.ifname = n.ifname(o.ifname);
  if (o.address) o.address = n.mac(o.address);
  const timerish = (k: string) => k.endsWith('_timer') || k === 'bridge_id' || k === 'root_id' || k === 'designated_root' || k === 'designated_bridge';
  if (o.linkinfo) {
    dropKeys(o.linkinfo.info_data, timerish);
    dropKeys(o.linkinfo.info_slave_data, timerish);
  }
  return o;
}

/** addr_info with link-local addresses expressed through the MAC they derive from. */
function normAddrs(addrInfo: Json[] | undefined, n: Normaliser, opts: { dropTentative?: boolean } = {}): Json[] {
  return (addrInfo ?? []).map((a0) => {
    const a = structuredClone(a0);
    if (a.scope === 'link' && a.family === 'inet6') a.local = n.linkLocal(a.local);
    // DAD on the node side runs in the background (about 1 s); whether it is still running is timing.
    if (opts.dropTentative) delete a.tentative;
    return a;
  });
}

function renameKeys(o: Record<string, string>, from: string, to: string): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.split(from).join(to), v]));
}

export interface PodState {
  link: Json;
  addrs: Json[];
  routes4: Json[];
  routes6: Json[];
  /** IPv4 local table (local and broadcast routes of the pod's addresses, and lo's once it is up). */
  local4: Json[];
  lo: Json;
  sysctl: Record<string, string>;
  hostVeth: Json;
  hostVethSysctl: Record<string, string>;
}

export interface State {
  pods: Record<string, PodState | 'no such interface'>;
  bridge: Json;
  bridgeAddrs: Json[];
  bridgeAddrAssignType: string;
  nodeSysctl: Record<string, string>;
  iptables: { nat4: string; nat6: string; filter4: string; filter6: string };
  otherNodeLinks: string[];
}

const POD_SYSCTLS = (ifName: string) => [
  `net/ipv4/conf/${ifName}/arp_notify`,
  `net/ipv6/conf/${ifName}/accept_dad`,
  `net/ipv6/conf/${ifName}/enhanced_dad`,
  `net/ipv6/conf/${ifName}/disable_ipv6`,
  `net/ipv6/conf/${ifName}/keep_addr_on_down`,
  `net/ipv6/conf/lo/disable_ipv6`,
];

/** Everything both implementations can change on the node and in the pods, normalised. */
export function kernelState(side: Side, bridge: string, n: Normaliser, podIds: string[] = [...side.pods.keys()], ifName = 'eth0'): State {
  n.learn(side, bridge, podIds, ifName);
  const nodeLinks = ipJson(side.node, ['-d', 'link', 'show']);
  const pods: State['pods'] = {};
  const vethNames: string[] = [];
  for (const id of podIds) {
    const p = side.pods.get(id);
    const link = p && ipJson(p, ['-d', 'link', 'show', 'dev', ifName])[0];
    if (!p || !link) {
      pods[id] = 'no such interface';
      continue;
    }
    const hostRaw = nodeLinks.find((l) => l.ifindex === link.link_index);
    if (hostRaw) vethNames.push(hostRaw.ifname);
    const linkN = normLink(link, n);
    pods[id] = {
      link: linkN,
      addrs: normAddrs(ipJson(p, ['addr', 'show', 'dev', ifName])[0]?.addr_info, n),
      routes4: ipJson(p, ['-4', 'route', 'show', 'table', 'main']),
      routes6: ipJson(p, ['-6', 'route', 'show', 'table', 'main']),
      local4: ipJson(p, ['-4', 'route', 'show', 'table', 'local']),
      lo: (({ flags, operstate }) => ({ flags, operstate }))(ipJson(p, ['link', 'show', 'dev', 'lo'])[0] ?? {}),
      sysctl: sysctls(p, POD_SYSCTLS(ifName)),
      hostVeth: hostRaw ? normLink(hostRaw, n) : 'missing',
      hostVethSysctl: hostRaw ? renameKeys(sysctls(side.node, [`net/ipv6/conf/${hostRaw.ifname}/accept_ra`, `net/ipv6/conf/${hostRaw.ifname}/disable_ipv6`]), hostRaw.ifname, n.ifname(hostRaw.ifname)) : {},
    };
  }
  const brRaw = nodeLinks.find((l) => l.ifname === bridge);
  const br = brRaw ? normLink(brRaw, n) : 'missing';
  if (typeof br === 'object') {
    // Carrier follows the ports through linkwatch, up to a second late after the last port goes:
    // timing, not state. The ports themselves are compared through the pods and otherNodeLinks.
    delete br.operstate;
    br.flags = (br.flags as string[]).filter((f) => f !== 'LOWER_UP' && f !== 'NO-CARRIER');
  }
  const nodeSysctl = sysctls(side.node, ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding', `net/ipv6/conf/${bridge}/accept_ra`, `net/ipv6/conf/${bridge}/disable_ipv6`, `net/ipv6/conf/${bridge}/forwarding`]);
  const ipt = (bin: string, table: string) => side.node.exec([bin, '-w', '-t', table, '-S']).stdout;
  return {
    pods,
    bridge: br,
    bridgeAddrs: brRaw ? normAddrs(ipJson(side.node, ['addr', 'show', 'dev', bridge])[0]?.addr_info, n, { dropTentative: true }) : [],
    bridgeAddrAssignType: brRaw ? side.node.exec(['cat', `/sys/class/net/${bridge}/addr_assign_type`], { allowFail: true }).stdout.trim() : '',
    nodeSysctl,
    iptables: { nat4: ipt('iptables', 'nat'), nat6: ipt('ip6tables', 'nat'), filter4: ipt('iptables', 'filter'), filter6: ipt('ip6tables', 'filter') },
    // Host veths not belonging to a listed pod (e.g. left behind by a failed ADD or a DEL).
    otherNodeLinks: nodeLinks.filter((l) => l.ifname !== 'lo' && l.ifname !== bridge && !vethNames.includes(l.ifname)).map((l) => `${l.linkinfo?.info_kind ?? '?'}:${n.ifname(l.ifname)}`),
  };
}

// ---------------------------------------------------------------------------------------------
// IPAM files

export interface IpamFile {
  name: string;
  content: string;
  mode: number;
}
export interface IpamState {
  dirMode: number | 'missing';
  files: IpamFile[];
}

export function ipamState(dataDir: string, network: string): IpamState {
  const dir = path.join(dataDir, network);
  if (!fs.existsSync(dir)) return { dirMode: 'missing', files: [] };
  // boot_id and bridge_gateways are our documented records (lib/ipam/boot.ts,
  // plugins/bridge/gateway.ts), which the reference ignores; the rest must match byte for byte.
  const files = fs
    .readdirSync(dir)
    .filter((name) => name !== 'boot_id' && name !== 'bridge_gateways')
    .sort()
    .map((name) => {
      const p = path.join(dir, name);
      const st = fs.statSync(p);
      return { name, content: st.isFile() ? fs.readFileSync(p, 'latin1') : `<${st.isDirectory() ? 'dir' : 'other'}>`, mode: st.mode & 0o7777 };
    });
  return { dirMode: fs.statSync(dir).mode & 0o7777, files };
}

export const isIpFile = (name: string) => name !== 'lock' && !name.startsWith('last_reserved_ip.');
