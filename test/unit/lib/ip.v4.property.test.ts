// lib/ip.ts parses IPv4 by hand (host-local parses every reservation's name on each ADD):
// it must accept exactly the strict dotted quads and give the same value as the obvious
// split-and-check parser it replaced, and print back exactly the text it parsed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIP, tryParseIP } from '../../../lib/ip';

function oracle(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((v, p) => (v << 8n) | BigInt(p), 0n);
}

const quadish = fc
  .array(fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('', '00', '01', '007', '256', '1000', '-1', '+1', ' 1', '1 ', 'a', '٣')), { minLength: 1, maxLength: 6 })
  .map((ps) => ps.join('.'));
const noise = fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '9', '.', '.', 'x', ':', ' '), maxLength: 20 });

describe('IPv4 parsing', () => {
  it('accepts what the split-and-check parser accepts, with the same value', () => {
    fc.assert(
      fc.property(fc.oneof(quadish, noise, fc.ipV4(), fc.ipV4Extended()), (s) => {
        const got = tryParseIP(s);
        const want = oracle(s);
        if (want === undefined) expect(got?.family === 4 ? got : undefined).toBeUndefined();
        else expect(got).toEqual({ family: 4, value: want });
      }),
      { numRuns: 5000 },
    );
  });

  it('prints back exactly the text of a strict dotted quad', () => {
    fc.assert(
      fc.property(fc.ipV4(), (s) => {
        expect(formatIP(tryParseIP(s)!)).toBe(s);
      }),
      { numRuns: 2000 },
    );
    for (const s of ['0.0.0.0', '255.255.255.255', '10.244.1.2', '128.0.0.1']) expect(formatIP(tryParseIP(s)!)).toBe(s);
  });
});
