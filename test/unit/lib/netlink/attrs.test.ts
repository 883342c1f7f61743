// The generic half of our codec (lib/netlink/attrs.ts) against the `netlink` package:
// attribute framing and padding, nesting, strings and integers, and the three fixed
// headers (ifinfomsg, ifaddrmsg, rtmsg) in both directions.
import { describe, expect, it } from 'vitest';
import { AttrStream, getString, getU32, getU8, parseAttribute, parseAttributes, putString, putU32 } from 'netlink/dist/structs';
import { formatAddress, formatLink, formatRoute, parseAddress, parseLink, parseRoute } from 'netlink/dist/rt/structs';
import {
  attr,
  attrString,
  attrU32,
  attrU8,
  ifaddrmsg,
  ifinfomsg,
  nest,
  parseAttrs,
  parseIfAddrMsg,
  parseIfInfoMsg,
  parseRtMsg,
  readString,
  readU32,
  readU8,
  rtmsg,
} from '../../../../lib/netlink/attrs';

describe('attributes we encode, read by the oracle', () => {
  it('a string: NUL-terminated, length without padding, padded to 4 bytes', () => {
    const a = attrString(3, 'cni0');
    expect(a.length).toBe(12); // 4 header + "cni0\0" (5) = 9, padded to 12
    const { x, consumed } = parseAttribute(a);
    expect(consumed).toBe(9);
    expect(x).toMatchObject({ type: 3, nested: false });
    expect(getString(x.data)).toBe('cni0');
  });

  it('u32 and u8, and a nest: NLA_F_NESTED set, children intact', () => {
    expect(getU32(parseAttribute(attrU32(4, 0xfffffffe)).x.data)).toBe(0xfffffffe);
    expect(getU8(parseAttribute(attrU8(16, 6)).x.data)).toBe(6);
    const { x } = parseAttribute(nest(18, [attrString(1, 'veth'), attrU8(2, 1)]));
    expect(x).toMatchObject({ type: 18, nested: true });
    const children: [number, Buffer][] = [];
    parseAttributes(x.data, (c) => children.push([c.type, c.data]));
    expect(children).toEqual([
      [1, Buffer.from('veth\0')],
      [2, Buffer.from([1])],
    ]);
  });

  it('an empty payload is a bare 4-byte header', () => {
    expect(attr(7, Buffer.alloc(0))).toEqual(Buffer.from([4, 0, 7, 0]));
  });
});

describe('attributes the oracle encodes, read by ours', () => {
  it('by type, padding skipped, a repeated type keeps the last, the nested flag stripped', () => {
    const out = new AttrStream();
    out.push(3, putString('eth0'));
    out.push(4, putU32(1450));
    out.push(9, putU32(1));
    out.push(9, putU32(2));
    const stream = Buffer.concat([...out.bufs, nest(18, [attrString(1, 'bridge')])]);
    const attrs = parseAttrs(stream);
    expect(readString(attrs.get(3))).toBe('eth0');
    expect(readU32(attrs.get(4))).toBe(1450);
    expect(readU32(attrs.get(9))).toBe(2);
    expect(readString(parseAttrs(attrs.get(18)!).get(1))).toBe('bridge');
  });

  it('stops at a truncated attribute instead of reading past the buffer', () => {
    const ok = attrU32(4, 1500);
    const truncated = Buffer.from([0x40, 0x00, 0x03, 0x00, 0x65]); // claims 64 bytes, has 5
    expect([...parseAttrs(Buffer.concat([ok, truncated])).keys()]).toEqual([4]);
    expect(readU8(undefined)).toBeUndefined();
    expect(readU32(Buffer.alloc(2))).toBeUndefined();
  });
});

describe('fixed headers', () => {
  it('ifinfomsg: family, type, index, flags, change', () => {
    expect(parseLink(ifinfomsg({ family: 7, type: 1, index: 42, flags: 0x1, change: 0x1 }))).toEqual({
      family: 7,
      __pad: 0,
      type: 'ETHER',
      index: 42,
      flags: { up: true },
      change: { up: true },
    });
    const m = parseIfInfoMsg(Buffer.concat([formatLink({ family: 0, type: 'LOOPBACK', index: 1, flags: { up: true, lowerUp: true }, change: {} }), attrString(3, 'lo')]));
    expect(m).toMatchObject({ family: 0, type: 772, index: 1, flags: 0x10001, change: 0 });
    expect(readString(m.attrs.get(3))).toBe('lo');
  });

  it('ifaddrmsg: family, prefix length, flags (low 8 bits), scope, index', () => {
    expect(parseAddress(ifaddrmsg({ family: 10, prefixlen: 64, flags: 0x2, scope: 253, index: 9 }))).toEqual({
      family: 10,
      prefixlen: 64,
      flags: { nodad: true },
      scope: 253,
      index: 9,
    });
    expect(parseIfAddrMsg(formatAddress({ family: 2, prefixlen: 24, flags: { permanent: true }, scope: 0, index: 3 }))).toMatchObject({
      family: 2,
      prefixlen: 24,
      flags: 0x80,
      scope: 0,
      index: 3,
    });
  });

  it('rtmsg: family, lengths, tos, table, protocol, scope, type, flags', () => {
    expect(parseRoute(rtmsg({ family: 2, dstLen: 24, table: 254, protocol: 3, scope: 253, type: 1 }))).toEqual({
      family: 2,
      dstLen: 24,
      srcLen: 0,
      tos: 0,
      table: 254,
      protocol: 'BOOT',
      scope: 'LINK',
      type: 'UNICAST',
      flags: {},
    });
    expect(parseRtMsg(formatRoute({ family: 10, dstLen: 0, table: 255, protocol: 'KERNEL', scope: 'HOST', type: 'LOCAL', flags: { cloned: true } }))).toMatchObject({
      family: 10,
      dstLen: 0,
      table: 255,
      protocol: 2,
      scope: 254,
      type: 2,
      flags: 0x200,
    });
  });
});
