// Pure checks of who owns what on disk and in iptables: host-local reservations,
// flannel's saved delegate configs, libcni's result cache and the per-container
// masquerade chains. A reservation belongs to a live attachment when the runtime
// (libcni's cache) or flannel still knows the attachment, and it was written in this
// boot: no network namespace survives a reboot (README "After a reboot").
import * as path from 'node:path';
import { contains, parseCidr, tryParseIP } from '../../../lib/ip';
import { renderCommand } from '../../../lib/exec';
import { staleMasqChains } from '../../../lib/masq/gc-rules';
import { chainArgs, ruleArgs } from '../../../lib/masq/rules';
import { hasError, type Finding, type ReservationFile, type ScratchFile, type Snapshot } from './snapshot';

/** CNI GC keeps exactly the listed attachments: every live pod must be named. */
export const gcFix = (s: Snapshot): string => `cnictl gc ${s.inputs.network} --valid ID:eth0 for every live pod (IDs: crictl pods -q)`;

/** Whether flannel fronts this network, so every attachment should have a saved config. */
export const flannelManaged = (s: Snapshot): boolean => s.netConf.state !== 'ok' || s.netConf.pluginType === 'flannel';


const ownerText = (r: ReservationFile): string =>
  r.owner.kind === 'current' ? `${r.owner.containerId}/${r.owner.ifName}` : r.owner.kind === 'legacy' ? `${r.owner.containerId} (legacy file, no ifname)` : '';

interface Evidence {
  cache: (id: string, ifName?: string) => string | undefined;
  scratch: (id: string) => ScratchFile | undefined;
}

function evidence(s: Snapshot): Evidence {
  const net = s.inputs.network;
  const results = Array.isArray(s.resultCache) ? s.resultCache : [];
  const names = new Set(results);
  const scratch = hasError(s.scratch) ? [] : s.scratch.files;
  const byId = new Map(scratch.map((f) => [f.containerId, f]));
  return {
    // libcni: <cacheDir>/results/<network>-<containerID>-<ifname>
    cache: (id, ifName) => {
      const prefix = `${net}-${id}-`;
      const hit = ifName !== undefined ? (names.has(prefix + ifName) ? prefix + ifName : undefined) : results.find((n) => n.startsWith(prefix));
      return hit && path.join(s.inputs.cacheDir, 'results', hit);
    },
    scratch: (id) => byId.get(id),
  };
}

function checkReservationFile(s: Snapshot, r: ReservationFile, ev: Evidence): Finding | undefined {
  const base = { check: 'orphan-reservation', subject: r.path } as const;
  const release = `release it: ${gcFix(s)}, or rm ${r.path} once you are sure no pod uses ${r.name}`;
  if (r.owner.kind === 'garbage') {
    return {
      ...base,
      severity: 'warning',
      detail: `${r.path} records no owner (empty or unreadable; the reference host-local leaves such a file when it crashes between create and write)`,
      fix: release,
    };
  }
  const id = r.owner.containerId;
  if (r.earlierBoot) {
    return {
      ...base,
      severity: 'warning',
      detail: `${r.name} of ${ownerText(r)} was reserved in an earlier boot (the store's boot_id record says so): no pod survives a reboot, its DEL never ran (plugins#252)`,
      fix: `this plugin releases pre-boot reservations by itself when the range is full; to ${release}`,
    };
  }
  const cache = ev.cache(id, r.owner.kind === 'current' ? r.owner.ifName : undefined);
  const scratch = ev.scratch(id);
  if (!cache && !scratch) {
    const cacheName = `${s.inputs.network}-${id}-${r.owner.kind === 'current' ? r.owner.ifName : '*'}`;
    return {
      ...base,
      severity: 'warning',
      detail: `${r.name} belongs to ${ownerText(r)}, which neither the runtime (no ${path.join(s.inputs.cacheDir, 'results', cacheName)}) nor flannel (no ${path.join(s.inputs.flannelDataDir, id)}) knows: the pod is gone and its DEL never ran`,
      fix: release,
    };
  }
  if (!scratch && flannelManaged(s) && !hasError(s.scratch)) {
    return {
      severity: 'warning',
      check: 'reservation-without-scratch',
      subject: path.join(s.inputs.flannelDataDir, id),
      detail: `pod ${ownerText(r)} holds ${r.name} and the runtime knows it (${cache}), but flannel has no saved config ${path.join(s.inputs.flannelDataDir, id)}`,
      fix: 'nothing to do while this flannel plugin is installed: its DEL rebuilds the config from subnet.env and releases the address; the reference flannel would skip the DEL and leak it (then: cnictl gc)',
    };
  }
  return undefined;
}

function checkReservationSubnet(s: Snapshot, r: ReservationFile): Finding | undefined {
  if (s.subnetEnv.state !== 'ok' || r.owner.kind === 'garbage') return undefined;
  const env = s.subnetEnv.env;
  const subnet = r.family === 4 ? env.subnet : env.ipv6Subnet;
  const ip = tryParseIP(r.name);
  if (!subnet || !ip || contains(parseCidr(subnet), ip)) return undefined;
  return {
    severity: 'warning',
    check: 'reservation-subnet',
    subject: r.path,
    detail: `pod ${ownerText(r)} holds ${r.name}, outside this node's subnet ${subnet}: it was added under an earlier flannel lease and other nodes route ${r.name} elsewhere`,
    fix: 'recreate the pod (kubectl delete pod) so it gets an address from the current subnet',
  };
}

export function checkReservations(s: Snapshot): Finding[] {
  const dir = path.join(s.inputs.ipamDataDir, s.inputs.network);
  if (hasError(s.reservations)) {
    return [{ severity: 'warning', check: 'reservations', subject: dir, detail: `cannot read ${dir}: ${s.reservations.error}`, fix: 'run cnictl doctor as root' }];
  }
  const out: Finding[] = [];
  if (hasError(s.resultCache)) {
    out.push({
      severity: 'warning',
      check: 'reservations',
      detail: `cannot read libcni's result cache in ${path.join(s.inputs.cacheDir, 'results')}: ${s.resultCache.error}; owners are judged by flannel's saved configs only`,
      fix: 'run cnictl doctor as root, or pass --cache-dir',
    });
  }
  const ev = evidence(s);
  for (const r of s.reservations ?? []) {
    const owner = checkReservationFile(s, r, ev);
    if (owner) out.push(owner);
    // an orphan is reported once; a live pod may be both unsaved and on an old subnet
    const subnet = owner?.check === 'orphan-reservation' ? undefined : checkReservationSubnet(s, r);
    if (subnet) out.push(subnet);
  }
  return out;
}

export function checkScratch(s: Snapshot): Finding[] {
  if (hasError(s.scratch)) {
    return [{ severity: 'warning', check: 'flannel-scratch', subject: s.inputs.flannelDataDir, detail: `cannot read ${s.inputs.flannelDataDir}: ${s.scratch.error}`, fix: 'run cnictl doctor as root' }];
  }
  const out: Finding[] = [];
  const reserved = hasError(s.reservations) ? undefined : new Set((s.reservations ?? []).flatMap((r) => (r.owner.kind === 'garbage' ? [] : [r.owner.containerId])));
  for (const f of s.scratch.files) {
    if (f.corrupt) {
      out.push({
        severity: 'warning',
        check: 'flannel-scratch',
        subject: f.path,
        detail: `flannel's saved config ${f.path} is unusable (${f.corrupt}); the reference flannel then skips the DEL and leaks the pod's address (flannel-io/cni-plugin#43)`,
        fix: 'this flannel plugin rebuilds the config from subnet.env on DEL; if the pod is gone, run cnictl gc or rm the file',
      });
      continue;
    }
    if (f.network !== undefined && f.network !== s.inputs.network) continue; // another network's
    if (!reserved || reserved.has(f.containerId)) continue;
    out.push({
      severity: 'warning',
      check: 'scratch-without-reservation',
      subject: f.path,
      detail: `flannel's saved config for container ${f.containerId} has no IP reservation in ${path.join(s.inputs.ipamDataDir, s.inputs.network)} (unless its ADD is running right now): left by a DEL or a failed ADD that did not finish`,
      fix: `${gcFix(s)}; or rm ${f.path} once crictl shows no sandbox ${f.containerId}`,
    });
  }
  for (const t of s.scratch.temps) {
    out.push({
      severity: 'info',
      check: 'flannel-scratch',
      subject: path.join(s.inputs.flannelDataDir, t),
      detail: `temporary file ${t} left by an ADD that was killed while saving its config`,
      fix: 'nothing to do: that container\'s DEL removes it (or rm it)',
    });
  }
  return out;
}

export function checkMasq(s: Snapshot): Finding[] {
  const out: Finding[] = [];
  if (hasError(s.reservations)) return out; // owners unknown: nothing can be called orphaned
  const keep = new Set((s.reservations ?? []).flatMap((r) => (r.owner.kind === 'garbage' ? [] : [r.owner.containerId])));
  const v6Used = s.subnetEnv.state === 'ok' && s.subnetEnv.env.ipv6Subnet !== undefined;
  for (const m of s.masq) {
    if (m.save === undefined) {
      if (m.family === 6 && !v6Used) continue; // no IPv6 here: no ip6tables chains to look for
      out.push(
        m.error === 'not-installed'
          ? { severity: 'info', check: 'masq-chains', detail: `${m.tool} is not installed: masquerade chains not checked`, fix: 'nothing to do unless the network uses "ipMasq"' }
          : { severity: 'warning', check: 'masq-chains', detail: `cannot list the ${m.tool} nat table: ${m.error}`, fix: 'run cnictl doctor as root' },
      );
      continue;
    }
    const { stale, skipped } = staleMasqChains(m.save, s.inputs.network, keep);
    for (const c of stale) {
      const cmds = [...c.jumps.map((j) => ruleArgs('-D', j)), ...(c.exists ? [chainArgs('-F', c.chain), chainArgs('-X', c.chain)] : [])];
      out.push({
        severity: 'warning',
        check: 'orphan-masq-chain',
        subject: `${m.tool} ${c.chain}`,
        detail: `${m.tool} nat chain ${c.chain} masquerades for container ${c.containerId}, which holds no reservation in ${path.join(s.inputs.ipamDataDir, s.inputs.network)}: left by a DEL without a netns (plugins#810) or a crash`,
        fix: `${gcFix(s)}; by hand: ${cmds.map((a) => renderCommand(m.tool, ['-w', ...a])).join('; ')}`,
      });
    }
    for (const c of skipped) {
      out.push({ severity: 'info', check: 'masq-chains', subject: `${m.tool} ${c.chain}`, detail: `${m.tool} chain ${c.chain} not judged: ${c.why}`, fix: 'check it by hand (iptables -t nat -S)' });
    }
  }
  return out;
}
