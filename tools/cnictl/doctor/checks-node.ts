// Pure checks of the node's network plumbing: subnet.env, the bridge and its
// gateway, MTUs along the pod path, forwarding, hairpin mode. Each returns findings.
import { addOffset, formatCidr, networkOf, overlaps, parseCidr, sameIP, tryParseCidr, type Cidr, type Family } from '../../../lib/ip';
import type { SubnetEnv } from '../../../plugins/flannel/public';
import { hasError, type Finding, type Links, type Snapshot } from './snapshot';

export function checkSubnetEnv(s: Snapshot): Finding[] {
  const file = s.inputs.subnetFile;
  const se = s.subnetEnv;
  if (se.state === 'missing') {
    return [
      {
        severity: 'error',
        check: 'subnet-env',
        subject: file,
        detail: `${file} does not exist: every pod ADD fails with "try again later" (flannel-io/flannel#2232)`,
        fix: 'flanneld writes it when it starts: check that the kube-flannel pod runs on this node and read its log; or pass --subnet-file if flannel is configured with another subnetFile',
      },
    ];
  }
  if (se.state === 'invalid') {
    return [
      {
        severity: 'error',
        check: 'subnet-env',
        subject: file,
        detail: `${se.kind}: ${se.message}`,
        fix: {
          incomplete: 'flanneld writes every key when it starts: restart the kube-flannel pod on this node and check its log',
          malformed: 'the file is not what flanneld writes: fix or remove the offending line (flanneld rewrites the file when it restarts)',
          unreadable: 'run cnictl doctor as root (the plugins run as root and may read it)',
        }[se.kind],
      },
    ];
  }
  return [];
}

/** The gateway host-local gives a subnet: its first address, with the subnet's prefix. */
export function gatewayOf(subnet: string): Cidr {
  const net = networkOf(parseCidr(subnet));
  return { ...addOffset(net, 1n), prefix: net.prefix };
}

function checkGatewayFamily(bridge: NonNullable<Links['bridge']>, ports: number, env: SubnetEnv, family: Family): Finding[] {
  const subnet = family === 4 ? env.subnet : env.ipv6Subnet;
  if (!subnet) return [];
  const key = family === 4 ? 'FLANNEL_SUBNET' : 'FLANNEL_IPV6_SUBNET';
  const want = gatewayOf(subnet);
  const wantText = formatCidr(want);
  const clusterNets = (family === 4 ? env.networks : env.ipv6Networks).map(parseCidr);
  const addrs = bridge.addrs.map(tryParseCidr).filter((c): c is Cidr => c !== undefined && c.family === family);
  const isWant = (c: Cidr): boolean => sameIP(c, want) && c.prefix === want.prefix;
  const hasWant = addrs.some(isWant);
  // Only addresses that matter to this network: any other v4 address blocks the ADD
  // (the reference's rule), v6 ones only when they overlap; inside the cluster network
  // a leftover also routes another node's pod subnet into cni0.
  const stale = addrs.filter((c) => !isWant(c) && (clusterNets.some((n) => overlaps(n, c)) || (!hasWant && (family === 4 || overlaps(c, want)))));
  const out: Finding[] = [];
  for (const c of stale) {
    const text = formatCidr(c);
    // Replaced by the next ADD only when the network's record proves it set it and it is in
    // the way (any other IPv4 address, an overlapping IPv6 one): plugins/bridge/gateway.ts.
    const drift = bridge.recorded.includes(text);
    const replaced = drift && !hasWant && (family === 4 || overlaps(c, want));
    const byHand = `ip addr del ${text} dev ${bridge.name}${hasWant ? '' : ` && ip addr add ${wantText} dev ${bridge.name}`}`;
    const why = drift
      ? `a gateway this network set under an earlier lease (flannel-io/flannel#1850: the node came back with another subnet)`
      : 'an address this network did not set (by its record beside the reservations)';
    const effect = hasWant
      ? `it routes ${formatCidr(networkOf(c))} into ${bridge.name}, so pods cannot reach the node that now owns that subnet`
      : drift
        ? `pods of the current subnet have no gateway (the reference bridge fails every ADD with "already has an IP address different from")`
        : 'every pod ADD fails with "already has an IP address different from"';
    out.push({
      severity: 'error',
      check: 'bridge-gateway',
      subject: bridge.name,
      detail: `${bridge.name} holds ${text}, ${why}; ${key} ${subnet} wants ${wantText}: ${effect}`,
      fix:
        replaced
          ? `the next pod ADD by this bridge plugin replaces it with ${wantText}; to fix now: ${byHand}; pods started under the old lease keep old addresses: recreate them`
          : `remove it by hand: ${byHand}${drift ? '' : `${hasWant ? '' : ' (or set "forceAddress": true in the bridge config)'}; another network on this bridge may own it: check before you do`}`,
    });
  }
  if (!hasWant && stale.length === 0) {
    out.push(
      ports > 0
        ? {
            severity: 'error',
            check: 'bridge-gateway',
            subject: bridge.name,
            detail: `${bridge.name} has ${ports} port(s) but not the gateway ${wantText} of ${key} ${subnet}: pods have no way off the node`,
            fix: `the next pod ADD adds it; to fix now: ip addr add ${wantText} dev ${bridge.name}`,
          }
        : {
            severity: 'info',
            check: 'bridge-gateway',
            subject: bridge.name,
            detail: `${bridge.name} has no gateway address yet (no pod was added since it was created)`,
            fix: `nothing to do: the first pod ADD adds ${wantText}`,
          },
    );
  }
  return out;
}

export function checkBridge(s: Snapshot): Finding[] {
  if (hasError(s.links)) {
    return [{ severity: 'warning', check: 'links', detail: `cannot read the links of this node: ${s.links.error}`, fix: 'run cnictl doctor as root' }];
  }
  const { bridge, ports } = s.links;
  const name = s.inputs.bridge;
  if (!bridge) {
    return [{ severity: 'info', check: 'bridge', subject: name, detail: `no link "${name}" on this node yet`, fix: 'nothing to do: the first pod ADD creates it (or pass --bridge if the network uses another name)' }];
  }
  if (bridge.kind !== 'bridge') {
    return [
      {
        severity: 'error',
        check: 'bridge',
        subject: name,
        detail: `"${name}" exists but is a ${bridge.kind ?? 'plain'} link, not a bridge: every pod ADD fails`,
        fix: `remove it (ip link del ${name}) or set another "bridge" name in the network config`,
      },
    ];
  }
  if (s.subnetEnv.state !== 'ok') return [];
  const n = ports.filter((p) => p.pod).length;
  return [...checkGatewayFamily(bridge, n, s.subnetEnv.env, 4), ...checkGatewayFamily(bridge, n, s.subnetEnv.env, 6)];
}

export function checkMtu(s: Snapshot): Finding[] {
  if (s.subnetEnv.state !== 'ok' || hasError(s.links)) return [];
  const want = s.subnetEnv.env.mtu;
  const { bridge, flannel1, ports } = s.links;
  const out: Finding[] = [];
  if (flannel1 && flannel1.mtu !== want) {
    out.push({
      severity: 'warning',
      check: 'mtu',
      subject: flannel1.name,
      detail: `${flannel1.name} has MTU ${flannel1.mtu} but FLANNEL_MTU in ${s.inputs.subnetFile} is ${want}: subnet.env is stale or the overlay device was changed after flanneld started`,
      fix: 'restart the kube-flannel pod on this node (flanneld writes FLANNEL_MTU from its device), then recreate pods whose MTU differs',
    });
  }
  if (bridge && bridge.kind === 'bridge' && bridge.mtu !== want) {
    out.push({
      severity: 'warning',
      check: 'mtu',
      subject: bridge.name,
      detail: `${bridge.name} has MTU ${bridge.mtu}, FLANNEL_MTU is ${want}`,
      fix: `the next pod ADD sets the bridge MTU to ${want} (this bridge plugin reconciles it); to fix now: ip link set ${bridge.name} mtu ${want}`,
    });
  }
  for (const p of ports.filter((x) => x.pod && x.mtu !== want)) {
    const bigger = p.mtu > want;
    out.push({
      severity: bigger ? 'error' : 'warning',
      check: 'mtu',
      subject: p.name,
      detail: `pod port ${p.name} on ${s.inputs.bridge} has MTU ${p.mtu}, FLANNEL_MTU is ${want}: ${
        bigger ? 'full-size packets to other nodes are dropped or fragmented (the overlay adds its header)' : 'the pod uses smaller packets than it could'
      }`,
      fix: 'the pod was created under another MTU: recreate it (kubectl delete pod) so its veth gets FLANNEL_MTU',
    });
  }
  return out;
}

export function checkForwarding(s: Snapshot): Finding[] {
  const out: Finding[] = [];
  const wantV6 = s.subnetEnv.state === 'ok' && s.subnetEnv.env.ipv6Subnet !== undefined;
  const rows: [string, string | undefined, boolean][] = [
    ['net.ipv4.ip_forward', s.sysctls.ipv4Forward, true],
    ['net.ipv6.conf.all.forwarding', s.sysctls.ipv6Forward, wantV6],
  ];
  for (const [key, value, wanted] of rows) {
    if (!wanted || value === '1') continue;
    out.push(
      value === undefined
        ? { severity: 'warning', check: 'ip-forward', subject: key, detail: `cannot read ${key}`, fix: 'check that /proc/sys is mounted and readable' }
        : {
            severity: 'error',
            check: 'ip-forward',
            subject: key,
            detail: `${key} is ${value}: pods cannot reach anything beyond this node, and other nodes cannot reach them`,
            fix: `sysctl -w ${key}=1 (the next pod ADD also sets it); find what turned it off (a sysctl.d file, a security profile) so it stays on`,
          },
    );
  }
  return out;
}

export function checkHairpin(s: Snapshot): Finding[] {
  const conf = s.netConf;
  if (conf.state !== 'ok' || !conf.hairpinMode || hasError(s.links)) return [];
  const where = conf.pluginType === 'flannel' ? '"delegate": {"hairpinMode": true}' : '"hairpinMode": true';
  return s.links.ports
    .filter((p) => p.pod && p.hairpin === false)
    .map(
      (p): Finding => ({
        severity: 'warning',
        check: 'hairpin',
        subject: p.name,
        detail: `pod port ${p.name} on ${s.inputs.bridge} has hairpin off, but ${conf.file} asks for ${where}: the pod cannot reach itself through a Service IP (flannel-io/flannel#849)`,
        fix: `ip link set ${p.name} type bridge_slave hairpin on (pods added from now on get it from the config)`,
      }),
    );
}
