// The standalone executable (Bun-compiled, no Node.js needed on the node): one file
// that is `bridge` and `flannel` at once, choosing by the name it was invoked as, so
// flannel always runs the bridge it carries in-process. Under the name `install` (the
// image's entrypoint) it installs itself on a node (plugins/install/install.ts).
import { registerInProcess } from '../../lib/cni/invoke';
import { runPlugin } from '../../lib/cni/skel';
import { setLogPrefix } from '../../lib/log';
import { invokedAs } from '../../lib/runtime';
import { bridgePlugin } from '../bridge/commands';
import { flannelSpec } from '../flannel/commands';
import { runInstall } from '../install/install';

const name = invokedAs();
registerInProcess('bridge', bridgePlugin);
if (name === 'flannel') {
  setLogPrefix('flannel');
  void runPlugin(flannelSpec);
} else if (name === 'bridge') {
  setLogPrefix('bridge');
  void runPlugin(bridgePlugin);
} else if (name === 'install') {
  process.exitCode = runInstall(process.argv.slice(2));
} else {
  process.stderr.write(`this executable is the CNI plugins "bridge" and "flannel": run it through a link with one of those names, not as "${name}"\n`);
  process.exit(2);
}
