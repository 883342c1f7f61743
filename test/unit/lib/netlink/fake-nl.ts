// An `Nl` without a kernel: it records every request payload lib/netlink builds and
// answers with canned replies, so the codec can be checked against the `netlink`
// package (the oracle) without root. Only this file knows the transport's shape.
import { NLM_F } from '../../../../lib/netlink/attrs';
import { NetlinkError, type Nl } from '../../../../lib/netlink/socket';

export interface Sent {
  type: number;
  payload: Buffer;
  /** the flags lib/netlink asked for (the socket adds REQUEST and ACK itself) */
  flags: number;
  what: string;
}

export class FakeNl implements Nl {
  readonly sent: Sent[] = [];
  private readonly answers: (Buffer[] | NetlinkError)[] = [];

  /** The next request (or dump) gets these reply payloads. Unqueued requests get none (an ACK). */
  answer(...payloads: Buffer[]): this {
    this.answers.push(payloads);
    return this;
  }

  /** The next request fails with this errno, as the kernel's NLMSG_ERROR would make it. */
  fail(errno: number): this {
    this.answers.push(new NetlinkError(errno, 'fake'));
    return this;
  }

  /** The one request sent so far. */
  get only(): Sent {
    if (this.sent.length !== 1) throw new Error(`expected one request, got ${this.sent.length}`);
    return this.sent[0];
  }

  request(type: number, payload: Buffer, flags: number, what: string): Buffer[] {
    return this.reply({ type, payload, flags, what });
  }

  dump(type: number, payload: Buffer, what: string): Buffer[] {
    return this.reply({ type, payload, flags: NLM_F.DUMP, what });
  }

  close(): void {}

  private reply(s: Sent): Buffer[] {
    this.sent.push({ ...s, payload: Buffer.from(s.payload) });
    const a = this.answers.shift() ?? [];
    if (a instanceof NetlinkError) throw a;
    return a;
  }
}
