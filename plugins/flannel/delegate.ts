// Flannel's own config and the delegate config it renders (https://github.com/flannel-io/cni-plugin/blob/main/pkg/flannel/flannel_linux.go).
// All pure. The rendered bytes must equal the reference's byte for byte, because the
// same bytes are saved in the scratch dir, where the reference plugin (or an admin
// diffing the two) may read them: so serialisation copies Go's encoding/json.
import { goStruct, marshalGo } from '../../lib/gojson';
import { CniError, Code } from '../../lib/cni/errors';
import { isPlainPluginName } from '../../lib/cni/invoke';
import { formatCidr, formatIP, tryParseCidr, tryParseIP } from '../../lib/ip';
import { DEFAULT_SUBNET_FILE, type SubnetEnv } from './subnet-env';

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export const DEFAULT_DATA_DIR = '/var/lib/cni/flannel';

export interface FlannelConf {
  name: string;
  /** '' for a legacy .conf without cniVersion: the delegate then gets none either. */
  cniVersion: string;
  subnetFile: string;
  dataDir: string;
  /** The user's `delegate` object ({} when absent), already checked. */
  delegate: JsonObject;
  /** The user's top-level `ipam`, the base of the delegate's ipam. */
  ipam?: JsonObject;
  /** The user's `ipam.routes`, normalised the way Go re-encodes CNI routes. */
  ipamRoutes: JsonObject[];
  runtimeConfig?: JsonObject;
}

export interface DelegateConf {
  type: string;
  config: JsonObject;
  /** Exactly what is saved to disk and written to the delegate's stdin. */
  bytes: Buffer;
}

const invalid = (msg: string) => new CniError(Code.InvalidConfig, msg);

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const has = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

// null means "absent" for optional fields, as it does for Go's decoder.
function optObject(raw: Record<string, unknown>, key: string): JsonObject | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalid(`flannel config: "${key}" must be an object, got ${kindOf(v)}`);
  return structuredClone(v);
}

function path(raw: Record<string, unknown>, key: string, fallback: string): string {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  // A relative path would resolve against whatever directory the runtime started us in.
  if (typeof v !== 'string' || !v.startsWith('/')) throw invalid(`flannel config: "${key}" must be an absolute path, got ${JSON.stringify(v)}`);
  return v;
}

/** Only the two paths: enough for DEL and GC to work with an otherwise broken config. */
export function parsePaths(raw: Record<string, unknown>): { subnetFile: string; dataDir: string } {
  return { subnetFile: path(raw, 'subnetFile', DEFAULT_SUBNET_FILE), dataDir: path(raw, 'dataDir', DEFAULT_DATA_DIR) };
}

function intField(route: JsonObject, key: string, where: string): number | undefined {
  const v = route[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(`${where}.${key} must be an integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * The reference decodes `ipam.routes` into CNI Route structs and encodes them again:
 * unknown keys vanish, dst/gw are printed canonically (dst keeps host bits), zero
 * mtu/advmss/priority are omitted, table/scope are kept when set (Go pointers), and
 * keys come out in struct order, not sorted.
 */
function normaliseRoutes(v: JsonValue | undefined): JsonObject[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`flannel config: "ipam.routes" must be an array, got ${kindOf(v)}`);
  return v.map((r, i) => {
    const where = `flannel config: ipam.routes[${i}]`;
    if (!isObject(r)) throw invalid(`${where} must be an object, got ${kindOf(r)}`);
    const dst = typeof r.dst === 'string' ? tryParseCidr(r.dst) : undefined;
    if (!dst) throw invalid(`${where}.dst must be a CIDR, got ${JSON.stringify(r.dst ?? null)}`);
    const out: JsonObject = { dst: formatCidr(dst) };
    if (r.gw !== undefined && r.gw !== null && r.gw !== '') {
      const gw = typeof r.gw === 'string' ? tryParseIP(r.gw) : undefined;
      if (!gw) throw invalid(`${where}.gw must be an IP address, got ${JSON.stringify(r.gw)}`);
      out.gw = formatIP(gw);
    }
    for (const key of ['mtu', 'advmss', 'priority']) {
      const n = intField(r, key, where);
      if (n) out[key] = n;
    }
    for (const key of ['table', 'scope']) {
      const n = intField(r, key, where);
      if (n !== undefined) out[key] = n;
    }
    return goStruct(out);
  });
}

/** Validate flannel's stdin config (the reference's loadFlannelNetConf); any problem is code 7. */
export function parseFlannelConf(raw: Record<string, unknown>): FlannelConf {
  if (typeof raw.name !== 'string' || raw.name === '') throw invalid('flannel config: missing network "name"');
  const delegate = optObject(raw, 'delegate') ?? {};
  if (has(delegate, 'type') && typeof delegate.type !== 'string') {
    throw invalid(`'delegate' dictionary, if present, must have a string 'type' field, got ${kindOf(delegate.type)}`);
  }
  // The type names the delegate binary under CNI_PATH. Refused here, before the scratch
  // file is written, rather than by findInPath after it: "" or a path would otherwise
  // be saved for a DEL that can never run it.
  if (typeof delegate.type === 'string' && !isPlainPluginName(delegate.type)) {
    throw invalid(`flannel config: invalid plugin type ${JSON.stringify(delegate.type)} in "delegate.type": it must be a plain file name`);
  }
  // Both are derived from flannel's own config; a second source would silently lose.
  if (has(delegate, 'name')) throw invalid("'delegate' dictionary must not have 'name' field, it'll be set by flannel");
  if (has(delegate, 'ipam')) throw invalid("'delegate' dictionary must not have 'ipam' field, it'll be set by flannel");
  const ipam = optObject(raw, 'ipam');
  if (ipam && has(ipam, 'type') && typeof ipam.type !== 'string') throw invalid(`flannel config: "ipam.type" must be a string, got ${kindOf(ipam.type)}`);
  const conf: FlannelConf = {
    name: raw.name,
    cniVersion: typeof raw.cniVersion === 'string' ? raw.cniVersion : '',
    ...parsePaths(raw),
    delegate,
    ipamRoutes: normaliseRoutes(ipam?.routes),
  };
  if (ipam) conf.ipam = ipam;
  const runtimeConfig = optObject(raw, 'runtimeConfig');
  if (runtimeConfig) conf.runtimeConfig = runtimeConfig;
  return conf;
}

/**
 * The delegate config for this node's subnet. Keys the user set in `delegate` win
 * over flannel's defaults; name, cniVersion, ipam.ranges and the network routes
 * always come from flannel.
 */
export function buildDelegateConf(conf: FlannelConf, env: SubnetEnv): DelegateConf {
  const d: JsonObject = structuredClone(conf.delegate);
  d.name = conf.name;
  if (conf.cniVersion) d.cniVersion = conf.cniVersion;
  if (!has(d, 'type')) d.type = 'bridge';
  const type = d.type as string;
  // flanneld already masquerades traffic leaving the overlay when FLANNEL_IPMASQ=true.
  if (!has(d, 'ipMasq')) d.ipMasq = !env.ipMasq;
  if (!has(d, 'mtu')) d.mtu = env.mtu;
  // Pods route via the bridge, so the bridge must own the gateway address.
  if (type === 'bridge' && !has(d, 'isGateway')) d.isGateway = true;
  if (conf.runtimeConfig) d.runtimeConfig = structuredClone(conf.runtimeConfig);

  const ipam: JsonObject = structuredClone(conf.ipam ?? {});
  if (!has(ipam, 'type')) ipam.type = 'host-local';
  // One range-set per family: host-local then returns one v4 and one v6 address.
  const ranges: JsonValue[] = [];
  if (env.subnet) ranges.push([{ subnet: env.subnet }]);
  if (env.ipv6Subnet) ranges.push([{ subnet: env.ipv6Subnet }]);
  ipam.ranges = ranges;
  ipam.routes = [
    ...structuredClone(conf.ipamRoutes).map(goStruct),
    ...[...env.networks, ...env.ipv6Networks].map((dst) => goStruct({ dst })),
  ];
  d.ipam = ipam;
  return { type, config: d, bytes: Buffer.from(marshalGo(d), 'utf8') };
}

// ------------------------------------------------------------ saved configs

export interface SavedConf {
  type: string;
  config: JsonObject;
  bytes: Buffer;
}

/** A scratch file's bytes → the config in it; throws an Error saying why it is unusable. */
export function parseSavedConf(bytes: Buffer): SavedConf {
  // A 0-byte file is what a crash left behind before the reference fsync'ed (cni-plugin#43).
  if (bytes.length === 0) throw new Error('the file is empty');
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new Error(`it is not JSON (${(err as Error).message})`);
  }
  if (!isObject(config)) throw new Error(`it holds ${kindOf(config)}, not a config object`);
  if (typeof config.type !== 'string' || config.type === '') throw new Error('it has no delegate "type"');
  // Same rule as at ADD (parseFlannelConf): a saved type that is a path is unusable, so
  // DEL rebuilds the config from the current one instead of failing in findInPath forever.
  if (!isPlainPluginName(config.type)) throw new Error(`its delegate "type" ${JSON.stringify(config.type)} is not a plain file name`);
  return { type: config.type, config, bytes };
}

/** The config with extra top-level keys (prevResult, GC attachments) set, re-rendered. */
export function withKeys(config: JsonObject, extra: Record<string, unknown>): { config: JsonObject; bytes: Buffer } {
  const out = { ...config, ...extra } as JsonObject;
  return { config: out, bytes: Buffer.from(marshalGo(out), 'utf8') };
}
