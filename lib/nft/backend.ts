// Which ipMasq backend an ADD uses, and the DEL that removes both. Mirrors the
// reference (pkg/ip/ipmasq_linux.go): "iptables" unless iptables is unusable and
// nftables usable; DEL tears down both because the pod may have been made by another
// plugin version or under another config; a backend's teardown failure counts only
// when that backend is usable on this node.
import { spawnSync } from 'node:child_process';
import { CniError, Code, errorText } from '../cni/errors';
import { log } from '../log';
import { findExecutable } from '../exec';
import { type IpMasqMade, setupIpMasq, teardownIpMasq, undoIpMasq } from '../masq';
import { setupNftMasq, teardownNftMasq } from './masq';
import { nftUsable } from './run';

export type MasqBackend = 'iptables' | 'nftables';

export interface MasqAttachment {
  network: string;
  ifName: string;
  containerId: string;
  /** pod addresses with prefix; may be empty on DEL (the nft backend does not need them) */
  ips: string[];
}

/** iptables is usable when the binary exists and can read the filter table (as go-iptables probes it). */
export function iptablesUsable(): boolean {
  const file = findExecutable('iptables', process.env.PATH);
  if (!file) return false;
  const r = spawnSync(file, ['-w', '-t', 'filter', '-n', '-L', 'INPUT'], { stdio: 'ignore', timeout: 60_000, killSignal: 'SIGKILL' });
  return !r.error && r.status === 0;
}

export function chooseMasqBackend(configured: MasqBackend | undefined, probe = { iptablesUsable, nftUsable }): MasqBackend {
  if (configured) return configured;
  return !probe.iptablesUsable() && probe.nftUsable() ? 'nftables' : 'iptables';
}

/** What one setup added: exactly what its undo removes. */
export interface MasqMade {
  backend: MasqBackend;
  iptables: IpMasqMade[];
}

/**
 * Set up masquerading; `made` records what was added as it goes (also when it fails
 * half-way), for undoMasq. The nftables rules are this attachment's alone (their
 * comment hashes network, ifname and container), the iptables chain is shared by the
 * container's interfaces on the network, hence the record.
 */
export function setupMasq(backend: MasqBackend, a: MasqAttachment, made: MasqMade = { backend, iptables: [] }): MasqMade {
  if (backend === 'nftables') setupNftMasq(a);
  else setupIpMasq({ network: a.network, containerId: a.containerId, ips: a.ips }, made.iptables);
  return made;
}

/** Undo of a failed ADD's setupMasq: what it added, never what was there before. */
export function undoMasq(a: MasqAttachment, made: MasqMade): void {
  if (made.backend === 'nftables') teardownNftMasq(a);
  else undoIpMasq(made.iptables);
}

/** Both backends; every real failure is reported together after trying both. */
export function teardownMasq(a: MasqAttachment): void {
  const errors: string[] = [];
  try {
    teardownIpMasq({ network: a.network, containerId: a.containerId, ips: a.ips });
  } catch (err) {
    if (iptablesUsable()) errors.push(errorText(err));
    else log.debug(`masq teardown (iptables, unusable here): ${errorText(err)}`);
  }
  try {
    teardownNftMasq(a);
  } catch (err) {
    if (nftUsable()) errors.push(errorText(err));
    else log.debug(`masq teardown (nftables, unusable here): ${errorText(err)}`);
  }
  if (errors.length) throw new CniError(Code.Internal, errors.join('; '));
}
