import { describe, expect, it } from 'vitest';
import { CniError, Code } from '../../../../lib/cni/errors';
import type { Result } from '../../../../lib/cni/types';
import {
  SUPPORTED_VERSIONS,
  compareVersions,
  convertResult,
  parseResult,
  parseVersion,
  versionAtLeast,
} from '../../../../lib/cni/version';

/** A bridge-like dual-stack result using every 1.1 field. */
const full = (): Result => ({
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:00:00:00:00:01', mtu: 1450 },
    { name: 'veth1234', mac: '0a:00:00:00:00:02', mtu: 1450, socketPath: '/run/vhost.sock' },
    { name: 'eth0', mac: '0a:00:00:00:00:03', mtu: 1450, sandbox: '/var/run/netns/x', pciID: '0000:04:00.5' },
  ],
  ips: [
    { address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
    { address: '10.2.0.5/16', interface: 0 },
    { address: 'fd01::5/64', interface: 0 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, advmss: 1360, priority: 5, table: 0, scope: 0 },
    { dst: '::/0', gw: 'fd00::1' },
    { dst: '15.5.6.0/24' },
  ],
  dns: { nameservers: ['10.1.0.1'], domain: 'cluster.local', search: ['svc.local'], options: ['ndots:5'] },
});

function expectCniError(fn: () => unknown, code: number, msg: RegExp): CniError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(CniError);
  const e = caught as CniError;
  expect(e.code).toBe(code);
  expect(e.message).toMatch(msg);
  return e;
}

describe('versions', () => {
  it('advertises exactly the seven spec versions, in order', () => {
    expect(SUPPORTED_VERSIONS).toEqual(['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
  });

  it.each([
    ['1.1.0', [1, 1, 0]],
    ['0.3.1', [0, 3, 1]],
    ['1', [1, 0, 0]],
    ['1.2', [1, 2, 0]],
    ['10.20.30', [10, 20, 30]],
    ['', [0, 1, 0]],
  ] as const)('parses %j', (v, want) => {
    expect(parseVersion(v)).toEqual(want);
  });

  it.each(['1.2.3.4', 'x.y', '1.x', '-1.0.0', '1..0', '1.0.', ' 1.0.0', 'v1.0.0', '1.0.0-rc1', '+1', '1e3', '99999999999999999999'])(
    'rejects %j',
    (v) => {
      expect(() => parseVersion(v)).toThrow(`invalid version "${v}"`);
    },
  );

  it('compares numerically, not as strings', () => {
    expect(compareVersions('0.10.0', '0.9.0')).toBe(1);
    expect(compareVersions('0.3.0', '0.3.1')).toBe(-1);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
    expect(compareVersions('2', '1.99.99')).toBe(1);
    expect(compareVersions('', '0.1.0')).toBe(0);
    expect(() => compareVersions('1.0.0', 'junk')).toThrow(/invalid version/);
  });

  it('versionAtLeast is >=', () => {
    expect(versionAtLeast('0.4.0', '0.4.0')).toBe(true);
    expect(versionAtLeast('1.0.0', '0.4.0')).toBe(true);
    expect(versionAtLeast('0.3.1', '0.4.0')).toBe(false);
    expect(versionAtLeast('1.0.0', '1.1.0')).toBe(false);
    expect(versionAtLeast('1.1.0', '1.1.0')).toBe(true);
  });
});

describe('convertResult to 1.x', () => {
  it.each(['1.0.0', '1.1.0'])('%s: same shape, only cniVersion changes', (to) => {
    const r = full();
    const out = convertResult(r, to);
    expect(out).toEqual({ ...full(), cniVersion: to });
    expect(Object.keys(out)).toEqual(['cniVersion', 'interfaces', 'ips', 'routes', 'dns']);
    expect(r).toEqual(full()); // input untouched
  });

  it('keeps interface index 0 and route table/scope 0, which are real values', () => {
    const out = convertResult(full(), '1.1.0') as { ips: { interface?: number }[]; routes: Record<string, unknown>[] };
    expect(out.ips[2]!.interface).toBe(0);
    expect(out.routes[0]).toMatchObject({ table: 0, scope: 0 });
  });

  it('omits empty lists, an empty dns and empty optional strings', () => {
    const r: Result = {
      cniVersion: '1.1.0',
      interfaces: [],
      ips: [{ address: '10.0.0.2/24', gateway: '' }],
      routes: [],
      dns: { nameservers: [], search: [], options: [], domain: '' },
    };
    expect(convertResult(r, '1.0.0')).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] });
    expect(JSON.stringify(convertResult({ cniVersion: '1.1.0' }, '1.1.0'))).toBe('{"cniVersion":"1.1.0"}');
  });

  it('keeps only the non-empty dns fields', () => {
    const out = convertResult({ cniVersion: '1.1.0', dns: { nameservers: [], search: ['a.local'] } }, '1.1.0');
    expect(out).toEqual({ cniVersion: '1.1.0', dns: { search: ['a.local'] } });
  });
});

describe('convertResult to 0.3.0 / 0.3.1 / 0.4.0', () => {
  it.each(['0.3.0', '0.3.1', '0.4.0'])('%s: ips gain version, interfaces lose the 1.1 fields, routes stay whole', (to) => {
    const out = convertResult(full(), to);
    expect(out).toEqual({
      cniVersion: to,
      interfaces: [
        { name: 'cni0', mac: '0a:00:00:00:00:01' },
        { name: 'veth1234', mac: '0a:00:00:00:00:02' },
        { name: 'eth0', mac: '0a:00:00:00:00:03', sandbox: '/var/run/netns/x' },
      ],
      ips: [
        { version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2 },
        { version: '6', address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
        { version: '4', address: '10.2.0.5/16', interface: 0 },
        { version: '6', address: 'fd01::5/64', interface: 0 },
      ],
      routes: full().routes,
      dns: full().dns,
    });
  });

  it('emits no dns when there is none', () => {
    const out = convertResult({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] }, '0.4.0');
    expect(out).toEqual({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.2/24' }] });
  });

  it('fails with 999 on an address that is not a CIDR (a plugin bug)', () => {
    expectCniError(() => convertResult({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2' }] }, '0.4.0'), Code.Internal, /"10\.0\.0\.2" is not a CIDR/);
  });
});

describe('convertResult to 0.1.0 / 0.2.0', () => {
  it.each(['0.1.0', '0.2.0'])('%s: first IP of each family, routes grouped by family with dst/gw only', (to) => {
    const out = convertResult(full(), to);
    expect(out).toEqual({
      cniVersion: to,
      ip4: {
        ip: '10.1.0.5/16',
        gateway: '10.1.0.1',
        routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '15.5.6.0/24' }],
      },
      ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0', gw: 'fd00::1' }] },
      dns: full().dns,
    });
    expect(Object.keys(out)).toEqual(['cniVersion', 'ip4', 'ip6', 'dns']);
  });

  it('drops routes whose family has no ip block, and omits empty routes/gateway', () => {
    const r: Result = {
      cniVersion: '1.1.0',
      ips: [{ address: 'fd00::5/64' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '10.9.0.0/16' }],
    };
    expect(convertResult(r, '0.2.0')).toEqual({ cniVersion: '0.2.0', ip6: { ip: 'fd00::5/64' } });
  });

  it('picks the first IPv6 even when it comes after several IPv4', () => {
    const r: Result = { cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }, { address: '10.0.0.3/24' }, { address: '2001:db8::1/64' }] };
    expect(convertResult(r, '0.1.0')).toEqual({ cniVersion: '0.1.0', ip4: { ip: '10.0.0.2/24' }, ip6: { ip: '2001:db8::1/64' } });
  });

  it('refuses a result without any IP', () => {
    const r: Result = { cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }], dns: { nameservers: ['1.1.1.1'] } };
    expectCniError(() => convertResult(r, '0.2.0'), Code.Internal, /^cannot convert: no valid IP addresses$/);
    expectCniError(() => convertResult({ cniVersion: '1.1.0', ips: [] }, '0.1.0'), Code.Internal, /no valid IP addresses/);
  });
});

describe('convertResult target', () => {
  it.each(['9.9.9', '1.0', '', '0.5.0'])('rejects unsupported %j', (to) => {
    expectCniError(() => convertResult(full(), to), Code.IncompatibleVersion, /unsupported CNI version/);
  });
});

describe('parseResult', () => {
  it.each(['1.0.0', '1.1.0'])('round-trips the %s output', (v) => {
    expect(parseResult(convertResult(full(), v), '0.1.0')).toEqual({ ...full(), cniVersion: v });
  });

  it.each(['0.3.0', '0.3.1', '0.4.0'])('reads %s: version dropped, 1.1 interface fields absent', (v) => {
    const r = parseResult(convertResult(full(), v), '1.1.0');
    expect(r.cniVersion).toBe(v);
    expect(r.ips).toEqual(full().ips);
    expect(r.routes).toEqual(full().routes);
    expect(r.dns).toEqual(full().dns);
    expect(r.interfaces).toEqual([
      { name: 'cni0', mac: '0a:00:00:00:00:01' },
      { name: 'veth1234', mac: '0a:00:00:00:00:02' },
      { name: 'eth0', mac: '0a:00:00:00:00:03', sandbox: '/var/run/netns/x' },
    ]);
  });

  it('ignores 1.1 interface fields in a 0.4.0 result, as the 0.4 decoder has no such fields', () => {
    const r = parseResult({ cniVersion: '0.4.0', interfaces: [{ name: 'eth0', mtu: 9000, pciID: 'x' }] }, '1.1.0');
    expect(r.interfaces).toEqual([{ name: 'eth0' }]);
  });

  it('reads the 0.2.0 ip4/ip6 shape: no interfaces, routes v4 then v6', () => {
    const r = parseResult(
      {
        cniVersion: '0.2.0',
        ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0' }] },
        ip4: { ip: '10.1.0.5/16', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '10.9.0.0/16' }] },
        dns: { nameservers: ['10.1.0.1'] },
      },
      '1.1.0',
    );
    expect(r).toEqual({
      cniVersion: '0.2.0',
      ips: [
        { address: '10.1.0.5/16', gateway: '10.1.0.1' },
        { address: 'fd00::5/64', gateway: 'fd00::1' },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '10.9.0.0/16' }, { dst: '::/0' }],
      dns: { nameservers: ['10.1.0.1'] },
    });
    expect(r.interfaces).toBeUndefined();
  });

  it('then converts a 0.2.0 result up to 0.4.0 with versions and no interfaces', () => {
    const r = parseResult({ cniVersion: '0.1.0', ip4: { ip: '10.1.0.5/16' } }, '1.1.0');
    expect(convertResult(r, '0.4.0')).toEqual({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.1.0.5/16' }] });
  });

  it('uses the shape of the declared version, not the fallback', () => {
    // A 1.x result has no ip4 key: it is ignored, as Go's decoder would.
    expect(parseResult({ cniVersion: '1.0.0', ip4: { ip: '10.0.0.2/24' } }, '0.2.0')).toEqual({ cniVersion: '1.0.0' });
    expect(parseResult({ cniVersion: '0.2.0', ips: [{ address: '10.0.0.2/24' }] }, '1.1.0')).toEqual({ cniVersion: '0.2.0' });
  });

  it('falls back to the given version when cniVersion is absent or empty', () => {
    expect(parseResult({ ips: [{ address: '10.0.0.2/24' }] }, '1.0.0')).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] });
    expect(parseResult({ cniVersion: '', ip4: { ip: '10.0.0.2/24' } }, '0.2.0')).toEqual({ cniVersion: '0.2.0', ips: [{ address: '10.0.0.2/24' }] });
  });

  it('accepts null and {} (libcni does)', () => {
    expect(parseResult(null, '1.1.0')).toEqual({ cniVersion: '1.1.0' });
    expect(parseResult({}, '0.4.0')).toEqual({ cniVersion: '0.4.0' });
  });

  it('treats Go 0.4.0 "dns":{} and null/empty fields as absent', () => {
    const r = parseResult({ cniVersion: '0.4.0', interfaces: null, ips: [{ version: '4', address: '10.0.0.2/24', gateway: '' }], routes: [], dns: {} }, '1.1.0');
    expect(r).toEqual({ cniVersion: '0.4.0', ips: [{ address: '10.0.0.2/24' }] });
    expect('dns' in r).toBe(false);
  });

  it('ignores unknown keys', () => {
    const r = parseResult({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24', extra: 1 }], whatever: true }, '1.1.0');
    expect(r).toEqual({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] });
  });

  it.each<[string, unknown, RegExp]>([
    ['a non-object', [1], /"result" must be an object/],
    ['a string', 'x', /"result" must be an object/],
    ['a numeric cniVersion', { cniVersion: 1 }, /"cniVersion" must be a string/],
    ['interfaces not a list', { interfaces: {} }, /"interfaces" must be an array/],
    ['an interface without name', { interfaces: [{ mac: 'x' }] }, /"interfaces\[0\]\.name" must be a string/],
    ['a negative mtu', { interfaces: [{ name: 'a', mtu: -1 }] }, /"interfaces\[0\]\.mtu" must be a non-negative integer/],
    ['a fractional interface index', { ips: [{ address: '10.0.0.2/24', interface: 1.5 }] }, /"ips\[0\]\.interface"/],
    ['an ip without address', { ips: [{}] }, /"ips\[0\]\.address" must be an IPv4 or IPv6 CIDR/],
    ['an address without prefix', { ips: [{ address: '10.0.0.2' }] }, /"ips\[0\]\.address"/],
    ['a bad gateway', { ips: [{ address: '10.0.0.2/24', gateway: 'nope' }] }, /"ips\[0\]\.gateway" must be an IP address/],
    ['a bad ip version', { cniVersion: '0.4.0', ips: [{ version: 4, address: '10.0.0.2/24' }] }, /"ips\[0\]\.version" must be "4" or "6"/],
    ['a route without dst', { routes: [{ gw: '10.0.0.1' }] }, /"routes\[0\]\.dst"/],
    ['a string table', { routes: [{ dst: '0.0.0.0/0', table: '5' }] }, /"routes\[0\]\.table"/],
    ['dns not an object', { dns: [] }, /"dns" must be an object/],
    ['a numeric nameserver', { dns: { nameservers: [1] } }, /"dns\.nameservers\[0\]" must be a string/],
    ['ip4 holding an IPv6 address', { cniVersion: '0.2.0', ip4: { ip: 'fd00::1/64' } }, /"ip4\.ip" must be an IPv4 CIDR/],
    ['ip6 holding an IPv4 address', { cniVersion: '0.1.0', ip6: { ip: '10.0.0.1/8' } }, /"ip6\.ip" must be an IPv6 CIDR/],
    ['a bad legacy route', { cniVersion: '0.2.0', ip4: { ip: '10.0.0.1/8', routes: [{ dst: 'x' }] } }, /"ip4\.routes\[0\]\.dst"/],
  ])('rejects %s with code 6 naming the field', (_what, json, msg) => {
    expectCniError(() => parseResult(json, '1.1.0'), Code.DecodeFailure, msg);
  });

  it('rejects an unsupported declared or fallback version with code 6', () => {
    expectCniError(() => parseResult({ cniVersion: '9.9.9' }, '1.1.0'), Code.DecodeFailure, /unsupported cniVersion "9\.9\.9"/);
    expectCniError(() => parseResult({}, '2.0.0'), Code.DecodeFailure, /unsupported cniVersion "2\.0\.0"/);
  });
});
