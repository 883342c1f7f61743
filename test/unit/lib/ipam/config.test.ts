import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import type { NetConf } from '../../../../lib/cni/types';
import { formatIP } from '../../../../lib/ip';
import { DEFAULT_DATA_DIR, parseIpamConfig, parseResolvConf } from '../../../../lib/ipam/config';
import { describeRangeSet } from '../../../../lib/ipam/range';
import { cniError, netConf } from './helpers';

const sets = (conf: NetConf, args = '') => parseIpamConfig(conf, args).rangeSets.map(describeRangeSet);
const invalid = (conf: NetConf, msg: RegExp, args = '') => {
  const e = cniError(() => parseIpamConfig(conf, args));
  expect(e.code).toBe(Code.InvalidConfig);
  expect(e.message).toMatch(msg);
};

describe('parseIpamConfig: the good cases', () => {
  it('fills defaults', () => {
    const c = parseIpamConfig(netConf({ ranges: [[{ subnet: '10.1.2.0/24' }]] }), '');
    expect(c.name).toBe('testnet');
    expect(c.dataDir).toBe(DEFAULT_DATA_DIR);
    expect(c.routes).toEqual([]);
    expect(c.resolvConf).toBeUndefined();
    expect(c.requestedIPs).toEqual([]);
    expect(c.rangeSets.map(describeRangeSet)).toEqual(['10.1.2.1-10.1.2.254']);
    expect(formatIP(c.rangeSets[0][0].gateway)).toBe('10.1.2.1');
  });

  it('keeps dataDir and resolvConf', () => {
    const c = parseIpamConfig(netConf({ ranges: [[{ subnet: '10.1.2.0/24' }]], dataDir: '/tmp/x', resolvConf: '/etc/r' }), '');
    expect(c.dataDir).toBe('/tmp/x');
    expect(c.resolvConf).toBe('/etc/r');
  });

  it('prepends the legacy top-level range, and runtimeConfig.ipRanges before that', () => {
    const conf = netConf(
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', gateway: '10.0.0.254', ranges: [[{ subnet: '10.2.0.0/24' }]] },
      { runtimeConfig: { ipRanges: [[{ subnet: '10.9.0.0/24' }]] } },
    );
    expect(sets(conf)).toEqual(['10.9.0.1-10.9.0.254', '10.0.0.10-10.0.0.254', '10.2.0.1-10.2.0.254']);
    expect(formatIP(parseIpamConfig(conf, '').rangeSets[1][0].gateway)).toBe('10.0.0.254');
  });

  it('matches containerd\'s capitalised ipRanges keys case-insensitively', () => {
    const conf = netConf(
      { ranges: [[{ subnet: '10.2.0.0/24' }]] },
      { runtimeConfig: { ipRanges: [[{ Subnet: '10.9.0.0/24', RangeStart: '10.9.0.5', RangeEnd: '10.9.0.6', Gateway: '10.9.0.9' }]] } },
    );
    const c = parseIpamConfig(conf, '');
    expect(c.rangeSets.map(describeRangeSet)).toEqual(['10.9.0.5-10.9.0.6', '10.2.0.1-10.2.0.254']);
    expect(formatIP(c.rangeSets[0][0].gateway)).toBe('10.9.0.9');
  });

  it('keeps routes exactly as given, extra keys included', () => {
    const routes = [{ dst: '0.0.0.0/0' }, { dst: '10.0.0.0/8', gw: '10.1.2.1', priority: 5, note: 'x' }, { dst: 'fc00::/48' }];
    const c = parseIpamConfig(netConf({ ranges: [[{ subnet: '10.1.2.0/24' }]], routes }), '');
    expect(c.routes).toEqual(routes);
  });

  it('dual stack under cniVersion 0.2.0 is fine (one address per family)', () => {
    expect(sets(netConf({ ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fc00::/64' }]] }, { cniVersion: '0.2.0' }))).toHaveLength(2);
  });

  it('two IPv4 range sets need cniVersion >= 0.3.0', () => {
    const ranges = [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.1.0.0/24' }]];
    expect(sets(netConf({ ranges }, { cniVersion: '0.3.1' }))).toHaveLength(2);
    invalid(netConf({ ranges }, { cniVersion: '0.2.0' }), /does not support more than one IPv4 range set/);
    const noVersion = netConf({ ranges });
    delete (noVersion as Partial<NetConf>).cniVersion;
    invalid(noVersion, /CNI version 0\.1\.0/);
  });

  it('collects requested IPs from CNI_ARGS, args.cni.ips and runtimeConfig.ips, deduplicated, prefixes dropped', () => {
    const conf = netConf(
      { ranges: [[{ subnet: '10.0.0.0/24' }]] },
      { args: { cni: { ips: ['10.0.0.7', '10.0.0.5/24'] } }, runtimeConfig: { ips: ['fc00::5/64'] } },
    );
    const c = parseIpamConfig(conf, 'IgnoreUnknown=1;K8S_POD_NAME=a=b;;IP=10.0.0.5/24;bare;');
    expect(c.requestedIPs.map(formatIP)).toEqual(['10.0.0.5', '10.0.0.7', 'fc00::5']);
  });
});

describe('parseIpamConfig: every problem is code 7 and names the field', () => {
  const one = [[{ subnet: '10.0.0.0/24' }]];

  it('missing ipam', () => {
    const conf = netConf({});
    delete conf.ipam;
    invalid(conf, /no "ipam" object/);
  });

  it('no ranges at all', () => invalid(netConf({}), /no IP ranges specified/));
  it('ranges not an array', () => invalid(netConf({ ranges: { subnet: '10.0.0.0/24' } }), /ipam\.ranges must be an array/));
  it('range set not an array', () => invalid(netConf({ ranges: [{ subnet: '10.0.0.0/24' }] }), /invalid range set 0: ipam\.ranges\[0\] must be an array/));
  it('empty range set', () => invalid(netConf({ ranges: [[]] }), /invalid range set 0: empty range set/));
  it('range not an object', () => invalid(netConf({ ranges: [['10.0.0.0/24']] }), /ipam\.ranges\[0\]\[0\] must be an object/));
  it('subnet missing', () => invalid(netConf({ ranges: [[{ rangeStart: '10.0.0.2' }]] }), /ipam\.ranges\[0\]\[0\]\.subnet is missing/));
  it('subnet wrong type', () => invalid(netConf({ ranges: [[{ subnet: 10 }]] }), /ipam\.ranges\[0\]\[0\]\.subnet must be a string/));
  it('rangeStart wrong type', () =>
    invalid(netConf({ ranges: [[{ subnet: '10.0.0.0/24', rangeStart: 5 }]] }), /ipam\.ranges\[0\]\[0\]\.rangeStart must be a string/));
  it('gateway wrong type', () => invalid(netConf({ ranges: [[{ subnet: '10.0.0.0/24', gateway: true }]] }), /gateway must be a string/));
  it('host bits, labelled with the range set index', () =>
    invalid(netConf({ ranges: [...one, [{ subnet: '10.1.0.5/24' }]] }), /^invalid range set 1: subnet 10\.1\.0\.5\/24 has host bits set/));
  it('the legacy range is labelled as set 0', () => invalid(netConf({ subnet: '10.0.0.0/31', ranges: one }), /^invalid range set 0: .*too small/));
  it('mixed families in one set', () =>
    invalid(netConf({ ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fc00::/64' }]] }), /invalid range set 0: mixed address families/));
  it('overlap inside a set', () =>
    invalid(netConf({ ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.0/25' }]] }), /invalid range set 0: range .* overlaps/));
  it('overlap across sets', () => invalid(netConf({ ranges: [...one, [{ subnet: '10.1.0.0/24' }], [{ subnet: '10.0.0.128/25' }]] }), /range set 0 overlaps with range set 2/));
  it('runtime range overlapping a configured one', () =>
    invalid(netConf({ ranges: one }, { runtimeConfig: { ipRanges: [[{ subnet: '10.0.0.0/16' }]] } }), /range set 0 overlaps with range set 1/));
  it('runtimeConfig.ipRanges wrong type', () => invalid(netConf({ ranges: one }, { runtimeConfig: { ipRanges: 'x' } }), /runtimeConfig\.ipRanges must be an array/));
  it('dataDir wrong type', () => invalid(netConf({ ranges: one, dataDir: 5 }), /ipam\.dataDir must be a string/));
  it('dataDir empty', () => invalid(netConf({ ranges: one, dataDir: '' }), /ipam\.dataDir/));
  it('resolvConf wrong type', () => invalid(netConf({ ranges: one, resolvConf: [] }), /ipam\.resolvConf must be a string/));
  it('routes wrong type', () => invalid(netConf({ ranges: one, routes: {} }), /ipam\.routes must be an array/));
  it('route dst not a CIDR', () => invalid(netConf({ ranges: one, routes: [{ dst: '10.0.0.1' }] }), /ipam\.routes\[0\]\.dst must be a CIDR/));
  it('route dst missing', () => invalid(netConf({ ranges: one, routes: [{ gw: '10.0.0.1' }] }), /ipam\.routes\[0\]\.dst/));
  it('route gw not an IP', () => invalid(netConf({ ranges: one, routes: [{ dst: '0.0.0.0/0', gw: 'x' }] }), /ipam\.routes\[0\]\.gw must be an IP/));
  it('route gw of the other family', () => invalid(netConf({ ranges: one, routes: [{ dst: '0.0.0.0/0', gw: 'fc00::1' }] }), /ipam\.routes\[0\]\.gw/));
  it('route priority not a uint', () => invalid(netConf({ ranges: one, routes: [{ dst: '0.0.0.0/0', priority: -1 }] }), /ipam\.routes\[0\]\.priority/));
  it('args.cni.ips entry not an IP', () => invalid(netConf({ ranges: one }, { args: { cni: { ips: ['nope'] } } }), /args\.cni\.ips\[0\]/));
  it('runtimeConfig.ips not an array', () => invalid(netConf({ ranges: one }, { runtimeConfig: { ips: '10.0.0.5' } }), /runtimeConfig\.ips must be an array/));
  it('network name that is not a path component', () => {
    invalid(netConf({ ranges: one }, { name: '../x' }), /invalid network name/);
    invalid(netConf({ ranges: one }, { name: '..' }), /invalid network name/);
  });

  it('a bad CNI_ARGS IP is an env problem (code 4)', () => {
    const e = cniError(() => parseIpamConfig(netConf({ ranges: one }), 'IP=10.0.0.300'));
    expect(e.code).toBe(Code.InvalidEnv);
    expect(e.message).toMatch(/CNI_ARGS IP/);
  });
});

describe('parseResolvConf', () => {
  it('reads nameserver, domain, search and options; skips comments', () => {
    const text = '# c\n; c\nnameserver 1.1.1.1\n  nameserver   fc00::53  \ndomain example.com\nsearch a.b c.d\noptions ndots:5 rotate\nbogus\n';
    expect(parseResolvConf(text)).toEqual({
      nameservers: ['1.1.1.1', 'fc00::53'],
      domain: 'example.com',
      search: ['a.b', 'c.d'],
      options: ['ndots:5', 'rotate'],
    });
  });

  it('an empty file gives an empty DNS object', () => {
    expect(parseResolvConf('')).toEqual({});
  });
});

describe('legacy range fields without ipam.subnet', () => {
  // The reference ignores them; a config that works there must keep working here.
  it('are ignored, like the reference does', () => {
    expect(sets(netConf({ rangeStart: '10.0.0.2', gateway: '10.0.0.9', ranges: [[{ subnet: '10.1.0.0/24' }]] }))).toEqual(
      sets(netConf({ ranges: [[{ subnet: '10.1.0.0/24' }]] })),
    );
  });
});
