// flannel's config and the delegate config it renders, under hostile input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import { MAX_JSON_DEPTH, parseConf } from '../../../../lib/cni/conf';
import { buildDelegateConf, parseFlannelConf, parseSavedConf } from '../../../../plugins/flannel/delegate';
import type { SubnetEnv } from '../../../../plugins/flannel/subnet-env';
import { check, failure, hostileJson, namesField, nastyKey, nastyString, nested, objectOf, outcome, setAt, wrongTypes, type Json } from '../../../helpers/arbitraries';

const BASE = {
  cniVersion: '1.0.0',
  name: 'net1',
  type: 'flannel',
  subnetFile: '/run/flannel/subnet.env',
  dataDir: '/var/lib/cni/flannel',
  delegate: { type: 'bridge', hairpinMode: true, isDefaultGateway: true },
  ipam: { type: 'host-local', dataDir: '/var/lib/cni/networks', routes: [{ dst: '10.0.0.0/8', gw: '10.1.0.1', mtu: 1400 }] },
  runtimeConfig: { portMappings: [] },
};
const ENV: SubnetEnv = { networks: ['10.1.0.0/16'], subnet: '10.1.17.0/24', ipv6Networks: [], mtu: 1450, ipMasq: true };
// JSON.stringify prints -0 as 0 while Go (and marshalGo) print -0: compare modulo that.
const canon = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
const raw = (j: Json) => j as unknown as Record<string, unknown>;

type Kind = 'string' | 'number' | 'object' | 'array';
const FIELDS: [(string | number)[], Kind][] = [
  [['name'], 'string'],
  [['subnetFile'], 'string'],
  [['dataDir'], 'string'],
  [['delegate'], 'object'],
  [['delegate', 'type'], 'string'],
  [['ipam'], 'object'],
  [['ipam', 'type'], 'string'],
  [['ipam', 'routes'], 'array'],
  [['ipam', 'routes', 0], 'object'],
  [['ipam', 'routes', 0, 'dst'], 'string'],
  [['ipam', 'routes', 0, 'gw'], 'string'],
  [['ipam', 'routes', 0, 'mtu'], 'number'],
  [['runtimeConfig'], 'object'],
];
const PLAIN_NAME = /^(?!\.\.?$)[^/\\\0]+$/;

const fieldName = (path: (string | number)[]) => {
  const keys = path.filter((p): p is string => typeof p === 'string');
  return keys[keys.length - 1]!;
};

const envArb: fc.Arbitrary<SubnetEnv> = fc.record({
  networks: fc.constantFrom([], ['10.1.0.0/16'], ['10.1.0.0/16', '192.168.0.0/16']),
  subnet: fc.option(fc.constantFrom('10.1.17.0/24', '10.1.0.0/30'), { nil: undefined }),
  ipv6Networks: fc.constantFrom([], ['fd00::/48']),
  ipv6Subnet: fc.option(fc.constant('fd00:0:0:11::/64'), { nil: undefined }),
  mtu: fc.integer({ min: 68, max: 65535 }),
  ipMasq: fc.boolean(),
});

describe('parseFlannelConf / buildDelegateConf', () => {
  it.each(FIELDS.map(([p, k]) => [p.join('.'), p, k] as const))('a wrong type for %s is code 7 naming it', (_n, path, kind) => {
    for (const bad of wrongTypes(kind)) {
      // Paths only need to be absolute: any other string is wrong too, but that is not a type error.
      const r = outcome(() => parseFlannelConf(raw(setAt(BASE, path, bad))));
      expect(r.ok, `${path.join('.')} = ${JSON.stringify(bad)} was accepted`).toBe(false);
      if (r.ok) continue;
      expect(r.err.code).toBe(Code.InvalidConfig);
      expect(namesField(r.err.message, fieldName(path)), r.err.message).toBe(true);
    }
  });

  it('relative paths and the forbidden delegate keys are code 7 naming them', () => {
    for (const [over, text] of [
      [{ dataDir: 'var/lib/cni' }, 'dataDir'],
      [{ dataDir: '' }, 'dataDir'],
      [{ subnetFile: './subnet.env' }, 'subnetFile'],
      [{ delegate: { name: 'x' } }, "'name'"],
      [{ delegate: { ipam: {} } }, "'ipam'"],
      [{ delegate: { ipam: null } }, "'ipam'"],
    ] as const) {
      const e = failure(() => parseFlannelConf(raw({ ...BASE, ...over } as Json)));
      expect(e.code).toBe(Code.InvalidConfig);
      expect(e.message).toContain(text);
    }
  });

  it('anything anywhere: a config or code 7; what is built is a valid plugin config for the delegate', () => {
    check(
      fc.property(
        fc.oneof(fc.constantFrom(...FIELDS.map(([p]) => p)), fc.constantFrom(['delegate', '__proto__'], ['delegate', 'constructor'], ['ipam', 'ranges'], ['__proto__'])),
        fc.oneof(hostileJson, nastyString),
        envArb,
        (path, v, env) => {
          const r = outcome(() => {
            const conf = parseFlannelConf(raw(setAt(BASE, path, v as Json)));
            return { conf, d: buildDelegateConf(conf, env) };
          });
          if (!r.ok) {
            expect(r.err.code).toBe(Code.InvalidConfig);
            return;
          }
          const { conf, d } = r.value;
          // Only a plain file name is ever saved as the delegate type.
          expect(d.type).toMatch(PLAIN_NAME);
          const parsed = JSON.parse(d.bytes.toString('utf8'));
          expect(canon(parsed)).toEqual(canon(d.config));
          expect(parsed.name).toBe(conf.name);
          expect(parsed.type).toBe(d.type);
          // Go's map order: sorted keys (as UTF-8 bytes; these are ASCII).
          const keys = Object.keys(parsed);
          expect(keys).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
          const ranges = [env.subnet, env.ipv6Subnet].filter(Boolean).map((subnet) => [{ subnet }]);
          expect(parsed.ipam.ranges).toEqual(ranges);
          // The saved bytes are what DEL reads back.
          expect(canon(parseSavedConf(d.bytes).config)).toEqual(canon(parsed));
          // And what the delegate parses: a plugin config the dispatcher accepts (name and type checked).
          if (typeof d.type === 'string' && d.type !== '') {
            const again = outcome(() => parseConf(d.bytes));
            if (!again.ok) expect([Code.InvalidConfig]).toContain(again.err.code);
          }
        },
      ),
      600,
    );
  });

  it('user keys in delegate survive as own data, "__proto__" included', () => {
    check(
      fc.property(fc.array(fc.tuple(nastyKey, hostileJson), { maxLength: 5 }), (entries) => {
        const delegate = objectOf(entries.filter(([k]) => k !== 'name' && k !== 'ipam' && k !== 'type'));
        const r = outcome(() => buildDelegateConf(parseFlannelConf(raw({ ...BASE, delegate } as Json)), ENV));
        if (!r.ok) return;
        const parsed = JSON.parse(r.value.bytes.toString('utf8'));
        for (const [k, v] of Object.entries(delegate)) {
          if (k === 'cniVersion' || k === 'runtimeConfig') continue; // always flannel's
          expect(Object.prototype.hasOwnProperty.call(parsed, k), k).toBe(true);
          expect(canon(parsed[k])).toEqual(canon(v));
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      400,
    );
  });

  // delegate.type "" or one with a "/" used to pass here; ADD then saved a scratch file
  // that DEL could not use, and only findInPath refused the name.
  it('a delegate type that is not a plain file name is code 7 naming it before anything is saved', () => {
    for (const type of ['', '/bin/sh', '../bridge', '..', '.', 'a\\b', 'br\u0000idge']) {
      const e = failure(() => parseFlannelConf(raw({ ...BASE, delegate: { type } } as Json)));
      expect(e.code).toBe(Code.InvalidConfig);
      expect(e.message).toContain('delegate.type');
      expect(e.message).toContain('invalid plugin type');
    }
    // A saved config with such a type is unusable (DEL then rebuilds it), by the same rule.
    for (const type of ['../bridge', '/bin/sh', '..']) expect(() => parseSavedConf(Buffer.from(JSON.stringify({ type })))).toThrow(/plain file name/);
    expect(parseFlannelConf(raw({ ...BASE, delegate: { type: 'bridge..x' } } as Json)).delegate.type).toBe('bridge..x');
  });

  it('a delegate nested to the dispatcher limit renders without blowing the stack', () => {
    const conf = parseFlannelConf(raw({ ...BASE, delegate: { type: 'bridge', x: nested(MAX_JSON_DEPTH - 2) } } as Json));
    const d = buildDelegateConf(conf, ENV);
    expect(JSON.parse(d.bytes.toString('utf8')).x).toBeDefined();
  });
});
