// The pod side of a bridge ADD, in the reference's order (bridge.go cmdAdd inside the
// netns, then ipam.ConfigureIface): sysctls, addresses, link up, the DAD wait of
// enabledad, routes. Which sysctl failure is fatal and when DAD fails the ADD is this
// plugin's policy; lib/netlink only adds what it is told.
import { CniError, Code, errorText } from '../../lib/cni/errors';
import { formatIP, type Cidr } from '../../lib/ip';
import { log } from '../../lib/log';
import { isDadFailed, isTentative, listAddrs, type Addr } from '../../lib/netlink/addr';
import { addPodAddrs, addPodRoutes } from './veth';
import { sleepSync } from '../../lib/time';
import { getLinkByIndex, type Link } from '../../lib/netlink/link';
import type { RouteSpec } from '../../lib/netlink/route';
import type { Nl } from '../../lib/netlink/socket';
import { inNetns, type NetnsHandle } from '../../lib/netns';
import { readSysctl, sysctlPath, writeSysctl } from '../../lib/sysctl';

export interface PodSysctl {
  path: string;
  value: string;
  /** Read first and write only when it differs; one that cannot be read is skipped (the reference's disable_ipv6 rule). */
  onlyIfDiffers?: boolean;
  /** Set: a failed write fails the ADD, with this text first. Unset: best effort. */
  fatal?: string;
}

/**
 * The reference's pod sysctls. DAD and arp_notify are best effort (it ignores their
 * errors). With an IPv6 address, IPv6 must be on for lo and the interface and
 * keep_addr_on_down set, or the ADD fails: since plugins v1.7 (pkg/ipam/ipam_linux.go)
 * a pod whose IPv6 cannot be enabled gets no working IPv6, and an interface without
 * keep_addr_on_down loses its addresses on the first down/up.
 */
export function planPodSysctls(ifName: string, o: { hasIPv6: boolean; enableDad: boolean }): PodSysctl[] {
  const v6 = (dev: string, key: string) => sysctlPath('net', 'ipv6', 'conf', dev, key);
  const steps: PodSysctl[] = o.enableDad
    ? [{ path: v6(ifName, 'enhanced_dad'), value: '1' }, { path: v6(ifName, 'accept_dad'), value: '1' }]
    : [{ path: v6(ifName, 'accept_dad'), value: '0' }];
  // Gratuitous ARP on up and address change, so neighbours learn a reused IP's new MAC at once.
  steps.push({ path: sysctlPath('net', 'ipv4', 'conf', ifName, 'arp_notify'), value: '1' });
  if (o.hasIPv6) {
    for (const dev of ['lo', ifName]) {
      steps.push({ path: v6(dev, 'disable_ipv6'), value: '0', onlyIfDiffers: true, fatal: `failed to enable IPv6 on "${dev}"` });
    }
    steps.push({ path: v6(ifName, 'keep_addr_on_down'), value: '1', fatal: `failed to enable keep_addr_on_down on "${ifName}"` });
  }
  return steps;
}

export interface SysctlIo {
  read(path: string): string;
  write(path: string, value: string): void;
}

const procSys: SysctlIo = { read: readSysctl, write: writeSysctl };

/** Synchronous, so it can run inside lib/netns.inNetns. */
export function applyPodSysctls(steps: readonly PodSysctl[], io: SysctlIo = procSys): void {
  for (const s of steps) {
    if (s.onlyIfDiffers) {
      let now: string;
      try {
        now = io.read(s.path);
      } catch (err) {
        log.debug(`sysctl ${s.path} unreadable, left alone: ${errorText(err)}`);
        continue;
      }
      if (now === s.value) continue;
    }
    try {
      io.write(s.path, s.value);
    } catch (err) {
      if (s.fatal) throw new CniError(Code.Internal, `${s.fatal}: cannot set ${s.path} to ${s.value}: ${errorText(err)}`);
      log.debug(`sysctl ${s.path}=${s.value} skipped: ${errorText(err)}`);
    }
  }
}

/** What the DAD wait looks at: the interface's IPv6 addresses, and whether it is oper-up. */
export interface DadProbe {
  addrs(): Addr[];
  operUp(): boolean;
}

/** The reference's budget (ipam_linux.go dadSettleTimeout) and poll interval (ip.SETTLE_INTERVAL). */
export const DAD_SETTLE = { budgetMs: 5000, intervalMs: 50 };

/**
 * Wait until no IPv6 address of the interface is tentative, as the reference's
 * ip.SettleAddresses: a DADFAILED address fails at once; addresses still tentative
 * when the budget is spent fail only on an oper-up link (without carrier DAD never
 * ends, and the reference lets that pass).
 */
export function settleDad(probe: DadProbe, ifName: string, opts = DAD_SETTLE): void {
  const deadline = Date.now() + opts.budgetMs;
  for (;;) {
    const addrs = probe.addrs();
    const failed = addrs.find(isDadFailed);
    if (failed) {
      throw new CniError(
        Code.Internal,
        `failed to settle addresses for "${ifName}": ${formatIP(failed)} is DADFAILED: duplicate address detection found another host on the network using it`,
      );
    }
    const tentative = addrs.filter(isTentative);
    if (!tentative.length) return;
    if (Date.now() >= deadline) {
      if (!(probe.operUp())) return;
      const list = tentative.map((a) => formatIP(a)).join(', ');
      throw new CniError(Code.Internal, `failed to settle addresses for "${ifName}": ${list} still tentative after ${opts.budgetMs / 1000} s of duplicate address detection`);
    }
    sleepSync(opts.intervalMs);
  }
}

export interface PodSetup {
  ifName: string;
  podIndex: number;
  addresses: Cidr[];
  routes: Omit<RouteSpec, 'oif'>[];
  hasIPv6: boolean;
  enableDad: boolean;
}

export function configurePod(pod: Nl, ns: NetnsHandle, c: PodSetup): Link {
  inNetns(ns, () => applyPodSysctls(planPodSysctls(c.ifName, c)));
  // Without enabledad the addresses are added nodad and nothing waits: DAD on a pod
  // veth costs seconds per pod (https://github.com/containernetworking/plugins/issues/680).
  const link = addPodAddrs(pod, ns, { ifName: c.ifName, podIndex: c.podIndex, addresses: c.addresses, dad: c.enableDad });
  if (c.enableDad && c.hasIPv6) {
    // Before the routes, as the reference: a duplicate fails the ADD before anything routes through it.
    settleDad(
      {
        addrs: () => listAddrs(pod, { index: c.podIndex, family: 6 }),
        operUp: () => (getLinkByIndex(pod, c.podIndex))?.operState === 'up',
      },
      c.ifName,
    );
  }
  addPodRoutes(pod, c);
  return link;
}
