// The `netlink` npm package as the oracle for our rtnetlink codec: its encoders build
// what the kernel sends, its decoders read what we build. Only its pure struct modules
// are loaded (dist/structs, dist/rt/*), never its socket or native binding.
import { AttrStream, parseAttributes, type StreamData } from 'netlink/dist/structs';
import {
  formatAddressMessage,
  formatLinkMessage,
  formatRouteMessage,
  type AddressMessage,
  type LinkMessage,
  type RouteMessage,
} from 'netlink/dist/rt/structs';

/** What an oracle encoder streams, as one buffer. */
export function bytes(data: StreamData): Buffer {
  const out = new AttrStream();
  out.emit(data);
  return Buffer.concat(out.bufs);
}

/** Attributes of `type` in order, each as the oracle's TLV parser reads them (repeats kept). */
export function attrsOfType(buf: Buffer, type: number): Buffer[] {
  const out: Buffer[] = [];
  parseAttributes(buf, (a) => {
    if (a.type === type) out.push(a.data);
  });
  return out;
}

type Msg<M extends { kind: string }> = Omit<M, 'kind'>;

/**
 * The oracle leaves a message's last attribute unpadded; the kernel pads every one
 * (nla_put reserves NLA_ALIGN(len)), so a message is padded here to what it sends.
 */
function kernelPadded(out: AttrStream): Buffer {
  const b = Buffer.concat(out.bufs);
  return Buffer.concat([b, Buffer.alloc(-b.length & 3)]);
}

export function linkMessage(m: Msg<LinkMessage>): Buffer {
  const out = new AttrStream();
  formatLinkMessage({ kind: 'link', ...m }, out);
  return kernelPadded(out);
}

export function addressMessage(m: Msg<AddressMessage>): Buffer {
  const out = new AttrStream();
  formatAddressMessage({ kind: 'address', ...m }, out);
  return kernelPadded(out);
}

export function routeMessage(m: Msg<RouteMessage>): Buffer {
  const out = new AttrStream();
  formatRouteMessage({ kind: 'route', ...m }, out);
  return kernelPadded(out);
}

/** A u32 the oracle leaves as raw bytes (route metrics, some bridge options). */
export const u32 = (b: Buffer | undefined): number | undefined => (b && b.length === 4 ? b.readUInt32LE(0) : undefined);
