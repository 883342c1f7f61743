// The single door to the kernel's rtnetlink; messages are built in attrs.ts. Every
// request gets a deadline, kernel errors become a typed errno (with the kernel's own
// explanation when it gives one), and dumps are retried when the kernel says the dump
// was interrupted (NLM_F_DUMP_INTR).
//
// The transport is synchronous, in our native helper: one blocking sendto/poll/recv per
// message, a socket created with a plain syscall (so inside lib/netns.inNetns it belongs
// to the pod), no libuv handle, and no package to load. The `netlink` package's socket is
// not used: loading it cost 40 % of a bare start, and its asynchronous socket crashes under
// Bun; tests keep the package as an oracle for the codec.
import { native } from '../native';
import { NLM_F, parseAttrs, readString } from './attrs';
import { timed } from '../trace';
import { EINTR, ETIMEDOUT, errnoName } from '../errno';

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;
const HEADER = 16;
const REQUEST_TIMEOUT_MS = 10_000;

export class NetlinkError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(errno: number, what: string, kernelSays?: string) {
    const code = errnoName(errno);
    super(`${what}: ${code}${kernelSays ? ` (${kernelSays})` : ''}`);
    this.name = 'NetlinkError';
    this.errno = errno;
    this.code = code;
  }
}

export const isErrno = (err: unknown, code: string): boolean => err instanceof NetlinkError && err.code === code;

export interface Nl {
  /** Send one request and wait for its ACK (or its reply, when the kernel sends one). Payloads of replies are returned. */
  request(type: number, payload: Buffer, flags: number, what: string): Buffer[];
  /** A dump: every reply payload. */
  dump(type: number, payload: Buffer, what: string): Buffer[];
  close(): void;
}

/** The errno of an NLMSG_ERROR payload (0 = ACK), and the extended-ACK text if any. */
function parseError(data: Buffer, flags: number): { errno: number; text?: string } {
  const errno = -data.readInt32LE(0);
  if (errno === 0 || !(flags & NLM_F_ACK_TLVS) || data.length <= 4 + HEADER) return { errno };
  return { errno, text: readString(parseAttrs(data, 4 + HEADER).get(NLMSGERR_ATTR_MSG)) };
}

class SyncSocket implements Nl {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  constructor(private readonly fd: number) {}

  private exchange(type: number, payload: Buffer, flags: number, what: string): Buffer[] {
    const seq = (this.seq = (this.seq + 1) & 0x7fffffff);
    const dump = (flags & NLM_F.DUMP) === NLM_F.DUMP;
    const msg = Buffer.alloc(HEADER + payload.length);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags | NLM_F.REQUEST | (dump ? 0 : NLM_F.ACK), 6);
    msg.writeUInt32LE(seq, 8);
    payload.copy(msg, HEADER);
    const n = native();
    n.nlSend(this.fd, msg);
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    const out: Buffer[] = [];
    let interrupted = false;
    for (;;) {
      const left = deadline - Date.now();
      const dgram = left > 0 ? n.nlRecv(this.fd, left) : null;
      if (!dgram) throw new NetlinkError(ETIMEDOUT, `${what}: no answer from the kernel within ${REQUEST_TIMEOUT_MS} ms`);
      for (let off = 0; off + HEADER <= dgram.length; ) {
        const len = dgram.readUInt32LE(off);
        if (len < HEADER || off + len > dgram.length) break;
        const mType = dgram.readUInt16LE(off + 4);
        const mFlags = dgram.readUInt16LE(off + 6);
        const mSeq = dgram.readUInt32LE(off + 8);
        const data = dgram.subarray(off + HEADER, off + len);
        off += (len + 3) & ~3;
        if (mSeq !== seq) continue; // a late answer to an earlier, timed-out request
        if (mFlags & NLM_F.DUMP_INTR) interrupted = true;
        if (mType === NLMSG_ERROR) {
          const { errno, text } = parseError(data, mFlags);
          if (errno !== 0) throw new NetlinkError(errno, what, text);
          return out;
        }
        if (mType === NLMSG_DONE) {
          if (interrupted) throw new DumpInterrupted();
          return out;
        }
        out.push(Buffer.from(data));
      }
    }
  }

  request(type: number, payload: Buffer, flags: number, what: string): Buffer[] {
    return timed('netlink', () => this.exchange(type, payload, flags, what));
  }

  dump(type: number, payload: Buffer, what: string): Buffer[] {
    for (let attempt = 0; ; attempt++) {
      try {
        return timed('netlink', () => this.exchange(type, payload, NLM_F.DUMP, what));
      } catch (err) {
        if (!(err instanceof DumpInterrupted) || attempt >= 5) throw err instanceof DumpInterrupted ? new NetlinkError(EINTR, `${what}: dump kept being interrupted`) : err;
      }
    }
  }

  close(): void {
    native().close(this.fd);
  }
}

class DumpInterrupted extends Error {}

/**
 * A socket in this thread's current netns, bound to it for its whole life: the host's,
 * or, opened inside lib/netns.openNetns's visit, the pod's.
 */
export function openSocket(): Nl {
  return new SyncSocket(native().nlOpen());
}
