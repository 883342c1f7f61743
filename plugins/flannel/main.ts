// The flannel executable: hand the verbs to the dispatcher.
import { runPlugin } from '../../lib/cni/skel';
import { setLogPrefix } from '../../lib/log';
import { flannelSpec } from './commands';

setLogPrefix('flannel');
void runPlugin(flannelSpec);
