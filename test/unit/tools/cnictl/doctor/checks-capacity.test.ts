// Doctor's capacity checks: a range set with no free address (every ADD fails) is an
// error, one above 90 % used and a bridge near the kernel's 1024 ports are warnings.
import { describe, expect, it } from 'vitest';
import { CniError, Code } from '../../../../../lib/cni/errors';
import { addOffset, parseIP, type IP } from '../../../../../lib/ip';
import { canonicalizeRange } from '../../../../../lib/ipam/range';
import { rangeSetsOf } from '../../../../../tools/cnictl/doctor/checks-capacity';
import { diagnose } from '../../../../../tools/cnictl/doctor/diagnose';
import type { Finding, Links, PortInfo, Snapshot } from '../../../../../tools/cnictl/doctor/snapshot';
import { healthy, reservation } from './fixtures';

const of = (fs: Finding[], check: string): Finding[] => fs.filter((f) => f.check === check);
const env = { networks: ['10.244.0.0/16'], subnet: '10.244.1.0/24', ipv6Networks: [], mtu: 1450, ipMasq: true };

/** The first `n` allocatable addresses of 10.244.1.0/24 (.2 on: .1 is the gateway), reserved in this boot. */
function fill(s: Snapshot, n: number, base = '10.244.1.2'): IP[] {
  const ips = Array.from({ length: n }, (_, i) => addOffset(parseIP(base), BigInt(i)));
  s.reservedIPs = ips;
  s.reservations = ips.map((ip, i) => reservation(`10.244.1.${Number(ip.value & 255n)}`, `c${i}`));
  s.resultCache = ips.map((_, i) => `cbr0-c${i}-eth0`);
  s.scratch = { dirExists: true, temps: [], files: ips.map((_, i) => ({ containerId: `c${i}`, path: `/var/lib/cni/flannel/c${i}`, network: 'cbr0' })) };
  return ips;
}

describe('rangeSetsOf: the ranges host-local allocates from, built by the plugins\' own code', () => {
  it('flannel: one set per family from subnet.env (FLANNEL_SUBNET), whatever the config says', () => {
    const [v4] = rangeSetsOf({ type: 'flannel', name: 'cbr0', cniVersion: '1.0.0', ipam: { ranges: [[{ subnet: '10.9.0.0/16' }]] } }, env)!;
    expect(v4).toEqual([canonicalizeRange({ subnet: '10.244.1.0/24' })]);
    const dual = rangeSetsOf({ type: 'flannel', name: 'cbr0' }, { ...env, ipv6Networks: ['fd00::/48'], ipv6Subnet: 'fd00:0:0:1::/64' })!;
    expect(dual.map((set) => set[0].subnet.family)).toEqual([4, 6]);
    expect(rangeSetsOf({ type: 'flannel', name: 'cbr0' }, undefined)).toBeUndefined();
  });

  it('bridge: its host-local ranges; none for another IPAM, ranges that come only with ADD, or another plugin', () => {
    const ipam = { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20' }]] };
    const sets = rangeSetsOf({ type: 'bridge', name: 'n', cniVersion: '1.0.0', ipam }, undefined)!;
    expect(sets).toHaveLength(1);
    expect(rangeSetsOf({ type: 'bridge', name: 'n', ipam: { type: 'dhcp' } }, undefined)).toBeUndefined();
    expect(rangeSetsOf({ type: 'bridge', name: 'n', ipam: { type: 'host-local', routes: [] } }, undefined)).toBeUndefined();
    expect(rangeSetsOf({ type: 'macvlan', name: 'n', ipam }, undefined)).toBeUndefined();
  });

  it('throws the plugin\'s own error for ranges ADD refuses', () => {
    const bad = { type: 'bridge', name: 'n', ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.2.0.1' }]] } };
    expect(() => rangeSetsOf(bad, undefined)).toThrow(CniError);
    try {
      rangeSetsOf(bad, undefined);
    } catch (e) {
      expect((e as CniError).code).toBe(Code.InvalidConfig);
    }
  });
});

describe('diagnose: range-capacity', () => {
  const small = (s: Snapshot): void => {
    // 10.244.1.0/29: .1 to .6, .1 the gateway: 5 addresses
    s.ipamRanges = [[canonicalizeRange({ subnet: '10.244.1.0/29' })]];
  };

  it('a full range set is an error naming the limit, the numbers and the fixes', () => {
    const s = healthy();
    small(s);
    fill(s, 5);
    const [f, ...more] = of(diagnose(s), 'range-capacity');
    expect(more).toEqual([]);
    expect(f).toMatchObject({ severity: 'error', subject: '10.244.1.1-10.244.1.6' });
    expect(f.detail).toContain('range set 0 (10.244.1.1-10.244.1.6) of network "cbr0" has no free address');
    expect(f.detail).toContain('all 5 allocatable addresses (every address from rangeStart to rangeEnd but the gateway)');
    expect(f.detail).toContain('no IP addresses available in range set');
    expect(f.fix).toContain('delete pods');
    expect(f.fix).toContain('cnictl gc cbr0 --valid');
    expect(f.fix).toContain('SubnetLen');
  });

  it('above 90 % used is a warning, not an error', () => {
    const s = healthy();
    small(s);
    fill(s, 4);
    expect(of(diagnose(s), 'range-capacity')).toEqual([]); // 80 %
    s.ipamRanges = [[canonicalizeRange({ subnet: '10.244.1.0/24' })]];
    fill(s, 228); // 228 of 253: 90.1 %
    const [f] = of(diagnose(s), 'range-capacity');
    expect(f.severity).toBe('warning');
    expect(f.detail).toContain('is 90.1 % used (above 90 %): 228 of 253 allocatable addresses');
    expect(f.detail).toContain('25 free');
    fill(s, 227); // 89.7 %
    expect(of(diagnose(s), 'range-capacity')).toEqual([]);
  });

  it('counts as host-local allocates: the gateway never, an address once, other ranges not at all', () => {
    const s = healthy();
    small(s);
    fill(s, 4);
    // the gateway's name, a second spelling of .2, and an address of another subnet
    s.reservedIPs = [...(s.reservedIPs as IP[]), parseIP('10.244.1.1'), parseIP('10.244.9.9')];
    expect(of(diagnose(s), 'range-capacity')).toEqual([]);
    s.reservedIPs = [...s.reservedIPs, parseIP('10.244.1.6')];
    expect(of(diagnose(s), 'range-capacity')[0].severity).toBe('error');
  });

  it('reservations from before this boot count as free (ADD reclaims them), and are mentioned', () => {
    const s = healthy();
    small(s);
    fill(s, 5);
    const resv = s.reservations as ReturnType<typeof reservation>[];
    resv[0].earlierBoot = true;
    expect(of(diagnose(s), 'range-capacity')).toEqual([]);
    s.ipamRanges = [[canonicalizeRange({ subnet: '10.244.1.0/24' })]];
    fill(s, 240);
    (s.reservations as ReturnType<typeof reservation>[]).slice(0, 5).forEach((r) => (r.earlierBoot = true));
    const [f] = of(diagnose(s), 'range-capacity');
    expect(f.detail).toContain('235 of 253');
    expect(f.detail).toContain('not counting 5 reserved before this boot');
  });

  it('a bridge network is told to widen its ipam.ranges; a config whose ranges do not parse is a warning', () => {
    const s = healthy();
    small(s);
    fill(s, 5);
    s.netConf = { state: 'ok', file: '/etc/cni/net.d/10-bridge.conflist', pluginType: 'bridge', hairpinMode: false };
    expect(of(diagnose(s), 'range-capacity')[0].fix).toContain('widen the range (ipam.ranges subnet, rangeStart, rangeEnd in /etc/cni/net.d/10-bridge.conflist)');
    s.ipamRanges = { error: 'invalid range set 0: rangeStart 10.2.0.1 not in network 10.1.0.0/24' };
    expect(of(diagnose(s), 'range-capacity')).toEqual([
      expect.objectContaining({ severity: 'warning', subject: '/etc/cni/net.d/10-bridge.conflist', detail: expect.stringContaining('rangeStart 10.2.0.1') }),
    ]);
  });

  it('nothing to judge: no host-local ranges, or a store that cannot be read (reported by the reservations check)', () => {
    const s = healthy();
    small(s);
    fill(s, 5);
    s.ipamRanges = undefined;
    expect(of(diagnose(s), 'range-capacity')).toEqual([]);
    small(s);
    s.reservedIPs = { error: 'EACCES' };
    expect(of(diagnose(s), 'range-capacity')).toEqual([]);
  });
});

describe('diagnose: bridge-ports', () => {
  const ports = (n: number): PortInfo[] =>
    Array.from({ length: n }, (_, i) => ({ name: `veth${i}`, index: 10 + i, kind: 'veth', mtu: 1450, up: true, hairpin: true, pod: false }));

  it('1000 ports or more is a warning naming BR_MAX_PORTS (1024); 999 is fine', () => {
    const s = healthy();
    (s.links as Links).ports = ports(999);
    expect(of(diagnose(s), 'bridge-ports')).toEqual([]);
    (s.links as Links).ports = ports(1000);
    const [f] = of(diagnose(s), 'bridge-ports');
    expect(f).toMatchObject({ severity: 'warning', subject: 'cni0' });
    expect(f.detail).toBe("cni0 has 1000 ports; a Linux bridge takes at most 1024 (BR_MAX_PORTS), after which attaching a pod's veth fails (EXFULL) and so does its ADD");
    expect(f.fix).toContain('--max-pods');
  });
});
