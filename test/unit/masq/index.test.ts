import { describe, expect, it } from 'vitest';
import { chooseMasqBackend } from '../../../lib/masq';

describe('chooseMasqBackend', () => {
  it('backend: the configured one; automatic = iptables unless only nftables works', () => {
    const probe = (ipt: boolean, nft: boolean) => ({ iptablesUsable: () => ipt, nftUsable: () => nft });
    expect(chooseMasqBackend('nftables', probe(true, true))).toBe('nftables');
    expect(chooseMasqBackend(undefined, probe(true, true))).toBe('iptables');
    expect(chooseMasqBackend(undefined, probe(false, true))).toBe('nftables');
    expect(chooseMasqBackend(undefined, probe(false, false))).toBe('iptables');
  });
});
