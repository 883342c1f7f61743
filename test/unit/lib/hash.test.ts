import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hexDigest } from '../../../lib/hash';

describe('hexDigest', () => {
  it('is the node:crypto digest of the UTF-8 text', () => {
    for (const alg of ['sha256', 'sha512'] as const)
      for (const s of ['', 'cbr0', 'netzwerk-é-容器'.repeat(10)]) expect(hexDigest(alg, s)).toBe(createHash(alg).update(s, 'utf8').digest('hex'));
  });
});
