// The bridge fields that came with the "everything the reference does" issue: vlan,
// vlanTrunk, preserveDefaultVlan, macspoofchk, disableContainerInterface and
// ipMasqBackend, with the reference's defaults and error texts (code 7 here).
import { describe, expect, it } from 'vitest';
import { parseBridgeConf } from '../../../../plugins/bridge/config';
import type { NetConf } from '../../../../lib/cni/types';

const base: NetConf = { cniVersion: '1.0.0', name: 'net', type: 'bridge', ipam: {} };
const conf = (extra: Record<string, unknown> = {}) => parseBridgeConf({ ...base, ...extra }, '');
const refuses = (extra: Record<string, unknown>, text: string) =>
  expect(() => conf(extra)).toThrowError(expect.objectContaining({ code: 7, message: expect.stringContaining(text) }));

describe('vlan fields', () => {
  it('defaults: no vlan, no trunk, no filtering, default vlan removed (reference default since PR #1181)', () => {
    expect(conf()).toMatchObject({ vlan: 0, vlanTrunk: [], vlanFiltering: false, preserveDefaultVlan: false });
  });

  it('vlan 0..4094; anything else is "invalid VLAN ID"', () => {
    expect(conf({ vlan: 0 }).vlanFiltering).toBe(false);
    expect(conf({ vlan: 4094 })).toMatchObject({ vlan: 4094, vlanFiltering: true });
    refuses({ vlan: -1 }, 'invalid VLAN ID -1 (must be between 0 and 4094)');
    refuses({ vlan: 4095 }, 'invalid VLAN ID 4095');
    refuses({ vlan: '100' }, '"vlan" must be an integer');
    refuses({ vlan: 1.5 }, '"vlan" must be an integer');
  });

  it('collects trunk ids and ranges sorted and unique', () => {
    const c = conf({ vlanTrunk: [{ id: 42 }, { minID: 100, maxID: 103 }, { id: 101 }, { id: 7, minID: 5, maxID: 5 }] });
    expect(c.vlanTrunk).toEqual([5, 7, 42, 100, 101, 102, 103]);
    expect(c.vlanFiltering).toBe(true);
  });

  it('an empty or id-less trunk list still turns filtering on (the reference tests for the list, not its ids)', () => {
    expect(conf({ vlanTrunk: [] })).toMatchObject({ vlanTrunk: [], vlanFiltering: true });
    expect(conf({ vlanTrunk: [{}] })).toMatchObject({ vlanTrunk: [], vlanFiltering: true });
  });

  it.each([
    [{ vlanTrunk: [{ id: 0 }] }, 'incorrect trunk id parameter'],
    [{ vlanTrunk: [{ id: 4095 }] }, 'incorrect trunk id parameter'],
    [{ vlanTrunk: [{ minID: 0, maxID: 5 }] }, 'incorrect trunk minID parameter'],
    [{ vlanTrunk: [{ minID: 5, maxID: 5000 }] }, 'incorrect trunk maxID parameter'],
    [{ vlanTrunk: [{ minID: 9, maxID: 5 }] }, 'minID is greater than maxID in trunk parameter'],
    [{ vlanTrunk: [{ minID: 9 }] }, 'minID and maxID should be configured simultaneously, maxID is missing'],
    [{ vlanTrunk: [{ maxID: 9 }] }, 'minID and maxID should be configured simultaneously, minID is missing'],
    [{ vlanTrunk: { id: 5 } }, '"vlanTrunk" must be a list'],
    [{ vlanTrunk: [5] }, 'is not an object'],
    [{ bridge: 'a-bridge-named', vlan: 4094, isGateway: true }, '"a-bridge-named.4094" would be longer than 15 bytes'],
  ])('refuses %j', (extra, text) => refuses(extra, text));

  it('vlan with vlanTrunk: the native vlan of a trunk port (reference since v1.8.0, plugins commit e0b99523)', () => {
    expect(conf({ vlan: 10, vlanTrunk: [{ id: 5 }, { minID: 20, maxID: 21 }] })).toMatchObject({ vlan: 10, vlanTrunk: [5, 20, 21], vlanFiltering: true });
  });

  it('preserveDefaultVlan is read as a boolean', () => {
    expect(conf({ vlan: 5, preserveDefaultVlan: true }).preserveDefaultVlan).toBe(true);
    refuses({ preserveDefaultVlan: 'yes' }, '"preserveDefaultVlan" must be true or false');
  });
});

describe('macspoofchk, disableContainerInterface, ipMasqBackend', () => {
  it('macspoofchk defaults off', () => {
    expect(conf().macSpoofChk).toBe(false);
    expect(conf({ macspoofchk: true }).macSpoofChk).toBe(true);
  });

  it('disableContainerInterface cannot go with an IPAM type', () => {
    expect(conf({ disableContainerInterface: true }).disableContainerInterface).toBe(true);
    refuses({ disableContainerInterface: true, ipam: { type: 'host-local' } }, 'cannot use IPAM when DisableContainerInterface flag is set');
  });

  it('ipMasqBackend: iptables, nftables, or absent/null for automatic', () => {
    expect(conf().ipMasqBackend).toBeUndefined();
    expect(conf({ ipMasqBackend: null }).ipMasqBackend).toBeUndefined();
    expect(conf({ ipMasqBackend: 'iptables' }).ipMasqBackend).toBe('iptables');
    expect(conf({ ipMasqBackend: 'nftables' }).ipMasqBackend).toBe('nftables');
    refuses({ ipMasqBackend: 'NFTables' }, 'unknown ipmasq backend "NFTables"');
  });
});
