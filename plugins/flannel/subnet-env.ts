// flanneld's subnet.env: what this node may hand out (FLANNEL_SUBNET), what the whole
// overlay covers (FLANNEL_NETWORK, one route per entry), the overlay MTU and whether
// flanneld masquerades itself. Parsing is pure; reading the file is the one I/O door.
import { CniError, Code, errorText } from '../../lib/cni/errors';
import { formatCidr, networkOf, tryParseCidr, type Family } from '../../lib/ip';
import { FileTooLarge, NotRegularFile, readRegularFile } from '../../lib/regular-file';

export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';

export interface SubnetEnv {
  /** FLANNEL_NETWORK: IPv4 overlay networks, canonical, de-duplicated, in file order. */
  networks: string[];
  /** FLANNEL_SUBNET with host bits cleared ("10.1.17.1/24" → "10.1.17.0/24"). */
  subnet?: string;
  /** FLANNEL_IPV6_NETWORK. */
  ipv6Networks: string[];
  /** FLANNEL_IPV6_SUBNET with host bits cleared. */
  ipv6Subnet?: string;
  mtu: number;
  ipMasq: boolean;
}

// The order the reference flannel plugin lists missing keys in, so operators' log
// searches and runbooks keep matching.
const KEYS = ['FLANNEL_NETWORK', 'FLANNEL_IPV6_NETWORK', 'FLANNEL_SUBNET', 'FLANNEL_IPV6_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPMASQ'] as const;
type Key = (typeof KEYS)[number];
const isKey = (k: string): k is Key => (KEYS as readonly string[]).includes(k);

// The smallest IPv4 MTU a link may have (RFC 791) up to the largest a 16-bit length allows.
const MIN_MTU = 68;
const MAX_MTU = 65535;

const HINT = 'flanneld writes this file when it starts: check that flanneld is running on this node (see the flannel pod log); the runtime retries';

interface Entry {
  value: string;
  line: number;
}

function malformed(path: string, key: Key, e: Entry, want: string): CniError {
  return new CniError(Code.InvalidConfig, `invalid ${key} "${e.value}" in ${path} (line ${e.line}): ${want}`);
}

function parseCidrOf(path: string, key: Key, e: Entry, text: string, family: Family): string {
  const c = tryParseCidr(text);
  if (!c) throw malformed(path, key, e, `"${text}" is not a CIDR`);
  if (c.family !== family) throw malformed(path, key, e, `expected an IPv${family} CIDR, got IPv${c.family}`);
  return formatCidr(networkOf(c));
}

/** A node subnet: a CIDR of the family that leaves room for a gateway and a pod. */
function parseSubnet(path: string, key: Key, e: Entry, family: Family): string {
  const net = parseCidrOf(path, key, e, e.value, family);
  const prefix = Number(net.slice(net.indexOf('/') + 1));
  // host-local refuses these too ("too small to allocate from"), but only after flannel
  // saved its config and ran the delegate, and without naming the key to fix.
  const widest = family === 4 ? 30 : 126;
  if (prefix > widest) throw malformed(path, key, e, `a /${prefix} is too small to allocate pod addresses from (at most /${widest})`);
  return net;
}

function parseNetworks(path: string, key: Key, e: Entry | undefined, family: Family): string[] {
  if (!e) return [];
  const out: string[] = [];
  for (const item of e.value.split(',')) {
    const net = parseCidrOf(path, key, e, item.trim(), family);
    // flanneld may list a network twice; one route per network is enough.
    if (!out.includes(net)) out.push(net);
  }
  return out;
}

function parseMtu(path: string, e: Entry): number {
  const n = /^[0-9]{1,6}$/.test(e.value) ? Number(e.value) : NaN;
  if (!(n >= MIN_MTU && n <= MAX_MTU)) throw malformed(path, 'FLANNEL_MTU', e, `expected a whole number from ${MIN_MTU} to ${MAX_MTU}`);
  return n;
}

/**
 * Parse the text of subnet.env. Malformed values are config errors (7) naming key,
 * value and line; missing keys are "try again later" (11), since flanneld may be
 * starting. Unknown keys, blank lines and `#` comments are skipped; CRLF is fine.
 */
export function parseSubnetEnv(text: string, path: string): SubnetEnv {
  const entries = new Map<Key, Entry>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!isKey(key)) return;
    if (eq < 0) throw new CniError(Code.InvalidConfig, `${path} line ${i + 1}: "${line}" has no "=" (expected ${key}=<value>)`);
    // A repeated key: the last one wins, as a shell sourcing the file would see it.
    entries.set(key, { value: line.slice(eq + 1).trim(), line: i + 1 });
  });

  const v4 = entries.get('FLANNEL_SUBNET');
  const v6 = entries.get('FLANNEL_IPV6_SUBNET');
  const mtu = entries.get('FLANNEL_MTU');
  const env: SubnetEnv = {
    networks: parseNetworks(path, 'FLANNEL_NETWORK', entries.get('FLANNEL_NETWORK'), 4),
    ipv6Networks: parseNetworks(path, 'FLANNEL_IPV6_NETWORK', entries.get('FLANNEL_IPV6_NETWORK'), 6),
    mtu: mtu ? parseMtu(path, mtu) : 0,
    ipMasq: entries.get('FLANNEL_IPMASQ')?.value === 'true',
  };
  if (v4) env.subnet = parseSubnet(path, 'FLANNEL_SUBNET', v4, 4);
  if (v6) env.ipv6Subnet = parseSubnet(path, 'FLANNEL_IPV6_SUBNET', v6, 6);

  // Either family satisfies the network and the subnet requirement (v4-only, v6-only
  // and dual-stack clusters); when neither is there, both names are listed.
  const missing = new Set<Key>();
  if (!entries.has('FLANNEL_NETWORK') && !entries.has('FLANNEL_IPV6_NETWORK')) missing.add('FLANNEL_NETWORK').add('FLANNEL_IPV6_NETWORK');
  if (!v4 && !v6) missing.add('FLANNEL_SUBNET').add('FLANNEL_IPV6_SUBNET');
  if (!mtu) missing.add('FLANNEL_MTU');
  if (!entries.has('FLANNEL_IPMASQ')) missing.add('FLANNEL_IPMASQ');
  if (missing.size) {
    const list = KEYS.filter((k) => missing.has(k)).join(', ');
    throw new CniError(Code.TryAgainLater, `${path} is missing ${list}; ${HINT}`);
  }
  return env;
}

// flanneld writes six short lines; anything this big is not its file.
export const MAX_SUBNET_FILE = 64 * 1024;

/**
 * The file's text, refusing what is not a small regular file: subnetFile comes from
 * the config, and /dev/zero would be read until memory runs out, a FIFO would block
 * the ADD forever (lib/regular-file.ts).
 */
function readSmallFile(path: string): string {
  try {
    return readRegularFile(path, MAX_SUBNET_FILE).toString('utf8');
  } catch (err) {
    if (err instanceof NotRegularFile) throw new CniError(Code.InvalidConfig, `flannel config: "subnetFile" ${path} is not a regular file (it is ${err.type})`);
    if (err instanceof FileTooLarge) throw new CniError(Code.InvalidConfig, `flannel config: "subnetFile" ${path} is larger than ${MAX_SUBNET_FILE} bytes`);
    throw err;
  }
}

/** Read and parse subnet.env; an absent or unreadable file is "try again later" (11). */
export function readSubnetEnv(path: string): SubnetEnv {
  let text: string;
  try {
    text = readSmallFile(path);
  } catch (err) {
    if (err instanceof CniError) throw err;
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : errorText(err);
    // Upstream's words first (flannel-io/cni-plugin PR #125): runbooks and alerts match them.
    throw new CniError(Code.TryAgainLater, `failed to load flannel 'subnet.env' file: open ${path}: ${why}. ${HINT}`);
  }
  return parseSubnetEnv(text, path);
}
