// What `cnictl doctor` knows about a node: everything gather.ts read, as plain data,
// so diagnose.ts can stay pure and be tested without root. A part that could not be
// read carries its error instead of its data; diagnose turns that into a finding.
import type { IP } from '../../../lib/ip';
import type { RangeSet } from '../../../lib/ipam/range';
import type { SubnetEnv } from '../../../plugins/flannel/public';
import type { SkippedConf } from '../conf';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  /** short, stable name of the check ("bridge-gateway", "orphan-reservation", ...) */
  check: string;
  /** what is wrong, naming the object */
  detail: string;
  /** what to do about it */
  fix: string;
  /** the object the finding is about (file, link, chain), for scripts */
  subject?: string;
}

/** Where doctor looked, after flags > the network's config > defaults. */
export interface Inputs {
  subnetFile: string;
  flannelDataDir: string;
  ipamDataDir: string;
  network: string;
  bridge: string;
  confDir: string;
  cacheDir: string;
  /** where the runtime finds the plugins (CNI_PATH) */
  binDir: string;
}

export type SubnetEnvState =
  | { state: 'ok'; env: SubnetEnv }
  | { state: 'missing' }
  /** the reader's message: keys missing (flanneld still starting), a malformed value, or no read permission */
  | { state: 'invalid'; message: string; kind: 'incomplete' | 'malformed' | 'unreadable' };

/** The network's config as libcni would load it from confDir. */
export type NetConfState =
  /** cniVersion: what a runtime speaks to the network (the highest of cniVersion and cniVersions); '' when the config names none */
  | { state: 'ok'; file: string; pluginType: string; hairpinMode: boolean; cniVersion?: string }
  | { state: 'missing' }
  /** file: the config file that cannot be loaded; absent when the directory cannot be read */
  | { state: 'error'; message: string; file?: string };

export interface LinkInfo {
  name: string;
  index: number;
  kind?: string;
  mtu: number;
  up: boolean;
}

export interface PortInfo extends LinkInfo {
  /** undefined when the kernel gave no bridge-port info */
  hairpin?: boolean;
  /** a veth whose peer lives in another netns: a pod's host end (not e.g. the "<bridge>.<vlan>" gateway pair) */
  pod: boolean;
}

export interface Links {
  /** undefined: no link of that name */
  /** addrs: its global addresses; recorded: those the network's record proves it set (plugins/bridge/gateway.ts) */
  bridge?: LinkInfo & { addrs: string[]; recorded: string[] };
  /** flannel's vxlan device, when present */
  flannel1?: LinkInfo;
  /** the bridge's ports (the pods' host veths and anything else enslaved) */
  ports: PortInfo[];
}

export interface ReservationFile {
  /** the file name (an address) */
  name: string;
  path: string;
  family: 4 | 6;
  /** parsed owner; 'garbage' = empty or unrecognisable content */
  owner: { kind: 'current'; containerId: string; ifName: string } | { kind: 'legacy'; containerId: string } | { kind: 'garbage' };
  mtimeMs: number;
  /** reserved in an earlier boot, by the store's boot record (lib/ipam/boot.ts), not by its mtime */
  earlierBoot: boolean;
}

export interface ScratchFile {
  containerId: string;
  path: string;
  /** the saved delegate config's `name`, when the file parses */
  network?: string;
  /** set when the file does not parse as a JSON object */
  corrupt?: string;
}

export interface MasqListing {
  family: 4 | 6;
  tool: 'iptables' | 'ip6tables';
  /** `iptables -t nat -S` output */
  save?: string;
  /** why it could not be listed; 'not-installed' when the binary is absent */
  error?: string;
}

/** The `flannel` the runtime would execute: <binDir>/flannel. */
export interface FlannelBinary {
  path: string;
  /** built by this project (it carries the build marker; a link is followed) */
  ours: boolean;
  /** what a flannel that is not ours answered to VERSION; undefined when it gave no answer */
  supportedVersions?: string[];
  /** why it gave none */
  versionError?: string;
}

export interface Snapshot {
  inputs: Inputs;
  subnetEnv: SubnetEnvState;
  netConf: NetConfState;
  /** files of confDir passed over because they are not regular files (a FIFO, a link to /dev/zero) */
  confSkipped: SkippedConf[];
  links: Links | { error: string };
  /** contents of /proc/sys/net/ipv4/ip_forward and .../ipv6/conf/all/forwarding (undefined when unreadable) */
  sysctls: { ipv4Forward?: string; ipv6Forward?: string };
  /** files named by an address in <ipamDataDir>/<network> (lock, last_reserved_ip.* ignored); undefined: no such directory */
  reservations: ReservationFile[] | undefined | { error: string };
  /** flannel's saved configs (<flannelDataDir>/<containerID>) and leftover temp files */
  scratch: { files: ScratchFile[]; temps: string[]; dirExists: boolean } | { error: string };
  /** host-local's configured range sets of the network; undefined: not host-local, or not known (no usable subnet.env, a broken config) */
  ipamRanges: RangeSet[] | undefined | { error: string };
  /** every address named by an entry of <ipamDataDir>/<network> (file or not, each once), as the allocator sees them */
  reservedIPs: IP[] | { error: string };
  /** file names in <cacheDir>/results; undefined when that directory does not exist */
  resultCache: string[] | undefined | { error: string };
  masq: MasqListing[];
  /** undefined: no flannel in binDir */
  flannelBinary: FlannelBinary | undefined | { error: string };
}

export const hasError = <T extends object>(x: T | { error: string } | undefined): x is { error: string } =>
  typeof x === 'object' && x !== null && 'error' in x && typeof (x as { error: unknown }).error === 'string' && !Array.isArray(x);
