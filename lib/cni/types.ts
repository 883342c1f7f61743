// The one internal result shape: CNI 1.1 (https://github.com/containernetworking/cni/blob/main/SPEC.md#section-5-result-types). Every other spec
// version exists only at the edges, converted by lib/cni/version.ts.
export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  /** CIDR with host bits, e.g. "10.1.0.5/16". */
  address: string;
  gateway?: string;
  interface?: number;
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}

/** The fields every plugin config shares (https://github.com/containernetworking/cni/blob/main/SPEC.md#plugin-configuration-objects). */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  capabilities?: Record<string, boolean>;
  ipam?: { type?: string; [k: string]: unknown };
  dns?: DNS;
  runtimeConfig?: Record<string, unknown>;
  args?: Record<string, unknown>;
  prevResult?: unknown;
  [k: string]: unknown;
}

export type Verb = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';

/** What the dispatcher hands a plugin's handlers: env, stdin and the parsed config. */
export interface CmdArgs {
  command: Verb;
  containerId: string;
  netns: string;
  ifName: string;
  /** Raw CNI_ARGS. */
  args: string;
  /** CNI_PATH split into directories. */
  path: string[];
  /** Raw stdin, handed unchanged to IPAM delegates. */
  stdin: Buffer;
  /** stdin parsed once. */
  conf: NetConf;
}
