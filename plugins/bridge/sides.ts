// The two sides of an attachment: the pod netns, opened once per call, with a netlink
// socket created during its one visit (bound to the pod netns for life, as the
// reference's netlink.NewHandleAt), and a socket in the host's namespace.
import { CniError, Code } from '../../lib/cni/errors';
import { openSocket, type Nl } from '../../lib/netlink/socket';
import { NetnsError, openNetns, type NetnsHandle } from '../../lib/netns';
import { log } from '../../lib/log';

export interface Sides {
  ns: NetnsHandle;
  host: Nl;
  pod: Nl;
  close(): void;
}

/** ADD and CHECK: both sides, or a CNI error (code 4 for a path that is not a network namespace). */
export function openSides(netnsPath: string): Sides {
  let opened: { ns: NetnsHandle; value: Nl };
  try {
    opened = openNetns(netnsPath, openSocket);
  } catch (err) {
    if (err instanceof NetnsError) throw new CniError(err.reason === 'unusable' ? Code.Internal : Code.InvalidEnv, `CNI_NETNS ${err.message}`);
    throw err;
  }
  const { ns, value: pod } = opened;
  let host: Nl;
  try {
    host = openSocket();
  } catch (err) {
    pod.close();
    ns.close();
    throw err;
  }
  return { ns, host, pod, close: () => (pod.close(), host.close(), ns.close()) };
}

/**
 * DEL: the pod side, or undefined when the namespace is gone or is not one (nothing of
 * ours can be inside it, and DEL must still release what lives outside: spec, DEL).
 */
export function openPodIfThere(netnsPath: string): { ns: NetnsHandle; pod: Nl; close(): void } | undefined {
  if (!netnsPath) return undefined;
  try {
    const { ns, value: pod } = openNetns(netnsPath, openSocket);
    return { ns, pod, close: () => (pod.close(), ns.close()) };
  } catch (err) {
    if (!(err instanceof NetnsError) || err.reason === 'unusable') throw err;
    if (err.reason === 'not-netns') log.warn(`CNI_NETNS ${err.message}; treating it as gone`);
    return undefined;
  }
}
