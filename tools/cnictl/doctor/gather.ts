// The one part of doctor that reads the node: files, the kernel through our own
// netlink code, sysctls, and `iptables -S` through lib/exec.ts (never a shell, never
// `ip`). It only reads: no lock is taken and nothing is written or removed, so it is
// safe while the runtime adds and deletes pods. The one program it starts besides
// iptables is a flannel that is not ours, with CNI_COMMAND=VERSION. Each part fails on its own; the
// snapshot carries the error and diagnose reports it.
import { readSmall } from '../../../lib/ipam/disk-read';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniError, Code, errorText } from '../../../lib/cni/errors';
import { findExecutable, runTool } from '../../../lib/exec';
import { formatCidr, tryParseIP } from '../../../lib/ip';
import { BootRecord, fingerprintOf } from '../../../lib/ipam/boot';
import { parseOwner } from '../../../lib/ipam/gc';
import { reservedAddresses } from '../../../lib/ipam/status';
import { listNatArgs } from '../../../lib/masq/gc-rules';
import { listAddrs } from '../../../lib/netlink/addr';
import { getBridgePort, listLinks } from '../../../lib/netlink/link';
import { openSocket } from '../../../lib/netlink/socket';
import { readSysctl } from '../../../lib/sysctl';
import { currentBootId } from '../../../lib/bootid';
import { isOurBuild } from '../../../lib/runtime';
import { provenBy, readGatewayRecords } from '../../../plugins/bridge/public';
import { listScratch, readScratch, readSubnetEnv } from '../../../plugins/flannel/public';
import type { SkippedConf } from '../conf';
import { DEFAULTS, resolveInputs } from './args';
import { rangeSetsOf } from './checks-capacity';
import { loadNetConf } from './conflist';
import type { FlannelBinary, Inputs, Links, MasqListing, NetConfState, ReservationFile, ScratchFile, Snapshot, SubnetEnvState } from './snapshot';

const FLANNEL_VXLAN = 'flannel.1';
const IPTABLES_TIMEOUT_MS = 30_000;
const VERSION_TIMEOUT_MS = 10_000;

function readSubnet(file: string): SubnetEnvState {
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    return { state: 'invalid', kind: 'unreadable', message: `cannot read ${file}: ${errorText(err)}` };
  }
  try {
    return { state: 'ok', env: readSubnetEnv(file) };
  } catch (err) {
    // readSubnetEnv: missing keys are "try again later" (11), bad values "invalid config" (7)
    const kind = err instanceof CniError && err.code === Code.TryAgainLater ? 'incomplete' : 'malformed';
    return { state: 'invalid', kind, message: errorText(err) };
  }
}

async function readLinks(bridgeName: string, networkDir: string): Promise<Links> {
  const nl = openSocket();
  try {
    const all = await listLinks(nl);
    const br = all.find((l) => l.name === bridgeName);
    const info = (l: (typeof all)[number]) => ({ name: l.name, index: l.index, kind: l.kind, mtu: l.mtu, up: l.up });
    const out: Links = { ports: [] };
    const vx = all.find((l) => l.name === FLANNEL_VXLAN);
    if (vx) out.flannel1 = info(vx);
    if (!br) return out;
    const global = (await listAddrs(nl, { index: br.index })).filter((a) => a.scope === 0);
    const records = readGatewayRecords(networkDir);
    const recorded = global.filter((a) => provenBy(records, br, a, currentBootId())).map(formatCidr);
    out.bridge = { ...info(br), addrs: global.map(formatCidr), recorded };
    for (const l of all.filter((x) => x.master === br.index && br.kind === 'bridge')) {
      const port = await getBridgePort(nl, l.index);
      out.ports.push({ ...info(l), hairpin: port?.hairpin, pod: l.kind === 'veth' && l.linkNetnsId !== undefined });
    }
    return out;
  } finally {
    nl.close();
  }
}

function trySysctl(key: string): string | undefined {
  try {
    return readSysctl(key);
  } catch {
    return undefined;
  }
}


/** Every reservation file of the network (regular files named by an address); undefined without the directory. */
function readReservations(dir: string): ReservationFile[] | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const out: ReservationFile[] = [];
  const boot = BootRecord.read(dir);
  for (const name of names.sort()) {
    const ip = tryParseIP(name);
    if (!ip) continue; // lock, last_reserved_ip.*, temp files
    const file = path.join(dir, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(file);
    } catch {
      continue; // released meanwhile
    }
    if (!st.isFile()) continue;
    let content = '';
    try {
      content = readSmall(file).trim();
    } catch {
      // unreadable: reported as having no recognisable owner
    }
    const earlierBoot = boot.isEarlier(fingerprintOf(dir, name, content));
    out.push({ name, path: file, family: ip.family, owner: parseOwner(content), mtimeMs: st.mtimeMs, earlierBoot });
  }
  return out;
}

function readScratchFiles(dir: string): { files: ScratchFile[]; temps: string[]; dirExists: boolean } {
  const listing = listScratch(dir);
  const files = listing.ids.map((id): ScratchFile => {
    const f: ScratchFile = { containerId: id, path: path.join(dir, id) };
    try {
      const bytes = readScratch(dir, id);
      if (!bytes) return f;
      const conf: unknown = JSON.parse(bytes.toString('utf8'));
      if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) f.corrupt = 'not a JSON object';
      else if (typeof (conf as { name?: unknown }).name === 'string') f.network = (conf as { name: string }).name;
    } catch (err) {
      f.corrupt = bytesHint(err);
    }
    return f;
  });
  return { files, temps: listing.temps.map((t) => t.name), dirExists: fs.existsSync(dir) };
}

const bytesHint = (err: unknown): string => (err instanceof SyntaxError ? `not valid JSON (${err.message})` : errorText(err));

function readCache(cacheDir: string): string[] | undefined {
  try {
    return fs.readdirSync(path.join(cacheDir, 'results')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function listMasq(): MasqListing[] {
  return ([4, 6] as const).map((family): MasqListing => {
    const tool = family === 4 ? 'iptables' : 'ip6tables';
    const file = findExecutable(tool, process.env.PATH);
    if (!file) return { family, tool, error: 'not-installed' };
    const r = runTool(file, tool, ['-w', ...listNatArgs()], { timeoutMs: IPTABLES_TIMEOUT_MS, dropLine: (l) => l.startsWith('Try `') });
    return r.ok ? { family, tool, save: r.stdout } : { family, tool, error: `${r.command}: ${r.stderr}` };
  });
}

/**
 * The flannel the runtime would run, and when it is not ours, the versions it speaks:
 * asked with VERSION, the one call the spec makes free of side effects (the runtime runs
 * this file as root for every pod anyway).
 */
function readFlannelBinary(binDir: string): FlannelBinary | undefined {
  const file = path.join(binDir, 'flannel');
  if (!fs.existsSync(file)) return undefined;
  if (isOurBuild(file)) return { path: file, ours: true };
  const r = runTool(file, 'flannel', [], { timeoutMs: VERSION_TIMEOUT_MS, env: { CNI_COMMAND: 'VERSION' } });
  try {
    const answer = JSON.parse(r.stdout) as { supportedVersions?: unknown };
    if (Array.isArray(answer.supportedVersions)) return { path: file, ours: false, supportedVersions: answer.supportedVersions.filter((v): v is string => typeof v === 'string') };
  } catch {
    // no JSON: said below
  }
  return { path: file, ours: false, versionError: r.ok ? `no supportedVersions in its answer: ${r.stdout.slice(0, 200)}` : r.stderr };
}

const attempt = <T>(f: () => T): T | { error: string } => {
  try {
    return f();
  } catch (err) {
    return { error: errorText(err) };
  }
};

/** Read everything doctor checks, from the node this process runs in. */
export async function gather(given: Partial<Inputs>): Promise<Snapshot> {
  const network = given.network ?? DEFAULTS.network;
  const confDir = given.confDir ?? DEFAULTS.confDir;
  const confSkipped: SkippedConf[] = [];
  const loaded = loadNetConf(confDir, network, (s) => confSkipped.push(s));
  const facts = loaded.state === 'ok' ? loaded.facts : undefined;
  const inputs = resolveInputs(given, facts);
  const netConf: NetConfState =
    loaded.state === 'ok'
      ? { state: 'ok', file: loaded.facts.file, pluginType: loaded.facts.pluginType, hairpinMode: loaded.facts.hairpinMode, cniVersion: loaded.facts.cniVersion }
      : loaded;

  let links: Snapshot['links'];
  try {
    links = await readLinks(inputs.bridge, path.join(inputs.ipamDataDir, inputs.network));
  } catch (err) {
    links = { error: errorText(err) };
  }
  const subnetEnv = readSubnet(inputs.subnetFile);
  const resvDir = path.join(inputs.ipamDataDir, inputs.network);
  // Without a config, doctor assumes flannel with its defaults, as everywhere else.
  const plugin = loaded.state === 'ok' ? loaded.plugin : { type: 'flannel', name: inputs.network };
  return {
    inputs,
    subnetEnv,
    netConf,
    confSkipped,
    links,
    sysctls: { ipv4Forward: trySysctl('net.ipv4.ip_forward'), ipv6Forward: trySysctl('net.ipv6.conf.all.forwarding') },
    reservations: attempt(() => readReservations(resvDir)),
    ipamRanges: loaded.state === 'error' ? undefined : attempt(() => rangeSetsOf(plugin, subnetEnv.state === 'ok' ? subnetEnv.env : undefined)),
    reservedIPs: attempt(() => reservedAddresses(resvDir)),
    scratch: attempt(() => readScratchFiles(inputs.flannelDataDir)),
    resultCache: attempt(() => readCache(inputs.cacheDir)),
    masq: listMasq(),
    flannelBinary: attempt(() => readFlannelBinary(inputs.binDir)),
  };
}
