// Address messages against the `netlink` package: what lib/netlink/addr.ts builds must
// parse into the intended fields, and addresses as the kernel dumps them (encoded by
// the package, with IFA_CACHEINFO and IFA_FLAGS) must read back into our Addr.
import { describe, expect, it } from 'vitest';
import { FlagsNew } from 'netlink/dist/constants';
import { MessageType, formatAddressFlags, parseAddressMessage, type AddressFlags } from 'netlink/dist/rt/structs';
import { addAddr, delAddr, isDadFailed, isTentative, listAddrs } from '../../../../lib/netlink/addr';
import { formatCidr, parseCidr, toBytes } from '../../../../lib/ip';
import { FakeNl } from './fake-nl';
import { addressMessage } from './oracle';

const AF_INET = 2;
const AF_INET6 = 10;
const RT_SCOPE_LINK = 253;
const ip = (s: string) => toBytes(parseCidr(`${s}/${s.includes(':') ? 128 : 32}`));

describe('address requests, read by the oracle', () => {
  it('IPv4: NEWADDR (create, excl) with local, address and the subnet broadcast, no flags', async () => {
    const nl = new FakeNl();
    await addAddr(nl, 4, parseCidr('10.244.1.5/24'), 'add');
    expect(nl.only.type).toBe(MessageType.NEWADDR);
    expect(nl.only.flags).toBe(FlagsNew.CREATE | FlagsNew.EXCL);
    expect(parseAddressMessage(nl.only.payload)).toEqual({
      kind: 'address',
      data: { family: AF_INET, prefixlen: 24, flags: {}, scope: 0, index: 4 },
      attrs: { local: ip('10.244.1.5'), address: ip('10.244.1.5'), broadcast: ip('10.244.1.255') },
    });
  });

  it('IPv4 /31 and /32 get no broadcast (there is none)', async () => {
    const nl = new FakeNl();
    await addAddr(nl, 4, parseCidr('10.0.0.0/31'), 'add');
    await addAddr(nl, 4, parseCidr('10.0.0.7/32'), 'add');
    for (const s of nl.sent) expect(parseAddressMessage(s.payload).attrs.broadcast).toBeUndefined();
  });

  it('IPv6: IFA_F_NODAD in both the header and IFA_FLAGS, no broadcast', async () => {
    const nl = new FakeNl();
    await addAddr(nl, 4, parseCidr('fd00:10:244:1::5/64'), 'add');
    expect(parseAddressMessage(nl.only.payload)).toEqual({
      kind: 'address',
      data: { family: AF_INET6, prefixlen: 64, flags: { nodad: true }, scope: 0, index: 4 },
      attrs: { local: ip('fd00:10:244:1::5'), address: ip('fd00:10:244:1::5'), flags: { nodad: true } },
    });
  });

  it('IPv6 with DAD asked for: no flags at all', async () => {
    const nl = new FakeNl();
    await addAddr(nl, 4, parseCidr('fd00::5/64'), 'add', { dad: true });
    const m = parseAddressMessage(nl.only.payload);
    expect(m.data.flags).toEqual({});
    expect(m.attrs.flags).toBeUndefined();
  });

  it('delete and dump: DELADDR with local/address; GETADDR per family', async () => {
    const nl = new FakeNl();
    await delAddr(nl, 4, parseCidr('10.244.1.5/24'), 'del');
    await listAddrs(nl, { family: 6 });
    await listAddrs(nl);
    expect(nl.sent.map((s) => s.type)).toEqual([MessageType.DELADDR, MessageType.GETADDR, MessageType.GETADDR]);
    expect(nl.sent[0].flags).toBe(0);
    const [del, v6, all] = nl.sent.map((s) => parseAddressMessage(s.payload));
    expect(del).toMatchObject({ data: { family: AF_INET, prefixlen: 24, index: 4 }, attrs: { local: ip('10.244.1.5'), address: ip('10.244.1.5') } });
    expect(v6.data.family).toBe(AF_INET6);
    expect(all.data.family).toBe(0);
  });
});

describe('addresses from the kernel (encoded by the oracle), read by ours', () => {
  const forever = 0xffffffff;
  const v4 = addressMessage({
    data: { family: AF_INET, prefixlen: 24, flags: { permanent: true }, scope: 0, index: 3 },
    attrs: {
      address: ip('10.244.1.1'),
      local: ip('10.244.1.1'),
      broadcast: ip('10.244.1.255'),
      label: 'cni0',
      flags: { permanent: true },
      cacheInfo: { ifaPrefered: forever, ifaValid: forever, cstamp: 4242, tstamp: 4250 },
    },
  });
  // IFA_FLAGS carries flags above the header's 8 bits (noprefixroute = 0x200)
  const v6Flags: AddressFlags = { nodad: true, tentative: true, permanent: true, noprefixroute: true };
  const v6 = addressMessage({
    data: { family: AF_INET6, prefixlen: 64, flags: { nodad: true, tentative: true, permanent: true }, scope: 0, index: 7 },
    attrs: { address: ip('fd00::5'), flags: v6Flags, cacheInfo: { ifaPrefered: forever, ifaValid: forever, cstamp: 9001, tstamp: 9001 } },
  });
  // no IFA_FLAGS (kernels before 3.14), no IFA_CACHEINFO: the header's flags count
  const linkLocal = addressMessage({
    data: { family: AF_INET6, prefixlen: 64, flags: { dadfailed: true, permanent: true }, scope: RT_SCOPE_LINK, index: 7 },
    attrs: { address: ip('fe80::1') },
  });
  const dump = () => new FakeNl().answer(v4, v6, linkLocal);

  it('reads address, prefix, link, flags (IFA_FLAGS over the header) and the creation stamp (IFA_CACHEINFO)', async () => {
    const addrs = await listAddrs(dump());
    expect(addrs.map(formatCidr)).toEqual(['10.244.1.1/24', 'fd00::5/64', 'fe80::1/64']);
    expect(addrs.map((a) => [a.index, a.flags, a.scope, a.created])).toEqual([
      [3, formatAddressFlags({ permanent: true }), 0, 4242],
      [7, formatAddressFlags(v6Flags), 0, 9001],
      [7, formatAddressFlags({ dadfailed: true, permanent: true }), RT_SCOPE_LINK, undefined],
    ]);
    expect(addrs.map((a) => [isTentative(a), isDadFailed(a)])).toEqual([
      [false, false],
      [true, false],
      [false, true],
    ]);
  });

  it('filters by link and by family', async () => {
    expect((await listAddrs(dump(), { index: 7 })).map(formatCidr)).toEqual(['fd00::5/64', 'fe80::1/64']);
    expect((await listAddrs(dump(), { family: 4 })).map(formatCidr)).toEqual(['10.244.1.1/24']);
    expect((await listAddrs(dump(), { index: 3, family: 6 })).map(formatCidr)).toEqual([]);
  });
});
