// IPAM for the bridge: host-local runs in this process (same store, same lock as the
// reference binary); any other ipam.type is executed from CNI_PATH with our own stdin.
import { delegate } from '../../lib/cni/invoke';
import type { CmdArgs, Result, Verb } from '../../lib/cni/types';
import { parseResult } from '../../lib/cni/version';
import { ipamAdd, ipamCheck, ipamDel, ipamGc, ipamStatus, ipamUndoAdd } from '../../lib/ipam/host-local';
import { mark } from '../../lib/trace';

export async function runIpam(verb: Exclude<Verb, 'VERSION'>, type: string, cmd: CmdArgs): Promise<Result | undefined> {
  mark(`${verb}: IPAM ${type} start`);
  try {
    return await ipam(verb, type, cmd);
  } finally {
    mark(`${verb}: IPAM ${type} done`);
  }
}

async function ipam(verb: Exclude<Verb, 'VERSION'>, type: string, cmd: CmdArgs): Promise<Result | undefined> {
  if (type === 'host-local') {
    if (verb === 'ADD') return ipamAdd(cmd);
    if (verb === 'DEL') return void (await ipamDel(cmd));
    if (verb === 'CHECK') return void (await ipamCheck(cmd));
    if (verb === 'GC') return void (await ipamGc(cmd));
    return void (await ipamStatus(cmd));
  }
  const out = await delegate(verb, type, cmd.stdin, { path: cmd.path });
  return verb === 'ADD' ? parseResult(out, cmd.conf.cniVersion) : undefined;
}

/**
 * Undo the IPAM part of a failed ADD. host-local releases exactly the addresses that
 * ADD reserved; another IPAM is told DEL, as the spec asks (it is the only verb it has).
 */
export async function undoIpamAdd(type: string, cmd: CmdArgs, result: Result): Promise<void> {
  if (type === 'host-local') return ipamUndoAdd(cmd, result);
  await runIpam('DEL', type, cmd);
}
