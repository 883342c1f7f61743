import { describe, expect, it } from 'vitest';
import { missingNftError } from '../../../../lib/nft/run';

describe('nft runner', () => {
  it('names the package to install when nft is missing', () => {
    const e = missingNftError('macspoofchk');
    expect(e.code).toBe(999);
    expect(e.message).toMatch(/^macspoofchk needs nft, .*install the nftables package/);
  });
});
