// host-local's config under hostile input: an IpamConfig or a CniError (7, or 4 for a
// bad CNI_ARGS IP); every wrong JSON type gives 7 naming the field.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import type { NetConf } from '../../../../lib/cni/types';
import { contains, formatIP, tryParseIP } from '../../../../lib/ip';
import { parseIpamConfig } from '../../../../lib/ipam/config';
import { check, failure, hostileJson, nastyString, outcome, setAt, wrongTypes, type Json } from '../../../helpers/arbitraries';

const BASE = {
  cniVersion: '1.0.0',
  name: 'net1',
  type: 'bridge',
  ipam: {
    type: 'host-local',
    dataDir: '/var/lib/cni/networks',
    resolvConf: '/etc/resolv.conf',
    ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.200', gateway: '10.1.0.1' }], [{ subnet: 'fd00::/64' }]],
    routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400 }],
  },
  runtimeConfig: { ips: ['10.1.0.20'], ipRanges: [[{ subnet: '10.2.0.0/24' }]] },
  args: { cni: { ips: ['10.1.0.21'] } },
};
const LEGACY = { cniVersion: '0.3.1', name: 'net1', type: 'bridge', ipam: { type: 'host-local', subnet: '10.3.0.0/16', rangeStart: '10.3.1.0', gateway: '10.3.0.1' } };

const asConf = (j: Json): NetConf => j as unknown as NetConf;

type Kind = 'string' | 'number' | 'object' | 'array';
const FIELDS: [Json, (string | number)[], Kind][] = [
  [BASE, ['ipam'], 'object'],
  [BASE, ['ipam', 'dataDir'], 'string'],
  [BASE, ['ipam', 'resolvConf'], 'string'],
  [BASE, ['ipam', 'ranges'], 'array'],
  [BASE, ['ipam', 'ranges', 0], 'array'],
  [BASE, ['ipam', 'ranges', 0, 0], 'object'],
  [BASE, ['ipam', 'ranges', 0, 0, 'subnet'], 'string'],
  [BASE, ['ipam', 'ranges', 0, 0, 'rangeStart'], 'string'],
  [BASE, ['ipam', 'ranges', 0, 0, 'rangeEnd'], 'string'],
  [BASE, ['ipam', 'ranges', 0, 0, 'gateway'], 'string'],
  [BASE, ['ipam', 'routes'], 'array'],
  [BASE, ['ipam', 'routes', 0], 'object'],
  [BASE, ['ipam', 'routes', 0, 'dst'], 'string'],
  [BASE, ['ipam', 'routes', 0, 'gw'], 'string'],
  [BASE, ['ipam', 'routes', 0, 'mtu'], 'number'],
  [BASE, ['runtimeConfig'], 'object'],
  [BASE, ['runtimeConfig', 'ips'], 'array'],
  [BASE, ['runtimeConfig', 'ips', 0], 'string'],
  [BASE, ['runtimeConfig', 'ipRanges'], 'array'],
  [BASE, ['args', 'cni', 'ips'], 'array'],
  [BASE, ['args', 'cni', 'ips', 0], 'string'],
  [LEGACY, ['ipam', 'subnet'], 'string'],
  [LEGACY, ['ipam', 'rangeStart'], 'string'],
  [LEGACY, ['ipam', 'gateway'], 'string'],
];

/** The name a message should carry for a path: the last key, or the array holding the index. */
const fieldName = (path: (string | number)[]): string => {
  const keys = path.filter((p): p is string => typeof p === 'string');
  return keys[keys.length - 1]!;
};

describe('parseIpamConfig', () => {
  it('the base configs are valid', () => {
    expect(parseIpamConfig(asConf(BASE), '').rangeSets).toHaveLength(3);
    expect(parseIpamConfig(asConf(LEGACY), '').rangeSets).toHaveLength(1);
  });

  it.each(FIELDS.map(([base, path, kind]) => [path.join('.'), base, path, kind] as const))('a wrong type at %s is code 7 naming the field', (_n, base, path, kind) => {
    for (const bad of wrongTypes(kind)) {
      const r = outcome(() => parseIpamConfig(asConf(setAt(base, path, bad)), ''));
      expect(r.ok, `${path.join('.')} = ${JSON.stringify(bad)} was accepted`).toBe(false);
      if (r.ok) continue;
      expect(r.err.code).toBe(Code.InvalidConfig);
      expect(r.err.message.toLowerCase()).toContain(fieldName(path).toLowerCase());
    }
  });

  it('anything at any of those places: an IpamConfig or a CniError, and a result that is sound', () => {
    check(
      fc.property(fc.constantFrom(...FIELDS), fc.oneof(hostileJson, nastyString), fc.oneof(fc.constant(''), nastyString, fc.constantFrom('IP=10.1.0.30', 'IP=x', 'IP=10.1.0.30/24;IP=::1', 'IP')), ([base, path], v, cniArgs) => {
        const r = outcome(() => parseIpamConfig(asConf(setAt(base, path, v as Json)), cniArgs));
        if (!r.ok) {
          expect([Code.InvalidConfig, Code.InvalidEnv]).toContain(r.err.code);
          return;
        }
        const c = r.value;
        expect(c.name).toBe('net1');
        expect(c.dataDir).not.toBe('');
        expect(c.dataDir).not.toContain('\0');
        for (const set of c.rangeSets) {
          expect(set.length).toBeGreaterThan(0);
          for (const range of set) {
            expect(range.rangeStart.value <= range.rangeEnd.value).toBe(true);
            for (const ip of [range.rangeStart, range.rangeEnd, range.gateway]) expect(contains(range.subnet, ip)).toBe(true);
          }
        }
        // Requested IPs become file names: canonical text, each once.
        const names = c.requestedIPs.map(formatIP);
        expect(new Set(names).size).toBe(names.length);
        for (const n of names) expect(formatIP(tryParseIP(n)!)).toBe(n);
      }),
      600,
    );
  });

  it('hostile network names never pass as a directory name', () => {
    check(
      fc.property(fc.oneof(nastyString, fc.constantFrom('..', '.', 'a/b', '/abs', 'a\0', '')), (name) => {
        const r = outcome(() => parseIpamConfig(asConf({ ...BASE, name }), ''));
        if (r.ok) {
          expect(r.value.name).not.toMatch(/[/\0]/);
          expect(['', '.', '..']).not.toContain(r.value.name);
        } else {
          expect(r.err.code).toBe(Code.InvalidConfig);
          expect(r.err.message).toContain('network name');
        }
      }),
      300,
    );
  });

  it('range values outside the subnet, /31 and /32: code 7 naming the value', () => {
    const one = (range: Record<string, string>) => asConf({ ...BASE, runtimeConfig: {}, args: {}, ipam: { ...BASE.ipam, ranges: [[range]] } });
    for (const [range, text] of [
      [{ subnet: '10.1.0.0/24', rangeStart: '10.2.0.5' }, 'rangeStart'],
      [{ subnet: '10.1.0.0/24', rangeEnd: '10.1.1.5' }, 'rangeEnd'],
      [{ subnet: '10.1.0.0/24', gateway: '10.9.9.9' }, 'gateway'],
      [{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.100', rangeEnd: '10.1.0.50' }, 'rangeStart'],
      [{ subnet: '10.1.0.0/31' }, 'too small'],
      [{ subnet: '10.1.0.0/32' }, 'too small'],
      [{ subnet: '10.1.0.1/24' }, 'host bits'],
      [{ subnet: 'fd00::/24', rangeStart: '10.1.0.1' }, 'rangeStart'],
    ] as const) {
      const e = failure(() => parseIpamConfig(one(range), ''));
      expect(e.code).toBe(Code.InvalidConfig);
      expect(e.message).toContain(text);
    }
  });
});
