// The single door to the kernel's rtnetlink. Only this module imports `netlink`
// (the transport); messages are built in attrs.ts. Every request gets a timeout,
// kernel errors become a typed errno, and dumps are retried when the kernel says
// the dump was interrupted (NLM_F_DUMP_INTR), which `netlink` never checks.
import * as os from 'node:os';
import { createNetlink, type NetlinkSocket } from 'netlink/dist/netlink';
import { inNetns, type NetnsHandle } from '../netns';
import { NLM_F } from './attrs';

const NETLINK_ROUTE = 0;
const NLMSG_ERROR = 2;
const REQUEST_TIMEOUT_MS = 10_000;

export class NetlinkError extends Error {
  readonly errno: number;
  readonly code: string;
  constructor(errno: number, what: string) {
    const code = errnoName(errno);
    super(`${what}: ${code}`);
    this.name = 'NetlinkError';
    this.errno = errno;
    this.code = code;
  }
}

function errnoName(errno: number): string {
  const entry = Object.entries(os.constants.errno).find(([, v]) => v === errno);
  return entry ? entry[0] : `errno ${errno}`;
}

export const isErrno = (err: unknown, code: string): boolean => err instanceof NetlinkError && err.code === code;

export interface Nl {
  /** Send one request and wait for its ACK (or its reply, when the kernel sends one). Payloads of replies are returned. */
  request(type: number, payload: Buffer, flags: number, what: string): Promise<Buffer[]>;
  /** A dump: every reply payload. */
  dump(type: number, payload: Buffer, what: string): Promise<Buffer[]>;
  close(): void;
}

class Socket implements Nl {
  constructor(private readonly sock: NetlinkSocket) {}

  async request(type: number, payload: Buffer, flags: number, what: string): Promise<Buffer[]> {
    const [msgs] = await this.sock.request(type, payload, { flags, timeout: REQUEST_TIMEOUT_MS, checkError: false });
    const out: Buffer[] = [];
    for (const m of msgs) {
      if (m.type === NLMSG_ERROR) {
        const errno = -m.data.readInt32LE(0);
        if (errno !== 0) throw new NetlinkError(errno, what);
        continue;
      }
      out.push(m.data);
    }
    return out;
  }

  async dump(type: number, payload: Buffer, what: string): Promise<Buffer[]> {
    for (let attempt = 0; ; attempt++) {
      const [msgs] = await this.sock.request(type, payload, { flags: NLM_F.DUMP, timeout: REQUEST_TIMEOUT_MS, checkError: false });
      if (msgs.some((m) => m.flags & NLM_F.DUMP_INTR) && attempt < 5) continue;
      const out: Buffer[] = [];
      for (const m of msgs) {
        if (m.type === NLMSG_ERROR) {
          const errno = -m.data.readInt32LE(0);
          if (errno !== 0) throw new NetlinkError(errno, what);
          continue;
        }
        out.push(m.data);
      }
      return out;
    }
  }

  close(): void {
    this.sock.close();
  }
}

/** A socket in this thread's current netns (the host). */
export function openSocket(): Nl {
  return new Socket(createNetlink(NETLINK_ROUTE));
}

/** A socket bound to `ns` for its whole life: created while the thread is inside it. */
export function openSocketIn(ns: NetnsHandle): Nl {
  return new Socket(inNetns(ns, () => createNetlink(NETLINK_ROUTE)));
}
