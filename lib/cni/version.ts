// Spec versions and result shapes (https://github.com/containernetworking/cni/blob/main/SPEC.md#section-5-result-types). Plugins work on one internal 1.x
// Result; this module is the only place that knows the 0.x shapes, in both directions.
import { CniError, Code } from './errors';
import type { DNS, IPConfig, Interface, Result, Route } from './types';
import { tryParseCidr, tryParseIP, type Family } from '../ip';

import { SUPPORTED_VERSIONS } from './versions';

export { SUPPORTED_VERSIONS };

/** The three result shapes: 0.1/0.2 (`ip4`/`ip6`), 0.3.x/0.4 (`ips[].version`), 1.x. */
type Shape = 'legacy' | 'v04' | 'v1';

export function parseVersion(v: string): [number, number, number] {
  // Go treats an absent version as 0.1.0 (a legacy .conf without cniVersion):
  // DecodeVersion in https://github.com/containernetworking/cni/blob/main/pkg/types/create/create.go
  if (v === '') return [0, 1, 0];
  const parts = v.split('.');
  const ok = parts.length <= 3 && parts.every((p) => /^[0-9]+$/.test(p) && Number.isSafeInteger(Number(p)));
  if (!ok) throw new Error(`invalid version "${v}"`);
  const [major = 0, minor = 0, patch = 0] = parts.map(Number);
  return [major, minor, patch];
}

export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return 0;
}

export const versionAtLeast = (v: string, min: string): boolean => compareVersions(v, min) >= 0;

// Exact string membership, as Go matches versions ("1.0" is not "1.0.0").
function shapeOf(v: string): Shape | undefined {
  if (!SUPPORTED_VERSIONS.includes(v)) return undefined;
  const [major, minor] = parseVersion(v);
  if (major >= 1) return 'v1';
  return minor >= 3 ? 'v04' : 'legacy';
}

// ---------------------------------------------------------------- internal → wire

type Json = Record<string, unknown>;

// Go marshals these fields with omitempty: "" and a zero mtu/advmss/priority mean
// "not set". table and scope are pointers in Go, so 0 is a real value there.
function put(o: Json, key: string, v: string | number | undefined, keepZero = false): void {
  if (v === undefined || v === '' || (v === 0 && !keepZero)) return;
  o[key] = v;
}

function familyOf(cidr: string, what: string): Family {
  const c = tryParseCidr(cidr);
  // A well-formed internal Result never gets here; this is a plugin bug, hence 999.
  if (!c) throw new CniError(Code.Internal, `cannot convert result: ${what} "${cidr}" is not a CIDR`);
  return c.family;
}

function interfaceOut(i: Interface, shape: Shape): Json {
  const o: Json = { name: i.name };
  put(o, 'mac', i.mac);
  // 0.3/0.4 interfaces only ever had name/mac/sandbox; the 1.1 fields are dropped.
  if (shape === 'v1') put(o, 'mtu', i.mtu);
  put(o, 'sandbox', i.sandbox);
  if (shape === 'v1') {
    put(o, 'socketPath', i.socketPath);
    put(o, 'pciID', i.pciID);
  }
  return o;
}

function ipOut(ip: IPConfig, shape: Shape): Json {
  // The 0.3/0.4 `version` is required, and 1.0 removed it (IPConfig in pkg/types/040 and
  // pkg/types/100 of https://github.com/containernetworking/cni).
  const o: Json = shape === 'v04' ? { version: String(familyOf(ip.address, 'address')) } : {};
  o.address = ip.address;
  put(o, 'gateway', ip.gateway);
  put(o, 'interface', ip.interface, true);
  return o;
}

function routeOut(r: Route, full: boolean): Json {
  const o: Json = { dst: r.dst };
  put(o, 'gw', r.gw);
  if (!full) return o; // 0.1/0.2 routes are only dst/gw
  put(o, 'mtu', r.mtu);
  put(o, 'advmss', r.advmss);
  put(o, 'priority', r.priority);
  put(o, 'table', r.table, true);
  put(o, 'scope', r.scope, true);
  return o;
}

function dnsOut(d: DNS | undefined): Json | undefined {
  if (!d) return undefined;
  const o: Json = {};
  if (d.nameservers?.length) o.nameservers = [...d.nameservers];
  put(o, 'domain', d.domain);
  if (d.search?.length) o.search = [...d.search];
  if (d.options?.length) o.options = [...d.options];
  return Object.keys(o).length ? o : undefined;
}

function toLegacy(r: Result, to: string): Json {
  const blocks = new Map<Family, { ip: string; gateway?: string; routes?: Json[] }>();
  // Only the first address of each family survives; the rest is lost, as in Go's
  // convertTo02x (https://github.com/containernetworking/cni/blob/main/pkg/types/040/types.go).
  for (const ip of r.ips ?? []) {
    const fam = familyOf(ip.address, 'address');
    if (blocks.has(fam)) continue;
    blocks.set(fam, ip.gateway ? { ip: ip.address, gateway: ip.gateway } : { ip: ip.address });
  }
  if (blocks.size === 0) throw new CniError(Code.Internal, 'cannot convert: no valid IP addresses');
  for (const route of r.routes ?? []) {
    const block = blocks.get(familyOf(route.dst, 'route dst'));
    if (block) (block.routes ??= []).push(routeOut(route, false));
  }
  const out: Json = { cniVersion: to };
  if (blocks.has(4)) out.ip4 = blocks.get(4);
  if (blocks.has(6)) out.ip6 = blocks.get(6);
  const dns = dnsOut(r.dns);
  if (dns) out.dns = dns;
  return out;
}

/**
 * Internal 1.x Result → the JSON object to print for spec version `to`, shaped like the Go
 * result types (pkg/types/020, 040 and 100 of https://github.com/containernetworking/cni).
 * Empty lists and an empty dns are left out, as Go's omitempty does.
 */
export function convertResult(r: Result, to: string): Json {
  const shape = shapeOf(to);
  if (!shape) throw new CniError(Code.IncompatibleVersion, `cannot convert a result to unsupported CNI version "${to}"`);
  if (shape === 'legacy') return toLegacy(r, to);
  const out: Json = { cniVersion: to };
  if (r.interfaces?.length) out.interfaces = r.interfaces.map((i) => interfaceOut(i, shape));
  if (r.ips?.length) out.ips = r.ips.map((ip) => ipOut(ip, shape));
  // Go keeps the 1.1 route fields even when writing 0.3/0.4 (one shared Route type).
  if (r.routes?.length) out.routes = r.routes.map((route) => routeOut(route, true));
  const dns = dnsOut(r.dns);
  if (dns) out.dns = dns;
  return out;
}

// ---------------------------------------------------------------- wire → internal

function bad(field: string, want: string, got: unknown): CniError {
  let text: string;
  try {
    text = JSON.stringify(got) ?? String(got);
  } catch {
    // Too deep (a delegate's stdout is not depth-checked like our stdin) or circular.
    text = Array.isArray(got) ? '[…]' : typeof got === 'object' && got !== null ? '{…}' : typeof got;
  }
  return new CniError(Code.DecodeFailure, `invalid result: "${field}" must be ${want}, got ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`);
}

// null is accepted wherever a field is optional: Go's decoder reads it as "absent".
const absent = (v: unknown): v is undefined | null => v === undefined || v === null;

function obj(v: unknown, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(field, 'an object', v);
  return v as Json;
}

function list(v: unknown, field: string): unknown[] {
  if (absent(v)) return [];
  if (!Array.isArray(v)) throw bad(field, 'an array', v);
  return v;
}

function optStr(v: unknown, field: string): string | undefined {
  if (absent(v) || v === '') return undefined;
  if (typeof v !== 'string') throw bad(field, 'a string', v);
  return v;
}

function optUint(v: unknown, field: string): number | undefined {
  if (absent(v)) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(field, 'a non-negative integer', v);
  return v;
}

function strList(v: unknown, field: string): string[] {
  return list(v, field).map((s, i) => {
    if (typeof s !== 'string') throw bad(`${field}[${i}]`, 'a string', s);
    return s;
  });
}

function cidr(v: unknown, field: string, family?: Family): string {
  const c = typeof v === 'string' ? tryParseCidr(v) : undefined;
  if (!c || (family && c.family !== family)) throw bad(field, `an IPv${family ?? '4 or IPv6'} CIDR`, v);
  return v as string;
}

function optIP(v: unknown, field: string): string | undefined {
  const s = optStr(v, field);
  if (s !== undefined && !tryParseIP(s)) throw bad(field, 'an IP address', v);
  return s;
}

/** Assign only defined values, so parsed Results compare equal to hand-built ones. */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function parseInterface(v: unknown, field: string, shape: Shape): Interface {
  const o = obj(v, field);
  if (typeof o.name !== 'string') throw bad(`${field}.name`, 'a string', o.name);
  const i: Interface = { name: o.name, mac: optStr(o.mac, `${field}.mac`), sandbox: optStr(o.sandbox, `${field}.sandbox`) };
  // Before 1.1 these fields did not exist; Go's older decoders never read them.
  if (shape === 'v1') {
    i.mtu = optUint(o.mtu, `${field}.mtu`) || undefined;
    i.socketPath = optStr(o.socketPath, `${field}.socketPath`);
    i.pciID = optStr(o.pciID, `${field}.pciID`);
  }
  return defined(i);
}

function parseIPConfig(v: unknown, field: string): IPConfig {
  const o = obj(v, field);
  // `version` (0.3/0.4) is implied by the address, so it is checked and dropped.
  if (!absent(o.version) && o.version !== '4' && o.version !== '6') throw bad(`${field}.version`, '"4" or "6"', o.version);
  return defined({
    address: cidr(o.address, `${field}.address`),
    gateway: optIP(o.gateway, `${field}.gateway`),
    interface: optUint(o.interface, `${field}.interface`),
  });
}

function parseRoute(v: unknown, field: string): Route {
  const o = obj(v, field);
  return defined({
    dst: cidr(o.dst, `${field}.dst`),
    gw: optIP(o.gw, `${field}.gw`),
    mtu: optUint(o.mtu, `${field}.mtu`) || undefined,
    advmss: optUint(o.advmss, `${field}.advmss`) || undefined,
    priority: optUint(o.priority, `${field}.priority`) || undefined,
    table: optUint(o.table, `${field}.table`),
    scope: optUint(o.scope, `${field}.scope`),
  });
}

function parseDns(v: unknown): DNS | undefined {
  if (absent(v)) return undefined;
  const o = obj(v, 'dns');
  const d: DNS = {};
  const nameservers = strList(o.nameservers, 'dns.nameservers');
  const search = strList(o.search, 'dns.search');
  const options = strList(o.options, 'dns.options');
  if (nameservers.length) d.nameservers = nameservers;
  const domain = optStr(o.domain, 'dns.domain');
  if (domain) d.domain = domain;
  if (search.length) d.search = search;
  if (options.length) d.options = options;
  // Go 0.4.0 always prints "dns":{}; that means no DNS.
  return Object.keys(d).length ? d : undefined;
}

/**
 * Any version's result JSON (a delegate's stdout, a prevResult) → internal Result.
 * The shape is chosen by the result's own cniVersion, or `fallbackVersion` when it
 * has none (libcni does the same, issue #895). The returned cniVersion is that
 * source version. Unknown keys are ignored; malformed known ones fail with code 6.
 */
export function parseResult(json: unknown, fallbackVersion: string): Result {
  // libcni accepts a plugin printing `null` as an empty result.
  const o = json === null ? {} : obj(json, 'result');
  if (!absent(o.cniVersion) && typeof o.cniVersion !== 'string') throw bad('cniVersion', 'a string', o.cniVersion);
  const version = typeof o.cniVersion === 'string' && o.cniVersion !== '' ? o.cniVersion : fallbackVersion;
  const shape = shapeOf(version);
  if (!shape) {
    throw new CniError(Code.DecodeFailure, `invalid result: unsupported cniVersion "${version}" (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  let interfaces: Interface[] = [];
  const ips: IPConfig[] = [];
  const routes: Route[] = [];
  if (shape === 'legacy') {
    for (const [key, family] of [['ip4', 4], ['ip6', 6]] as const) {
      if (absent(o[key])) continue;
      const block = obj(o[key], key);
      ips.push(defined({ address: cidr(block.ip, `${key}.ip`, family), gateway: optIP(block.gateway, `${key}.gateway`) }));
      routes.push(...list(block.routes, `${key}.routes`).map((r, i) => parseRoute(r, `${key}.routes[${i}]`)));
    }
  } else {
    interfaces = list(o.interfaces, 'interfaces').map((v, i) => parseInterface(v, `interfaces[${i}]`, shape));
    ips.push(...list(o.ips, 'ips').map((v, i) => parseIPConfig(v, `ips[${i}]`)));
    routes.push(...list(o.routes, 'routes').map((v, i) => parseRoute(v, `routes[${i}]`)));
  }
  const r: Result = { cniVersion: version };
  if (interfaces.length) r.interfaces = interfaces;
  if (ips.length) r.ips = ips;
  if (routes.length) r.routes = routes;
  const dns = parseDns(o.dns);
  if (dns) r.dns = dns;
  return r;
}
