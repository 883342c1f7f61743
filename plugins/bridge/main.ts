import { runPlugin } from '../../lib/cni/skel';
import { setLogPrefix } from '../../lib/log';
import { bridgePlugin } from './plugin';

setLogPrefix('bridge');
void runPlugin(bridgePlugin);
