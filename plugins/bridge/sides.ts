// The two sides of an attachment: the pod netns and a netlink socket in each of the
// host's and the pod's namespaces, opened once per call (ARCHITECTURE.md: one handle
// per namespace, passed down).
import { CniError, Code } from '../../lib/cni/errors';
import { openSocket, openSocketIn, type Nl } from '../../lib/netlink/socket';
import { openNetns, tryOpenNetns, type NetnsHandle } from '../../lib/netns';

export interface Sides {
  ns: NetnsHandle;
  host: Nl;
  pod: Nl;
  close(): void;
}

/** Whatever was opened is closed again if a later open fails. */
export function openBothSides(netnsPath: string): Sides {
  const ns = openPodNetns(netnsPath);
  let host: Nl | undefined;
  try {
    host = openSocket();
    const pod = openSocketIn(ns);
    const h = host;
    return { ns, host: h, pod, close: () => (pod.close(), h.close(), ns.close()) };
  } catch (err) {
    host?.close();
    ns.close();
    throw err;
  }
}

function openPodNetns(path: string): NetnsHandle {
  const ns = tryOpenNetns(path);
  if (!ns) throw new CniError(Code.InvalidEnv, `CNI_NETNS "${path}" does not exist`);
  ns.close();
  return openNetns(path);
}
