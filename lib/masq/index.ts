// ipMasq's one front, as upstream's pkg/ip/ipmasq_linux.go is: which backend an ADD
// uses, its setup and undo, the DEL that removes both backends, and the GC of both.
// The backends are the siblings iptables.ts and nftables.ts. "iptables" unless
// iptables is unusable and nftables usable; DEL tears down both because the pod may
// have been made by another plugin version or under another config; a backend's
// teardown failure counts only when that backend is usable on this node.
import { CniError, Code, errorText } from '../cni/errors';
import { log } from '../log';
import { findNft, nftUsable } from '../nft/run';
import { gcIpMasq, iptablesUsable, setupIpMasq, teardownIpMasq, undoIpMasq, type IpMasqMade } from './iptables';
import { gcNftMasq, setupNftMasq, teardownNftMasq } from './nftables';

export type MasqBackend = 'iptables' | 'nftables';

export interface MasqAttachment {
  network: string;
  ifName: string;
  containerId: string;
  /** pod addresses with prefix; may be empty on DEL (the nft backend does not need them) */
  ips: string[];
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

/**
 * CNI 1.1 GC of `network`'s masquerading in both backends: every rule or chain of an
 * attachment not in `keep` goes. The iptables side skips a family without its binary
 * by itself; the nftables side runs only where nft is installed, since without it
 * nothing of ours can exist there. Goes on past a failure; every failure is reported
 * together after trying both.
 */
export function gcMasq(network: string, keep: readonly { containerId: string; ifName: string }[]): void {
  const errors: string[] = [];
  try {
    gcIpMasq({ network, keep: keep.map((a) => a.containerId) });
  } catch (err) {
    errors.push(errorText(err));
  }
  if (findNft()) {
    try {
      gcNftMasq(network, [...keep]);
    } catch (err) {
      errors.push(errorText(err));
    }
  }
  if (errors.length) throw new CniError(Code.Internal, errors.join('; '));
}
