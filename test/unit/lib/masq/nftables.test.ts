// The nftables ipMasq backend, checked against the reference's own test vectors
// (pkg/ip/ipmasq_nftables_linux_test.go): same hashes, comments and rules.
import { describe, expect, it } from 'vitest';
import { COMMENT_MAX, commentForInstance, hashForInstance, hashForNetwork, masqRules, nftMasqSetupBatch } from '../../../../lib/masq/nftables';

describe('nftables ipMasq', () => {
  it('hashes exactly like the reference test vectors', () => {
    expect(hashForInstance('unit-test', 'eth0', 'one')).toBe('6fd94d501e58f0aa-287fc69eff0574a2');
    expect(hashForInstance('unit-test', 'eth0', 'two')).toBe('6fd94d501e58f0aa-d750b2c8f0f25d5f');
    expect(hashForInstance('unit-test', 'eth0', 'three')).toBe('6fd94d501e58f0aa-a4d4adb82b669cfe');
    expect(hashForInstance('unit-test', 'eth0', 'four')).toBe('6fd94d501e58f0aa-e766de567ef6c543');
    expect(hashForInstance('alternate', 'net1', 'three')).toBe('82783ef24bdc7036-acb19d111858e348');
    expect(hashForNetwork('unit-test')).toBe('6fd94d501e58f0aa');
  });

  it('comments: hash first, quotes dropped, cut to 128 bytes', () => {
    expect(commentForInstance('unit-test', 'eth0', 'one')).toBe('6fd94d501e58f0aa-287fc69eff0574a2, net: unit-test, if: eth0, id: one');
    expect(commentForInstance('unit-test', 'e"th0', 'one')).toContain(', if: eth0,');
    const long = commentForInstance('a-long-network-name', 'eth0', 'f'.repeat(64));
    expect(Buffer.byteLength(long)).toBe(COMMENT_MAX);
    expect(long.startsWith(hashForInstance('a-long-network-name', 'eth0', 'f'.repeat(64)))).toBe(true);
  });

  it('writes the reference transaction: table, chains, rewritten postrouting, stale rules out, one rule per IP', () => {
    const lines = nftMasqSetupBatch({ network: 'unit-test', ifName: 'eth0', containerId: 'one', ips: ['192.168.1.1/24', 'fd00::5/64'] }, [17]);
    expect(lines).toEqual([
      'add table inet cni_plugins_masquerade { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }',
      'add chain inet cni_plugins_masquerade masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }',
      'add chain inet cni_plugins_masquerade postrouting { type nat hook postrouting priority srcnat ; }',
      'flush chain inet cni_plugins_masquerade postrouting',
      'add rule inet cni_plugins_masquerade postrouting ip daddr == 224.0.0.0/4  return',
      'add rule inet cni_plugins_masquerade postrouting ip6 daddr == ff00::/8  return',
      'add rule inet cni_plugins_masquerade postrouting goto masq_checks',
      'delete rule inet cni_plugins_masquerade masq_checks handle 17',
      'add rule inet cni_plugins_masquerade masq_checks ip saddr == 192.168.1.1 ip daddr != 192.168.1.0/24 masquerade comment "6fd94d501e58f0aa-287fc69eff0574a2, net: unit-test, if: eth0, id: one"',
      'add rule inet cni_plugins_masquerade masq_checks ip6 saddr == fd00::5 ip6 daddr != fd00::/64 masquerade comment "6fd94d501e58f0aa-287fc69eff0574a2, net: unit-test, if: eth0, id: one"',
    ]);
    expect(() => nftMasqSetupBatch({ network: 'n', ifName: 'eth0', containerId: 'x', ips: ['10.0.0.1'] }, [])).toThrow('invalid container address');
  });

  it('reads rules and their comments from nft -j output', () => {
    expect(masqRules([{ chain: { name: 'masq_checks' } }, { rule: { handle: 6, comment: 'c' } }, { rule: { handle: 7 } }])).toEqual([
      { handle: 6, comment: 'c' },
      { handle: 7, comment: undefined },
    ]);
  });
});
