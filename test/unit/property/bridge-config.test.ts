// The bridge NetConf under hostile input: a BridgeConf or a CniError; a wrong JSON type
// in any field is code 7 (or 2 for a field not supported yet) naming the field.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Code } from '../../../lib/cni/errors';
import type { NetConf } from '../../../lib/cni/types';
import { parseBridgeConf } from '../../../plugins/bridge/config';
import { check, hostileJson, namesField, nastyString, outcome, setAt, wrongTypes, type Json } from './arbitraries';

const BASE = {
  cniVersion: '1.0.0',
  name: 'net1',
  type: 'bridge',
  bridge: 'cni0',
  isGateway: true,
  isDefaultGateway: false,
  forceAddress: false,
  ipMasq: true,
  mtu: 1450,
  hairpinMode: true,
  promiscMode: false,
  portIsolation: false,
  enabledad: false,
  ipam: { type: 'host-local' },
  dns: { nameservers: ['10.1.0.1'], domain: 'cluster.local', search: ['svc'], options: ['ndots:5'] },
  runtimeConfig: { mac: '0a:58:0a:01:00:05' },
};
const asConf = (j: Json): NetConf => j as unknown as NetConf;

type Kind = 'string' | 'bool' | 'number' | 'object' | 'array';
/** Every field parseBridgeConf reads, with its JSON type. */
export const BRIDGE_FIELDS: [(string | number)[], Kind][] = [
  [['bridge'], 'string'],
  [['isGateway'], 'bool'],
  [['isDefaultGateway'], 'bool'],
  [['forceAddress'], 'bool'],
  [['ipMasq'], 'bool'],
  [['mtu'], 'number'],
  [['hairpinMode'], 'bool'],
  [['promiscMode'], 'bool'],
  [['portIsolation'], 'bool'],
  [['enabledad'], 'bool'],
  [['ipam'], 'object'],
  [['ipam', 'type'], 'string'],
  [['ipMasqBackend'], 'string'],
  [['vlan'], 'number'],
  [['vlanTrunk'], 'array'],
  [['preserveDefaultVlan'], 'bool'],
  [['macspoofchk'], 'bool'],
  [['disableContainerInterface'], 'bool'],
  [['dns'], 'object'],
  [['dns', 'nameservers'], 'array'],
  [['dns', 'nameservers', 0], 'string'],
  [['dns', 'domain'], 'string'],
  [['dns', 'search'], 'array'],
  [['dns', 'options'], 'array'],
  [['runtimeConfig', 'mac'], 'string'],
];

// BUG (reported, plugins/bridge/config.ts is not ours to edit): `dns` is only checked to
// be "an object" (an array passes) and its members not at all, so garbage reaches the
// result, and e.g. {"nameservers": {"length": 1}} makes convertResult throw a TypeError
// after the whole ADD succeeded. Remove a path from here once it is validated: `it.fails`
// then fails and says so.
const KNOWN_BUGS = new Set(['dns', 'dns.nameservers', 'dns.nameservers.0', 'dns.domain', 'dns.search', 'dns.options']);

const fieldName = (path: (string | number)[]): string => {
  const keys = path.filter((p): p is string => typeof p === 'string');
  return keys[keys.length - 1]!;
};

describe('parseBridgeConf', () => {
  it('the base config is valid', () => {
    expect(parseBridgeConf(asConf(BASE), '').mtu).toBe(1450);
  });

  const wrongTypeCase = (path: (string | number)[], kind: Kind) => {
    const failures: string[] = [];
    for (const bad of wrongTypes(kind)) {
      const r = outcome(() => parseBridgeConf(asConf(setAt(BASE, path, bad)), ''));
      const what = `${path.join('.')} = ${JSON.stringify(bad)}`;
      if (r.ok) failures.push(`${what}: accepted`);
      else if (r.err.code !== Code.InvalidConfig && r.err.code !== Code.UnsupportedField) failures.push(`${what}: code ${r.err.code}`);
      else if (!namesField(r.err.message, fieldName(path))) failures.push(`${what}: message "${r.err.message}" does not name it`);
    }
    expect(failures).toEqual([]);
  };
  const rows = BRIDGE_FIELDS.map(([path, kind]) => [path.join('.'), path, kind] as const);
  const good = rows.filter(([n]) => !KNOWN_BUGS.has(n));
  const known = rows.filter(([n]) => KNOWN_BUGS.has(n));
  it.each(good)('a wrong type for %s is code 7 (or 2) naming it', (_n, path, kind) => wrongTypeCase(path, kind));
  it.fails.each(known)('KNOWN BUG: a wrong type for %s is code 7 naming it', (_n, path, kind) => wrongTypeCase(path, kind));

  it('anything anywhere: a BridgeConf or a CniError (never a TypeError)', () => {
    check(
      fc.property(
        // `bridge` and `dns` are left out here: see KNOWN_BUGS and the multi-byte bridge name below.
        fc.oneof(
          fc.constantFrom(...BRIDGE_FIELDS.map(([p]) => p).filter((p) => p[0] !== 'dns' && p[0] !== 'bridge')),
          fc.constantFrom(['args'], ['args', 'cni'], ['args', 'cni', 'mac'], ['runtimeConfig'], ['__proto__'], ['constructor']),
        ),
        fc.oneof(hostileJson, nastyString),
        fc.oneof(fc.constant(''), nastyString, fc.constantFrom('MAC=0a:58:0a:01:00:05', 'MAC=zz', 'IgnoreUnknown=1;X=1', 'IP=10.1.0.5;MAC=')),
        (path, v, cniArgs) => {
          const r = outcome(() => parseBridgeConf(asConf(setAt(BASE, path, v as Json)), cniArgs));
          if (!r.ok) {
            expect([Code.InvalidConfig, Code.UnsupportedField, Code.InvalidEnv]).toContain(r.err.code);
            return;
          }
          const c = r.value;
          expect(c.bridge).toMatch(/^[^/:\s\0]{1,15}$/);
          expect(Buffer.byteLength(c.bridge)).toBeLessThanOrEqual(15);
          if (c.mtu !== undefined) expect(Number.isInteger(c.mtu) && c.mtu >= 68 && c.mtu <= 65535).toBe(true);
          for (const k of ['isGateway', 'isDefaultGateway', 'forceAddress', 'ipMasq', 'hairpinMode', 'promiscMode', 'portIsolation', 'enableDad'] as const) {
            expect(typeof c[k]).toBe('boolean');
          }
          if (c.mac !== undefined) expect(c.mac).toMatch(/^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/);
          if (c.ipamType !== undefined) expect(typeof c.ipamType).toBe('string');
        },
      ),
      800,
    );
  });

  it('a huge MTU, a 16-byte bridge name and hairpin+promisc are code 7 naming the field', () => {
    for (const [over, text] of [
      [{ mtu: 70000 }, 'mtu'],
      [{ mtu: 67 }, 'mtu'],
      [{ bridge: 'b'.repeat(16) }, 'bridge'],
      [{ bridge: '..' }, 'bridge'],
      [{ bridge: 'a/b' }, 'bridge'],
      [{ hairpinMode: true, promiscMode: true }, 'hairpin'],
      [{ ipMasqBackend: 'pf' }, 'ipMasqBackend'],
    ] as const) {
      const r = outcome(() => parseBridgeConf(asConf({ ...BASE, ...over }), ''));
      expect(r.ok, JSON.stringify(over)).toBe(false);
      if (!r.ok) {
        expect(r.err.code).toBe(Code.InvalidConfig);
        expect(namesField(r.err.message, text), r.err.message).toBe(true);
      }
    }
  });

  // BUG (reported): IFNAME_RE counts UTF-16 code units, the kernel's IFNAMSIZ counts bytes,
  // so an 8-character "ü" name (16 bytes) passes and fails later in the kernel.
  it.fails('KNOWN BUG: a bridge name of 16 bytes in fewer characters is code 7', () => {
    for (const bridge of ['ü'.repeat(8), '¡𐀀𐀀𐀀¡']) {
      const r = outcome(() => parseBridgeConf(asConf({ ...BASE, bridge }), ''));
      expect(r.ok, bridge).toBe(false);
    }
  });
});
