import { runPlugin } from '../../lib/cni/skel';
import { setLogPrefix } from '../../lib/log';
import { bridgePlugin } from './plugin';

export function serve(): void {
  setLogPrefix('bridge');
  runPlugin(bridgePlugin);
}
