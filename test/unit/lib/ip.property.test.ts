// lib/ip.ts: the parsers never throw, and the printed form is canonical, which
// matters because host-local names its files by formatIP (https://github.com/containernetworking/plugins/blob/main/plugins/ipam/host-local/backend/disk/backend.go).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCidr, formatIP, parseIP, tryParseCidr, tryParseIP, type IP } from '../../../lib/ip';
import { check, nastyString } from '../../helpers/arbitraries';

const ipText = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4Extended(),
  fc.ipV6().map((s) => s.toUpperCase()),
  fc.constantFrom('::ffff:1.2.3.4', '::1.2.3.4', '1:0:2:3:4:5:6:7', '0:0:1:0:0:1:0:0', '0000:0000::0001', 'fe80::1%eth0', '1.2.3.4 ', ' ::1', '1.2.3', '1.2.3.4.5', '::g', ':::'),
);
const cidrText = fc.oneof(
  fc.tuple(fc.ipV4(), fc.integer({ min: -1, max: 40 })).map(([ip, p]) => `${ip}/${p}`),
  fc.tuple(fc.ipV6(), fc.integer({ min: -1, max: 140 })).map(([ip, p]) => `${ip}/${p}`),
  fc.constantFrom('10.0.0.0/08', '10.0.0.0/', '/24', '10.0.0.0/24/1', '::/0', '0.0.0.0/0', '10.0.0.0/+8', '10.0.0.0/8 '),
);
const anyText = fc.oneof(ipText, cidrText, nastyString, fc.string({ unit: 'binary', maxLength: 50 }));

const v4 = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((value): IP => ({ family: 4, value }));
const v6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((value): IP => ({ family: 6, value }));
// Addresses with long zero runs are where RFC 5952 compression has rules to get right.
const v6Sparse = fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff, 0xabc), { minLength: 8, maxLength: 8 }).map(
  (groups): IP => ({ family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) }),
);

describe('lib/ip parsers', () => {
  it('tryParseIP and tryParseCidr never throw, on anything', () => {
    check(
      fc.property(fc.oneof(anyText, fc.anything() as fc.Arbitrary<string>), (s) => {
        tryParseIP(s);
        tryParseCidr(s);
      }),
      1000,
    );
  });

  it('formatIP(parseIP(x)) is canonical and idempotent', () => {
    check(
      fc.property(anyText, (s) => {
        const ip = tryParseIP(s);
        if (!ip) return;
        const text = formatIP(ip);
        const again = parseIP(text);
        expect(again).toEqual(ip);
        expect(formatIP(again)).toBe(text);
        // A file name: one path component, no spaces, nothing to escape.
        expect(text).toMatch(/^[0-9a-f.:]+$/);
      }),
      1000,
    );
  });

  it('IPv4 prints as a plain dotted quad, IPv6 as RFC 5952 (the WHATWG URL serializer agrees)', () => {
    check(
      fc.property(fc.oneof(v4, v6, v6Sparse), (ip) => {
        const text = formatIP(ip);
        expect(tryParseIP(text)).toEqual(ip);
        if (ip.family === 4) {
          expect(text).toMatch(/^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$/);
        } else {
          expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
        }
      }),
      1000,
    );
  });

  it('a CIDR parses to the same prefix and prints back canonically', () => {
    check(
      fc.property(cidrText, (s) => {
        const c = tryParseCidr(s);
        if (!c) return;
        const text = formatCidr(c);
        expect(tryParseCidr(text)).toEqual(c);
        expect(c.prefix).toBeLessThanOrEqual(c.family === 4 ? 32 : 128);
      }),
      1000,
    );
  });

  it('what tryParseIP refuses', () => {
    for (const s of ['', '01.2.3.4', '1.2.3', '256.0.0.1', 'fe80::1%eth0', ' 1.2.3.4', '1.2.3.4\0', '::1/64', 'x'.repeat(1000)]) {
      expect(tryParseIP(s), s).toBeUndefined();
    }
  });
});

describe('formatIP of IPv6, our own RFC 5952 printer', () => {
  it('prints exactly what ip-address prints (the library it replaced on this path)', async () => {
    const { Address6 } = await import('ip-address');
    check(
      fc.property(fc.oneof(v6, v6Sparse), (ip) => {
        expect(formatIP(ip)).toBe(Address6.fromBigInt(ip.value).correctForm());
      }),
      2000,
    );
  });
});
