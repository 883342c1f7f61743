// nftables shapes of macspoofchk and of the nftables ipMasq backend, checked
// against the reference's own test vectors (pkg/link/spoofcheck_test.go and
// pkg/ip/ipmasq_nftables_linux_test.go): same hashes, comments, rules, names.
import { describe, expect, it } from 'vitest';
import { chooseMasqBackend } from '../../../lib/nft/backend';
import { COMMENT_MAX, commentForInstance, hashForInstance, hashForNetwork, masqRules, nftMasqSetupBatch } from '../../../lib/nft/masq';
import { missingNftError, type NftObject } from '../../../lib/nft/run';
import { networkTag, spoofGcBatch, spoofNames, spoofSetupBatch, spoofTeardownBatch } from '../../../lib/nft/spoofcheck';

describe('macspoofchk', () => {
  const sc = { network: 'secure', containerId: 'container99', ifName: 'net1', hostIface: 'net0', mac: '02:00:00:00:12:34' };

  it('names chains and comment from containerID-ifname, untruncated', () => {
    expect(spoofNames('container99', 'net1')).toEqual({
      ifaceChain: 'cni-br-iface-container99-net1',
      macChain: 'cni-br-iface-container99-net1-mac',
      comment: 'macspoofchk-container99-net1',
    });
  });

  it('creates and fills the same objects as the reference, in one batch that fails if the attachment has them already', () => {
    const unwrap = (cmd: object) => Object.entries(cmd)[0];
    const batch = spoofSetupBatch(sc).map(unwrap);
    const verbs = batch.map(([verb]) => verb);
    expect(verbs).toEqual(['add', 'add', 'create', 'create', 'add', 'add', 'add', 'add']);
    expect(batch.map(([, obj]) => obj)).toEqual([
      { table: { family: 'bridge', name: 'nat' } },
      { chain: { family: 'bridge', table: 'nat', name: 'PREROUTING', type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } },
      { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-container99-net1' } },
      { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-container99-net1-mac' } },
      { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', comment: 'macspoofchk-container99-net1',
        expr: [{ match: { op: '==', left: { meta: { key: 'iifname' } }, right: 'net0' } }, { jump: { target: 'cni-br-iface-container99-net1' } }] } },
      // the one comment the reference never reads: the network that made the chain, for GC
      { rule: { family: 'bridge', table: 'nat', chain: 'cni-br-iface-container99-net1', comment: networkTag('secure'),
        expr: [{ jump: { target: 'cni-br-iface-container99-net1-mac' } }] } },
      { rule: { family: 'bridge', table: 'nat', chain: 'cni-br-iface-container99-net1-mac', comment: 'macspoofchk-container99-net1',
        expr: [{ match: { op: '==', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: '02:00:00:00:12:34' } }, { return: null }] } },
      { rule: { family: 'bridge', table: 'nat', chain: 'cni-br-iface-container99-net1-mac', comment: 'macspoofchk-container99-net1', expr: [{ drop: null }] } },
    ]);
    expect(networkTag('secure')).toMatch(/^macspoofchk-net-[0-9a-f]{16}$/);
  });

  it('GC removes only chains its network tagged, of attachments not kept', () => {
    const chain = (name: string, handle: number) => ({ chain: { family: 'bridge', table: 'nat', name, handle } });
    const r = (c: string, handle: number, comment?: string, expr: unknown[] = []) => ({ rule: { family: 'bridge', table: 'nat', chain: c, handle, comment, expr } });
    const listed: NftObject[] = [
      chain('PREROUTING', 1),
      ...['a-eth0', 'b-eth0', 'c-eth0', 'd-eth0'].flatMap((id, i) => [chain(`cni-br-iface-${id}`, 10 + i), chain(`cni-br-iface-${id}-mac`, 20 + i)]),
      r('PREROUTING', 31, 'macspoofchk-a-eth0'),
      r('PREROUTING', 32, 'macspoofchk-b-eth0'),
      r('PREROUTING', 33, 'macspoofchk-c-eth0'),
      r('cni-br-iface-a-eth0', 41, networkTag('plain')), // gone, ours: removed
      r('cni-br-iface-b-eth0', 42, networkTag('plain')), // kept by the list
      r('cni-br-iface-c-eth0', 43, networkTag('secure')), // another network's
      r('cni-br-iface-d-eth0', 44, 'macspoofchk-d-eth0'), // untagged: reference-made, unprovable
    ];
    expect(spoofGcBatch(listed, 'plain', [{ containerId: 'b', ifName: 'eth0' }])).toEqual([
      { delete: { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 31 } } },
      { delete: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-a-eth0' } } },
      { delete: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-a-eth0-mac' } } },
    ]);
    expect(spoofGcBatch(listed, 'other', [])).toEqual([]);
  });

  it('tears down only this attachment: its base-chain rules by handle, then its chains', () => {
    const listed: NftObject[] = [
      { table: { family: 'bridge', name: 'nat', handle: 1 } },
      { chain: { family: 'bridge', table: 'nat', name: 'PREROUTING', handle: 1 } },
      { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-container99-net1', handle: 2 } },
      { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-container99-net1-mac', handle: 3 } },
      { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 4, comment: 'macspoofchk-container99-net1', expr: [] } },
      { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 8, comment: 'macspoofchk-other-net1', expr: [] } },
      // a jump into our chain whose comment was lost still goes
      { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 9, expr: [{ jump: { target: 'cni-br-iface-container99-net1' } }] } },
    ];
    expect(spoofTeardownBatch(listed, 'container99', 'net1')).toEqual([
      { delete: { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 4 } } },
      { delete: { rule: { family: 'bridge', table: 'nat', chain: 'PREROUTING', handle: 9 } } },
      { delete: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-container99-net1' } } },
      { delete: { chain: { family: 'bridge', table: 'nat', name: 'cni-br-iface-container99-net1-mac' } } },
    ]);
    expect(spoofTeardownBatch(listed.slice(0, 2), 'container99', 'net1')).toEqual([]);
  });
});

describe('nft runner', () => {
  it('names the package to install when nft is missing', () => {
    const e = missingNftError('macspoofchk');
    expect(e.code).toBe(999);
    expect(e.message).toMatch(/^macspoofchk needs nft, .*install the nftables package/);
  });
});

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

  it('backend: the configured one; automatic = iptables unless only nftables works', () => {
    const probe = (ipt: boolean, nft: boolean) => ({ iptablesUsable: () => ipt, nftUsable: () => nft });
    expect(chooseMasqBackend('nftables', probe(true, true))).toBe('nftables');
    expect(chooseMasqBackend(undefined, probe(true, true))).toBe('iptables');
    expect(chooseMasqBackend(undefined, probe(false, true))).toBe('nftables');
    expect(chooseMasqBackend(undefined, probe(false, false))).toBe('iptables');
  });
});
