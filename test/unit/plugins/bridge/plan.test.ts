import { describe, expect, it } from 'vitest';
import { parseBridgeConf } from '../../../../plugins/bridge/config';
import { familyGateways, planAttachment, planRoutes } from '../../../../plugins/bridge/plan';
import { formatCidr, formatIP } from '../../../../lib/ip';
import type { NetConf, Result } from '../../../../lib/cni/types';

const base: NetConf = { cniVersion: '1.0.0', name: 'net', type: 'bridge', ipam: { type: 'host-local' } };
const conf = (extra: Record<string, unknown> = {}, args = '') => parseBridgeConf({ ...base, ...extra }, args);
const ipam = (r: Partial<Result>): Result => ({ cniVersion: '1.0.0', ...r });

describe('parseBridgeConf', () => {
  it('fills the reference defaults', () => {
    expect(conf()).toMatchObject({ bridge: 'cni0', isGateway: false, isDefaultGateway: false, ipMasq: false, hairpinMode: false, mtu: undefined, ipamType: 'host-local' });
  });
  it('isDefaultGateway implies isGateway', () => {
    expect(conf({ isDefaultGateway: true }).isGateway).toBe(true);
  });
  it.each([
    [{ hairpinMode: true, promiscMode: true }, 7, 'hairpin mode and promiscuous mode'],
    [{ mtu: 70000 }, 7, '"mtu"'],
    [{ mtu: '1450' }, 7, '"mtu"'],
    [{ bridge: 'a-name-longer-than-15' }, 7, '"bridge"'],
    [{ isGateway: 'yes' }, 7, '"isGateway"'],
    [{ ipam: [] }, 7, '"ipam"'],
    [{ vlan: 4095 }, 7, 'invalid VLAN ID 4095 (must be between 0 and 4094)'],
    [{ ipMasqBackend: 'pf' }, 7, 'unknown ipmasq backend "pf"'],
    [{ runtimeConfig: { mac: 'zz:11' } }, 7, 'invalid MAC'],
  ])('refuses %j with code %i', (extra, code, text) => {
    expect(() => conf(extra)).toThrowError(expect.objectContaining({ code, message: expect.stringContaining(text) }));
  });
  it('takes the MAC from runtimeConfig, then args.cni, then CNI_ARGS', () => {
    expect(conf({}, 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:03');
    expect(conf({ args: { cni: { mac: '02:00:00:00:00:02' } } }, 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:02');
    expect(conf({ runtimeConfig: { mac: '02:00:00:00:00:01' }, args: { cni: { mac: '02:00:00:00:00:02' } } }, 'MAC=02:00:00:00:00:03').mac).toBe('02:00:00:00:00:01');
  });
  it('is strict about unknown CNI_ARGS unless IgnoreUnknown', () => {
    expect(() => conf({}, 'FOO=1')).toThrowError(expect.objectContaining({ code: 4 }));
    expect(conf({}, 'IgnoreUnknown=1;FOO=1;K8S_POD_NAME=p').ipamType).toBe('host-local');
  });
});

describe('planAttachment', () => {
  const v4 = ipam({ ips: [{ address: '10.1.2.5/24', gateway: '10.1.2.1' }], routes: [{ dst: '10.1.0.0/16' }] });

  it('puts the gateway on the bridge only with isGateway', () => {
    expect(planAttachment(conf(), v4).bridgeAddrs).toEqual([]);
    const p = planAttachment(conf({ isGateway: true }), v4);
    expect(p.bridgeAddrs.map(formatCidr)).toEqual(['10.1.2.1/24']);
    expect(p.forward).toEqual([4]);
  });

  it('routes without gw go via the family gateway; the result keeps them as IPAM gave them', () => {
    const p = planAttachment(conf({ isGateway: true }), v4);
    expect(p.routes.map((r) => `${formatCidr(r.dst)} ${r.gw ? formatIP(r.gw) : '-'}`)).toEqual(['10.1.0.0/16 10.1.2.1']);
    expect(p.resultRoutes).toEqual([{ dst: '10.1.0.0/16' }]);
  });

  it('isDefaultGateway adds a default route per family unless IPAM gave one with a gateway', () => {
    const ds = ipam({ ips: [{ address: '10.1.2.5/24', gateway: '10.1.2.1' }, { address: 'fd00::5/64', gateway: 'fd00::1' }] });
    expect(planAttachment(conf({ isDefaultGateway: true }), ds).resultRoutes).toEqual([
      { dst: '0.0.0.0/0', gw: '10.1.2.1' },
      { dst: '::/0', gw: 'fd00::1' },
    ]);
    const withDefault = ipam({ ips: v4.ips, routes: [{ dst: '0.0.0.0/0', gw: '10.1.2.254' }] });
    expect(planAttachment(conf({ isDefaultGateway: true }), withDefault).resultRoutes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.2.254' }]);
    // A gateway-less default route from IPAM does not count (reference rule).
    const gwless = ipam({ ips: v4.ips, routes: [{ dst: '0.0.0.0/0' }] });
    expect(planAttachment(conf({ isDefaultGateway: true }), gwless).resultRoutes).toHaveLength(2);
  });

  it('derives the gateway as network+1 when IPAM names none and isGateway is set', () => {
    const p = planAttachment(conf({ isGateway: true }), ipam({ ips: [{ address: '192.168.7.9/24' }] }));
    expect(p.ips).toEqual([{ address: '192.168.7.9/24', gateway: '192.168.7.1' }]);
    expect(planAttachment(conf(), ipam({ ips: [{ address: '192.168.7.9/24' }] })).ips).toEqual([{ address: '192.168.7.9/24' }]);
  });

  it('conf dns replaces IPAM dns only when a field is set', () => {
    const withDns = ipam({ ...v4, dns: { nameservers: ['10.0.0.10'] } });
    expect(planAttachment(conf(), withDns).dns).toEqual({ nameservers: ['10.0.0.10'] });
    expect(planAttachment(conf({ dns: {} }), withDns).dns).toEqual({ nameservers: ['10.0.0.10'] });
    expect(planAttachment(conf({ dns: { search: ['svc'] } }), withDns).dns).toEqual({ search: ['svc'] });
  });

  it('fails when IPAM returned no IP', () => {
    expect(() => planAttachment(conf(), ipam({}))).toThrow('returned missing IP config');
    expect(planAttachment(conf({ ipam: {} }), undefined).addresses).toEqual([]);
  });
});

describe('familyGateways + planRoutes: what CHECK expects is what ADD planned', () => {
  it.each([
    ['isDefaultGateway, dual stack, routes without gw', { isDefaultGateway: true }, [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }, { address: 'fd01::5/64', gateway: 'fd01::1' }], [{ dst: '10.0.0.0/8' }, { dst: 'fd00::/8' }, { dst: '192.168.0.0/16', gw: '10.1.0.9' }]],
    ['isGateway without an IPAM gateway', { isGateway: true }, [{ address: '10.1.0.5/24' }], [{ dst: '10.0.0.0/8' }]],
    ['no gateway at all', {}, [{ address: '10.1.0.5/24' }], [{ dst: '10.1.0.0/16' }]],
  ])('%s', (_what, extra, ips, routes) => {
    const plan = planAttachment(conf(extra), ipam({ ips, routes }));
    expect(planRoutes(plan.resultRoutes, familyGateways(plan.ips))).toEqual(plan.routes);
  });
});
