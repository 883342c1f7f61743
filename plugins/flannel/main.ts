// The flannel executable: hand the verbs to the dispatcher. Our own bridge from the
// same build runs in this process instead of a second Node start (lib/cni/invoke.ts).
import { registerInProcess } from '../../lib/cni/invoke';
import { runPlugin } from '../../lib/cni/skel';
import { setLogPrefix } from '../../lib/log';
import { bridgePlugin } from '../bridge/plugin';
import { flannelSpec } from './commands';

setLogPrefix('flannel');
registerInProcess('bridge', bridgePlugin);
void runPlugin(flannelSpec);
