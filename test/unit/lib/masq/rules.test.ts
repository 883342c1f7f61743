// The pure half of ipMasq's iptables backend (lib/masq/rules.ts): chain names,
// comments, rule argv and the reading of `iptables -S` output.
import { describe, expect, it } from 'vitest';
import {
  classifyFailure,
  goQuote,
  IPT_COMMENT_MAX,
  jumpsToChain,
  masqChainName,
  masqComment,
  parseMasqAddr,
  planMasq,
  ruleArgs,
  splitSaveLine,
  type MasqAddr,
} from '../../../../lib/masq/rules';

const addrs = (...ss: string[]): MasqAddr[] =>
  ss.map((s) => {
    const a = parseMasqAddr(s);
    if (!a) throw new Error(`bad test address ${s}`);
    return a;
  });

describe('masqChainName', () => {
  it('matches the reference names (its published test vectors and a chain it made)', () => {
    expect(masqChainName('test', '1234')).toBe('CNI-2bbe0c48b91a7d1b8a6753a8');
    expect(masqChainName('testalongnamethatdoesnotmakesense', '1234')).toBe('CNI-374f33fe84ab0ed84dcdebe3');
    // observed from the reference bridge v1.1.1 with name "mynet", CNI_CONTAINERID "ctr-abc123"
    expect(masqChainName('mynet', 'ctr-abc123')).toBe('CNI-b35254af8ad75f5ce3aedbb9');
  });

  it('is 28 characters and changes with either input', () => {
    expect(masqChainName('n', 'x'.repeat(200))).toHaveLength(28);
    expect(masqChainName('net', '1235')).not.toBe(masqChainName('net', '1234'));
    expect(masqChainName('net2', '1234')).not.toBe(masqChainName('net', '1234'));
  });
});

describe('masqComment / goQuote', () => {
  it('quotes like Go %q', () => {
    expect(masqComment('mynet', 'ctr-abc123')).toBe('name: "mynet" id: "ctr-abc123"');
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote('t\tn\n\x01\x7f')).toBe('"t\\tn\\n\\x01\\x7f"');
    expect(goQuote('é')).toBe('"é"');
  });
});

describe('masqComment length (iptables keeps at most 255 bytes of a comment)', () => {
  const full = (net: string, id: string) => `name: ${goQuote(net)} id: ${goQuote(id)}`;
  const bytes = (x: string) => Buffer.byteLength(x, 'utf8');

  it('is the exact reference comment whenever it fits, 255 bytes included', () => {
    const containerd = 'f'.repeat(64);
    expect(masqComment('cbr0', containerd)).toBe(`name: "cbr0" id: "${containerd}"`);
    // `name: "n" id: ""` is 16 bytes: an id of 239 makes exactly 255.
    const id = 'c'.repeat(239);
    expect(bytes(full('n', id))).toBe(IPT_COMMENT_MAX);
    expect(masqComment('n', id)).toBe(full('n', id));
  });

  it('past 255 bytes keeps the first 255, as iptables itself would store it', () => {
    for (const id of ['c'.repeat(236), 'c'.repeat(300), `${'a'.repeat(100)}-${'b'.repeat(5000)}`]) {
      const c = masqComment('mynet', id);
      expect(bytes(c)).toBe(IPT_COMMENT_MAX);
      expect(c).toBe(full('mynet', id).slice(0, IPT_COMMENT_MAX));
      expect(masqComment('mynet', id)).toBe(c); // ADD and DEL build the same argv
    }
    // A 255-byte network name (allowed) with any id.
    expect(bytes(masqComment('n'.repeat(255), 'ctr-1'))).toBe(IPT_COMMENT_MAX);
  });

  it('never cuts inside a UTF-8 character', () => {
    // The "ééé" (2 bytes each) straddles byte 255 for pads 243..248.
    for (let pad = 240; pad <= 250; pad++) {
      const c = masqComment(`${'n'.repeat(pad)}ééé`, 'id');
      expect(bytes(c)).toBeLessThanOrEqual(IPT_COMMENT_MAX);
      expect(bytes(c)).toBeGreaterThanOrEqual(IPT_COMMENT_MAX - 1);
      expect(c).not.toContain('\uFFFD');
      expect(full(`${'n'.repeat(pad)}ééé`, 'id').startsWith(c)).toBe(true);
    }
  });

  it('uniqueness does not depend on it: two long ids sharing the cut comment get different chains', () => {
    const a = `${'x'.repeat(300)}-a`;
    const b = `${'x'.repeat(300)}-b`;
    expect(masqComment('mynet', a)).toBe(masqComment('mynet', b));
    expect(masqChainName('mynet', a)).not.toBe(masqChainName('mynet', b));
    // Every rule carries the cut comment, so setup and teardown use one argv.
    for (const plan of planMasq('mynet', a, addrs('10.244.1.5/24'))) {
      for (const rule of [...plan.chainRules, ...plan.jumps, ...plan.oldJumps]) {
        expect(rule.spec[rule.spec.indexOf('--comment') + 1]).toBe(masqComment('mynet', a));
      }
    }
  });
});

describe('parseMasqAddr', () => {
  it('gives bare address, address/prefix and subnet', () => {
    expect(parseMasqAddr('10.244.1.5/24')).toEqual({ family: 4, ip: '10.244.1.5', cidr: '10.244.1.5/24', subnet: '10.244.1.0/24' });
    expect(parseMasqAddr('FD00:10:244:1::5/64')).toEqual({
      family: 6,
      ip: 'fd00:10:244:1::5',
      cidr: 'fd00:10:244:1::5/64',
      subnet: 'fd00:10:244:1::/64',
    });
  });

  it('rejects anything that is not address/prefix', () => {
    for (const bad of ['10.244.1.5', '10.244.1.5/33', 'nonsense', '', 'fd00::1/129']) expect(parseMasqAddr(bad)).toBeUndefined();
  });
});

const C = 'CNI-b35254af8ad75f5ce3aedbb9';
const COMMENT = 'name: "mynet" id: "ctr-abc123"';
const cm = ['-m', 'comment', '--comment', COMMENT];

describe('planMasq', () => {
  it('builds the reference rule argv for one IPv4 address', () => {
    const [p, ...rest] = planMasq('mynet', 'ctr-abc123', addrs('10.244.1.5/24'));
    expect(rest).toEqual([]);
    expect(p.family).toBe(4);
    expect(p.chain).toBe(C);
    expect(p.chainRules.map((r) => ruleArgs('-A', r))).toEqual([
      ['-t', 'nat', '-A', C, '-d', '10.244.1.0/24', '-j', 'ACCEPT', ...cm],
      ['-t', 'nat', '-A', C, '!', '-d', '224.0.0.0/4', '-j', 'MASQUERADE', ...cm],
    ]);
    expect(p.jumps.map((r) => ruleArgs('-C', r))).toEqual([['-t', 'nat', '-C', 'POSTROUTING', '-s', '10.244.1.5', '-j', C, ...cm]]);
    expect(p.oldJumps.map((r) => ruleArgs('-D', r))).toEqual([['-t', 'nat', '-D', 'POSTROUTING', '-s', '10.244.1.5/24', '-j', C, ...cm]]);
  });

  it('splits dual stack into one plan per family, v4 first, same chain name', () => {
    const plans = planMasq('mynet', 'ctr-abc123', addrs('fd00:10:244:1::2/64', '10.244.1.2/24'));
    expect(plans.map((p) => [p.family, p.chain, p.addrs])).toEqual([
      [4, C, ['10.244.1.2/24']],
      [6, C, ['fd00:10:244:1::2/64']],
    ]);
    expect(ruleArgs('-A', plans[1].chainRules[0])).toEqual(['-t', 'nat', '-A', C, '-d', 'fd00:10:244:1::/64', '-j', 'ACCEPT', ...cm]);
    expect(ruleArgs('-A', plans[1].chainRules[1])).toEqual(['-t', 'nat', '-A', C, '!', '-d', 'ff00::/8', '-j', 'MASQUERADE', ...cm]);
    expect(plans[1].jumps[0].spec.slice(0, 2)).toEqual(['-s', 'fd00:10:244:1::2']);
  });

  it('puts every subnet ACCEPT before the single MASQUERADE and drops duplicates', () => {
    const [p] = planMasq('mynet', 'ctr-abc123', addrs('10.1.0.5/24', '10.2.0.5/24', '10.1.0.6/24', '10.1.0.5/24'));
    expect(p.chainRules.map((r) => r.spec.slice(0, 5).join(' '))).toEqual([
      '-d 10.1.0.0/24 -j ACCEPT -m',
      '-d 10.2.0.0/24 -j ACCEPT -m',
      '! -d 224.0.0.0/4 -j MASQUERADE',
    ]);
    expect(p.jumps.map((r) => r.spec[1])).toEqual(['10.1.0.5', '10.2.0.5', '10.1.0.6']);
    expect(p.addrs).toEqual(['10.1.0.5/24', '10.2.0.5/24', '10.1.0.6/24']);
  });

  it('has no separate old-form jump for a host route address', () => {
    const [p] = planMasq('mynet', 'ctr-abc123', addrs('10.1.0.5/32'));
    expect(p.oldJumps).toEqual([]);
  });

  it('is empty without addresses', () => {
    expect(planMasq('mynet', 'ctr-abc123', [])).toEqual([]);
  });
});

describe('splitSaveLine / jumpsToChain', () => {
  it('inverts iptables -S quoting', () => {
    expect(splitSaveLine('-A POSTROUTING -s 10.0.0.1/32 -m comment --comment "we\\\'ird \\\\ \\"q\\"" -j CNI-foo')).toEqual([
      '-A', 'POSTROUTING', '-s', '10.0.0.1/32', '-m', 'comment', '--comment', `we'ird \\ "q"`, '-j', 'CNI-foo',
    ]);
    expect(splitSaveLine('-A X ! -d 224.0.0.0/4 -m comment --comment plain -j MASQUERADE')).toEqual([
      '-A', 'X', '!', '-d', '224.0.0.0/4', '-m', 'comment', '--comment', 'plain', '-j', 'MASQUERADE',
    ]);
    expect(splitSaveLine('-A X -m comment --comment "" -j Y')).toEqual(['-A', 'X', '-m', 'comment', '--comment', '', '-j', 'Y']);
  });

  it('finds every POSTROUTING jump to the chain and nothing else', () => {
    const other = 'CNI-0123456789abcdef01234567';
    const out = [
      '-P POSTROUTING ACCEPT',
      `-N ${C}`,
      `-A POSTROUTING -s 10.244.1.2/32 -m comment --comment "name: \\"mynet\\" id: \\"ctr-abc123\\"" -j ${C}`,
      `-A POSTROUTING -s 10.244.1.3/32 -m comment --comment "name: \\"mynet\\" id: \\"other\\"" -j ${other}`,
      `-A POSTROUTING -s 10.244.1.0/24 -m comment --comment "name: \\"mynet\\" id: \\"ctr-abc123\\"" -j ${C}`,
      `-A POSTROUTING -s 10.9.9.9/32 -j ${C}0`,
      `-A ${C} -d 10.244.1.0/24 -m comment --comment "name: \\"mynet\\" id: \\"ctr-abc123\\"" -j ACCEPT`,
      `-A POSTROUTING -o eth0 -j MASQUERADE`,
      '',
    ].join('\n');
    const found = jumpsToChain(out, C);
    expect(found.map((r) => ruleArgs('-D', r))).toEqual([
      ['-t', 'nat', '-D', 'POSTROUTING', '-s', '10.244.1.2/32', '-m', 'comment', '--comment', COMMENT, '-j', C],
      ['-t', 'nat', '-D', 'POSTROUTING', '-s', '10.244.1.0/24', '-m', 'comment', '--comment', COMMENT, '-j', C],
    ]);
    expect(jumpsToChain('-P POSTROUTING ACCEPT\n', C)).toEqual([]);
  });
});

describe('classifyFailure', () => {
  it('reads the stderr of iptables-nft and iptables-legacy', () => {
    expect(classifyFailure('iptables: Chain already exists.')).toBe('exists');
    expect(classifyFailure('iptables: No chain/target/match by that name.')).toBe('missing');
    expect(classifyFailure('iptables: Bad rule (does a matching rule exist in that chain?).')).toBe('missing');
    expect(classifyFailure("iptables v1.8.9 (nf_tables): Chain 'CNI-foo' does not exist")).toBe('missing');
    expect(classifyFailure("iptables v1.8.9 (legacy): Couldn't load target `CNI-bar':No such file or directory")).toBe('missing');
    expect(classifyFailure('iptables v1.8.9 (nf_tables):  CHAIN_DEL failed (Device or resource busy): chain CNI-foo')).toBe('busy');
    expect(classifyFailure('iptables: Too many links.')).toBe('busy');
    expect(classifyFailure('iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied')).toBe('other');
  });
});
