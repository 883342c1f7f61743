import { describe, expect, it } from 'vitest';
import { randomHex } from '../../../lib/random';

describe('randomHex', () => {
  it('gives 2 lowercase hex digits per byte, and different names each call', () => {
    for (const n of [1, 4, 6, 8, 16]) expect(randomHex(n)).toMatch(new RegExp(`^[0-9a-f]{${2 * n}}$`));
    const seen = new Set(Array.from({ length: 200 }, () => randomHex(8)));
    expect(seen.size).toBe(200);
  });
});

