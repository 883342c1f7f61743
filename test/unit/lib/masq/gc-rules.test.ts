// CNI 1.1 GC of ipMasq's iptables backend, the pure half (lib/masq/gc-rules.ts): the
// selection of stale masquerade chains from `iptables -S`.
import { describe, expect, it } from 'vitest';
import { goQuote, masqChainName, masqComment } from '../../../../lib/masq/rules';
import { parseMasqComment, staleMasqChains } from '../../../../lib/masq/gc-rules';

describe('masquerade GC selection (pure)', () => {
  const net = 'mynet';
  // as `iptables -S` prints a rule: matches, the comment, then the target; it quotes
  // the comment exactly as goQuote does for these simple strings
  const line = (chain: string, rest: string, comment?: string) => {
    const j = rest.lastIndexOf('-j ');
    const cm = comment === undefined ? '' : `-m comment --comment ${goQuote(comment)} `;
    return `-A ${chain} ${rest.slice(0, j)}${cm}${rest.slice(j)}`.replace(/ +/g, ' ');
  };
  const chainOf = (id: string, network = net) => masqChainName(network, id);
  const rulesFor = (id: string, ip: string, network = net): string[] => {
    const c = chainOf(id, network);
    const cm = masqComment(network, id);
    return [`-N ${c}`, line('POSTROUTING', `-s ${ip}/32 -j ${c}`, cm), line(c, '-d 10.0.0.0/24 -j ACCEPT', cm), line(c, '! -d 224.0.0.0/4 -j MASQUERADE', cm)];
  };
  const listing = (...blocks: string[][]): string => ['-P PREROUTING ACCEPT', '-P POSTROUTING ACCEPT', ...blocks.flat()].join('\n') + '\n';

  it('parses the comment back, and only that exact form', () => {
    expect(parseMasqComment(masqComment('mynet', 'ctr-1'))).toEqual({ network: 'mynet', containerId: 'ctr-1' });
    expect(parseMasqComment(masqComment('we"ird\\n', 'id\n'))).toEqual({ network: 'we"ird\\n', containerId: 'id\n' });
    expect(parseMasqComment(`dnat ${masqComment('mynet', 'ctr-1')}`)).toBeUndefined();
    expect(parseMasqComment(`${masqComment('mynet', 'ctr-1')} x`)).toBeUndefined();
    expect(parseMasqComment('name: mynet id: ctr-1')).toBeUndefined();
  });

  it('selects the chains of unlisted containers of this network, with their jumps', () => {
    const out = staleMasqChains(listing(rulesFor('keep', '10.0.0.2'), rulesFor('gone', '10.0.0.3')), net, new Set(['keep']));
    expect(out.skipped).toEqual([]);
    expect(out.stale).toEqual([
      {
        chain: chainOf('gone'),
        containerId: 'gone',
        exists: true,
        jumps: [{ chain: 'POSTROUTING', spec: ['-s', '10.0.0.3/32', '-m', 'comment', '--comment', masqComment(net, 'gone'), '-j', chainOf('gone')] }],
      },
    ]);
  });

  it('never selects other networks, chains without our comment, or portmap-style comments', () => {
    const foreignNet = rulesFor('gone', '10.0.0.4', 'othernet');
    const bare = chainOf('bare');
    const noComment = [`-N ${bare}`, `-A ${bare} -j MASQUERADE`, `-A POSTROUTING -s 10.0.0.5/32 -j ${bare}`];
    const dn = 'CNI-DN-0123456789abcdef01234';
    const portmap = [`-N ${dn}`, line(dn, '-p tcp -j DNAT --to-destination 10.0.0.6:80', `dnat ${masqComment(net, 'pm')}`)];
    // our comment on a chain whose name is not derived from it: not ours to judge
    const misnamed = [`-N CNI-aaaaaaaaaaaaaaaaaaaaaaaa`, line('CNI-aaaaaaaaaaaaaaaaaaaaaaaa', '-j MASQUERADE', masqComment(net, 'x'))];
    const out = staleMasqChains(listing(foreignNet, noComment, portmap, misnamed), net, new Set());
    expect(out.stale).toEqual([]);
  });

  it('a jump whose chain is already gone is still selected (half-done teardown)', () => {
    const c = chainOf('gone');
    const out = staleMasqChains(listing([line('POSTROUTING', `-s 10.0.0.3/32 -j ${c}`, masqComment(net, 'gone'))]), net, new Set());
    expect(out.stale).toHaveLength(1);
    expect(out.stale[0]).toMatchObject({ chain: c, exists: false });
    expect(out.stale[0].jumps).toHaveLength(1);
  });

  it('skips a chain shared through a name collision ("ab"+"c" = "a"+"bc")', () => {
    const c = masqChainName('ab', 'c');
    expect(masqChainName('a', 'bc')).toBe(c);
    const shared = [
      `-N ${c}`,
      line(c, '-d 10.0.0.0/24 -j ACCEPT', masqComment('ab', 'c')),
      line(c, '-d 10.9.0.0/24 -j ACCEPT', masqComment('a', 'bc')),
    ];
    const out = staleMasqChains(listing(shared), 'ab', new Set());
    expect(out.stale).toEqual([]);
    expect(out.skipped.map((s) => s.chain)).toEqual([c]);
  });
});
