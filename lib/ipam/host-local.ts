// host-local IPAM, run in-process by the bridge plugin instead of exec'ing a
// second binary, but sharing the reference's on-disk state and lock so a node can
// mix both (https://github.com/containernetworking/plugins/tree/main/plugins/ipam/host-local). ADD, DEL and GC take the lock once; CHECK
// only reads.
import { CniError, Code } from '../cni/errors';
import * as path from 'node:path';
import type { CmdArgs, IPConfig, NetConf, Result } from '../cni/types';
import { type Cidr, type IP, formatCidr, formatIP, tryParseCidr } from '../ip';
import { allocate, releaseOwner, releaseReserved } from './allocator';
import { type IpamConfig, parseIpamConfig, parseResolvConf } from './config';
import { networkDirOf, readReservations } from './disk-read';
import { readResolvConf, withNetworkStore } from './disk-store';
import { type GcReport, gcTarget, hostLocalGc } from './gc';
import { hostLocalStatus } from './status';
import { type Owner, ownedBy } from './store';
import { log } from '../log';

function ownerOf(cmd: CmdArgs): Owner {
  // The dispatcher validates both; an empty or multi-line value here would write
  // a file that no DEL could ever match, so refuse rather than leak.
  for (const [what, v] of [['CNI_CONTAINERID', cmd.containerId], ['CNI_IFNAME', cmd.ifName]] as const) {
    if (v.trim() === '' || /[\r\n\0]/.test(v)) throw new CniError(Code.InvalidEnv, `host-local: invalid ${what} ${JSON.stringify(v)}`);
  }
  return { containerId: cmd.containerId, ifName: cmd.ifName };
}

/** The network's directory in the store: where its reservations live, and records beside them. */
export function hostLocalNetworkDir(conf: NetConf): string {
  const { dataDir, name } = gcTarget(conf);
  return networkDirOf(dataDir, name).dir ?? path.join(dataDir, name);
}

/** An address host-local reserved, typed, for a caller in the same process (no format-then-parse). */
export interface Lease {
  address: Cidr;
  gateway: IP;
}

/** ADD: one address per range set; an IPAM result (no interfaces, no ips[].interface). */
export function ipamAdd(cmd: CmdArgs): Result {
  return ipamAddLeases(cmd).result;
}

/** ADD, with the reserved addresses also as typed leases, in the order of result.ips. */
export function ipamAddLeases(cmd: CmdArgs): { result: Result; leases: Lease[] } {
  const conf: IpamConfig = parseIpamConfig(cmd.conf, cmd.args);
  const owner = ownerOf(cmd);
  // Read before taking the lock: a bad path fails the ADD with nothing reserved.
  const dns = conf.resolvConf !== undefined && conf.resolvConf !== '' ? parseResolvConf(readResolvConf(conf.resolvConf)) : undefined;

  const allocations = withNetworkStore(conf.dataDir, conf.name, { create: true }, (store) =>
    allocate(store, conf.rangeSets, owner, conf.requestedIPs),
  );
  if (!allocations) throw new CniError(Code.Internal, 'host-local: network directory vanished during ADD');

  const leases: Lease[] = allocations.map((a) => ({ address: { ...a.ip, prefix: a.range.subnet.prefix }, gateway: a.range.gateway }));
  const ips: IPConfig[] = leases.map((l) => ({ address: formatCidr(l.address), gateway: formatIP(l.gateway) }));
  const result: Result = { cniVersion: cmd.conf.cniVersion, ips };
  if (conf.routes.length > 0) result.routes = conf.routes;
  if (dns) result.dns = dns;
  return { result, leases };
}

/**
 * Undo of a failed ADD after host-local served it: release the addresses of `result`
 * (what that ADD reserved) and nothing else the attachment may hold.
 */
export function ipamUndoAdd(cmd: CmdArgs, result: Result): void {
  const conf = parseIpamConfig(cmd.conf, '');
  const owner = ownerOf(cmd);
  const ips = (result.ips ?? []).map((c) => tryParseCidr(c.address)).filter((c): c is NonNullable<typeof c> => c !== undefined);
  withNetworkStore(conf.dataDir, conf.name, { create: false }, (store) => releaseReserved(store, owner, ips));
}

/** DEL: release everything (containerId, ifName) holds in this network; never fails on "nothing held". */
export function ipamDel(cmd: CmdArgs): void {
  // CNI_ARGS only carries static IP requests, irrelevant here: a bad one must not block a DEL.
  const conf = parseIpamConfig(cmd.conf, '');
  const owner = ownerOf(cmd);
  // A link inside the store is refused (ADD fails with code 7, so nothing of ours can be
  // behind it): DEL writes nothing through it either, and succeeds, so a pod can still be
  // torn down (a DEL failing forever would block it).
  const { refused } = networkDirOf(conf.dataDir, conf.name);
  if (refused) {
    log.warn(`${refused}; nothing released for container ${cmd.containerId} (${cmd.ifName})`);
    return;
  }
  withNetworkStore(conf.dataDir, conf.name, { create: false }, (store) => releaseOwner(store, owner));
}

/**
 * CHECK: the attachment must still hold at least one address, like the reference.
 * Read-only (CHECK only probes an attachment): no lock file, no leftover removed, no
 * boot record; why no lock is needed is in disk-read.ts (readReservations).
 */
export function ipamCheck(cmd: CmdArgs): void {
  const conf = parseIpamConfig(cmd.conf, '');
  const held = ownedBy(readReservations(conf.dataDir, conf.name) ?? [], ownerOf(cmd));
  if (held.length === 0) {
    throw new CniError(Code.Internal, `host-local: Failed to find address added by container ${cmd.containerId}`);
  }
}

/**
 * GC (CNI 1.1): release every reservation of this network whose owner is not in
 * `cni.dev/valid-attachments` (or the legacy `cni.dev/attachments`). Without either
 * key, or with `disableGC: true`, nothing is released. See lib/ipam/gc.ts.
 */
export function ipamGc(cmd: CmdArgs, whileLocked?: (r: GcReport) => void): void {
  hostLocalGc(cmd.conf, { whileLocked });
}

/** STATUS (CNI 1.1): code 50 when the data dir is unusable or a range set is exhausted. See lib/ipam/status.ts. */
export function ipamStatus(cmd: CmdArgs): void {
  hostLocalStatus(cmd.conf);
}
