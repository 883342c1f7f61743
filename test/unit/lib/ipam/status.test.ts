// CNI 1.1 STATUS for host-local: code 50 only on an unusable data dir (no pod could get
// an address), 0 otherwise, a full range included; read-only (no files left behind).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import type { NetConf } from '../../../../lib/cni/types';
import { ipamAdd, ipamDel, ipamStatus } from '../../../../lib/ipam/host-local';
import { canonicalizeRange } from '../../../../lib/ipam/range';
import { rangeSetSize, reservedInSet } from '../../../../lib/ipam/status';
import { cmdArgs, cniError, ip, netConf, tempDirs } from './helpers';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

// boot_id (our boot record, lib/ipam/boot.ts) is left out: the rest is the reference layout.
const ls = (d: string) => fs.readdirSync(d).filter((f) => f !== 'boot_id').sort();
const statusArgs = (conf: NetConf) => ({ ...cmdArgs(conf, '', ''), command: 'STATUS' as const, netns: '' });

function setup(ipam: Record<string, unknown>) {
  const dataDir = dirs.make();
  const conf = netConf({ dataDir, ...ipam }, { cniVersion: '1.1.0' });
  return { conf, dataDir, netDir: path.join(dataDir, 'testnet'), status: () => ipamStatus(statusArgs(conf)) };
}

describe('host-local STATUS', () => {
  it('is ready on a fresh network and creates nothing', async () => {
    const { dataDir, status } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    await status();
    expect(ls(dataDir)).toEqual([]);
  });

  it('a full range is capacity, not unavailability: STATUS stays 0 while the ADD that hits it fails naming the range', async () => {
    // containerd and CRI-O turn a failed STATUS into a NotReady node (and evictions).
    const { conf, netDir, status } = setup({ ranges: [[{ subnet: '10.1.2.0/29' }], [{ subnet: 'fc00::/64' }]] });
    for (let i = 0; i < 5; i++) await ipamAdd(cmdArgs(conf, `c${i}`));
    const before = ls(netDir);
    await status();
    expect(ls(netDir)).toEqual(before); // read-only
    const e = cniError(() => ipamAdd(cmdArgs(conf, 'c5')));
    expect(e.message).toContain('no IP addresses available in range set: 10.1.2.1-10.1.2.6');
    await ipamDel(cmdArgs(conf, 'c2'));
    await status();
  });

  it('usage counts only addresses inside a set: gateway, outside and non-address names do not fill it', () => {
    const set = [canonicalizeRange({ subnet: '10.1.2.0/30' })];
    expect(rangeSetSize(set)).toBe(1n);
    expect(reservedInSet(set, [ip('10.1.2.1'), ip('10.1.2.3'), ip('10.9.9.9')])).toBe(0n);
    expect(reservedInSet(set, [ip('10.1.2.2')])).toBe(1n);
  });

  it('50 when the data dir cannot be created: a path under a regular file', async () => {
    const base = dirs.make();
    const file = path.join(base, 'not-a-dir');
    fs.writeFileSync(file, 'x');
    const conf = netConf({ dataDir: path.join(file, 'networks'), ranges: [[{ subnet: '10.1.2.0/24' }]] }, { cniVersion: '1.1.0' });
    const e = cniError(() => ipamStatus(statusArgs(conf)));
    expect(e.code).toBe(Code.NotAvailable);
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/not a directory/);
    // and ADD would indeed fail there
    expect((cniError(() => ipamAdd(cmdArgs(conf)))).message).toMatch(/cannot create/);
    expect(ls(base)).toEqual(['not-a-dir']);
  });

  it('50 when the network directory itself is a regular file', async () => {
    const { dataDir, netDir, status } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    fs.writeFileSync(netDir, '');
    const e = cniError(() => status());
    expect(e.code).toBe(Code.NotAvailable);
    expect(e.message).toContain(netDir);
    expect(ls(dataDir)).toEqual(['testnet']);
  });

  it.skipIf(process.getuid?.() === 0)('50 when the data dir is not writable (non-root only: root bypasses modes)', async () => {
    const { dataDir, status } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    fs.chmodSync(dataDir, 0o555);
    try {
      expect((cniError(() => status())).code).toBe(Code.NotAvailable);
    } finally {
      fs.chmodSync(dataDir, 0o755);
    }
  });

  it('ranges that only come with ADD (runtimeConfig.ipRanges): ready, data dir still checked', async () => {
    const base = dirs.make();
    await ipamStatus(statusArgs(netConf({ dataDir: base }, { cniVersion: '1.1.0' })));
    fs.writeFileSync(path.join(base, 'f'), '');
    const e = cniError(() => ipamStatus(statusArgs(netConf({ dataDir: path.join(base, 'f') }, { cniVersion: '1.1.0' }))));
    expect(e.code).toBe(Code.NotAvailable);
  });

  it('a config ADD would reject is code 7', async () => {
    const { status } = setup({ ranges: [[{ subnet: '10.1.2.1/24' }]] });
    expect((cniError(() => status())).code).toBe(Code.InvalidConfig);
  });
});

describe('range set arithmetic', () => {
  const r = (subnet: string, extra: Record<string, string> = {}) => canonicalizeRange({ subnet, ...extra });
  it('sizes exclude the gateway only when it lies inside [start, end]', () => {
    expect(rangeSetSize([r('10.0.0.0/29')])).toBe(5n);
    expect(rangeSetSize([r('10.0.0.0/29', { rangeStart: '10.0.0.4' })])).toBe(3n);
    expect(rangeSetSize([r('10.0.0.0/24'), r('10.0.1.0/24')])).toBe(506n);
    expect(rangeSetSize([r('fd00::/64')])).toBe((1n << 64n) - 2n);
  });
  it('counts reservations per set', () => {
    const set = [r('10.0.0.0/29')];
    expect(reservedInSet(set, [ip('10.0.0.1'), ip('10.0.0.2'), ip('10.0.0.7'), ip('10.0.1.2'), ip('fd00::2')])).toBe(1n);
  });
});
