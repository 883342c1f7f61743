// From a snapshot of the node to findings: pure, so every check is tested without
// root (test/unit/tools/cnictl/doctor). Order: most severe first, then the order of the checks.
import { checkCapacity } from './checks-capacity';
import { checkFlannelVersion } from './checks-plugins';
import { checkBridge, checkForwarding, checkHairpin, checkMtu, checkSubnetEnv } from './checks-node';
import { checkMasq, checkReservations, checkScratch, flannelManaged } from './checks-state';
import type { Finding, Severity, Snapshot } from './snapshot';

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** What a runtime's libcni, which reads every config file in name order with os.ReadFile, does with such a file. */
function libcniReading(type: string): string {
  if (type === 'a FIFO') return 'its read blocks until something writes to the FIFO, so loading the network hangs';
  if (type.endsWith(' device')) return 'it reads the device to its end, which /dev/zero never reaches, until memory runs out';
  return 'it cannot read it and stops its search there, failing to load the network';
}

function checkSkippedConf(s: Snapshot): Finding[] {
  return s.confSkipped.map((k) => ({
    severity: 'warning',
    check: 'network-config',
    subject: k.file,
    detail: `${k.file} is ${k.type}, not a regular file: cnictl skips it, but a runtime's libcni reads the config files in name order until it finds the network, and when it reaches this one ${libcniReading(k.type)}`,
    fix: `remove it (rm ${k.file}): a network config must be a regular file (a symbolic link to one is fine)`,
  }));
}

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
    ...checkSkippedConf(s),
    ...checkFlannelVersion(s),
    ...(flannel ? checkSubnetEnv(s) : []),
    ...checkBridge(s),
    ...checkMtu(s),
    ...checkForwarding(s),
    ...checkHairpin(s),
    ...checkReservations(s),
    ...(flannel ? checkScratch(s) : []),
    ...checkMasq(s),
    ...checkCapacity(s),
  ];
  // a stable sort keeps each severity's findings in check order
  return findings.sort((a, b) => RANK[a.severity] - RANK[b.severity]);
}

/** Healthy: nothing but information. */
export const isOk = (findings: readonly Finding[]): boolean => findings.every((f) => f.severity === 'info');
