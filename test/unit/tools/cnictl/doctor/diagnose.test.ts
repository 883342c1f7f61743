import { describe, expect, it } from 'vitest';
import { diagnose, isOk } from '../../../../../tools/cnictl/doctor/diagnose';
import { gatewayOf } from '../../../../../tools/cnictl/doctor/checks-node';
import { masqChainName, masqComment } from '../../../../../lib/masq/rules';
import type { Finding, Links, ReservationFile, Snapshot } from '../../../../../tools/cnictl/doctor/snapshot';
import { AFTER_BOOT, IPTABLES_EMPTY, healthy, reservation } from './fixtures';

const links = (s: Snapshot): Links => s.links as Links;
const resv = (s: Snapshot): ReservationFile[] => s.reservations as ReservationFile[];
const of = (fs: Finding[], check: string): Finding[] => fs.filter((f) => f.check === check);
const problems = (fs: Finding[]): Finding[] => fs.filter((f) => f.severity !== 'info');

describe('diagnose: a healthy node', () => {
  it('has no findings at all and is ok', () => {
    const f = diagnose(healthy());
    expect(f).toEqual([]);
    expect(isOk(f)).toBe(true);
  });

  it('is ok with information only (no bridge yet, no pods, no flannel.1)', () => {
    const s = healthy();
    s.links = { ports: [] };
    s.reservations = undefined;
    s.scratch = { dirExists: false, files: [], temps: [] };
    s.resultCache = undefined;
    const f = diagnose(s);
    expect(f.map((x) => [x.severity, x.check])).toEqual([['info', 'bridge']]);
    expect(isOk(f)).toBe(true);
  });
});

describe('diagnose: subnet.env', () => {
  it('missing is an error that says to check flanneld', () => {
    const s = healthy();
    s.subnetEnv = { state: 'missing' };
    const [f] = of(diagnose(s), 'subnet-env');
    expect(f.severity).toBe('error');
    expect(f.detail).toContain('/run/flannel/subnet.env does not exist');
    expect(f.fix).toContain('flanneld');
    expect(isOk(diagnose(s))).toBe(false);
  });

  it('incomplete and malformed are errors carrying the parser message', () => {
    const s = healthy();
    s.subnetEnv = { state: 'invalid', kind: 'incomplete', message: '/run/flannel/subnet.env is missing FLANNEL_MTU' };
    const [f] = of(diagnose(s), 'subnet-env');
    expect(f).toMatchObject({ severity: 'error' });
    expect(f.detail).toBe('incomplete: /run/flannel/subnet.env is missing FLANNEL_MTU');
    s.subnetEnv = { state: 'invalid', kind: 'malformed', message: 'invalid FLANNEL_MTU "x"' };
    expect(of(diagnose(s), 'subnet-env')[0].detail).toMatch(/^malformed: /);
    s.subnetEnv = { state: 'invalid', kind: 'unreadable', message: 'cannot read x: EACCES' };
    expect(of(diagnose(s), 'subnet-env')[0].fix).toContain('as root');
  });

  it('is not a flannel problem on a plain bridge network', () => {
    const s = healthy();
    s.netConf = { state: 'ok', file: '/etc/cni/net.d/10-bridge.conflist', pluginType: 'bridge', hairpinMode: false };
    s.subnetEnv = { state: 'missing' };
    s.scratch = { dirExists: false, files: [], temps: [] };
    expect(of(diagnose(s), 'subnet-env')).toEqual([]);
  });
});

describe('diagnose: bridge gateway (flannel-io/flannel#1850)', () => {
  it('computes the gateway host-local gives', () => {
    expect(gatewayOf('10.244.1.0/24')).toMatchObject({ prefix: 24 });
    expect(gatewayOf('10.244.1.0/24').value).toBe((10n << 24n) + (244n << 16n) + (1n << 8n) + 1n);
  });

  it('a gateway this network set under an earlier lease: error, replaced by the next ADD, and the manual fix', () => {
    const s = healthy();
    links(s).bridge!.addrs = ['10.244.7.1/24'];
    links(s).bridge!.recorded = ['10.244.7.1/24'];
    const [f] = of(diagnose(s), 'bridge-gateway');
    expect(f.severity).toBe('error');
    expect(f.detail).toContain('cni0 holds 10.244.7.1/24, a gateway this network set under an earlier lease');
    expect(f.detail).toContain('10.244.1.1/24');
    expect(f.fix).toContain('the next pod ADD by this bridge plugin replaces it with 10.244.1.1/24');
    expect(f.fix).toContain('ip addr del 10.244.7.1/24 dev cni0 && ip addr add 10.244.1.1/24 dev cni0');
  });

  it('an address this network did not set, even shaped like its old gateway: error, needs a hand or forceAddress', () => {
    const s = healthy();
    links(s).bridge!.addrs = ['10.244.7.1/24'];
    links(s).bridge!.recorded = [];
    const [f] = of(diagnose(s), 'bridge-gateway');
    expect(f.severity).toBe('error');
    expect(f.detail).toContain('an address this network did not set');
    expect(f.detail).toContain('every pod ADD fails');
    expect(f.fix).toContain('forceAddress');
    expect(f.fix).not.toContain('next pod ADD');
  });

  it('the right gateway plus a leftover inside the cluster network: error (it steals another node\'s subnet)', () => {
    const s = healthy();
    links(s).bridge!.addrs = ['10.244.1.1/24', '10.244.7.1/24'];
    const [f] = of(diagnose(s), 'bridge-gateway');
    expect(f.severity).toBe('error');
    expect(f.detail).toContain('routes 10.244.7.0/24 into cni0');
    expect(f.fix).toContain('remove it by hand: ip addr del 10.244.7.1/24 dev cni0;');
    expect(f.fix).not.toContain('forceAddress');
  });

  it('the right gateway plus an unrelated address is fine', () => {
    const s = healthy();
    links(s).bridge!.addrs = ['10.244.1.1/24', '192.168.5.9/24'];
    expect(diagnose(s)).toEqual([]);
  });

  it('no address: info without pods, error with pods', () => {
    const s = healthy();
    links(s).bridge!.addrs = [];
    expect(of(diagnose(s), 'bridge-gateway')[0].severity).toBe('error');
    links(s).ports = [];
    const [f] = of(diagnose(s), 'bridge-gateway');
    expect(f.severity).toBe('info');
    expect(isOk(diagnose({ ...s, reservations: [], scratch: { dirExists: true, files: [], temps: [] } }))).toBe(true);
  });

  it('checks the IPv6 gateway when there is a v6 subnet', () => {
    const s = healthy();
    if (s.subnetEnv.state !== 'ok') throw new Error('fixture');
    s.subnetEnv.env.ipv6Subnet = 'fc00:0:0:1::/64';
    s.subnetEnv.env.ipv6Networks = ['fc00::/48'];
    s.sysctls.ipv6Forward = '1';
    links(s).bridge!.addrs = ['10.244.1.1/24', 'fc00:0:0:7::1/64'];
    links(s).bridge!.recorded = ['10.244.1.1/24', 'fc00:0:0:7::1/64'];
    const [f] = of(diagnose(s), 'bridge-gateway');
    expect(f.detail).toContain('fc00:0:0:7::1/64');
    expect(f.detail).toContain('FLANNEL_IPV6_SUBNET');
    // IPv6 prefixes that do not overlap are no conflict for ADD: it adds the new one beside.
    expect(f.fix).toContain('ip addr del fc00:0:0:7::1/64 dev cni0 && ip addr add fc00:0:0:1::1/64 dev cni0');
    expect(f.fix).not.toContain('replaces it');
    links(s).bridge!.addrs = ['10.244.1.1/24', 'fc00:0:0:1::1/64'];
    expect(diagnose(s)).toEqual([]);
  });

  it('a link of that name that is not a bridge is an error', () => {
    const s = healthy();
    links(s).bridge!.kind = 'dummy';
    const [f] = of(diagnose(s), 'bridge');
    expect(f.severity).toBe('error');
    expect(f.detail).toContain('is a dummy link, not a bridge');
  });

  it('unreadable links are a warning, not a crash', () => {
    const s = healthy();
    s.links = { error: 'EPERM' };
    expect(of(diagnose(s), 'links')[0]).toMatchObject({ severity: 'warning' });
  });
});

describe('diagnose: MTU', () => {
  it('flannel.1 differing from FLANNEL_MTU is a warning', () => {
    const s = healthy();
    links(s).flannel1!.mtu = 1400;
    const [f] = of(diagnose(s), 'mtu');
    expect(f).toMatchObject({ severity: 'warning', subject: 'flannel.1' });
    expect(f.detail).toContain('flannel.1 has MTU 1400 but FLANNEL_MTU');
  });

  it('the bridge differing is a warning that the next ADD fixes', () => {
    const s = healthy();
    links(s).bridge!.mtu = 1500;
    const [f] = of(diagnose(s), 'mtu');
    expect(f).toMatchObject({ severity: 'warning', subject: 'cni0' });
    expect(f.fix).toContain('ip link set cni0 mtu 1450');
  });

  it('a pod port above FLANNEL_MTU is an error, below it a warning', () => {
    const s = healthy();
    links(s).ports[0].mtu = 1500;
    links(s).ports[1].mtu = 1400;
    const f = of(diagnose(s), 'mtu');
    expect(f.map((x) => [x.severity, x.subject])).toEqual([
      ['error', 'veth0a0a0a0a'],
      ['warning', 'veth0b0b0b0b'],
    ]);
    expect(f[0].fix).toContain('recreate');
  });

  it('no flannel.1 is fine', () => {
    const s = healthy();
    delete links(s).flannel1;
    expect(diagnose(s)).toEqual([]);
  });
});

describe('diagnose: forwarding', () => {
  it('ip_forward 0 is an error', () => {
    const s = healthy();
    s.sysctls.ipv4Forward = '0';
    const [f] = of(diagnose(s), 'ip-forward');
    expect(f).toMatchObject({ severity: 'error', subject: 'net.ipv4.ip_forward' });
    expect(f.fix).toContain('sysctl -w net.ipv4.ip_forward=1');
  });

  it('v6 forwarding matters only with a v6 subnet', () => {
    const s = healthy();
    s.sysctls.ipv6Forward = '0';
    expect(diagnose(s)).toEqual([]);
    if (s.subnetEnv.state !== 'ok') throw new Error('fixture');
    s.subnetEnv.env.ipv6Subnet = 'fc00:0:0:1::/64';
    s.subnetEnv.env.ipv6Networks = ['fc00::/48'];
    links(s).bridge!.addrs.push('fc00:0:0:1::1/64');
    const f = problems(diagnose(s));
    expect(f.map((x) => [x.severity, x.check, x.subject])).toEqual([['error', 'ip-forward', 'net.ipv6.conf.all.forwarding']]);
  });
});

describe('diagnose: hairpin', () => {
  it('a port with hairpin off while the config asks for it is a warning', () => {
    const s = healthy();
    links(s).ports[1].hairpin = false;
    const [f] = of(diagnose(s), 'hairpin');
    expect(f).toMatchObject({ severity: 'warning', subject: 'veth0b0b0b0b' });
    expect(f.detail).toContain('"delegate": {"hairpinMode": true}');
    expect(f.fix).toBe('ip link set veth0b0b0b0b type bridge_slave hairpin on (pods added from now on get it from the config)');
  });

  it('hairpin off is fine when the config does not ask for it', () => {
    const s = healthy();
    links(s).ports[1].hairpin = false;
    s.netConf = { state: 'ok', file: 'x', pluginType: 'flannel', hairpinMode: false };
    expect(diagnose(s)).toEqual([]);
  });

  it('ignores bridge ports that are not pods (the "<bridge>.<vlan>" gateway pair, a physical uplink)', () => {
    const s = healthy();
    links(s).ports.push({ name: 'cni0.100-br', index: 9, kind: 'veth', mtu: 1500, up: true, hairpin: false, pod: false });
    expect(diagnose(s)).toEqual([]);
  });

  it('names the bridge field for a bridge network', () => {
    const s = healthy();
    links(s).ports[0].hairpin = false;
    s.netConf = { state: 'ok', file: 'x', pluginType: 'bridge', hairpinMode: true };
    expect(of(diagnose(s), 'hairpin')[0].detail).toContain('asks for "hairpinMode": true');
  });

  it('no network config is a warning; a config file the runtime cannot load is an error', () => {
    const s = healthy();
    s.netConf = { state: 'missing' };
    expect(of(diagnose(s), 'network-config')[0]).toMatchObject({ severity: 'warning' });
    s.netConf = { state: 'error', file: '/etc/cni/net.d/05-x.conflist', message: 'cannot be loaded' };
    expect(of(diagnose(s), 'network-config')[0]).toMatchObject({ severity: 'error', subject: '/etc/cni/net.d/05-x.conflist' });
    s.netConf = { state: 'error', message: 'cannot list /etc/cni/net.d: EACCES' };
    expect(of(diagnose(s), 'network-config')[0]).toMatchObject({ severity: 'warning', subject: '/etc/cni/net.d' });
  });

  it('a config file that is not a regular file is a warning each, saying what libcni would do and how to fix it', () => {
    const s = healthy();
    s.confSkipped = [
      { file: '/etc/cni/net.d/01-x.conflist', type: 'a FIFO' },
      { file: '/etc/cni/net.d/02-y.conflist', type: 'a character device' },
      { file: '/etc/cni/net.d/03-z.conf', type: 'a directory' },
    ];
    const f = of(diagnose(s), 'network-config');
    expect(f.map((x) => [x.severity, x.subject])).toEqual([
      ['warning', '/etc/cni/net.d/01-x.conflist'],
      ['warning', '/etc/cni/net.d/02-y.conflist'],
      ['warning', '/etc/cni/net.d/03-z.conf'],
    ]);
    expect(f[0].detail).toContain('is a FIFO, not a regular file');
    expect(f[0].detail).toContain('hangs');
    expect(f[1].detail).toContain('until memory runs out');
    expect(f[2].detail).toContain('stops its search there');
    expect(f[0].fix).toBe('remove it (rm /etc/cni/net.d/01-x.conflist): a network config must be a regular file (a symbolic link to one is fine)');
    expect(isOk(diagnose(s))).toBe(false);
  });
});

describe('diagnose: reservations', () => {
  it('a reservation nobody knows (no cache, no scratch) is an orphan, with the release hint', () => {
    const s = healthy();
    resv(s).push(reservation('10.244.1.9', 'gone'));
    const [f] = of(diagnose(s), 'orphan-reservation');
    expect(f).toMatchObject({ severity: 'warning', subject: '/var/lib/cni/networks/cbr0/10.244.1.9' });
    expect(f.detail).toContain('gone/eth0');
    expect(f.detail).toContain('/var/lib/cni/results/cbr0-gone-eth0');
    expect(f.detail).toContain('/var/lib/cni/flannel/gone');
    expect(f.fix).toContain('cnictl gc cbr0 --valid');
    expect(f.fix).toContain('rm /var/lib/cni/networks/cbr0/10.244.1.9');
  });

  it('the cache alone, or the scratch file alone, proves the owner', () => {
    const s = healthy();
    s.resultCache = ['cbr0-a-eth0', 'cbr0-b-eth0', 'cbr0-c-eth0'];
    resv(s).push(reservation('10.244.1.9', 'c'));
    // c has a cache file but no scratch: not an orphan, but flannel lost its config
    const f = diagnose(s);
    expect(of(f, 'orphan-reservation')).toEqual([]);
    expect(of(f, 'reservation-without-scratch')[0]).toMatchObject({ severity: 'warning', subject: '/var/lib/cni/flannel/c' });
    // scratch without cache: fine (flannel knows it; a runtime without libcni's cache)
    s.resultCache = undefined;
    resv(s).pop();
    expect(diagnose(s)).toEqual([]);
  });

  it('the cache must match network, container and ifname', () => {
    const s = healthy();
    s.scratch = { dirExists: true, files: [], temps: [] };
    s.resultCache = ['other-a-eth0', 'cbr0-a-net1', 'cbr0-b-eth0'];
    const orphans = of(diagnose(s), 'orphan-reservation');
    expect(orphans.map((f) => f.subject)).toEqual(['/var/lib/cni/networks/cbr0/10.244.1.2']);
  });

  it('a legacy (id-only) file matches any ifname in the cache', () => {
    const s = healthy();
    s.scratch = { dirExists: true, files: [], temps: [] };
    s.netConf = { state: 'ok', file: 'x', pluginType: 'bridge', hairpinMode: true };
    s.reservations = [{ ...reservation('10.244.1.2', 'a'), owner: { kind: 'legacy', containerId: 'a' } }];
    s.resultCache = ['cbr0-a-net1'];
    expect(diagnose(s)).toEqual([]);
    s.resultCache = ['cbr0-ab-net1'];
    // "cbr0-a-" is not a prefix of "cbr0-ab-net1": that is container ab's
    expect(of(diagnose(s), 'orphan-reservation')[0].detail).toContain('a (legacy file, no ifname)');
  });

  it('a reservation from before this boot is an orphan even when its owner looks known', () => {
    const s = healthy();
    resv(s)[0].earlierBoot = true;
    const [f] = of(diagnose(s), 'orphan-reservation');
    expect(f.severity).toBe('warning');
    expect(f.detail).toContain('reserved in an earlier boot');
    expect(f.fix).toContain('releases pre-boot reservations by itself when the range is full');
    expect(f.fix).toContain('cnictl gc');
  });

  it('an empty (ownerless) file is an orphan', () => {
    const s = healthy();
    resv(s).push({ ...reservation('10.244.1.9', 'x'), owner: { kind: 'garbage' } });
    const [f] = of(diagnose(s), 'orphan-reservation');
    expect(f.detail).toContain('records no owner');
  });

  it('a live pod on an address outside the current subnet (old lease) is a warning', () => {
    const s = healthy();
    resv(s)[0] = { ...reservation('10.244.7.2', 'a') };
    const [f] = of(diagnose(s), 'reservation-subnet');
    expect(f).toMatchObject({ severity: 'warning' });
    expect(f.detail).toContain('outside this node\'s subnet 10.244.1.0/24');
  });

  it('an unreadable network directory is a warning, not a list of orphans', () => {
    const s = healthy();
    s.reservations = { error: 'EACCES' };
    const f = diagnose(s);
    expect(of(f, 'reservations')[0]).toMatchObject({ severity: 'warning' });
    expect(of(f, 'scratch-without-reservation')).toEqual([]);
  });
});

describe('diagnose: flannel saved configs', () => {
  it('a saved config without a reservation is a warning', () => {
    const s = healthy();
    (s.scratch as { files: unknown[] }).files.push({ containerId: 'lost', path: '/var/lib/cni/flannel/lost', network: 'cbr0' });
    const [f] = of(diagnose(s), 'scratch-without-reservation');
    expect(f).toMatchObject({ severity: 'warning', subject: '/var/lib/cni/flannel/lost' });
    expect(f.fix).toContain('cnictl gc');
  });

  it('another network\'s saved config is not ours to judge', () => {
    const s = healthy();
    (s.scratch as { files: unknown[] }).files.push({ containerId: 'x', path: '/var/lib/cni/flannel/x', network: 'othernet' });
    expect(diagnose(s)).toEqual([]);
  });

  it('a corrupt saved config is a warning; a temp file is information', () => {
    const s = healthy();
    const sc = s.scratch as { files: { containerId: string; path: string; corrupt?: string }[]; temps: string[] };
    sc.files.push({ containerId: 'z', path: '/var/lib/cni/flannel/z', corrupt: 'not valid JSON' });
    sc.temps.push('.z.tmp-0123abcd');
    const f = diagnose(s);
    expect(of(f, 'flannel-scratch').map((x) => x.severity)).toEqual(['warning', 'info']);
  });

  it('a reservation without a saved config on a plain bridge network is fine', () => {
    const s = healthy();
    s.netConf = { state: 'ok', file: 'x', pluginType: 'bridge', hairpinMode: true };
    s.scratch = { dirExists: false, files: [], temps: [] };
    expect(diagnose(s)).toEqual([]);
  });
});

describe('diagnose: masquerade chains', () => {
  const chainFor = (id: string, ip: string, net = 'cbr0'): string => {
    const c = masqChainName(net, id);
    const cm = JSON.stringify(masqComment(net, id));
    return [
      `-N ${c}`,
      `-A POSTROUTING -s ${ip}/32 -m comment --comment ${cm} -j ${c}`,
      `-A ${c} -d 10.244.1.0/24 -m comment --comment ${cm} -j ACCEPT`,
      `-A ${c} ! -d 224.0.0.0/4 -m comment --comment ${cm} -j MASQUERADE`,
    ].join('\n');
  };

  it('a chain whose container holds no reservation is a warning with the commands to remove it', () => {
    const s = healthy();
    s.masq[0].save = `${IPTABLES_EMPTY}${chainFor('a', '10.244.1.2')}\n${chainFor('ghost', '10.244.1.9')}\n${chainFor('x', '10.9.0.2', 'othernet')}\n`;
    const f = of(diagnose(s), 'orphan-masq-chain');
    expect(f).toHaveLength(1);
    const chain = masqChainName('cbr0', 'ghost');
    expect(f[0]).toMatchObject({ severity: 'warning', subject: `iptables ${chain}` });
    expect(f[0].detail).toContain('container ghost');
    expect(f[0].fix).toContain(`iptables -w -t nat -D POSTROUTING -s 10.244.1.9/32`);
    expect(f[0].fix).toContain(`iptables -w -t nat -X ${chain}`);
  });

  it('a pre-boot reservation still keeps its chain (one finding, on the reservation)', () => {
    const s = healthy();
    resv(s)[0].earlierBoot = true;
    s.masq[0].save = `${IPTABLES_EMPTY}${chainFor('a', '10.244.1.2')}\n`;
    expect(of(diagnose(s), 'orphan-masq-chain')).toEqual([]);
  });

  it('iptables missing is information; ip6tables missing without IPv6 is nothing', () => {
    const s = healthy();
    s.masq = [
      { family: 4, tool: 'iptables', error: 'not-installed' },
      { family: 6, tool: 'ip6tables', error: 'not-installed' },
    ];
    const f = diagnose(s);
    expect(f.map((x) => [x.severity, x.check, x.detail])).toEqual([['info', 'masq-chains', 'iptables is not installed: masquerade chains not checked']]);
    expect(isOk(f)).toBe(true);
  });

  it('a nat table that cannot be listed is a warning', () => {
    const s = healthy();
    s.masq[0] = { family: 4, tool: 'iptables', error: 'iptables -w -t nat -S: Permission denied' };
    expect(of(diagnose(s), 'masq-chains')[0]).toMatchObject({ severity: 'warning' });
  });
});

describe('diagnose: ordering and exit', () => {
  it('puts errors first, then warnings, then information', () => {
    const s = healthy();
    s.links = { ports: [] };
    s.sysctls.ipv4Forward = '0';
    resv(s).push(reservation('10.244.1.9', 'gone', 'eth0', AFTER_BOOT));
    const f = diagnose(s);
    const ranks = f.map((x) => ['error', 'warning', 'info'].indexOf(x.severity));
    expect(ranks).toEqual([...ranks].sort());
    expect(f[0].check).toBe('ip-forward');
    expect(isOk(f)).toBe(false);
  });
});
