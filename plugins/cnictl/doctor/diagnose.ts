// From a snapshot of the node to findings: pure, so every check is tested without
// root (test/unit/doctor). Order: most severe first, then the order of the checks.
import { checkBridge, checkForwarding, checkHairpin, checkMtu, checkSubnetEnv } from './checks-node';
import { checkMasq, checkReservations, checkScratch, flannelManaged } from './checks-state';
import type { Finding, Severity, Snapshot } from './snapshot';

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

function checkNetConf(s: Snapshot): Finding[] {
  const c = s.netConf;
  const dir = s.inputs.confDir;
  if (c.state === 'error') {
    return [
      c.file
        ? { severity: 'error', check: 'network-config', subject: c.file, detail: c.message, fix: 'fix or remove that file (the runtime reads the configs of the directory in name order)' }
        : { severity: 'warning', check: 'network-config', subject: dir, detail: c.message, fix: 'run cnictl doctor as root, or pass --confdir' },
    ];
  }
  if (c.state === 'missing') {
    return [
      {
        severity: 'warning',
        check: 'network-config',
        subject: dir,
        detail: `no network config named "${s.inputs.network}" in ${dir}: the runtime cannot find this network, and hairpin mode is not checked`,
        fix: `install one (conf/install.sh writes 10-flannel.conflist), or pass --network / --confdir for the network this node uses`,
      },
    ];
  }
  return [];
}

export function diagnose(s: Snapshot): Finding[] {
  const flannel = flannelManaged(s);
  const findings = [
    ...checkNetConf(s),
    ...(flannel ? checkSubnetEnv(s) : []),
    ...checkBridge(s),
    ...checkMtu(s),
    ...checkForwarding(s),
    ...checkHairpin(s),
    ...checkReservations(s),
    ...(flannel ? checkScratch(s) : []),
    ...checkMasq(s),
  ];
  // a stable sort keeps each severity's findings in check order
  return findings.sort((a, b) => RANK[a.severity] - RANK[b.severity]);
}

/** Healthy: nothing but information. */
export const isOk = (findings: readonly Finding[]): boolean => findings.every((f) => f.severity === 'info');
