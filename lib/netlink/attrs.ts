// rtnetlink wire format: the fixed headers (ifinfomsg, ifaddrmsg, rtmsg) and the
// TLV attributes. Kept apart from the transport (socket.ts) so that a synchronous
// transport can replace the socket without touching how messages are built.
// Netlink uses host byte order; this code assumes little-endian (x86-64, arm64).

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('netlink encoding here assumes a little-endian host');

export const RTM = {
  NEWLINK: 16, DELLINK: 17, GETLINK: 18, SETLINK: 19,
  NEWADDR: 20, DELADDR: 21, GETADDR: 22,
  NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26,
} as const;

export const NLM_F = {
  REQUEST: 0x1, MULTI: 0x2, ACK: 0x4, DUMP_INTR: 0x10,
  DUMP: 0x300, REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400, APPEND: 0x800,
} as const;

export const AF = { UNSPEC: 0, INET: 2, BRIDGE: 7, INET6: 10 } as const;
export const IFF = { UP: 0x1, PROMISC: 0x100, LOWER_UP: 0x10000 } as const;

export const IFLA = {
  ADDRESS: 1, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, OPERSTATE: 16, LINKINFO: 18,
  NET_NS_FD: 28, LINK_NETNSID: 37,
} as const;
export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const VETH_INFO_PEER = 1;
export const IFLA_BRPORT = { MODE: 4, ISOLATED: 33 } as const; // MODE is the hairpin flag
export const IFLA_BR = { VLAN_FILTERING: 7 } as const;
export const OPER_STATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;

export const IFA = { ADDRESS: 1, LOCAL: 2, BROADCAST: 4, CACHEINFO: 6, FLAGS: 8 } as const;
export const IFA_F = { SECONDARY: 0x1, NODAD: 0x2, DADFAILED: 0x8, TENTATIVE: 0x40, PERMANENT: 0x80 } as const;

export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, METRICS: 8, MULTIPATH: 9, TABLE: 15 } as const;
export const RTAX = { MTU: 2, ADVMSS: 8 } as const;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
export const RTN_UNICAST = 1;
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, HOST: 254 } as const;

const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute: 4-byte header, payload, zero padding to 4 bytes. */
export function attr(type: number, payload: Buffer, nested = false): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(nested ? type | NLA_F_NESTED : type, 2);
  payload.copy(out, 4);
  return out;
}

export const nest = (type: number, children: Buffer[]): Buffer => attr(type, Buffer.concat(children), true);
export const attrString = (type: number, s: string): Buffer => attr(type, Buffer.from(`${s}\0`, 'utf8'));
export function attrU32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return attr(type, b);
}
export const attrU8 = (type: number, v: number): Buffer => attr(type, Buffer.from([v & 0xff]));

/** Attributes of a payload, by type (nested flag stripped). A repeated type keeps the last. */
export function parseAttrs(buf: Buffer, offset = 0): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = offset;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK; // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export const readString = (b: Buffer | undefined): string | undefined =>
  b === undefined ? undefined : b.toString('utf8', 0, b.indexOf(0) >= 0 ? b.indexOf(0) : b.length);
export const readU32 = (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readUInt32LE(0) : undefined);
export const readU8 = (b: Buffer | undefined): number | undefined => (b && b.length >= 1 ? b[0] : undefined);

export interface IfInfoMsg {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}

export function ifinfomsg(m: IfInfoMsg): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(m.family ?? AF.UNSPEC, 0);
  b.writeUInt16LE(m.type ?? 0, 2);
  b.writeInt32LE(m.index ?? 0, 4);
  b.writeUInt32LE((m.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((m.change ?? 0) >>> 0, 12);
  return b;
}

export function parseIfInfoMsg(b: Buffer): Required<IfInfoMsg> & { attrs: Map<number, Buffer> } {
  return {
    family: b.readUInt8(0),
    type: b.readUInt16LE(2),
    index: b.readInt32LE(4),
    flags: b.readUInt32LE(8),
    change: b.readUInt32LE(12),
    attrs: parseAttrs(b, 16),
  };
}

export interface IfAddrMsg {
  family: number;
  prefixlen: number;
  flags?: number;
  scope?: number;
  index: number;
}

export function ifaddrmsg(m: IfAddrMsg): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.prefixlen, 1);
  b.writeUInt8((m.flags ?? 0) & 0xff, 2);
  b.writeUInt8(m.scope ?? 0, 3);
  b.writeUInt32LE(m.index, 4);
  return b;
}

export function parseIfAddrMsg(b: Buffer): Required<IfAddrMsg> & { attrs: Map<number, Buffer> } {
  return { family: b[0], prefixlen: b[1], flags: b[2], scope: b[3], index: b.readUInt32LE(4), attrs: parseAttrs(b, 8) };
}

export interface RtMsg {
  family: number;
  dstLen: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}

export function rtmsg(m: RtMsg): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(m.family, 0);
  b.writeUInt8(m.dstLen, 1);
  b.writeUInt8(m.srcLen ?? 0, 2);
  b.writeUInt8(m.tos ?? 0, 3);
  b.writeUInt8(m.table ?? 0, 4);
  b.writeUInt8(m.protocol ?? 0, 5);
  b.writeUInt8(m.scope ?? 0, 6);
  b.writeUInt8(m.type ?? 0, 7);
  b.writeUInt32LE(m.flags ?? 0, 8);
  return b;
}

export function parseRtMsg(b: Buffer): Required<RtMsg> & { attrs: Map<number, Buffer> } {
  return {
    family: b[0], dstLen: b[1], srcLen: b[2], tos: b[3], table: b[4], protocol: b[5], scope: b[6], type: b[7],
    flags: b.readUInt32LE(8), attrs: parseAttrs(b, 12),
  };
}

export function formatMac(b: Buffer | undefined): string | undefined {
  if (!b || b.length !== 6) return undefined;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(s: string): Buffer | undefined {
  if (!/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(s)) return undefined;
  return Buffer.from(s.split(/[:-]/).map((x) => parseInt(x, 16)));
}
