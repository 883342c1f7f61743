// The bridge plugin's verbs, each in its own module (add.ts reads like the reference's
// cmdAdd, top-down).
import type { PluginSpec } from '../../lib/cni/skel';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { bridgeGc, bridgeStatus } from './lifecycle';

export const bridgePlugin: PluginSpec = {
  about: 'CNI bridge plugin (TypeScript), host-local IPAM built in',
  add,
  del,
  check,
  status: bridgeStatus,
  gc: bridgeGc,
};
