import { registerInProcess } from '../../lib/cni/invoke';
import { runPlugin } from '../../lib/cni/skel';
import { setLogPrefix } from '../../lib/log';
import { flannelSpec } from './commands';

export function serve(): void {
  setLogPrefix('flannel');
  // Our own bridge from the same build runs in this process instead of a second start
  // (lib/cni/invoke.ts); its modules load only when flannel delegates to it.
  registerInProcess('bridge', () => (require('../bridge/plugin') as typeof import('../bridge/plugin')).bridgePlugin);
  runPlugin(flannelSpec);
}
