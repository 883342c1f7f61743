import { cniError as failure } from '../../lib/ipam/helpers';
import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import { buildDelegateConf, parseFlannelConf, parseSavedConf, withKeys } from '../../../../plugins/flannel/delegate';
import { marshalGo } from '../../../../lib/gojson';
import { parseSubnetEnv } from '../../../../plugins/flannel/subnet-env';

const CLASSIC = parseSubnetEnv('FLANNEL_NETWORK=172.16.0.0/16\nFLANNEL_SUBNET=172.16.99.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', '/x');

const render = (conf: Record<string, unknown>, env = CLASSIC): string => buildDelegateConf(parseFlannelConf(conf), env).bytes.toString('utf8');


describe('buildDelegateConf: the reference byte strings (as the reference flannel renders them)', () => {
  it('(a) minimal conf without cniVersion', () => {
    expect(render({ name: 'mynet', type: 'flannel' })).toBe(
      '{"ipMasq":false,"ipam":{"ranges":[[{"subnet":"172.16.99.0/24"}]],"routes":[{"dst":"172.16.0.0/16"}],"type":"host-local"},"isGateway":true,"mtu":1450,"name":"mynet","type":"bridge"}',
    );
  });

  it('(b) kube-flannel conflist entry', () => {
    const conf = { cniVersion: '0.3.1', name: 'cbr0', type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } };
    const d = buildDelegateConf(parseFlannelConf(conf), CLASSIC);
    expect(d.bytes.toString('utf8')).toBe(
      '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"172.16.99.0/24"}]],"routes":[{"dst":"172.16.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}',
    );
    expect(d.type).toBe('bridge');
  });

  it('dual stack: two range-sets, v4 routes then v6 routes', () => {
    const env = parseSubnetEnv(
      'FLANNEL_NETWORK=172.16.0.0/16\nFLANNEL_SUBNET=172.16.99.1/24\nFLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
      '/x',
    );
    const ipam = JSON.parse(render({ name: 'mynet', type: 'flannel', cniVersion: '1.0.0' }, env)).ipam;
    expect(ipam.ranges).toEqual([[{ subnet: '172.16.99.0/24' }], [{ subnet: 'fc00::/64' }]]);
    expect(ipam.routes).toEqual([{ dst: '172.16.0.0/16' }, { dst: 'fc00::/48' }]);
  });

  it('several networks: one route each, still one range', () => {
    const env = parseSubnetEnv('FLANNEL_NETWORK=10.1.0.0/16,192.168.0.0/16\nFLANNEL_SUBNET=10.1.17.1/24\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=false\n', '/x');
    expect(render({ name: 'n', type: 'flannel' }, env)).toBe(
      '{"ipMasq":true,"ipam":{"ranges":[[{"subnet":"10.1.17.0/24"}]],"routes":[{"dst":"10.1.0.0/16"},{"dst":"192.168.0.0/16"}],"type":"host-local"},"isGateway":true,"mtu":1400,"name":"n","type":"bridge"}',
    );
  });

  it('v6 only: no v4 range', () => {
    const env = parseSubnetEnv('FLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:7::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n', '/x');
    const ipam = JSON.parse(render({ name: 'n', type: 'flannel' }, env)).ipam;
    expect(ipam.ranges).toEqual([[{ subnet: 'fc00:0:0:7::/64' }]]);
    expect(ipam.routes).toEqual([{ dst: 'fc00::/48' }]);
  });
});

describe('buildDelegateConf: user keys and flannel defaults', () => {
  it('keeps the user delegate values for ipMasq, mtu, isGateway, and adds isGateway only for bridge', () => {
    const d = JSON.parse(render({ name: 'n', type: 'flannel', delegate: { ipMasq: true, mtu: 9000, isGateway: false } }));
    expect(d).toMatchObject({ ipMasq: true, mtu: 9000, isGateway: false, type: 'bridge' });
    const other = JSON.parse(render({ name: 'n', type: 'flannel', delegate: { type: 'ptp' } }));
    expect(other.type).toBe('ptp');
    expect('isGateway' in other).toBe(false);
    // present-but-null counts as set, as with the reference
    expect(JSON.parse(render({ name: 'n', type: 'flannel', delegate: { mtu: null } })).mtu).toBe(null);
  });

  it('flannel cniVersion overrides the delegate one; runtimeConfig is passed in', () => {
    const d = JSON.parse(
      render({ name: 'n', type: 'flannel', cniVersion: '1.0.0', delegate: { cniVersion: '0.3.0' }, runtimeConfig: { portMappings: [{ hostPort: 80 }] } }),
    );
    expect(d.cniVersion).toBe('1.0.0');
    expect(d.runtimeConfig).toEqual({ portMappings: [{ hostPort: 80 }] });
  });

  it('uses the top-level ipam as the base: type kept, ranges replaced, routes appended, other keys passed', () => {
    const conf = {
      name: 'n',
      type: 'flannel',
      ipam: { type: 'my-ipam', dataDir: '/tmp/x', ranges: [[{ subnet: '1.2.3.0/24' }]], routes: [{ dst: '10.9.0.1/16', gw: '172.16.99.254', junk: 1 }] },
    };
    expect(render(conf)).toBe(
      '{"ipMasq":false,"ipam":{"dataDir":"/tmp/x","ranges":[[{"subnet":"172.16.99.0/24"}]],"routes":[{"dst":"10.9.0.1/16","gw":"172.16.99.254"},{"dst":"172.16.0.0/16"}],"type":"my-ipam"},"isGateway":true,"mtu":1450,"name":"n","type":"bridge"}',
    );
  });

  it('re-encodes user routes like Go CNI routes: struct field order, zero ints omitted, table/scope kept', () => {
    const conf = { name: 'n', type: 'flannel', ipam: { routes: [{ scope: 0, table: 100, advmss: 1400, priority: 0, mtu: 1300, gw: 'FC00::1', dst: 'fc00:0::/64' }] } };
    expect(JSON.stringify(JSON.parse(render(conf)).ipam.routes[0])).toBe('{"dst":"fc00::/64","gw":"fc00::1","mtu":1300,"advmss":1400,"table":100,"scope":0}');
    expect(render(conf)).toContain('{"dst":"fc00::/64","gw":"fc00::1","mtu":1300,"advmss":1400,"table":100,"scope":0}');
  });

  it('does not mutate the parsed config (builds twice the same)', () => {
    const conf = parseFlannelConf({ name: 'n', type: 'flannel', ipam: { routes: [{ dst: '10.0.0.0/8' }] }, delegate: { hairpinMode: true } });
    const a = buildDelegateConf(conf, CLASSIC).bytes.toString();
    expect(buildDelegateConf(conf, CLASSIC).bytes.toString()).toBe(a);
    expect(conf.delegate).toEqual({ hairpinMode: true });
  });
});

describe('parseFlannelConf refusals (code 7)', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['delegate.name', { delegate: { name: 'x' } }, "'delegate' dictionary must not have 'name' field, it'll be set by flannel"],
    ['delegate.ipam', { delegate: { ipam: {} } }, "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel"],
    ['delegate.type', { delegate: { type: 5 } }, "'type'"],
    ['delegate', { delegate: 'bridge' }, '"delegate" must be an object'],
    ['ipam', { ipam: [] }, '"ipam" must be an object'],
    ['runtimeConfig', { runtimeConfig: 1 }, '"runtimeConfig" must be an object'],
    ['subnetFile', { subnetFile: 7 }, '"subnetFile"'],
    ['dataDir', { dataDir: 'relative/dir' }, '"dataDir" must be an absolute path'],
    ['ipam.routes', { ipam: { routes: {} } }, '"ipam.routes" must be an array'],
    ['ipam.routes[0].dst', { ipam: { routes: [{ gw: '1.2.3.4' }] } }, 'ipam.routes[0].dst'],
    ['ipam.routes[0].gw', { ipam: { routes: [{ dst: '1.0.0.0/8', gw: 'x' }] } }, 'ipam.routes[0].gw'],
    ['ipam.routes[0].mtu', { ipam: { routes: [{ dst: '1.0.0.0/8', mtu: 1.5 }] } }, 'ipam.routes[0].mtu'],
  ];
  for (const [what, extra, text] of cases) {
    it(`refuses a bad ${what}`, () => {
      const e = failure(() => parseFlannelConf({ name: 'n', type: 'flannel', ...extra }));
      expect(e.code).toBe(Code.InvalidConfig);
      expect(e.message).toContain(text);
    });
  }

  it('treats null optional objects as absent and fills the default paths', () => {
    const c = parseFlannelConf({ name: 'n', type: 'flannel', delegate: null, ipam: null, runtimeConfig: null });
    expect(c).toMatchObject({ subnetFile: '/run/flannel/subnet.env', dataDir: '/var/lib/cni/flannel', delegate: {} });
    expect(c.ipam).toBeUndefined();
    expect(c.runtimeConfig).toBeUndefined();
  });
});

describe('marshalGo', () => {
  it('sorts keys at every level, compact, no newline', () => {
    expect(marshalGo({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
  });
  it('escapes like Go: HTML characters and line separators', () => {
    expect(marshalGo({ s: 'a<b>&c\u2028"\n\u0001' })).toBe('{"s":"a\\u003cb\\u003e\\u0026c\\u2028\\"\\n\\u0001"}');
  });
  it('prints numbers like Go float64', () => {
    expect(marshalGo([1450, 1.5, 1e21, 1e-7, -0, 123456789012])).toBe('[1450,1.5,1e+21,1e-7,-0,123456789012]');
  });
  it('sorts keys by UTF-8 bytes', () => {
    expect(marshalGo({ '\u{1F600}': 1, '\uFF01': 2 })).toBe('{"\uFF01":2,"\u{1F600}":1}');
  });
});

describe('saved configs', () => {
  it('parses a saved config and refuses empty or broken ones', () => {
    expect(parseSavedConf(Buffer.from('{"type":"bridge","name":"n"}')).type).toBe('bridge');
    expect(() => parseSavedConf(Buffer.alloc(0))).toThrow(/empty/);
    expect(() => parseSavedConf(Buffer.from('{"type":'))).toThrow(/not JSON/);
    expect(() => parseSavedConf(Buffer.from('[1]'))).toThrow(/array/);
    expect(() => parseSavedConf(Buffer.from('{"name":"n"}'))).toThrow(/type/);
  });
  it('withKeys adds keys in sorted position', () => {
    expect(withKeys({ type: 'bridge', name: 'n' }, { prevResult: { cniVersion: '1.0.0' } }).bytes.toString()).toBe(
      '{"name":"n","prevResult":{"cniVersion":"1.0.0"},"type":"bridge"}',
    );
  });
});
