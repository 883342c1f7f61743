// The pod-side policy of a bridge ADD without a kernel: which sysctl failures fail the
// ADD (the writer injected), and the DAD wait of enabledad (the reference's
// ip.SettleAddresses) against a scripted sequence of address states.
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../../../lib/ip';
import { IFA_F } from '../../../../lib/netlink/attrs';
import type { Addr } from '../../../../lib/netlink/addr';
import { applyPodSysctls, planPodSysctls, settleDad, type DadProbe, type SysctlIo } from '../../../../plugins/bridge/pod';

const addr = (cidr: string, flags = 0): Addr => ({ ...parseCidr(cidr), index: 2, flags, scope: 0 });
const fast = { budgetMs: 20, intervalMs: 1 };

/** Answers each poll with the next listing (the last one repeats). */
function probe(listings: Addr[][], operUp = true): DadProbe & { polls: number } {
  const p = {
    polls: 0,
    addrs: () => listings[Math.min(p.polls++, listings.length - 1)],
    operUp: () => operUp,
  };
  return p;
}

describe('settleDad (enabledad)', () => {
  it('returns once no address is tentative', async () => {
    const p = probe([[addr('fd00::2/64', IFA_F.TENTATIVE)], [addr('fd00::2/64', IFA_F.TENTATIVE)], [addr('fd00::2/64')]]);
    await settleDad(p, 'eth0', { budgetMs: 60_000, intervalMs: 1 });
    expect(p.polls).toBe(3);
  });

  it('returns at once with no IPv6 address at all', async () => {
    await settleDad(probe([[]]), 'eth0', fast);
  });

  it('fails on DADFAILED, naming the address and the interface', async () => {
    const p = probe([[addr('fe80::1/64'), addr('fd00::2/64', IFA_F.TENTATIVE | IFA_F.DADFAILED)]]);
    expect(() => settleDad(p, 'eth0', fast)).toThrowError(expect.objectContaining({
      code: 999,
      message: expect.stringMatching(/"eth0".*fd00::2 is DADFAILED.*duplicate/),
    }));
  });

  it('still tentative at the deadline: fails when the link is oper-up', async () => {
    const p = probe([[addr('fd00::2/64', IFA_F.TENTATIVE)]], true);
    expect(() => settleDad(p, 'eth0', fast)).toThrowError(expect.objectContaining({ message: expect.stringContaining('fd00::2 still tentative') }));
  });

  it('still tentative at the deadline: passes when the link is not oper-up (no carrier, DAD cannot run)', async () => {
    await settleDad(probe([[addr('fd00::2/64', IFA_F.TENTATIVE)]], false), 'eth0', fast);
  });
});

const conf6 = '/proc/sys/net/ipv6/conf';

/** A /proc/sys of `values`; writes to a path in `denied` fail with EROFS, reads of a missing path with ENOENT. */
function fakeSysctls(values: Record<string, string>, denied: string[] = []): SysctlIo & { writes: string[] } {
  const writes: string[] = [];
  const err = (code: string, path: string) => Object.assign(new Error(`${code}: ${path}`), { code });
  return {
    writes,
    read: (path) => {
      if (!(path in values)) throw err('ENOENT', path);
      return values[path];
    },
    write: (path, value) => {
      if (denied.includes(path) || !(path in values)) throw err(denied.includes(path) ? 'EROFS' : 'ENOENT', path);
      values[path] = value;
      writes.push(`${path}=${value}`);
    },
  };
}

const allPresent = (): Record<string, string> => ({
  [`${conf6}/eth0/accept_dad`]: '1',
  [`${conf6}/eth0/enhanced_dad`]: '0',
  '/proc/sys/net/ipv4/conf/eth0/arp_notify': '0',
  [`${conf6}/lo/disable_ipv6`]: '0',
  [`${conf6}/eth0/disable_ipv6`]: '0',
  [`${conf6}/eth0/keep_addr_on_down`]: '0',
});

describe('pod sysctls: which failures fail the ADD', () => {
  it('plans the reference\'s steps in its order; the IPv6 ones only with an IPv6 address', () => {
    const paths = (o: { hasIPv6: boolean; enableDad: boolean }) => planPodSysctls('eth0', o).map((s) => `${s.path.replace('/proc/sys/net/', '')}=${s.value}${s.fatal ? ' (fatal)' : ''}`);
    expect(paths({ hasIPv6: false, enableDad: false })).toEqual(['ipv6/conf/eth0/accept_dad=0', 'ipv4/conf/eth0/arp_notify=1']);
    expect(paths({ hasIPv6: true, enableDad: true })).toEqual([
      'ipv6/conf/eth0/enhanced_dad=1',
      'ipv6/conf/eth0/accept_dad=1',
      'ipv4/conf/eth0/arp_notify=1',
      'ipv6/conf/lo/disable_ipv6=0 (fatal)',
      'ipv6/conf/eth0/disable_ipv6=0 (fatal)',
      'ipv6/conf/eth0/keep_addr_on_down=1 (fatal)',
    ]);
  });

  it('writes disable_ipv6 only where it is not 0 already', () => {
    const v = { ...allPresent(), [`${conf6}/eth0/disable_ipv6`]: '1' };
    const io = fakeSysctls(v);
    applyPodSysctls(planPodSysctls('eth0', { hasIPv6: true, enableDad: false }), io);
    expect(io.writes).toEqual([`${conf6}/eth0/accept_dad=0`, '/proc/sys/net/ipv4/conf/eth0/arp_notify=1', `${conf6}/eth0/disable_ipv6=0`, `${conf6}/eth0/keep_addr_on_down=1`]);
  });

  it.each([
    ['disable_ipv6 of the interface', `${conf6}/eth0/disable_ipv6`, 'failed to enable IPv6 on "eth0": cannot set /proc/sys/net/ipv6/conf/eth0/disable_ipv6 to 0: EROFS'],
    ['disable_ipv6 of lo', `${conf6}/lo/disable_ipv6`, 'failed to enable IPv6 on "lo": cannot set /proc/sys/net/ipv6/conf/lo/disable_ipv6 to 0'],
  ])('a failed write of %s is fatal', (_, path, text) => {
    const io = fakeSysctls({ ...allPresent(), [path]: '1' }, [path]);
    expect(() => applyPodSysctls(planPodSysctls('eth0', { hasIPv6: true, enableDad: false }), io)).toThrowError(
      expect.objectContaining({ code: 999, message: expect.stringContaining(text) }),
    );
  });

  it('a failed write of keep_addr_on_down is fatal, a missing one too (the reference: plugins v1.7 ipam_linux.go)', () => {
    const ro = fakeSysctls(allPresent(), [`${conf6}/eth0/keep_addr_on_down`]);
    expect(() => applyPodSysctls(planPodSysctls('eth0', { hasIPv6: true, enableDad: false }), ro)).toThrow('failed to enable keep_addr_on_down on "eth0"');
    const { [`${conf6}/eth0/keep_addr_on_down`]: _gone, ...rest } = allPresent();
    expect(() => applyPodSysctls(planPodSysctls('eth0', { hasIPv6: true, enableDad: false }), fakeSysctls(rest))).toThrow('keep_addr_on_down');
  });

  it('an unreadable disable_ipv6 is left alone, as the reference does', () => {
    const { [`${conf6}/lo/disable_ipv6`]: _gone, ...rest } = allPresent();
    const io = fakeSysctls(rest);
    applyPodSysctls(planPodSysctls('eth0', { hasIPv6: true, enableDad: false }), io);
    expect(io.writes).toContain(`${conf6}/eth0/keep_addr_on_down=1`);
  });

  it('DAD and arp_notify failures are best effort, with or without IPv6', () => {
    const denied = [`${conf6}/eth0/accept_dad`, `${conf6}/eth0/enhanced_dad`, '/proc/sys/net/ipv4/conf/eth0/arp_notify'];
    for (const hasIPv6 of [false, true]) {
      for (const enableDad of [false, true]) {
        const io = fakeSysctls(allPresent(), denied);
        expect(() => applyPodSysctls(planPodSysctls('eth0', { hasIPv6, enableDad }), io)).not.toThrow();
      }
    }
    // Without an IPv6 address nothing is fatal, even with /proc/sys/net/ipv6 missing altogether.
    expect(() => applyPodSysctls(planPodSysctls('eth0', { hasIPv6: false, enableDad: true }), fakeSysctls({}))).not.toThrow();
  });
});
