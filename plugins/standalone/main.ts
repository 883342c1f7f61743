// The standalone executable (Bun-compiled, no Node.js needed on the node): one file
// that is `bridge` and `flannel` at once, choosing by the name it was invoked as, so
// flannel always runs the bridge it carries in-process. VERSION is answered before
// either is loaded. Under the name `install` (the image's entrypoint) it installs
// itself on a node (tools/install/install.ts).
import { answerVersion } from '../../lib/cni/version-verb';
import { invokedAs } from '../../lib/runtime';

const name = invokedAs();
if (name === 'flannel') {
  answerVersion();
  (require('../flannel/serve') as typeof import('../flannel/serve')).serve();
} else if (name === 'bridge') {
  answerVersion();
  (require('../bridge/serve') as typeof import('../bridge/serve')).serve();
} else if (name === 'install') {
  process.exitCode = (require('../../tools/install/install') as typeof import('../../tools/install/install')).runInstall(process.argv.slice(2));
} else {
  process.stderr.write(`this executable is the CNI plugins "bridge" and "flannel": or its installer "install": run it through a link with one of those names, not as "${name}"\n`);
  process.exit(2);
}
