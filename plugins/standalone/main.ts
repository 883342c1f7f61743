// The standalone executable (Bun-compiled, no Node.js needed on the node): one file
// that is `bridge` and `flannel` at once, choosing by the name it was invoked as, so
// flannel always runs the bridge it carries in-process.
import { registerInProcess } from '../../lib/cni/invoke';
import { runPlugin } from '../../lib/cni/skel';
import { setLogPrefix } from '../../lib/log';
import { invokedAs } from '../../lib/runtime';
import { bridgePlugin } from '../bridge/plugin';
import { flannelSpec } from '../flannel/commands';

const name = invokedAs();
registerInProcess('bridge', bridgePlugin);
if (name === 'flannel') {
  setLogPrefix('flannel');
  void runPlugin(flannelSpec);
} else if (name === 'bridge') {
  setLogPrefix('bridge');
  void runPlugin(bridgePlugin);
} else {
  process.stderr.write(`this executable is the CNI plugins "bridge" and "flannel": run it through a link with one of those names, not as "${name}"\n`);
  process.exit(2);
}
