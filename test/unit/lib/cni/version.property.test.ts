// convertResult / parseResult round trips (https://github.com/containernetworking/cni/blob/main/SPEC.md#version-considerations) and hostile results
// (a delegate's stdout, a prevResult) that must end in a Result or a code-6 CniError.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import type { Result } from '../../../../lib/cni/types';
import { SUPPORTED_VERSIONS, convertResult, parseResult } from '../../../../lib/cni/version';
import { check, hostileJson, nested, outcome, setAt, wrongTypes, type Json } from '../../../helpers/arbitraries';

const word = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const posInt = fc.integer({ min: 1, max: 65535 });
const prefixed = (ip: fc.Arbitrary<string>, max: number) => fc.tuple(ip, fc.integer({ min: 0, max })).map(([a, p]) => `${a}/${p}`);
const anyCidr = fc.oneof(prefixed(fc.ipV4(), 32), prefixed(fc.ipV6(), 128));
const mac = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 }).map((b) => b.map((x) => x.toString(16).padStart(2, '0')).join(':'));

const ifaceArb = fc.record(
  { name: word, mac, mtu: posInt, sandbox: word.map((w) => `/run/netns/${w}`), socketPath: word.map((w) => `/run/${w}.sock`), pciID: fc.constant('0000:04:00.5') },
  { requiredKeys: ['name'] },
);
const ipArb = fc.record({ address: anyCidr, gateway: fc.oneof(fc.ipV4(), fc.ipV6()), interface: fc.nat(5) }, { requiredKeys: ['address'] });
const routeArb = fc.record(
  { dst: anyCidr, gw: fc.oneof(fc.ipV4(), fc.ipV6()), mtu: posInt, advmss: posInt, priority: posInt, table: fc.nat(300), scope: fc.constantFrom(0, 253, 254) },
  { requiredKeys: ['dst'] },
);
const nonEmpty = <T>(a: fc.Arbitrary<T>) => fc.array(a, { minLength: 1, maxLength: 4 });
const dnsArb = fc
  .record({ nameservers: nonEmpty(fc.oneof(fc.ipV4(), fc.ipV6())), domain: word, search: nonEmpty(word), options: nonEmpty(word) }, { requiredKeys: [] })
  .filter((d) => Object.keys(d).length > 0);
/** A well-formed internal (1.x) Result, in the normal form the plugins build (no empty lists or strings). */
const resultArb: fc.Arbitrary<Result> = fc
  .record({ interfaces: nonEmpty(ifaceArb), ips: nonEmpty(ipArb), routes: nonEmpty(routeArb), dns: dnsArb }, { requiredKeys: [] })
  .map((r) => ({ cniVersion: '1.1.0', ...r }));

const wire = (v: unknown): Json => JSON.parse(JSON.stringify(v));
const without11 = (r: Result): Result => ({
  ...r,
  ...(r.interfaces ? { interfaces: r.interfaces.map(({ mtu: _m, socketPath: _s, pciID: _p, ...rest }) => rest) } : {}),
});
const legacy = (v: string) => v === '0.1.0' || v === '0.2.0';

describe('convertResult / parseResult', () => {
  it('1.x → 0.4.0 → 1.x is lossless for every field 0.4.0 has', () => {
    check(
      fc.property(resultArb, (r) => {
        const v04 = wire(convertResult(r, '0.4.0')) as { ips?: { version: string; address: string }[]; interfaces?: object[] };
        for (const ip of v04.ips ?? []) expect(ip.version).toBe(ip.address.includes(':') ? '6' : '4');
        for (const i of v04.interfaces ?? []) expect(Object.keys(i).sort()).toEqual(expect.not.arrayContaining(['mtu', 'pciID', 'socketPath']));
        const back = convertResult(parseResult(v04, '0.4.0'), '1.1.0');
        expect(back).toEqual(convertResult(without11(r), '1.1.0'));
      }),
      400,
    );
  });

  it('any version: convert → parse → convert to the same version is stable', () => {
    check(
      fc.property(resultArb, fc.constantFrom(...SUPPORTED_VERSIONS), (r, v) => {
        const first = outcome(() => wire(convertResult(r, v)));
        if (!first.ok) {
          // Only a legacy result without any IP cannot be expressed.
          expect(legacy(v) && !r.ips?.length).toBe(true);
          expect(first.err.message).toContain('no valid IP addresses');
          return;
        }
        const parsed = parseResult(first.value, '9.9.9'); // the result's own cniVersion wins over the fallback
        expect(parsed.cniVersion).toBe(v);
        expect(wire(convertResult(parsed, v))).toEqual(first.value);
        if (legacy(v)) expect(Object.keys(first.value as object)).not.toContain('interfaces');
      }),
      600,
    );
  });

  it('arbitrary JSON as a result: a Result or code 6; a parsed Result then converts to a fixed point', () => {
    const resultish = fc.oneof(
      hostileJson,
      fc.tuple(resultArb, fc.constantFrom(...SUPPORTED_VERSIONS), fc.constantFrom('interfaces', 'ips', 'routes', 'dns', 'ip4', 'ip6', 'cniVersion'), hostileJson).map(
        ([r, v, k, x]) => {
          const j = outcome(() => wire(convertResult(r, v)));
          return j.ok ? { ...(j.value as object), [k]: x } : x;
        },
      ),
    );
    check(
      fc.property(resultish, fc.constantFrom(...SUPPORTED_VERSIONS, '', 'junk'), (json, fallback) => {
        const p = outcome(() => parseResult(json, fallback));
        if (!p.ok) {
          expect(p.err.code).toBe(Code.DecodeFailure);
          return;
        }
        const c = outcome(() => wire(convertResult(p.value, p.value.cniVersion)));
        if (!c.ok) return; // e.g. a legacy result with no address: a CniError, which is all we ask
        expect(wire(convertResult(parseResult(c.value, 'junk'), p.value.cniVersion))).toEqual(c.value);
      }),
      600,
    );
  });

  // Every field of every shape, given a value of the wrong JSON type: code 6 naming the field.
  const FIELDS: [string, (string | number)[], 'string' | 'number' | 'object' | 'array'][] = [
    ['1.1.0', ['interfaces'], 'array'],
    ['1.1.0', ['interfaces', 0], 'object'],
    ['1.1.0', ['interfaces', 0, 'name'], 'string'],
    ['1.1.0', ['interfaces', 0, 'mac'], 'string'],
    ['1.1.0', ['interfaces', 0, 'mtu'], 'number'],
    ['1.1.0', ['interfaces', 0, 'sandbox'], 'string'],
    ['1.1.0', ['ips'], 'array'],
    ['1.1.0', ['ips', 0], 'object'],
    ['1.1.0', ['ips', 0, 'address'], 'string'],
    ['1.1.0', ['ips', 0, 'gateway'], 'string'],
    ['1.1.0', ['ips', 0, 'interface'], 'number'],
    ['1.1.0', ['routes'], 'array'],
    ['1.1.0', ['routes', 0, 'dst'], 'string'],
    ['1.1.0', ['routes', 0, 'gw'], 'string'],
    ['1.1.0', ['routes', 0, 'table'], 'number'],
    ['1.1.0', ['dns'], 'object'],
    ['1.1.0', ['dns', 'nameservers'], 'array'],
    ['1.1.0', ['dns', 'domain'], 'string'],
    ['0.4.0', ['ips', 0, 'version'], 'string'],
    ['0.2.0', ['ip4'], 'object'],
    ['0.2.0', ['ip4', 'ip'], 'string'],
    ['0.2.0', ['ip4', 'gateway'], 'string'],
    ['0.2.0', ['ip4', 'routes'], 'array'],
  ];
  const FULL: Result = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', mac: '0a:00:00:00:00:01', mtu: 1400, sandbox: '/run/netns/x' }],
    ips: [{ address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', table: 5 }],
    dns: { nameservers: ['10.1.0.1'], domain: 'x' },
  };
  it.each(FIELDS)('%s result with a wrong type at %j: code 6 naming it', (v, path, kind) => {
    const base = wire(convertResult(FULL, v));
    const field = String(path[path.length - 1]);
    for (const bad of wrongTypes(kind)) {
      // A string "version" other than "4"/"6" is wrong too; any other string field takes any string.
      const r = outcome(() => parseResult(setAt(base, path, bad), v));
      if (kind === 'string' && typeof bad === 'string') continue;
      expect(r.ok, `${JSON.stringify(path)} = ${JSON.stringify(bad)}`).toBe(false);
      if (r.ok) continue;
      expect(r.err.code).toBe(Code.DecodeFailure);
      expect(r.err.message).toContain(typeof path[path.length - 1] === 'number' ? String(path[path.length - 2]) : field);
    }
  });

  it('a delegate printing absurdly deep JSON in a known field gets code 6, not a RangeError', () => {
    for (const path of [['ips', 0], ['routes', 0, 'dst'], ['dns', 'domain'], ['interfaces', 0, 'name']]) {
      const r = outcome(() => parseResult(setAt(wire(convertResult(FULL, '1.1.0')), path, nested(20_000)), '1.1.0'));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.err.code).toBe(Code.DecodeFailure);
    }
  });
});
