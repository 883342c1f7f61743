// bridge STATUS and GC (CNI 1.1, https://github.com/containernetworking/cni/blob/main/SPEC.md).
// The reference bridge forwards STATUS to its IPAM and has no GC
// (https://github.com/containernetworking/plugins/issues/1013); here
// STATUS also answers for the bridge and for host-local, and GC removes stale
// masquerade chains and host-local reservations, then forwards to any other IPAM.
import { CniError, Code, Failures, errorText } from '../../lib/cni/errors';
import type { CmdArgs } from '../../lib/cni/types';
import { LEGACY_ATTACHMENTS_KEY, VALID_ATTACHMENTS_KEY, gcDisabled, validAttachments } from '../../lib/cni/gc';
import type { Owner } from '../../lib/ipam/store';
import { ipamGc, ipamStatus } from '../../lib/ipam/host-local';
import { log } from '../../lib/log';
import { gcMasq } from '../../lib/masq';
import { gcSpoofChecks } from '../../lib/nft/spoofcheck';
import { getLink } from '../../lib/netlink/link';
import { openSocket } from '../../lib/netlink/socket';
import { parseBridgeConf } from './config';
import { runIpam } from './ipam';

/**
 * STATUS: resolves when an ADD could be served now; otherwise throws code 50 with
 * a message an operator can act on (or the IPAM delegate's own error, unchanged).
 * A missing bridge is fine (ADD creates it); a link of that name that is not a
 * bridge is not (every ADD would fail on it).
 */
export function bridgeStatus(cmd: CmdArgs): void {
  const conf = parseBridgeConf(cmd.conf, cmd.args);
  let nl;
  try {
    nl = openSocket();
  } catch (e) {
    throw new CniError(Code.NotAvailable, `cannot open a netlink socket to inspect bridge "${conf.bridge}": ${errorText(e)}`);
  }
  try {
    const link = getLink(nl, conf.bridge);
    if (link && link.kind !== 'bridge') {
      throw new CniError(
        Code.NotAvailable,
        `network "${conf.name}": "${conf.bridge}" exists but is ${link.kind ? `a ${link.kind} device` : 'a device of unknown type'}, not a bridge, ` +
          `so no pod can be attached to it: remove or rename that link, or set "bridge" in the network config to another name`,
      );
    }
  } catch (e) {
    if (e instanceof CniError) throw e;
    throw new CniError(Code.NotAvailable, `cannot inspect bridge "${conf.bridge}": ${errorText(e)}`);
  } finally {
    nl.close();
  }
  if (conf.ipamType === 'host-local') ipamStatus(cmd);
  else if (conf.ipamType) runIpam('STATUS', conf.ipamType, cmd);
}

/**
 * The GC input as an external IPAM should see it: both the current key and the
 * legacy alias, with the list we act on, so a delegate that reads only one of them
 * can never mistake a missing key for "nothing is valid".
 */
function delegateGcArgs(cmd: CmdArgs, list: unknown): CmdArgs {
  const conf = cmd.conf;
  if (conf[VALID_ATTACHMENTS_KEY] !== undefined && conf[LEGACY_ATTACHMENTS_KEY] !== undefined) return cmd;
  const fixed = { ...conf, [VALID_ATTACHMENTS_KEY]: list, [LEGACY_ATTACHMENTS_KEY]: list };
  return { ...cmd, conf: fixed, stdin: Buffer.from(JSON.stringify(fixed)) };
}

/**
 * GC: remove what belongs to attachments not in `cni.dev/valid-attachments` (or
 * the legacy `cni.dev/attachments`): this network's masquerade chains (with ipMasq)
 * and spoof-check chains (with macspoofchk), then IPAM reservations (host-local in-process, any other type forwarded). Goes on
 * past failures and throws one error listing them all. No list at all, or
 * `disableGC: true`: nothing is done.
 */
export function bridgeGc(cmd: CmdArgs): void {
  const conf = parseBridgeConf(cmd.conf, cmd.args);
  if (gcDisabled(cmd.conf)) {
    log.info(`GC: network "${conf.name}" has disableGC set; nothing done`);
    return;
  }
  const valid = validAttachments(cmd.conf); // code 7 on a malformed list, before anything is touched
  if (!valid) {
    log.info(`GC: network "${conf.name}": the config has no "${VALID_ATTACHMENTS_KEY}" list; nothing done (absence never means "release everything")`);
    return;
  }
  const failures = new Failures();
  // Only what this network's config enables, and only this network's objects: a GC of
  // a network without ipMasq or macspoofchk has no business in those tables at all.
  const rulesGc = (keep: readonly Owner[]): void => {
    if (conf.ipMasq) failures.attempt(() => gcMasq(conf.name, keep), 'masquerade GC');
    if (conf.macSpoofChk) failures.attempt(() => gcSpoofChecks(conf.name, keep), 'macspoofchk GC');
  };
  if (conf.ipamType === 'host-local') {
    // Rules are collected under the store's lock too (the lock an ADD reserves under),
    // keeping those of attachments reserved after this GC began. A lock that cannot be
    // had leaves the rules alone: an ADD is holding it.
    failures.attempt(() => ipamGc(cmd, (r) => rulesGc([...valid.attachments, ...r.young])), 'host-local GC');
  } else {
    rulesGc(valid.attachments);
    const ipamType = conf.ipamType;
    if (ipamType) failures.attempt(() => runIpam('GC', ipamType, delegateGcArgs(cmd, cmd.conf[valid.key])), `IPAM "${ipamType}" GC`);
  }
  failures.throwIfAny(`GC of network "${conf.name}"`);
}
