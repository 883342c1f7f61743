// The disk store on its own: flock interop with flock(1), the lock deadline,
// link()-based reservation and scratch-file hygiene.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import { MAX_RESERVATION_BYTES } from '../../../../lib/ipam/disk-read';
import { DiskStore, lockExclusive, withNetworkStore } from '../../../../lib/ipam/disk-store';
import { ipamAdd, ipamCheck } from '../../../../lib/ipam/host-local';
import { cmdArgs, cniError, ip, netConf, tempDirs } from './helpers';

const FLOCK = '/usr/bin/flock';
const haveFlock = fs.existsSync(FLOCK);
const dirs = tempDirs();
const holders: ChildProcess[] = [];

afterEach(async () => {
  for (const h of holders.splice(0)) {
    // Each holder runs in its own process group (detached): end exactly that group.
    if (h.exitCode === null && h.signalCode === null && h.pid) {
      const gone = new Promise((res) => h.once('exit', res));
      process.kill(-h.pid, 'SIGTERM');
      await gone;
    }
  }
  dirs.cleanup();
});

// boot_id (our boot record, lib/ipam/boot.ts) is left out: the rest is the reference layout.
const ls = (d: string) => fs.readdirSync(d).filter((f) => f !== 'boot_id').sort();
const owner = { containerId: 'c1', ifName: 'eth0' };

/** Start `flock <lock> sh -c <script>` and resolve once it reports holding the lock. */
async function holdLock(lockPath: string, script: string): Promise<ChildProcess> {
  const child = spawn(FLOCK, [lockPath, 'sh', '-c', `echo locked; ${script}`], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.once('exit', (code) => reject(new Error(`flock holder exited early (${code})`)));
  });
  return child;
}

describe.skipIf(!haveFlock)('flock interop with flock(1)', () => {
  it('an ADD waits while flock(1) holds <dir>/lock', async () => {
    const dataDir = dirs.make();
    const netDir = path.join(dataDir, 'testnet');
    fs.mkdirSync(netDir);
    const marker = path.join(dataDir, 'holder-done');
    // The holder writes the marker while it still holds the lock, so an ADD that
    // really waited must find it; an ADD that ignored the lock finishes during
    // the holder's sleep, before the marker exists.
    const holder = await holdLock(path.join(netDir, 'lock'), `sleep 1; echo done > ${marker}`);
    const res = await ipamAdd(cmdArgs(netConf({ dataDir, ranges: [[{ subnet: '10.1.2.0/24' }]] })));
    expect(fs.existsSync(marker)).toBe(true);
    expect(res.ips![0].address).toBe('10.1.2.2/24');
    await new Promise((r) => (holder.exitCode === null ? holder.once('exit', r) : r(null)));
  });

  it('a CHECK does not queue behind a held lock: it only reads', async () => {
    const dataDir = dirs.make();
    const conf = netConf({ dataDir, ranges: [[{ subnet: '10.1.2.0/24' }]] });
    await ipamAdd(cmdArgs(conf));
    const holder = await holdLock(path.join(dataDir, 'testnet', 'lock'), 'sleep 600');
    // Taking the lock, CHECK would wait out the whole lock timeout and fail with code 11.
    await ipamCheck({ ...cmdArgs(conf), command: 'CHECK' });
    expect(holder.exitCode).toBeNull();
  });

  it('while we hold the lock, flock(1) -n cannot take it; after release it can', () => {
    const dataDir = dirs.make();
    const seen = withNetworkStore(dataDir, 'testnet', { create: true }, () =>
      spawnSync(FLOCK, ['-n', path.join(dataDir, 'testnet', 'lock'), 'true']).status,
    );
    expect(seen).toBe(1);
    expect(spawnSync(FLOCK, ['-n', path.join(dataDir, 'testnet', 'lock'), 'true']).status).toBe(0);
  });

  it('gives up with code 11 naming the lock file when the holder never lets go', async () => {
    const dataDir = dirs.make();
    const netDir = path.join(dataDir, 'testnet');
    fs.mkdirSync(netDir);
    await holdLock(path.join(netDir, 'lock'), 'sleep 60');
    const e = cniError(() => withNetworkStore(dataDir, 'testnet', { create: true, lockTimeoutMs: 30 }, () => 'ran'));
    expect(e.code).toBe(Code.TryAgainLater);
    expect(e.message).toContain(path.join(netDir, 'lock'));
  });
});

describe('lockExclusive', () => {
  it('reports a bad descriptor as an internal error, not a timeout', () => {
    const e = cniError(() => lockExclusive(987654, '/nowhere/lock', 10));
    expect(e.code).toBe(Code.Internal);
  });
});

describe('DiskStore', () => {
  it('reserve() loses cleanly to a file that appeared after the snapshot (link EEXIST)', () => {
    const dir = dirs.make();
    const store = new DiskStore(dir);
    fs.writeFileSync(path.join(dir, '10.1.2.2'), 'racer\r\neth0');
    expect(store.reserve(ip('10.1.2.2'), owner)).toBe(false);
    expect(fs.readFileSync(path.join(dir, '10.1.2.2'), 'utf8')).toBe('racer\r\neth0');
    expect(ls(dir)).toEqual(['10.1.2.2']);
    expect(store.isReserved(ip('10.1.2.2'))).toBe(true);
  });

  it('removes scratch files left by a holder that died, and only those', () => {
    const dir = dirs.make();
    fs.writeFileSync(path.join(dir, '.tmp-00112233deadbeef'), 'c9\r\neth0');
    fs.writeFileSync(path.join(dir, '.tmp-notours'), 'x');
    fs.writeFileSync(path.join(dir, '10.1.2.7'), 'c9\r\neth0');
    const store = new DiskStore(dir);
    expect(ls(dir)).toEqual(['.tmp-notours', '10.1.2.7']);
    expect(store.reservations().map((r) => r.content)).toEqual(['c9\r\neth0']);
  });

  it('skips a directory, FIFO or socket in the store instead of failing; one named by an address still occupies it', () => {
    const dir = dirs.make();
    fs.mkdirSync(path.join(dir, '.tmp-x'));
    fs.mkdirSync(path.join(dir, '10.1.2.8'));
    spawnSync('mkfifo', [path.join(dir, '10.1.2.9')]);
    fs.writeFileSync(path.join(dir, '10.1.2.7'), 'c9\r\neth0');
    const store = new DiskStore(dir);
    expect(store.strays.sort()).toEqual(['.tmp-x (a directory)', '10.1.2.8 (a directory)', '10.1.2.9 (a FIFO)']);
    expect(store.isReserved(ip('10.1.2.8'))).toBe(true);
    expect(store.isReserved(ip('10.1.2.9'))).toBe(true);
    expect(store.reservations().find((r) => r.name === '10.1.2.7')?.content).toBe('c9\r\neth0');
    expect(ls(dir)).toEqual(['.tmp-x', '10.1.2.7', '10.1.2.8', '10.1.2.9']);
  });

  it('reads a reservation of any container ID a runtime can pass (the environment caps one at 128 KiB)', () => {
    const dir = dirs.make();
    const id = 'c'.repeat(131_000);
    fs.writeFileSync(path.join(dir, '10.1.2.7'), `${id}\r\neth0`);
    fs.writeFileSync(path.join(dir, '10.1.2.8'), 'x'.repeat(MAX_RESERVATION_BYTES + 1));
    const store = new DiskStore(dir);
    expect(store.reservations().find((r) => r.name === '10.1.2.7')?.content).toBe(`${id}\r\neth0`);
    // Bigger than any reservation can be: not one of ours, owned by nobody.
    expect(store.reservations().find((r) => r.name === '10.1.2.8')?.content).toBe('');
  });

  it('release() of a hand-made non-canonical name removes that file', () => {
    const dir = dirs.make();
    fs.writeFileSync(path.join(dir, 'FC00::0002'), 'c1\r\neth0');
    const store = new DiskStore(dir);
    store.release(ip('fc00::2'));
    expect(ls(dir)).toEqual([]);
  });

  it('an I/O failure while publishing a reservation is code 999, leaves no scratch file and no address file', async () => {
    const dataDir = dirs.make();
    const conf = netConf({ dataDir, ranges: [[{ subnet: '10.1.2.0/24' }]] });
    const realFs = require('node:fs') as typeof fs & { linkSync: typeof fs.linkSync };
    const realLink = realFs.linkSync;
    realFs.linkSync = () => {
      throw Object.assign(new Error('EIO: i/o error, link'), { code: 'EIO' });
    };
    syncBuiltinESMExports();
    let e;
    try {
      e = cniError(() => ipamAdd(cmdArgs(conf)));
    } finally {
      realFs.linkSync = realLink;
      syncBuiltinESMExports();
    }
    expect(e.code).toBe(Code.Internal);
    expect(e.message).toMatch(/cannot reserve .*10\.1\.2\.2: EIO/);
    expect(ls(path.join(dataDir, 'testnet'))).toEqual(['lock']);
  });

  it('refuses a network name that is not a single path component', () => {
    const dataDir = dirs.make();
    for (const bad of ['..', '.', 'a/b', 'x\0y', '']) {
      expect(cniError(() => withNetworkStore(dataDir, bad, { create: true }, () => 1)).message).toMatch(/refusing network name/);
    }
    expect(ls(dataDir)).toEqual([]);
  });
});
