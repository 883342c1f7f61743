// The bridge NetConf under hostile input: a BridgeConf or a CniError; a wrong JSON type
// in any field is code 7 (or 2 for a field not supported yet) naming the field.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import type { NetConf } from '../../../../lib/cni/types';
import { convertResult } from '../../../../lib/cni/version';
import { tryParseIP } from '../../../../lib/ip';
import { parseBridgeConf } from '../../../../plugins/bridge/config';
import { check, hostileJson, namesField, nastyString, outcome, setAt, wrongTypes, type Json } from '../../../helpers/arbitraries';

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
  // `dns` and its members included: they used to be checked only as "an object" (an
  // array passed), and {"nameservers": {"length": 1}} made printing the ADD result throw.
  const rows = BRIDGE_FIELDS.map(([path, kind]) => [path.join('.'), path, kind] as const);
  it.each(rows)('a wrong type for %s is code 7 (or 2) naming it', (_n, path, kind) => wrongTypeCase(path, kind));

  it('anything anywhere: a BridgeConf or a CniError (never a TypeError)', () => {
    check(
      fc.property(
        fc.oneof(
          fc.constantFrom(...BRIDGE_FIELDS.map(([p]) => p)),
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
          // What reaches the ADD result: printable, and nameservers are addresses.
          if (c.dns !== undefined) {
            expect(() => convertResult({ cniVersion: '1.0.0', dns: c.dns }, '1.0.0')).not.toThrow();
            for (const ns of c.dns.nameservers ?? []) expect(tryParseIP(ns.replace(/%.+$/, '')), ns).toBeDefined();
            for (const s of [c.dns.domain ?? '', ...(c.dns.search ?? []), ...(c.dns.options ?? [])]) expect(typeof s).toBe('string');
          }
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

  // The kernel's IFNAMSIZ counts bytes, not characters: an 8-character "ü" name is 16
  // bytes and used to pass here, to fail later in the kernel.
  it('a bridge name of 16 bytes in fewer characters is code 7 naming bridge; 15 bytes is fine', () => {
    for (const bridge of ['ü'.repeat(8), '¡𐀀𐀀𐀀¡', `${'b'.repeat(14)}ü`]) {
      const r = outcome(() => parseBridgeConf(asConf({ ...BASE, bridge }), ''));
      expect(r.ok, bridge).toBe(false);
      if (!r.ok) {
        expect(r.err.code).toBe(Code.InvalidConfig);
        expect(namesField(r.err.message, 'bridge'), r.err.message).toBe(true);
      }
    }
    for (const bridge of [`${'b'.repeat(13)}ü`, 'ü'.repeat(7), 'b'.repeat(15)]) {
      expect(parseBridgeConf(asConf({ ...BASE, bridge }), '').bridge).toBe(bridge);
    }
  });

  it('dns: members are checked (nameservers are IPs, no line breaks), null is absent, unknown keys are dropped', () => {
    for (const [dns, text] of [
      [{ nameservers: { length: 1 } }, 'nameservers'],
      [{ nameservers: 'x' }, 'nameservers'],
      [{ nameservers: ['resolver.local'] }, 'nameservers[0]'],
      [{ nameservers: ['10.0.0.1', null] }, 'nameservers[1]'],
      [{ nameservers: ['10.0.0.1%eth0'] }, 'nameservers[0]'],
      [{ domain: ['a'] }, 'domain'],
      [{ domain: 'a\nnameserver 6.6.6.6' }, 'domain'],
      [{ search: ['a', 5] }, 'search[1]'],
      [{ options: 'ndots:5' }, 'options'],
      [['10.0.0.1'], 'dns'],
    ] as const) {
      const r = outcome(() => parseBridgeConf(asConf({ ...BASE, dns } as unknown as Json), ''));
      expect(r.ok, JSON.stringify(dns)).toBe(false);
      if (!r.ok) {
        expect(r.err.code).toBe(Code.InvalidConfig);
        expect(r.err.message).toContain(text);
      }
    }
    expect(parseBridgeConf(asConf({ ...BASE, dns: null }), '').dns).toBeUndefined();
    expect(parseBridgeConf(asConf({ ...BASE, dns: { nameservers: ['fe80::1%eth0', 'fd00::53'], domain: null, x: 1 } } as unknown as Json), '').dns).toEqual({
      nameservers: ['fe80::1%eth0', 'fd00::53'],
    });
    expect(parseBridgeConf(asConf(BASE), '').dns).toEqual(BASE.dns);
  });
});
