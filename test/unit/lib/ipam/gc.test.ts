// CNI 1.1 GC: host-local reservations on a real directory and the attachment-list
// parsing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import type { NetConf } from '../../../../lib/cni/types';
import { hostLocalGc, parseOwner } from '../../../../lib/ipam/gc';
import { validAttachments } from '../../../../lib/cni/gc';
import { ipamAdd, ipamCheck, ipamGc } from '../../../../lib/ipam/host-local';
import { LOCK_EX, LOCK_UN, native } from '../../../../lib/native';
import { cmdArgs, cniError, netConf, tempDirs } from './helpers';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

// boot_id (our boot record, lib/ipam/boot.ts) is left out: the rest is the reference layout.
const ls = (d: string) => fs.readdirSync(d).filter((f) => f !== 'boot_id').sort();
type Att = { containerID: string; ifname: string };

function setup(ipam: Record<string, unknown> = {}) {
  const dataDir = dirs.make();
  const conf = netConf({ dataDir, ranges: [[{ subnet: '10.1.2.0/24' }]], ...ipam }, { cniVersion: '1.1.0' });
  const netDir = path.join(dataDir, 'testnet');
  const gcConf = (extra: Record<string, unknown>): NetConf => ({ ...conf, ...extra });
  const gc = (extra: Record<string, unknown>) => ipamGc({ ...cmdArgs(gcConf(extra), '', ''), command: 'GC' });
  const valid = (atts: Att[]) => gc({ 'cni.dev/valid-attachments': atts });
  return { conf, dataDir, netDir, gc, valid };
}

async function addAll(conf: NetConf, owners: [string, string][]): Promise<string[]> {
  const out: string[] = [];
  for (const [id, ifn] of owners) out.push((await ipamAdd(cmdArgs(conf, id, ifn))).ips![0].address.split('/')[0]);
  return out;
}

describe('host-local GC', () => {
  it('releases exactly the unlisted owners and keeps the listed ones (same container, other ifname included)', async () => {
    const { conf, netDir, valid } = setup();
    const [a, b, cEth0, cNet1] = await addAll(conf, [['a', 'eth0'], ['b', 'eth0'], ['c', 'eth0'], ['c', 'net1']]);
    await valid([{ containerID: 'a', ifname: 'eth0' }, { containerID: 'c', ifname: 'net1' }]);
    expect(ls(netDir)).toEqual([a, cNet1, 'last_reserved_ip.0', 'lock'].sort());
    expect(fs.readFileSync(path.join(netDir, a), 'latin1')).toBe('a\r\neth0');
    expect(fs.existsSync(path.join(netDir, b))).toBe(false);
    expect(fs.existsSync(path.join(netDir, cEth0))).toBe(false);
    // the survivors are still usable by CHECK; the marker still steers round-robin
    await ipamCheck(cmdArgs(conf, 'a', 'eth0'));
    await ipamCheck(cmdArgs(conf, 'c', 'net1'));
    expect(fs.readFileSync(path.join(netDir, 'last_reserved_ip.0'), 'latin1')).toBe(cNet1);
  });

  it('an empty list releases every reservation of the network, and nothing else', async () => {
    const { conf, netDir, valid } = setup();
    await addAll(conf, [['a', 'eth0'], ['b', 'eth0']]);
    await valid([]);
    expect(ls(netDir)).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it('releases regardless of the current ranges, and IPv6 names too', async () => {
    const { netDir, valid } = setup();
    fs.mkdirSync(netDir, { recursive: true });
    fs.writeFileSync(path.join(netDir, '192.168.99.9'), 'gone\r\neth0');
    fs.writeFileSync(path.join(netDir, 'fc00::9'), 'gone\r\neth0');
    fs.writeFileSync(path.join(netDir, 'fc00::a'), 'live\r\neth0');
    await valid([{ containerID: 'live', ifname: 'eth0' }]);
    expect(ls(netDir)).toEqual(['fc00::a', 'lock']);
  });

  it('legacy id-only files are kept when their container is listed with any ifname, else released', async () => {
    const { netDir, valid } = setup();
    fs.mkdirSync(netDir, { recursive: true });
    fs.writeFileSync(path.join(netDir, '10.1.2.10'), 'old-live');
    fs.writeFileSync(path.join(netDir, '10.1.2.11'), 'old-gone\n');
    fs.writeFileSync(path.join(netDir, '10.1.2.12'), 'new-live\neth0'); // LF only: still recognised, kept
    await valid([{ containerID: 'old-live', ifname: 'net7' }, { containerID: 'new-live', ifname: 'eth0' }]);
    expect(ls(netDir)).toEqual(['10.1.2.10', '10.1.2.12', 'lock']);
  });

  it('reclaims empty, blank, oversized and unparseable files (crash leftovers)', async () => {
    const { netDir, valid } = setup();
    fs.mkdirSync(netDir, { recursive: true });
    fs.writeFileSync(path.join(netDir, '10.1.2.20'), '');
    fs.writeFileSync(path.join(netDir, '10.1.2.21'), ' \r\n ');
    fs.writeFileSync(path.join(netDir, '10.1.2.22'), 'x'.repeat(5000));
    fs.writeFileSync(path.join(netDir, '10.1.2.23'), 'a\r\nb\r\nc');
    fs.writeFileSync(path.join(netDir, '10.1.2.24'), 'keep\r\neth0');
    await valid([{ containerID: 'keep', ifname: 'eth0' }]);
    expect(ls(netDir)).toEqual(['10.1.2.24', 'lock']);
  });

  it('never touches lock, markers, non-address names, non-regular entries or other networks', async () => {
    const { dataDir, netDir, valid } = setup();
    fs.mkdirSync(netDir, { recursive: true });
    const other = path.join(dataDir, 'othernet');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, '10.1.2.30'), 'gone\r\neth0');
    fs.writeFileSync(path.join(netDir, 'lock'), '');
    fs.writeFileSync(path.join(netDir, 'last_reserved_ip.0'), '10.1.2.30');
    fs.writeFileSync(path.join(netDir, 'last_reserved_ip.1'), 'garbage');
    fs.writeFileSync(path.join(netDir, 'README'), 'gone\r\neth0');
    fs.writeFileSync(path.join(netDir, '10.1.2.0-backup'), 'gone\r\neth0');
    fs.mkdirSync(path.join(netDir, '10.1.2.31')); // a directory named by an address
    fs.symlinkSync(path.join(other, '10.1.2.30'), path.join(netDir, '10.1.2.32'));
    fs.writeFileSync(path.join(netDir, '10.1.2.33'), 'gone\r\neth0');
    await valid([]);
    expect(ls(netDir)).toEqual(['10.1.2.0-backup', '10.1.2.31', '10.1.2.32', 'README', 'last_reserved_ip.0', 'last_reserved_ip.1', 'lock']);
    expect(ls(other)).toEqual(['10.1.2.30']);
    expect(fs.readFileSync(path.join(other, '10.1.2.30'), 'latin1')).toBe('gone\r\neth0');
    expect(fs.readFileSync(path.join(netDir, 'last_reserved_ip.0'), 'latin1')).toBe('10.1.2.30');
  });

  it('does nothing when the list key is absent or with disableGC; null releases all', async () => {
    const { conf, netDir, gc } = setup();
    await addAll(conf, [['a', 'eth0'], ['b', 'eth0']]);
    const before = ls(netDir);
    await gc({});
    expect(ls(netDir)).toEqual(before);
    await gc({ disableGC: true, 'cni.dev/valid-attachments': [] });
    expect(ls(netDir)).toEqual(before);
    // null is how libcni and go-cni send an empty list (no pod left): everything goes.
    await gc({ 'cni.dev/valid-attachments': null }); // proves the two above could have released
    expect(ls(netDir)).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it('accepts the legacy cni.dev/attachments key; cni.dev/valid-attachments wins when both are present', async () => {
    const { conf, netDir, gc } = setup();
    const [a, b, c] = await addAll(conf, [['a', 'eth0'], ['b', 'eth0'], ['c', 'eth0']]);
    await gc({ 'cni.dev/attachments': [{ containerID: 'a', ifname: 'eth0' }, { containerID: 'b', ifname: 'eth0' }] });
    expect(ls(netDir)).toEqual([a, b, 'last_reserved_ip.0', 'lock'].sort());
    await gc({ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }], 'cni.dev/attachments': [{ containerID: 'b', ifname: 'eth0' }] });
    expect(ls(netDir)).toEqual([a, 'last_reserved_ip.0', 'lock'].sort());
    expect(c).toBeDefined();
  });

  it('rejects a malformed list with code 7 before releasing anything', async () => {
    const { conf, netDir, gc } = setup();
    await addAll(conf, [['a', 'eth0']]);
    const before = ls(netDir);
    for (const bad of [
      { 'cni.dev/valid-attachments': 'a' },
      { 'cni.dev/valid-attachments': {} },
      { 'cni.dev/valid-attachments': [{ containerID: 'a' }] },
      { 'cni.dev/valid-attachments': [{ containerID: 7, ifname: 'eth0' }] },
      { 'cni.dev/valid-attachments': [{ containerID: '', ifname: 'eth0' }] },
      { 'cni.dev/valid-attachments': [null] },
      { 'cni.dev/attachments': [['a', 'eth0']] },
    ]) {
      const e = cniError(() => gc(bad));
      expect(e.code, JSON.stringify(bad)).toBe(Code.InvalidConfig);
      expect(e.message).toMatch(/cni\.dev\/(valid-)?attachments/);
    }
    expect(ls(netDir)).toEqual(before);
  });

  it('is a no-op when the network directory does not exist (and creates nothing)', async () => {
    const { dataDir, valid } = setup();
    await valid([]);
    expect(ls(dataDir)).toEqual([]);
  });

  it('needs no ranges (they may only come with ADD) and reports what it released', async () => {
    const dataDir = dirs.make();
    const netDir = path.join(dataDir, 'testnet');
    fs.mkdirSync(netDir);
    fs.writeFileSync(path.join(netDir, '10.9.9.9'), 'x\r\neth0');
    const conf = netConf({ dataDir }, { cniVersion: '1.1.0', 'cni.dev/valid-attachments': [] });
    const report = hostLocalGc(conf);
    expect(report?.released).toEqual([{ name: '10.9.9.9', why: 'owner x/eth0' }]);
    expect(ls(netDir)).toEqual(['lock']);
  });

  it('waits for the network lock and gives up with code 11', async () => {
    const { conf, netDir } = setup();
    await addAll(conf, [['a', 'eth0']]);
    const fd = fs.openSync(path.join(netDir, 'lock'), 'r');
    try {
      expect(native().flock(fd, LOCK_EX)).toBe(0);
      const e = cniError(() => hostLocalGc({ ...conf, 'cni.dev/valid-attachments': [] }, { lockTimeoutMs: 50 }));
      expect(e.code).toBe(Code.TryAgainLater);
      native().flock(fd, LOCK_UN);
    } finally {
      fs.closeSync(fd);
    }
    expect(ls(netDir)).toContain('10.1.2.2');
  });
});

describe('validAttachments / parseOwner', () => {
  it('parses the list: absent means undefined, null (an empty Go slice as libcni encodes it) means none valid', () => {
    const base = netConf({});
    expect(validAttachments(base)).toBeUndefined();
    expect(validAttachments({ ...base, 'cni.dev/valid-attachments': null })).toEqual({ key: 'cni.dev/valid-attachments', attachments: [] });
    expect(validAttachments({ ...base, 'cni.dev/valid-attachments': [{ containerID: 'x', ifname: 'eth0', extra: 1 }] })).toEqual({
      key: 'cni.dev/valid-attachments',
      attachments: [{ containerId: 'x', ifName: 'eth0' }],
    });
    expect(validAttachments({ ...base, 'cni.dev/attachments': [] })).toEqual({ key: 'cni.dev/attachments', attachments: [] });
  });

  it('classifies file content', () => {
    expect(parseOwner('id\r\neth0')).toEqual({ kind: 'current', containerId: 'id', ifName: 'eth0' });
    expect(parseOwner('id')).toEqual({ kind: 'legacy', containerId: 'id' });
    expect(parseOwner('')).toEqual({ kind: 'garbage' });
    expect(parseOwner('a\r\nb\r\nc')).toEqual({ kind: 'garbage' });
    expect(parseOwner('a\rb')).toEqual({ kind: 'garbage' });
  });
});
