import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import { formatIP } from '../../../../lib/ip';
import {
  type Range,
  type RangeInput,
  canonicalizeRange,
  candidates,
  describeRangeSet,
  findOverlap,
  rangeIndexOf,
  rangesOverlap,
  validateRangeSet,
} from '../../../../lib/ipam/range';
import { cniError, ip, netConf } from './helpers';
import { parseIpamConfig } from '../../../../lib/ipam/config';
import fc from 'fast-check';

const r = (input: RangeInput): Range => canonicalizeRange(input);
const text = (x: Range) => ({
  subnet: `${formatIP(x.subnet)}/${x.subnet.prefix}`,
  rangeStart: formatIP(x.rangeStart),
  rangeEnd: formatIP(x.rangeEnd),
  gateway: formatIP(x.gateway),
});
const order = (set: Range[], last?: string, limit = 1000): string[] => {
  const out: string[] = [];
  for (const c of candidates(set, last ? ip(last) : undefined)) {
    out.push(formatIP(c.ip));
    if (out.length >= limit) break;
  }
  return out;
};

describe('canonicalizeRange defaults', () => {
  it('IPv4: gateway and rangeStart are network+1, rangeEnd skips the broadcast', () => {
    expect(text(r({ subnet: '10.1.2.0/24' }))).toEqual({
      subnet: '10.1.2.0/24',
      rangeStart: '10.1.2.1',
      rangeEnd: '10.1.2.254',
      gateway: '10.1.2.1',
    });
  });

  it('IPv6: rangeEnd is the true last address', () => {
    expect(text(r({ subnet: 'fc00::/64' }))).toEqual({
      subnet: 'fc00::/64',
      rangeStart: 'fc00::1',
      rangeEnd: 'fc00::ffff:ffff:ffff:ffff',
      gateway: 'fc00::1',
    });
  });

  it('keeps explicit values', () => {
    expect(text(r({ subnet: '10.0.0.0/16', rangeStart: '10.0.5.10', rangeEnd: '10.0.5.20', gateway: '10.0.0.254' }))).toEqual({
      subnet: '10.0.0.0/16',
      rangeStart: '10.0.5.10',
      rangeEnd: '10.0.5.20',
      gateway: '10.0.0.254',
    });
  });

  it('accepts the smallest usable networks (/30, /126)', () => {
    expect(text(r({ subnet: '10.0.0.0/30' })).rangeEnd).toBe('10.0.0.2');
    expect(text(r({ subnet: 'fc00::/126' })).rangeEnd).toBe('fc00::3');
  });
});

describe('canonicalizeRange validation (code 7)', () => {
  const cases: Array<[string, RangeInput, RegExp]> = [
    ['not a CIDR', { subnet: '10.0.0.0' }, /subnet "10\.0\.0\.0" is not a CIDR/],
    ['garbage subnet', { subnet: 'banana/24' }, /not a CIDR/],
    ['host bits', { subnet: '10.1.2.3/24' }, /subnet 10\.1\.2\.3\/24 has host bits set.*10\.1\.2\.0/],
    ['v6 host bits', { subnet: 'fc00::1/64' }, /has host bits set.*fc00::/],
    ['/31', { subnet: '10.0.0.0/31' }, /10\.0\.0\.0\/31 is too small/],
    ['/32', { subnet: '10.0.0.1/32' }, /too small/],
    ['/127', { subnet: 'fc00::/127' }, /too small/],
    ['/128', { subnet: 'fc00::1/128' }, /too small/],
    ['rangeStart outside', { subnet: '10.0.0.0/24', rangeStart: '10.0.1.5' }, /rangeStart 10\.0\.1\.5 is not in network 10\.0\.0\.0\/24/],
    ['rangeEnd outside', { subnet: '10.0.0.0/24', rangeEnd: '10.0.1.5' }, /rangeEnd 10\.0\.1\.5 is not in network/],
    ['gateway outside', { subnet: '10.0.0.0/24', gateway: '10.9.0.1' }, /gateway 10\.9\.0\.1 is not in network/],
    ['gateway wrong family', { subnet: '10.0.0.0/24', gateway: 'fc00::1' }, /gateway fc00::1 is not in network/],
    ['rangeStart not an IP', { subnet: '10.0.0.0/24', rangeStart: 'x' }, /rangeStart "x" is not an IP address/],
    ['start after end', { subnet: '10.0.0.0/24', rangeStart: '10.0.0.50', rangeEnd: '10.0.0.10' }, /rangeStart 10\.0\.0\.50 is after rangeEnd 10\.0\.0\.10/],
  ];
  for (const [name, input, msg] of cases) {
    it(name, () => {
      const e = cniError(() => canonicalizeRange(input));
      expect(e.code).toBe(Code.InvalidConfig);
      expect(e.message).toMatch(msg);
    });
  }
});

describe('validateRangeSet', () => {
  it('rejects mixed families', () => {
    const e = cniError(() => validateRangeSet([r({ subnet: '10.0.0.0/24' }), r({ subnet: 'fc00::/64' })]));
    expect(e.code).toBe(Code.InvalidConfig);
    expect(e.message).toMatch(/mixed address families/);
  });

  it('rejects overlapping ranges, even across different subnets', () => {
    const e = cniError(() => validateRangeSet([r({ subnet: '10.0.0.0/16' }), r({ subnet: '10.0.5.0/24' })]));
    expect(e.message).toMatch(/overlaps/);
  });

  it('accepts disjoint ranges of one subnet', () => {
    expect(() =>
      validateRangeSet([
        r({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.2', rangeEnd: '10.0.0.100' }),
        r({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.101', rangeEnd: '10.0.0.200' }),
      ]),
    ).not.toThrow();
  });

  it('rejects an empty set', () => {
    expect(cniError(() => validateRangeSet([])).message).toMatch(/empty range set/);
  });
});

describe('candidates: round-robin order', () => {
  const small = [r({ subnet: '10.0.0.0/29' })]; // .1 (gateway) .. .6

  it('without a marker starts at rangeStart and skips the gateway', () => {
    expect(order(small)).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('starts after the marker, wraps, and offers the marker itself last', () => {
    expect(order(small, '10.0.0.4')).toEqual(['10.0.0.5', '10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
  });

  it('a marker at rangeEnd wraps straight to the start', () => {
    expect(order(small, '10.0.0.6')).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  });

  it('a marker outside the set is ignored', () => {
    expect(order(small, '10.0.0.7')).toEqual(order(small)); // broadcast: in the subnet, not in the range
    expect(order(small, '192.168.0.1')).toEqual(order(small));
    expect(order(small, 'fc00::4')).toEqual(order(small));
  });

  it('skips a gateway in the middle of the range, and a .1 that is not the gateway is allocatable', () => {
    const set = [r({ subnet: '10.0.0.0/29', gateway: '10.0.0.3' })];
    expect(order(set)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    expect(order(set, '10.0.0.2')).toEqual(['10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.1', '10.0.0.2']);
  });

  it('walks across the ranges of a set and wraps to the first', () => {
    const set = [
      r({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.11' }),
      r({ subnet: '10.0.1.0/24', rangeStart: '10.0.1.20', rangeEnd: '10.0.1.21' }),
      r({ subnet: '10.0.2.0/24', rangeStart: '10.0.2.1', rangeEnd: '10.0.2.2' }), // .1 is this range's gateway
    ];
    expect(order(set)).toEqual(['10.0.0.10', '10.0.0.11', '10.0.1.20', '10.0.1.21', '10.0.2.2']);
    expect(order(set, '10.0.1.20')).toEqual(['10.0.1.21', '10.0.2.2', '10.0.0.10', '10.0.0.11', '10.0.1.20']);
    expect(order(set, '10.0.2.2')).toEqual(['10.0.0.10', '10.0.0.11', '10.0.1.20', '10.0.1.21', '10.0.2.2']);
  });

  it('reports the range each candidate belongs to', () => {
    const set = [
      r({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.10' }),
      r({ subnet: '10.0.1.0/24', rangeStart: '10.0.1.20', rangeEnd: '10.0.1.20' }),
    ];
    expect([...candidates(set)].map((c) => formatIP(c.range.gateway))).toEqual(['10.0.0.1', '10.0.1.1']);
  });

  it('a range holding only its gateway yields nothing', () => {
    expect(order([r({ subnet: '10.0.0.0/30', rangeStart: '10.0.0.1', rangeEnd: '10.0.0.1' })])).toEqual([]);
  });

  it('is lazy on huge IPv6 ranges', () => {
    expect(order([r({ subnet: 'fc00::/64' })], undefined, 3)).toEqual(['fc00::2', 'fc00::3', 'fc00::4']);
    expect(order([r({ subnet: 'fc00::/64' })], 'fc00::ffff:ffff:ffff:fffe', 3)).toEqual(['fc00::ffff:ffff:ffff:ffff', 'fc00::2', 'fc00::3']);
  });
});

describe('range helpers', () => {
  it('describeRangeSet uses start-end pairs joined by commas', () => {
    const set = [r({ subnet: '10.0.0.0/24' }), r({ subnet: '10.0.1.0/24', rangeStart: '10.0.1.5', rangeEnd: '10.0.1.9' })];
    expect(describeRangeSet(set)).toBe('10.0.0.1-10.0.0.254,10.0.1.5-10.0.1.9');
  });

  it('rangeIndexOf honours rangeStart/rangeEnd, not just the subnet', () => {
    const set = [r({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.20' })];
    expect(rangeIndexOf(set, ip('10.0.0.15'))).toBe(0);
    expect(rangeIndexOf(set, ip('10.0.0.9'))).toBe(-1);
    expect(rangeIndexOf(set, ip('10.0.0.21'))).toBe(-1);
  });
});

describe('findOverlap (n·log n, neighbours after sorting)', () => {
  const v4 = (a: number, b: number): Range => r({ subnet: '10.0.0.0/16', rangeStart: `10.0.${a >> 8}.${a & 255}`, rangeEnd: `10.0.${b >> 8}.${b & 255}` });
  const quadratic = (rs: Range[]) => rs.some((a, i) => rs.some((b, j) => i < j && rangesOverlap(a, b)));

  it('finds an overlap exactly when some pair overlaps (against every pair)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 40 })), { maxLength: 30 }), (spans) => {
        const rs = spans.map(([start, len]) => v4(start, start + len));
        const found = findOverlap(rs.map((range) => ({ range })));
        expect(found !== undefined).toBe(quadratic(rs));
        if (found) expect(rangesOverlap(found[0].range, found[1].range)).toBe(true);
      }),
    );
  });

  it('a long range covering later ones is still caught past its neighbour', () => {
    const found = findOverlap([v4(1, 100), v4(10, 20), v4(50, 60)].map((range, i) => ({ range, set: i === 0 ? 0 : 1 })), (a, b) => a.set === b.set);
    expect(found?.map((x) => x.set)).toEqual([0, 1]);
  });

  it('8,000 ranges in one config are validated (range set 7999 overlapping set 0 is named)', () => {
    const sets = Array.from({ length: 8000 }, (_, i) => [{ subnet: `10.${(i >> 8) & 255}.${i & 255}.0/24` }]);
    const conf = netConf({ ranges: sets });
    expect(parseIpamConfig(conf, '').rangeSets).toHaveLength(8000);
    const e = cniError(() => parseIpamConfig(netConf({ ranges: [...sets, [{ subnet: '10.0.0.0/16' }]] }), ''));
    expect(e.message).toMatch(/^range set \d+ overlaps with range set 8000$/);
  });
});
