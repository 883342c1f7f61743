// The masquerade front (lib/masq/index.ts): which backend, and how teardown and GC
// dispatch to both. The backends are replaced by stubs, so no iptables or nft runs.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { CniError } from '../../../../lib/cni/errors';
import { chooseMasqBackend, gcMasq, teardownMasq } from '../../../../lib/masq';

const stub = vi.hoisted(() => ({
  gcIpMasq: vi.fn(),
  teardownIpMasq: vi.fn(),
  iptablesUsable: vi.fn(() => true),
  gcNftMasq: vi.fn(),
  teardownNftMasq: vi.fn(),
  findNft: vi.fn((): string | undefined => '/usr/sbin/nft'),
  nftUsable: vi.fn(() => true),
}));

vi.mock('../../../../lib/masq/iptables', () => ({
  gcIpMasq: stub.gcIpMasq,
  teardownIpMasq: stub.teardownIpMasq,
  iptablesUsable: stub.iptablesUsable,
  setupIpMasq: vi.fn(),
  undoIpMasq: vi.fn(),
}));
vi.mock('../../../../lib/masq/nftables', () => ({ gcNftMasq: stub.gcNftMasq, teardownNftMasq: stub.teardownNftMasq, setupNftMasq: vi.fn() }));
vi.mock('../../../../lib/nft/run', () => ({ findNft: stub.findNft, nftUsable: stub.nftUsable }));

const boom = (what: string) => () => {
  throw new Error(`${what} failed`);
};

beforeEach(() => {
  vi.clearAllMocks();
  stub.gcIpMasq.mockImplementation(() => undefined);
  stub.gcNftMasq.mockImplementation(() => undefined);
  stub.teardownIpMasq.mockImplementation(() => undefined);
  stub.teardownNftMasq.mockImplementation(() => undefined);
  stub.findNft.mockImplementation(() => '/usr/sbin/nft');
  stub.iptablesUsable.mockImplementation(() => true);
  stub.nftUsable.mockImplementation(() => true);
});

describe('chooseMasqBackend', () => {
  it('backend: the configured one; automatic = iptables unless only nftables works', () => {
    const probe = (ipt: boolean, nft: boolean) => ({ iptablesUsable: () => ipt, nftUsable: () => nft });
    expect(chooseMasqBackend('nftables', probe(true, true))).toBe('nftables');
    expect(chooseMasqBackend(undefined, probe(true, true))).toBe('iptables');
    expect(chooseMasqBackend(undefined, probe(false, true))).toBe('nftables');
    expect(chooseMasqBackend(undefined, probe(false, false))).toBe('iptables');
  });
});

describe('gcMasq', () => {
  const keep = [
    { containerId: 'a', ifName: 'eth0' },
    { containerId: 'b', ifName: 'net1' },
  ];

  it('collects in both backends: iptables by container, nftables by attachment', () => {
    gcMasq('mynet', keep);
    expect(stub.gcIpMasq).toHaveBeenCalledWith({ network: 'mynet', keep: ['a', 'b'] });
    expect(stub.gcNftMasq).toHaveBeenCalledWith('mynet', keep);
  });

  it('leaves nftables alone where nft is not installed', () => {
    stub.findNft.mockImplementation(() => undefined);
    gcMasq('mynet', keep);
    expect(stub.gcIpMasq).toHaveBeenCalledTimes(1);
    expect(stub.gcNftMasq).not.toHaveBeenCalled();
  });

  it('tries both before it reports, and reports both failures in one error', () => {
    stub.gcIpMasq.mockImplementation(boom('iptables GC'));
    stub.gcNftMasq.mockImplementation(boom('nftables GC'));
    expect(() => gcMasq('mynet', keep)).toThrow(CniError);
    expect(() => gcMasq('mynet', keep)).toThrow('iptables GC failed; nftables GC failed');
    expect(stub.gcNftMasq).toHaveBeenCalled();
  });
});

describe('teardownMasq', () => {
  const a = { network: 'mynet', ifName: 'eth0', containerId: 'c1', ips: [] };

  it('tears down both backends', () => {
    teardownMasq(a);
    expect(stub.teardownIpMasq).toHaveBeenCalledWith({ network: 'mynet', containerId: 'c1', ips: [] });
    expect(stub.teardownNftMasq).toHaveBeenCalledWith(a);
  });

  it('counts a failure only of a backend usable on this node', () => {
    stub.teardownIpMasq.mockImplementation(boom('iptables teardown'));
    stub.teardownNftMasq.mockImplementation(boom('nftables teardown'));
    stub.iptablesUsable.mockImplementation(() => false);
    expect(() => teardownMasq(a)).toThrow(/^nftables teardown failed$/);
    stub.nftUsable.mockImplementation(() => false);
    expect(() => teardownMasq(a)).not.toThrow();
  });
});
