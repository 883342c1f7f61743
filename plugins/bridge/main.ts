import { runPlugin } from '../../lib/cni/skel';
import { setLogPrefix } from '../../lib/log';
import { bridgePlugin } from './commands';

setLogPrefix('bridge');
void runPlugin(bridgePlugin);
