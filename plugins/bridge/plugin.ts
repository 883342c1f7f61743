// The bridge plugin's verbs, each in its own module (add.ts reads like the reference's
// cmdAdd, top-down), loaded only when its verb is called: a CNI call is one verb, and
// module loading is most of a short call.
import type { PluginSpec } from '../../lib/cni/skel';

export const bridgePlugin: PluginSpec = {
  about: 'CNI bridge plugin (TypeScript), host-local IPAM built in',
  add: (a) => (require('./add') as typeof import('./add')).add(a),
  del: (a) => (require('./del') as typeof import('./del')).del(a),
  check: (a) => (require('./check') as typeof import('./check')).check(a),
  status: (a) => (require('./lifecycle') as typeof import('./lifecycle')).bridgeStatus(a),
  gc: (a) => (require('./lifecycle') as typeof import('./lifecycle')).bridgeGc(a),
};
