// host-local end to end on a real directory: byte-exact files, modes, DEL/CHECK.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import type { NetConf } from '../../../../lib/cni/types';
import { ipamAdd, ipamCheck, ipamDel } from '../../../../lib/ipam/host-local';
import { cmdArgs, cniError, netConf, tempDirs } from './helpers';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const mode = (p: string) => fs.statSync(p).mode & 0o777;
// boot_id (our boot record, lib/ipam/boot.ts) is left out: the rest is the reference layout.
const ls = (d: string) => fs.readdirSync(d).filter((f) => f !== 'boot_id').sort();

function setup(ipam: Record<string, unknown>, extra: Partial<NetConf> = {}) {
  const dataDir = dirs.make();
  const conf = netConf({ dataDir, ...ipam }, extra);
  const netDir = path.join(dataDir, 'testnet');
  return { conf, netDir, dataDir };
}

describe('ipamAdd', () => {
  it('returns an IPAM result and writes the reference layout byte for byte', async () => {
    const routes = [{ dst: '10.0.0.0/8' }];
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]], routes });
    const res = await ipamAdd(cmdArgs(conf, 'ctr-1', 'eth0'));
    expect(res).toEqual({ cniVersion: '1.0.0', ips: [{ address: '10.1.2.2/24', gateway: '10.1.2.1' }], routes });
    expect(res.interfaces).toBeUndefined();

    expect(mode(netDir)).toBe(0o755);
    expect(ls(netDir)).toEqual(['10.1.2.2', 'last_reserved_ip.0', 'lock']);
    expect(fs.readFileSync(path.join(netDir, '10.1.2.2'))).toEqual(Buffer.from('ctr-1\r\neth0'));
    expect(mode(path.join(netDir, '10.1.2.2'))).toBe(0o600);
    expect(fs.readFileSync(path.join(netDir, 'last_reserved_ip.0'))).toEqual(Buffer.from('10.1.2.2'));
    expect(mode(path.join(netDir, 'last_reserved_ip.0'))).toBe(0o600);
    expect(fs.statSync(path.join(netDir, 'lock')).size).toBe(0);
    // The one file beside the reference layout: this boot's id, which host-local ignores.
    expect(fs.readFileSync(path.join(netDir, 'boot_id'), 'utf8')).toMatch(/^[0-9a-f-]{36}$/);
    expect(mode(path.join(netDir, 'boot_id'))).toBe(0o600);
  });

  it('dual stack: one v4 and one v6 address, canonical IPv6 file name', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }], [{ subnet: 'fc00:0000::/64' }]] });
    const res = await ipamAdd(cmdArgs(conf));
    expect(res.ips).toEqual([
      { address: '10.1.2.2/24', gateway: '10.1.2.1' },
      { address: 'fc00::2/64', gateway: 'fc00::1' },
    ]);
    expect(res.routes).toBeUndefined();
    expect(ls(netDir)).toEqual(['10.1.2.2', 'fc00::2', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    expect(fs.readFileSync(path.join(netDir, 'last_reserved_ip.1'), 'utf8')).toBe('fc00::2');
    expect(fs.readFileSync(path.join(netDir, 'fc00::2'), 'utf8')).toBe('c1\r\neth0');
  });

  it('round-robins across calls and honours a marker left by the reference plugin', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    expect((await ipamAdd(cmdArgs(conf, 'a'))).ips![0].address).toBe('10.1.2.2/24');
    expect((await ipamAdd(cmdArgs(conf, 'b'))).ips![0].address).toBe('10.1.2.3/24');
    await ipamDel(cmdArgs(conf, 'a'));
    expect((await ipamAdd(cmdArgs(conf, 'c'))).ips![0].address).toBe('10.1.2.4/24');
    fs.writeFileSync(path.join(netDir, 'last_reserved_ip.0'), '10.1.2.100', { mode: 0o644 });
    expect((await ipamAdd(cmdArgs(conf, 'd'))).ips![0].address).toBe('10.1.2.101/24');
  });

  it('reports DNS from resolvConf', async () => {
    const { conf, dataDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    const rc = path.join(dataDir, 'resolv.conf');
    fs.writeFileSync(rc, 'nameserver 10.96.0.10\nsearch svc.cluster.local\n');
    (conf.ipam as Record<string, unknown>).resolvConf = rc;
    expect((await ipamAdd(cmdArgs(conf))).dns).toEqual({ nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] });
    (conf.ipam as Record<string, unknown>).resolvConf = path.join(dataDir, 'missing');
    const e = cniError(() => ipamAdd(cmdArgs(conf, 'other')));
    expect(e.message).toMatch(/resolvConf .*missing/);
  });

  it('serves a static IP from CNI_ARGS', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    const res = await ipamAdd(cmdArgs(conf, 'c1', 'eth0', 'IgnoreUnknown=1;IP=10.1.2.77'));
    expect(res.ips).toEqual([{ address: '10.1.2.77/24', gateway: '10.1.2.1' }]);
    expect(fs.readFileSync(path.join(netDir, '10.1.2.77'), 'utf8')).toBe('c1\r\neth0');
  });

  it('skips addresses held by empty, garbage, 0644 and legacy files without crashing', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/29' }]] });
    fs.mkdirSync(netDir, { recursive: true });
    fs.writeFileSync(path.join(netDir, '10.1.2.2'), '');
    fs.writeFileSync(path.join(netDir, '10.1.2.3'), Buffer.from([0xff, 0xfe, 0, 1]));
    fs.writeFileSync(path.join(netDir, '10.1.2.4'), 'old\r\neth0\n', { mode: 0o644 });
    fs.writeFileSync(path.join(netDir, '10.1.2.5'), 'legacy');
    fs.mkdirSync(path.join(netDir, 'not-an-ip'));
    expect((await ipamAdd(cmdArgs(conf))).ips![0].address).toBe('10.1.2.6/29');
  });

  it('a duplicate ADD fails with 999 and changes nothing', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    await ipamAdd(cmdArgs(conf));
    const before = ls(netDir);
    const e = cniError(() => ipamAdd(cmdArgs(conf)));
    expect(e.code).toBe(Code.Internal);
    expect(e.message).toBe('failed to allocate for range 0: 10.1.2.2 has been allocated to c1, duplicate allocation is not allowed');
    expect(ls(netDir)).toEqual(before);
  });

  it('exhaustion of a later range set rolls back the earlier one and leaves no temp file', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }], [{ subnet: 'fc00::/126' }]] });
    fs.mkdirSync(netDir, { recursive: true });
    for (const x of ['fc00::2', 'fc00::3']) fs.writeFileSync(path.join(netDir, x), 'other\r\neth0');
    const e = cniError(() => ipamAdd(cmdArgs(conf)));
    expect(e.code).toBe(Code.Internal);
    expect(e.message).toBe('failed to allocate for range 1: no IP addresses available in range set: fc00::1-fc00::3');
    expect(ls(netDir)).toEqual(['fc00::2', 'fc00::3', 'last_reserved_ip.0', 'lock']);
  });

  it('a config error is code 7 and touches no disk', async () => {
    const { conf, dataDir } = setup({ ranges: [[{ subnet: '10.1.2.3/24' }]] });
    const e = cniError(() => ipamAdd(cmdArgs(conf)));
    expect(e.code).toBe(Code.InvalidConfig);
    expect(ls(dataDir)).toEqual([]);
  });

  it('creates missing parents of dataDir', async () => {
    const { conf, dataDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    (conf.ipam as Record<string, unknown>).dataDir = path.join(dataDir, 'a', 'b');
    await ipamAdd(cmdArgs(conf));
    expect(ls(path.join(dataDir, 'a', 'b', 'testnet'))).toContain('10.1.2.2');
  });
});

describe('ipamDel', () => {
  it('releases only the attachment\'s files and leaves lock, markers and other owners alone', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }], [{ subnet: 'fc00::/64' }]] });
    await ipamAdd(cmdArgs(conf, 'a', 'eth0'));
    await ipamAdd(cmdArgs(conf, 'a', 'net1'));
    await ipamAdd(cmdArgs(conf, 'b', 'eth0'));
    await ipamDel(cmdArgs(conf, 'a', 'eth0'));
    expect(ls(netDir)).toEqual(['10.1.2.3', '10.1.2.4', 'fc00::3', 'fc00::4', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    expect(fs.readFileSync(path.join(netDir, '10.1.2.3'), 'utf8')).toBe('a\r\nnet1');
    expect(fs.readFileSync(path.join(netDir, 'last_reserved_ip.0'), 'utf8')).toBe('10.1.2.4');
  });

  it('releases legacy id-only files and reference-written 0644 files', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    fs.mkdirSync(netDir, { recursive: true });
    fs.writeFileSync(path.join(netDir, '10.1.2.9'), 'legacy-ctr', { mode: 0o644 });
    fs.writeFileSync(path.join(netDir, '10.1.2.10'), 'ref-ctr\r\neth0', { mode: 0o644 });
    fs.writeFileSync(path.join(netDir, '10.1.2.11'), 'someone-else');
    await ipamDel(cmdArgs(conf, 'legacy-ctr'));
    await ipamDel(cmdArgs(conf, 'ref-ctr'));
    expect(ls(netDir)).toEqual(['10.1.2.11', 'lock']);
  });

  it('DEL twice succeeds, and DEL of an unknown network creates nothing', async () => {
    const { conf, netDir, dataDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    await ipamDel(cmdArgs(conf));
    expect(ls(dataDir)).toEqual([]);
    await ipamAdd(cmdArgs(conf));
    await ipamDel(cmdArgs(conf));
    await ipamDel(cmdArgs(conf));
    expect(ls(netDir)).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it('ignores a bad static-IP request in CNI_ARGS', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    await ipamAdd(cmdArgs(conf));
    await ipamDel(cmdArgs(conf, 'c1', 'eth0', 'IP=garbage'));
    expect(ls(netDir)).not.toContain('10.1.2.2');
  });
});

describe('ipamCheck', () => {
  it('passes while the attachment holds an address, fails with the reference message after DEL', async () => {
    const { conf } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    await ipamAdd(cmdArgs(conf, 'ctr-9'));
    await ipamCheck(cmdArgs(conf, 'ctr-9'));
    await ipamDel(cmdArgs(conf, 'ctr-9'));
    const e = cniError(() => ipamCheck(cmdArgs(conf, 'ctr-9')));
    expect(e.message).toBe('host-local: Failed to find address added by container ctr-9');
  });

  it('accepts a legacy id-only file, rejects another interface, and fails on a missing network dir', async () => {
    const { conf, netDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    cniError(() => ipamCheck(cmdArgs(conf, 'old')));
    fs.mkdirSync(netDir, { recursive: true });
    fs.writeFileSync(path.join(netDir, '10.1.2.50'), 'old');
    await ipamCheck(cmdArgs(conf, 'old'));
    await ipamAdd(cmdArgs(conf, 'new', 'eth0'));
    expect(() => ipamCheck(cmdArgs(conf, 'new', 'net1'))).toThrow(/Failed to find address added by container new/);
  });

  it('writes nothing: no lock where there was none, a leftover scratch file stays, the directory is untouched', async () => {
    const { conf, netDir, dataDir } = setup({ ranges: [[{ subnet: '10.1.2.0/24' }]] });
    cniError(() => ipamCheck(cmdArgs(conf, 'ctr-9')));
    expect(fs.existsSync(netDir)).toBe(false); // a missing network directory is not created either
    await ipamAdd(cmdArgs(conf, 'ctr-9'));
    fs.rmSync(path.join(netDir, 'lock'));
    fs.writeFileSync(path.join(netDir, '.tmp-0123456789abcdef'), 'left by a killed ADD');
    const snap = () => [dataDir, netDir, ...fs.readdirSync(netDir).map((f) => path.join(netDir, f))].map((p) => `${p} ${fs.statSync(p, { bigint: true }).mtimeNs}`);
    const before = snap();
    await ipamCheck(cmdArgs(conf, 'ctr-9'));
    cniError(() => ipamCheck(cmdArgs(conf, 'other')));
    expect(snap()).toEqual(before);
    expect(ls(netDir)).toEqual(['.tmp-0123456789abcdef', '10.1.2.2', 'last_reserved_ip.0']);
  });
});
