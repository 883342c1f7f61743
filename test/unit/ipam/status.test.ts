// CNI 1.1 STATUS for host-local: code 50 on an exhausted range set or an unusable
// data dir, 0 otherwise; read-only (no files left behind), and fast on an IPv6 /64.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Code } from '../../../lib/cni/errors';
import type { NetConf } from '../../../lib/cni/types';
import { ipamAdd, ipamDel, ipamGc, ipamStatus } from '../../../lib/ipam/host-local';
import { canonicalizeRange } from '../../../lib/ipam/range';
import { rangeSetSize, reservedInSet } from '../../../lib/ipam/status';
import { cmdArgs, cniErrorAsync, ip, netConf, tempDirs } from './helpers';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const ls = (d: string) => fs.readdirSync(d).sort();
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

  it('an IPv4 /29 is ready until its 5 addresses are taken, then 50; ready again after a release', async () => {
    // .0 network, .7 broadcast, .1 gateway: .2-.6 are allocatable
    const { conf, netDir, status } = setup({ ranges: [[{ subnet: '10.1.2.0/29' }]] });
    for (let i = 0; i < 4; i++) await ipamAdd(cmdArgs(conf, `c${i}`));
    await status();
    await ipamAdd(cmdArgs(conf, 'c4'));
    const before = ls(netDir);
    const e = await cniErrorAsync(status());
    expect(e.code).toBe(Code.NotAvailable);
    expect(e.message).toContain('testnet');
    expect(e.message).toContain('10.1.2.1-10.1.2.6'); // rangeStart defaults to .1, the gateway is skipped
    expect(e.message).toMatch(/all 5 addresses reserved/);
    expect(ls(netDir)).toEqual(before); // read-only
    // the ADD that STATUS predicts really fails
    expect((await cniErrorAsync(ipamAdd(cmdArgs(conf, 'c5')))).message).toMatch(/no IP addresses available/);
    await ipamDel(cmdArgs(conf, 'c2'));
    await status();
  });

  it('GC of stale reservations turns an exhausted network ready', async () => {
    const { conf, status } = setup({ ranges: [[{ subnet: '10.1.2.0/30' }]] });
    await ipamAdd(cmdArgs(conf, 'only'));
    expect((await cniErrorAsync(status())).code).toBe(Code.NotAvailable);
    await ipamGc({ ...cmdArgs({ ...conf, 'cni.dev/valid-attachments': [] }, '', ''), command: 'GC' });
    await status();
  });

  it('one exhausted range set is enough for 50 (ADD needs an address from each)', async () => {
    const { conf, status } = setup({ ranges: [[{ subnet: '10.1.2.0/30' }], [{ subnet: 'fc00::/64' }]] });
    await ipamAdd(cmdArgs(conf, 'c0'));
    const e = await cniErrorAsync(status());
    expect(e.code).toBe(Code.NotAvailable);
    expect(e.message).toContain('range set 0');
    expect(e.message).not.toContain('range set 1');
  });

  it('a set of several ranges is exhausted only when all of them are', async () => {
    const { netDir, status } = setup({ ranges: [[{ subnet: '10.1.2.0/30' }, { subnet: '10.1.3.0/30' }]] });
    fs.mkdirSync(netDir, { recursive: true });
    fs.writeFileSync(path.join(netDir, '10.1.2.2'), 'a\r\neth0');
    await status();
    fs.writeFileSync(path.join(netDir, '10.1.3.2'), 'b\r\neth0');
    expect((await cniErrorAsync(status())).code).toBe(Code.NotAvailable);
  });

  it('an IPv6 /64 with a few reservations is not exhausted, and is judged without walking it', async () => {
    const { conf, netDir, status } = setup({ ranges: [[{ subnet: 'fd00:1:2:3::/64' }]] });
    for (let i = 0; i < 5; i++) await ipamAdd(cmdArgs(conf, `c${i}`));
    fs.writeFileSync(path.join(netDir, 'fd00:1:2:3::ffff'), '');
    const t0 = performance.now();
    await status();
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('counts only addresses inside the set: gateway, outside and non-address names do not fill it', async () => {
    const { netDir, status } = setup({ ranges: [[{ subnet: '10.1.2.0/30' }]] });
    fs.mkdirSync(netDir, { recursive: true });
    for (const n of ['10.1.2.1', '10.1.2.3', '10.9.9.9', 'lock', 'last_reserved_ip.0', 'junk']) fs.writeFileSync(path.join(netDir, n), '');
    await status();
    fs.writeFileSync(path.join(netDir, '10.1.2.2'), '');
    expect((await cniErrorAsync(status())).code).toBe(Code.NotAvailable);
  });

  it('50 when the data dir cannot be created: a path under a regular file', async () => {
    const base = dirs.make();
    const file = path.join(base, 'not-a-dir');
    fs.writeFileSync(file, 'x');
    const conf = netConf({ dataDir: path.join(file, 'networks'), ranges: [[{ subnet: '10.1.2.0/24' }]] }, { cniVersion: '1.1.0' });
    const e = await cniErrorAsync(ipamStatus(statusArgs(conf)));
    expect(e.code).toBe(Code.NotAvailable);
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/not a directory/);
    // and ADD would indeed fail there
    expect((await cniErrorAsync(ipamAdd(cmdArgs(conf)))).message).toMatch(/cannot create/);
    expect(ls(base)).toEqual(['not-a-dir']);
  });

  it('50 when the network directory itself is a regular file', async () => {
    const { dataDir, netDir, status } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    fs.writeFileSync(netDir, '');
    const e = await cniErrorAsync(status());
    expect(e.code).toBe(Code.NotAvailable);
    expect(e.message).toContain(netDir);
    expect(ls(dataDir)).toEqual(['testnet']);
  });

  it.skipIf(process.getuid?.() === 0)('50 when the data dir is not writable (non-root only: root bypasses modes)', async () => {
    const { dataDir, status } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    fs.chmodSync(dataDir, 0o555);
    try {
      expect((await cniErrorAsync(status())).code).toBe(Code.NotAvailable);
    } finally {
      fs.chmodSync(dataDir, 0o755);
    }
  });

  it('ranges that only come with ADD (runtimeConfig.ipRanges): ready, data dir still checked', async () => {
    const base = dirs.make();
    await ipamStatus(statusArgs(netConf({ dataDir: base }, { cniVersion: '1.1.0' })));
    fs.writeFileSync(path.join(base, 'f'), '');
    const e = await cniErrorAsync(ipamStatus(statusArgs(netConf({ dataDir: path.join(base, 'f') }, { cniVersion: '1.1.0' }))));
    expect(e.code).toBe(Code.NotAvailable);
  });

  it('a config ADD would reject is code 7', async () => {
    const { status } = setup({ ranges: [[{ subnet: '10.1.2.1/24' }]] });
    expect((await cniErrorAsync(status())).code).toBe(Code.InvalidConfig);
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
