// IPAM for the bridge: host-local runs in this process (same store, same lock as the
// reference binary); any other ipam.type is executed from CNI_PATH with our own stdin,
// as the reference bridge does.
import { delegate } from '../../lib/cni/invoke';
import type { CmdArgs, Result, Verb } from '../../lib/cni/types';
import { parseResult } from '../../lib/cni/version';
import { type Lease, ipamAdd, ipamAddLeases, ipamCheck, ipamDel, ipamGc, ipamStatus, ipamUndoAdd } from '../../lib/ipam/host-local';
import { mark } from '../../lib/trace';

export function runIpam(verb: Exclude<Verb, 'VERSION'>, type: string, cmd: CmdArgs): Result | undefined {
  mark(`${verb}: IPAM ${type} start`);
  try {
    if (type === 'host-local') {
      if (verb === 'ADD') return ipamAdd(cmd);
      ({ DEL: ipamDel, CHECK: ipamCheck, GC: ipamGc, STATUS: ipamStatus } as const)[verb](cmd);
      return undefined;
    }
    const out = delegate(verb, type, cmd.stdin, { path: cmd.path });
    return verb === 'ADD' ? parseResult(out, cmd.conf.cniVersion) : undefined;
  } finally {
    mark(`${verb}: IPAM ${type} done`);
  }
}

/** What IPAM answered an ADD: its result, and from host-local the same addresses typed. */
export interface IpamAnswer {
  result: Result;
  leases?: Lease[];
}

/** ADD: host-local in this process hands its addresses typed to the planner; another IPAM's result is parsed. */
export function ipamAddFor(type: string, cmd: CmdArgs): IpamAnswer {
  if (type !== 'host-local') return { result: runIpam('ADD', type, cmd)! };
  mark('ADD: IPAM host-local start');
  try {
    return ipamAddLeases(cmd);
  } finally {
    mark('ADD: IPAM host-local done');
  }
}

/**
 * Undo the IPAM part of a failed ADD. host-local releases exactly the addresses that
 * ADD reserved; another IPAM is told DEL, as the spec asks (it is the only verb it has).
 */
export function undoIpamAdd(type: string, cmd: CmdArgs, result: Result): void {
  if (type === 'host-local') ipamUndoAdd(cmd, result);
  else runIpam('DEL', type, cmd);
}
