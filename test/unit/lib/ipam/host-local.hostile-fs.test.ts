// host-local against a hostile filesystem: symbolic links in the data dir layout (the
// rule of plugins/flannel/scratch.ts: the directory the config names, and what we
// create under it, must not be links; its parents may be), and an ipam.resolvConf
// that is a FIFO, a device, huge, or a symlink (followed: /etc/resolv.conf often is one).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import { networkDirOf } from '../../../../lib/ipam/disk-read';
import { MAX_RESOLV_CONF, readResolvConf, withNetworkStore } from '../../../../lib/ipam/disk-store';
import { ipamAdd, ipamCheck, ipamDel, ipamGc, ipamStatus } from '../../../../lib/ipam/host-local';
import { cmdArgs, cniError, netConf, tempDirs } from './helpers';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

// boot_id (our boot record, lib/ipam/boot.ts) is left out: the rest is the reference layout.
const ls = (d: string) => fs.readdirSync(d).filter((f) => f !== 'boot_id').sort();
const RANGES = [[{ subnet: '10.1.2.0/24' }]];

describe('symbolic links in the data dir layout', () => {
  it('a dataDir that is (or sits under) a symlink is followed, as the reference does: ADD, CHECK and DEL work in its target', async () => {
    const root = dirs.make();
    const target = path.join(root, 'elsewhere'); // e.g. /var/lib/cni/networks -> /mnt/disk/networks
    fs.mkdirSync(target);
    const link = path.join(root, 'networks');
    fs.symlinkSync(target, link);
    for (const dataDir of [link, `${link}/`, `${link}//`, `${link}/.`]) {
      const conf = netConf({ dataDir, ranges: RANGES });
      const got = (await ipamAdd(cmdArgs(conf))).ips![0].address.split('/')[0];
      expect(ls(path.join(target, 'testnet')), dataDir).toEqual([got, 'last_reserved_ip.0', 'lock']);
      await ipamCheck({ ...cmdArgs(conf), command: 'CHECK' });
      await ipamDel({ ...cmdArgs(conf), command: 'DEL' });
      expect(ls(path.join(target, 'testnet'))).toEqual(['last_reserved_ip.0', 'lock']);
    }
    // A reservation the reference made through the link is released by our DEL.
    fs.writeFileSync(path.join(target, 'testnet', '10.1.2.9'), 'ref1\r\neth0');
    await ipamDel({ ...cmdArgs(netConf({ dataDir: link, ranges: RANGES }), 'ref1'), command: 'DEL' });
    expect(ls(path.join(target, 'testnet'))).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it("a dangling dataDir symlink is refused (the reference's mkdir fails on it too), its target is not created", async () => {
    const root = dirs.make();
    const link = path.join(root, 'networks');
    fs.symlinkSync(path.join(root, 'not-yet'), link);
    const e = cniError(() => ipamAdd(cmdArgs(netConf({ dataDir: link, ranges: RANGES }))));
    expect(e.code).toBe(Code.InvalidConfig);
    expect(e.message).toContain('symbolic link to a missing directory');
    expect(fs.existsSync(path.join(root, 'not-yet'))).toBe(false);
  });

  it('<dataDir>/<network> that is a symlink: code 7 naming it, nothing written at the target', async () => {
    const dataDir = dirs.make();
    const target = dirs.make();
    fs.symlinkSync(target, path.join(dataDir, 'testnet'));
    const e = cniError(() => ipamAdd(cmdArgs(netConf({ dataDir, ranges: RANGES }))));
    expect(e.code).toBe(Code.InvalidConfig);
    expect(e.message).toContain(path.join(dataDir, 'testnet'));
    expect(ls(target)).toEqual([]);
  });

  it('a lock file that is a symlink is never followed (O_NOFOLLOW): code 7, the target is not created', async () => {
    const dataDir = dirs.make();
    const netDir = path.join(dataDir, 'testnet');
    fs.mkdirSync(netDir);
    const target = path.join(dirs.make(), 'created-through-the-link');
    fs.symlinkSync(target, path.join(netDir, 'lock'));
    const e = cniError(() => ipamAdd(cmdArgs(netConf({ dataDir, ranges: RANGES }))));
    expect(e.code).toBe(Code.InvalidConfig);
    expect(e.message).toContain(path.join(netDir, 'lock'));
    expect(fs.existsSync(target)).toBe(false);
    // withNetworkStore itself (CHECK and GC go through it) refuses it the same way.
    const e2 = cniError(() => withNetworkStore(dataDir, 'testnet', { create: true }, () => 1));
    expect(e2.code).toBe(Code.InvalidConfig);
    expect(fs.existsSync(target)).toBe(false);
  });

  it('DEL through a symlinked layout succeeds without writing anything there; CHECK, GC and STATUS refuse', async () => {
    const dataDir = dirs.make();
    const target = dirs.make();
    fs.writeFileSync(path.join(target, '10.1.2.2'), 'c1\r\neth0');
    fs.symlinkSync(target, path.join(dataDir, 'testnet'));
    const conf = netConf({ dataDir, ranges: RANGES });
    await ipamDel({ ...cmdArgs(conf), command: 'DEL' });
    expect(ls(target)).toEqual(['10.1.2.2']); // neither released nor a lock created
    expect((cniError(() => ipamCheck({ ...cmdArgs(conf), command: 'CHECK' }))).code).toBe(Code.InvalidConfig);
    const gcConf = { ...conf, 'cni.dev/valid-attachments': [] } as typeof conf;
    expect((cniError(() => ipamStatus({ ...cmdArgs(conf), command: 'STATUS' }))).code).toBe(Code.NotAvailable);
    expect((cniError(() => ipamGc({ ...cmdArgs(gcConf), command: 'GC' }))).code).toBe(Code.InvalidConfig);
    expect(ls(target)).toEqual(['10.1.2.2']);
  });

  it('parents of dataDir may be symlinks (the default layout on another disk): ADD, CHECK and DEL work', async () => {
    const disk = dirs.make();
    const root = dirs.make();
    fs.symlinkSync(disk, path.join(root, 'cni')); // e.g. /var/lib/cni -> /mnt/disk/cni
    const dataDir = path.join(root, 'cni', 'networks');
    expect(networkDirOf(dataDir, 'testnet')).toEqual({ dir: path.join(fs.realpathSync(disk), 'networks', 'testnet') });
    const conf = netConf({ dataDir, ranges: RANGES });
    expect((await ipamAdd(cmdArgs(conf))).ips![0].address).toBe('10.1.2.2/24');
    expect(ls(path.join(disk, 'networks', 'testnet'))).toEqual(['10.1.2.2', 'last_reserved_ip.0', 'lock']);
    await ipamCheck({ ...cmdArgs(conf), command: 'CHECK' });
    await ipamDel({ ...cmdArgs(conf), command: 'DEL' });
    expect(ls(path.join(disk, 'networks', 'testnet'))).toEqual(['last_reserved_ip.0', 'lock']);
  });

  it('a real directory layout (as /var/lib/cni/networks) is unaffected: ADD, DEL, and DEL of an existing reservation', async () => {
    const dataDir = path.join(dirs.make(), 'var', 'lib', 'cni', 'networks'); // created by ADD
    const conf = netConf({ dataDir, ranges: RANGES });
    expect((await ipamAdd(cmdArgs(conf, 'a'))).ips![0].address).toBe('10.1.2.2/24');
    // A reservation made before this version (same layout): DEL still releases it.
    fs.writeFileSync(path.join(dataDir, 'testnet', '10.1.2.9'), 'old\r\neth0', { mode: 0o600 });
    await ipamDel({ ...cmdArgs(conf, 'old'), command: 'DEL' });
    await ipamDel({ ...cmdArgs(conf, 'a'), command: 'DEL' });
    expect(ls(path.join(dataDir, 'testnet'))).toEqual(['last_reserved_ip.0', 'lock']);
  });
});

describe('ipam.resolvConf', () => {
  const add = (resolvConf: string) => ipamAdd(cmdArgs(netConf({ dataDir: dirs.make(), ranges: RANGES, resolvConf })));

  it('a FIFO nobody writes: code 7 naming ipam.resolvConf at once (no hang), nothing reserved', async () => {
    const dataDir = dirs.make();
    const fifo = path.join(dataDir, 'resolv.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const t0 = Date.now();
    const e = cniError(() => ipamAdd(cmdArgs(netConf({ dataDir, ranges: RANGES, resolvConf: fifo }))));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(e.code).toBe(Code.InvalidConfig);
    expect(e.message).toContain('ipam.resolvConf');
    expect(e.message).toContain('not a regular file');
    expect(ls(dataDir)).toEqual(['resolv.fifo']);
  });

  it.each(['/dev/zero', '/dev/null', '/'])('%s (not a regular file): code 7 naming ipam.resolvConf', async (file) => {
    const e = cniError(() => add(file));
    expect(e.code).toBe(Code.InvalidConfig);
    expect(e.message).toMatch(/ipam\.resolvConf .*not a regular file/);
  });

  it('larger than 64 KiB: code 7, not read into memory; exactly 64 KiB is fine', async () => {
    const d = dirs.make();
    const big = path.join(d, 'big');
    fs.writeFileSync(big, 'nameserver 10.0.0.1\n');
    fs.truncateSync(big, 256 * 1024 * 1024); // sparse
    const e = cniError(() => add(big));
    expect(e.code).toBe(Code.InvalidConfig);
    expect(e.message).toMatch(/ipam\.resolvConf .*larger than 65536 bytes/);
    const cap = path.join(d, 'cap');
    const line = 'nameserver 10.0.0.1\n';
    fs.writeFileSync(cap, line + '#'.repeat(MAX_RESOLV_CONF - line.length));
    expect(readResolvConf(cap).length).toBe(MAX_RESOLV_CONF);
    expect((await add(cap)).dns).toEqual({ nameservers: ['10.0.0.1'] });
  });

  it('a symlink to a regular file is followed (like /etc/resolv.conf -> systemd-resolved)', async () => {
    const d = dirs.make();
    fs.writeFileSync(path.join(d, 'stub-resolv.conf'), 'nameserver 127.0.0.53\nsearch lan\n');
    fs.symlinkSync(path.join(d, 'stub-resolv.conf'), path.join(d, 'resolv.conf'));
    expect((await add(path.join(d, 'resolv.conf'))).dns).toEqual({ nameservers: ['127.0.0.53'], search: ['lan'] });
    // ...but a symlink to a FIFO is refused like the FIFO.
    expect(spawnSync('mkfifo', [path.join(d, 'fifo')]).status).toBe(0);
    fs.symlinkSync(path.join(d, 'fifo'), path.join(d, 'to-fifo'));
    expect((cniError(() => add(path.join(d, 'to-fifo')))).code).toBe(Code.InvalidConfig);
  });

  it('a missing file: code 7 naming ipam.resolvConf and the path', async () => {
    const e = cniError(() => add('/nonexistent/resolv.conf'));
    expect(e.code).toBe(Code.InvalidConfig);
    expect(e.message).toContain('ipam.resolvConf /nonexistent/resolv.conf');
  });
});
