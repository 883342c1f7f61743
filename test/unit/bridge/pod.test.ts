// The pod-side policy of a bridge ADD without a kernel: the DAD wait of enabledad
// (the reference's ip.SettleAddresses) against a scripted sequence of address states.
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../../../lib/ip';
import { IFA_F } from '../../../lib/netlink/attrs';
import type { Addr } from '../../../lib/netlink/addr';
import { settleDad, type DadProbe } from '../../../plugins/bridge/pod';

const addr = (cidr: string, flags = 0): Addr => ({ ...parseCidr(cidr), index: 2, flags, scope: 0 });
const fast = { budgetMs: 20, intervalMs: 1 };

/** Answers each poll with the next listing (the last one repeats). */
function probe(listings: Addr[][], operUp = true): DadProbe & { polls: number } {
  const p = {
    polls: 0,
    addrs: async () => listings[Math.min(p.polls++, listings.length - 1)],
    operUp: async () => operUp,
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
    await expect(settleDad(p, 'eth0', fast)).rejects.toMatchObject({
      code: 999,
      message: expect.stringMatching(/"eth0".*fd00::2 is DADFAILED.*duplicate/),
    });
  });

  it('still tentative at the deadline: fails when the link is oper-up', async () => {
    const p = probe([[addr('fd00::2/64', IFA_F.TENTATIVE)]], true);
    await expect(settleDad(p, 'eth0', fast)).rejects.toMatchObject({ message: expect.stringContaining('fd00::2 still tentative') });
  });

  it('still tentative at the deadline: passes when the link is not oper-up (no carrier, DAD cannot run)', async () => {
    await settleDad(probe([[addr('fd00::2/64', IFA_F.TENTATIVE)]], false), 'eth0', fast);
  });
});
