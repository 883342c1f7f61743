// The flannel executable. VERSION is answered before the plugin is loaded; every other
// verb loads it now.
import { answerVersion } from '../../lib/cni/version-verb';

answerVersion();
(require('./serve') as typeof import('./serve')).serve();
