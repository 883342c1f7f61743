// A healthy node as doctor would see it, for the diagnose tests to break one piece at a time.
import { parseIP } from '../../../../../lib/ip';
import { canonicalizeRange } from '../../../../../lib/ipam/range';
import { DEFAULTS } from '../../../../../tools/cnictl/doctor/args';
import type { ReservationFile, Snapshot } from '../../../../../tools/cnictl/doctor/snapshot';

export const BOOT = Date.parse('2026-11-01T00:00:00Z');
export const AFTER_BOOT = BOOT + 3_600_000;

export function reservation(name: string, containerId: string, ifName = 'eth0', mtimeMs = AFTER_BOOT): ReservationFile {
  return { name, path: `/var/lib/cni/networks/cbr0/${name}`, family: name.includes(':') ? 6 : 4, owner: { kind: 'current', containerId, ifName }, mtimeMs, earlierBoot: false };
}

export const IPTABLES_EMPTY = '-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n';

/** Two pods (a, b) on cni0 10.244.1.1/24, MTU 1450, hairpin on, everything owned. */
export function healthy(): Snapshot {
  return {
    inputs: { ...DEFAULTS },
    subnetEnv: { state: 'ok', env: { networks: ['10.244.0.0/16'], subnet: '10.244.1.0/24', ipv6Networks: [], mtu: 1450, ipMasq: true } },
    netConf: { state: 'ok', file: '/etc/cni/net.d/10-flannel.conflist', pluginType: 'flannel', hairpinMode: true, cniVersion: '0.3.1' },
    confSkipped: [],
    links: {
      bridge: { name: 'cni0', index: 3, kind: 'bridge', mtu: 1450, up: true, addrs: ['10.244.1.1/24'], recorded: ['10.244.1.1/24'] },
      flannel1: { name: 'flannel.1', index: 2, kind: 'vxlan', mtu: 1450, up: true },
      ports: [
        { name: 'veth0a0a0a0a', index: 4, kind: 'veth', mtu: 1450, up: true, hairpin: true, pod: true },
        { name: 'veth0b0b0b0b', index: 5, kind: 'veth', mtu: 1450, up: true, hairpin: true, pod: true },
      ],
    },
    sysctls: { ipv4Forward: '1', ipv6Forward: '0' },
    reservations: [reservation('10.244.1.2', 'a'), reservation('10.244.1.3', 'b')],
    ipamRanges: [[canonicalizeRange({ subnet: '10.244.1.0/24' })]],
    reservedIPs: [parseIP('10.244.1.2'), parseIP('10.244.1.3')],
    scratch: {
      dirExists: true,
      temps: [],
      files: [
        { containerId: 'a', path: '/var/lib/cni/flannel/a', network: 'cbr0' },
        { containerId: 'b', path: '/var/lib/cni/flannel/b', network: 'cbr0' },
      ],
    },
    resultCache: ['cbr0-a-eth0', 'cbr0-b-eth0'],
    masq: [
      { family: 4, tool: 'iptables', save: IPTABLES_EMPTY },
      { family: 6, tool: 'ip6tables', save: IPTABLES_EMPTY },
    ],
    flannelBinary: { path: '/opt/cni/bin/flannel', ours: true },
  };
}
