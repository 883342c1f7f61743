// nftables shapes of macspoofchk, checked against the reference's own test vectors
// (pkg/link/spoofcheck_test.go): same names, comments and rules.
import { describe, expect, it } from 'vitest';
import type { NftObject } from '../../../../lib/nft/run';
import { networkTag, spoofGcBatch, spoofNames, spoofSetupBatch, spoofTeardownBatch } from '../../../../lib/nft/spoofcheck';

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
