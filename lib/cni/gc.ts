// The GC verb's input (https://github.com/containernetworking/cni/blob/main/SPEC.md#gc-clean-up-any-stale-resources):
// which attachments the runtime still considers valid. Read the same way by every
// plugin, and the one thing a GC of any plugin must get right: absence is never "none".
import { CniError, Code } from './errors';
import type { NetConf } from './types';

/** An attachment: the container and the interface name it was added with. */
export interface Attachment {
  containerId: string;
  ifName: string;
}

/** The GC input key, and the alias libcni still sends for older plugins. */
export const VALID_ATTACHMENTS_KEY = 'cni.dev/valid-attachments';
export const LEGACY_ATTACHMENTS_KEY = 'cni.dev/attachments';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (msg: string): CniError => new CniError(Code.InvalidConfig, msg);

/** Which key the list came from, and the list itself. */
export interface ValidAttachments {
  key: string;
  attachments: Attachment[];
}

/**
 * The attachments GC must keep, or undefined when the config carries no list at all
 * (then GC must do nothing). `cni.dev/valid-attachments` wins over the legacy
 * `cni.dev/attachments` when both are present. An empty array is a real answer: no
 * attachment is valid any more; so is JSON null, which is how libcni and go-cni
 * encode an empty Go slice (a node with no pods left).
 */
export function validAttachments(conf: NetConf): ValidAttachments | undefined {
  const key = [VALID_ATTACHMENTS_KEY, LEGACY_ATTACHMENTS_KEY].find((k) => conf[k] !== undefined);
  if (key === undefined) return undefined;
  const list = conf[key] === null ? [] : conf[key];
  if (!Array.isArray(list)) throw bad(`"${key}" must be an array of {"containerID", "ifname"} objects, got ${JSON.stringify(list)}`);
  const attachments = list.map((a, i): Attachment => {
    const where = `"${key}"[${i}]`;
    if (!isObj(a)) throw bad(`${where} must be an object with "containerID" and "ifname", got ${JSON.stringify(a)}`);
    const { containerID, ifname } = a;
    if (typeof containerID !== 'string' || containerID.trim() === '') {
      throw bad(`${where}.containerID must be a non-empty string, got ${JSON.stringify(containerID)}`);
    }
    if (typeof ifname !== 'string' || ifname === '') throw bad(`${where}.ifname must be a non-empty string, got ${JSON.stringify(ifname)}`);
    return { containerId: containerID, ifName: ifname };
  });
  return { key, attachments };
}

/** `disableGC: true` in the config: libcni should not call GC then, but be safe if it does. */
export const gcDisabled = (conf: NetConf): boolean => conf.disableGC === true;
