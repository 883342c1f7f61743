// The socket's framing (lib/netlink/socket.ts) against the `netlink` package, with the
// native helper replaced by a scripted kernel: the nlmsghdr we send (length, type,
// REQUEST/ACK/DUMP flags, sequence), and what we make of the kernel's answers: an ACK,
// an error with its extended-ACK text, a multi-part dump ending in NLMSG_DONE, an
// interrupted dump, a stale answer to an earlier request, and silence.
import * as os from 'node:os';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { Flags, FlagsAck, FlagsGet, FlagsNew, MessageType as Nlmsg } from 'netlink/dist/constants';
import { AttrStream, formatHeader, formatMessage, parseMessages, putString, type NetlinkMessage } from 'netlink/dist/structs';
import { MessageType } from 'netlink/dist/rt/structs';
import { NetlinkError, openSocket } from '../../../../lib/netlink/socket';
import { linkMessage } from './oracle';

/** What the scripted kernel answers to one request: datagrams, each holding messages. */
type Responder = (req: NetlinkMessage) => Buffer[];

const kernel = vi.hoisted(() => ({
  sent: [] as Buffer[],
  script: [] as ((req: unknown) => Buffer[])[],
  inbox: [] as Buffer[],
}));

vi.mock('../../../../lib/native', async (original) => ({
  ...(await original<typeof import('../../../../lib/native')>()),
  native: () => ({
    nlOpen: () => 3,
    close: () => undefined,
    nlSend: (_fd: number, msg: Buffer) => {
      kernel.sent.push(Buffer.from(msg));
      const [req] = parseMessages(Buffer.from(msg));
      kernel.inbox.push(...(kernel.script.shift()?.(req) ?? []));
    },
    nlRecv: () => kernel.inbox.shift() ?? null,
  }),
}));

const script = (...rs: Responder[]) => kernel.script.push(...(rs as ((req: unknown) => Buffer[])[]));
/** Messages in one datagram (payloads already padded to 4 bytes, as the kernel's are). */
const datagram = (...msgs: { type: number; flags?: number; seq: number; data?: Buffer }[]): Buffer =>
  Buffer.concat(msgs.flatMap((m) => formatMessage({ type: m.type, flags: m.flags ?? 0, seq: m.seq, port: 0, data: m.data ?? Buffer.alloc(0) })));

/** NLMSG_ERROR as a socket with NETLINK_CAP_ACK and NETLINK_EXT_ACK gets it: errno, the request's header, the text. */
function nlError(req: NetlinkMessage, errno: number, text?: string): Buffer {
  const code = Buffer.alloc(4);
  code.writeInt32LE(-errno, 0);
  const tlv = new AttrStream();
  if (text) tlv.push(1, putString(text)); // NLMSGERR_ATTR_MSG
  const echoed = formatHeader({ ...req, length: 16 + req.data.length });
  const flags = FlagsAck.CAPPED | (text ? FlagsAck.ACK_TLVS : 0);
  return datagram({ type: Nlmsg.ERROR, flags, seq: req.seq, data: Buffer.concat([code, echoed, ...tlv.bufs]) });
}

const link = (index: number) => linkMessage({ data: { index, flags: {}, change: {} }, attrs: { ifname: `l${index}` } });

beforeEach(() => {
  kernel.sent.length = 0;
  kernel.script.length = 0;
  kernel.inbox.length = 0;
});

describe('netlink socket framing', () => {
  it('a request: nlmsghdr with its length, type, REQUEST|ACK plus the caller flags, a fresh sequence; an ACK returns no payload', async () => {
    script((req) => [nlError(req, 0)], (req) => [nlError(req, 0)]);
    const nl = openSocket();
    const payload = link(5);
    expect(await nl.request(MessageType.NEWLINK, payload, FlagsNew.CREATE | FlagsNew.EXCL, 'create')).toEqual([]);
    await nl.request(MessageType.DELLINK, payload, 0, 'delete');
    const [first, second] = kernel.sent.map((m) => parseMessages(m));
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ type: MessageType.NEWLINK, flags: Flags.REQUEST | Flags.ACK | FlagsNew.CREATE | FlagsNew.EXCL, port: 0 });
    expect(first[0].data).toEqual(payload);
    expect(kernel.sent[0].readUInt32LE(0)).toBe(16 + payload.length);
    expect(second[0].flags).toBe(Flags.REQUEST | Flags.ACK);
    expect(second[0].seq).not.toBe(first[0].seq);
  });

  it('a reply before the ACK (a GET) is returned', async () => {
    script((req) => [datagram({ type: MessageType.NEWLINK, seq: req.seq, data: link(9) }), nlError(req, 0)]);
    expect(await openSocket().request(MessageType.GETLINK, link(9), 0, 'get')).toEqual([link(9)]);
  });

  it('an error: its errno by name, with the kernel extended-ACK text', async () => {
    script((req) => [nlError(req, os.constants.errno.EEXIST, 'Attribute already exists')]);
    let err: unknown;
    try {
      openSocket().request(MessageType.NEWLINK, link(5), 0, 'create veth "veth0"');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NetlinkError);
    expect(err).toMatchObject({ errno: os.constants.errno.EEXIST, code: 'EEXIST', message: 'create veth "veth0": EEXIST (Attribute already exists)' });
  });

  it('a dump: REQUEST|DUMP without ACK, MULTI parts over several datagrams until NLMSG_DONE', async () => {
    script((req) => [
      datagram({ type: MessageType.NEWLINK, flags: Flags.MULTI, seq: req.seq, data: link(1) }, { type: MessageType.NEWLINK, flags: Flags.MULTI, seq: req.seq, data: link(2) }),
      datagram({ type: MessageType.NEWLINK, flags: Flags.MULTI, seq: req.seq, data: link(3) }, { type: Nlmsg.DONE, flags: Flags.MULTI, seq: req.seq, data: Buffer.alloc(4) }),
    ]);
    expect(await openSocket().dump(MessageType.GETLINK, link(0), 'list')).toEqual([link(1), link(2), link(3)]);
    expect(parseMessages(kernel.sent[0])[0].flags).toBe(Flags.REQUEST | FlagsGet.DUMP);
  });

  it('an interrupted dump (NLM_F_DUMP_INTR) is asked again, and only the clean one counts', async () => {
    script(
      (req) => [datagram({ type: MessageType.NEWLINK, flags: Flags.MULTI | Flags.DUMP_INTR, seq: req.seq, data: link(1) }, { type: Nlmsg.DONE, flags: Flags.MULTI, seq: req.seq, data: Buffer.alloc(4) })],
      (req) => [datagram({ type: MessageType.NEWLINK, flags: Flags.MULTI, seq: req.seq, data: link(2) }, { type: Nlmsg.DONE, flags: Flags.MULTI, seq: req.seq, data: Buffer.alloc(4) })],
    );
    expect(await openSocket().dump(MessageType.GETLINK, link(0), 'list')).toEqual([link(2)]);
    expect(kernel.sent).toHaveLength(2);
  });

  it('an answer carrying another sequence number (a late one) is skipped', async () => {
    script((req) => [datagram({ type: Nlmsg.ERROR, seq: req.seq ^ 1, data: Buffer.alloc(20, 0xff) }), nlError(req, 0)]);
    expect(await openSocket().request(MessageType.SETLINK, link(5), 0, 'set')).toEqual([]);
  });

  it('no answer at all: ETIMEDOUT naming the request', async () => {
    expect(() => openSocket().request(MessageType.SETLINK, link(5), 0, 'set "eth0" up')).toThrowError(expect.objectContaining({ code: 'ETIMEDOUT', message: expect.stringContaining('set "eth0" up') }));
  });
});
