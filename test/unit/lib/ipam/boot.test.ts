// After a reboot no pod of the old boot exists: when a range is full, reservations
// written in an earlier boot (by the store's boot_id record, never by file times) are
// reclaimed, and only then, and only those.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatIP } from '../../../../lib/ip';
import { allocate, reclaimFromBeforeBoot } from '../../../../lib/ipam/allocator';
import { BOOT_ID_FILE } from '../../../../lib/ipam/boot';
import { currentBootId } from '../../../../lib/bootid';
import { ipamAdd } from '../../../../lib/ipam/host-local';
import { hostLocalStatus } from '../../../../lib/ipam/status';
import { type RangeInput, type RangeSet, canonicalizeRange } from '../../../../lib/ipam/range';
import { MemoryStore, type Owner } from '../../../../lib/ipam/store';
import { cmdArgs, cniError, ip, netConf, tempDirs } from './helpers';

const set = (...inputs: RangeInput[]): RangeSet => inputs.map(canonicalizeRange);
const v4 = set({ subnet: '10.0.0.0/29' }); // .2-.6 allocatable
const owner = (id: string): Owner => ({ containerId: id, ifName: 'eth0' });
const FULL = ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'];
const EARLIER_BOOT = '00000000-0000-4000-8000-000000000000';

describe('reclaimFromBeforeBoot', () => {
  it('releases only reservations in the set from an earlier boot', () => {
    const s = new MemoryStore();
    for (const [a, id, earlier] of [['10.0.0.2', 'old1', true], ['10.0.0.3', 'new1', false], ['10.1.0.9', 'other', true]] as const) {
      s.put(ip(a), `${id}\r\neth0`);
      if (earlier) s.earlierBoot.add(a);
    }
    expect(reclaimFromBeforeBoot(s, v4)).toBe(1);
    expect([...s.files.keys()].sort()).toEqual(['10.0.0.3', '10.1.0.9']);
  });

  it('allocation reclaims only when the range is exhausted', () => {
    const s = new MemoryStore();
    for (const a of FULL.slice(0, 4)) {
      s.put(ip(a), `old-${a}\r\neth0`);
      s.earlierBoot.add(a);
    }
    // One address still free: it is used, nothing is reclaimed.
    expect(allocate(s, [v4], owner('n1')).map((x) => formatIP(x.ip))).toEqual(['10.0.0.6']);
    expect(s.files.size).toBe(5);
    // Now full: the earlier-boot reservations give way.
    expect(allocate(s, [v4], owner('n2')).map((x) => formatIP(x.ip))).toHaveLength(1);
    expect([...s.files.values()].map((f) => f.content).filter((c) => c.startsWith('old-'))).toHaveLength(0);
  });

  it('a full range of this boot stays full', () => {
    const s = new MemoryStore();
    for (const a of FULL) s.put(ip(a), `live-${a}\r\neth0`);
    expect(() => allocate(s, [v4], owner('n3'))).toThrow('no IP addresses available in range set');
    expect(s.files.size).toBe(5);
  });
});

describe('the boot record on disk', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.cleanup());
  const setup = () => {
    const dataDir = dirs.make();
    return { dataDir, net: path.join(dataDir, 'testnet'), conf: netConf({ dataDir, ranges: [[{ subnet: '10.0.0.0/29' }]] }) };
  };
  const addresses = (net: string) => fs.readdirSync(net).filter((f) => /^\d/.test(f)).sort();

  it('the first ADD records this boot, and nothing as earlier on a store it never saw', async () => {
    const { net, conf } = setup();
    await ipamAdd(cmdArgs(conf, 'a'));
    expect(fs.readFileSync(path.join(net, BOOT_ID_FILE), 'utf8')).toBe(currentBootId());
  });

  it('a reservation of this boot is never reclaimed, however old its mtime', async () => {
    const { net, conf } = setup();
    for (const id of ['a', 'b', 'c', 'd', 'e']) await ipamAdd(cmdArgs(conf, id));
    const old = new Date('2001-01-01T00:00:00Z');
    for (const a of addresses(net)) fs.utimesSync(path.join(net, a), old, old);
    const e = cniError(() => ipamAdd(cmdArgs(conf, 'f')));
    expect(e.message).toContain('no IP addresses available in range set: 10.0.0.1-10.0.0.6');
    expect(addresses(net)).toEqual(FULL);
  });

  it('reservations from an earlier boot give way when the range is full, and only then', async () => {
    const { net, conf } = setup();
    for (const id of ['a', 'b', 'c', 'd']) await ipamAdd(cmdArgs(conf, id));
    // A reboot: the record names another boot. The next ADD finds a free address and
    // reclaims nothing, but records the four as earlier.
    fs.writeFileSync(path.join(net, BOOT_ID_FILE), EARLIER_BOOT);
    const fresh = await ipamAdd(cmdArgs(conf, 'fresh'));
    expect(addresses(net)).toHaveLength(5);
    const [id, list] = fs.readFileSync(path.join(net, BOOT_ID_FILE), 'utf8').split('\n');
    expect(id).toBe(currentBootId());
    expect(JSON.parse(list)).toHaveLength(4);
    // Full now: an earlier-boot reservation is reclaimed, never the one of this boot.
    const next = await ipamAdd(cmdArgs(conf, 'next'));
    expect(next.ips).toHaveLength(1);
    const owners = addresses(net).map((a) => fs.readFileSync(path.join(net, a), 'latin1'));
    expect(owners).toContain('fresh\r\neth0');
    expect(owners).toContain('next\r\neth0');
    expect(fs.readFileSync(path.join(net, fresh.ips![0].address.split('/')[0]), 'latin1')).toBe('fresh\r\neth0');
  });

  it('a file re-created under an earlier-boot name in this boot is not earlier any more', async () => {
    const { net, conf } = setup();
    for (const id of ['a', 'b', 'c', 'd']) await ipamAdd(cmdArgs(conf, id));
    fs.writeFileSync(path.join(net, BOOT_ID_FILE), EARLIER_BOOT);
    // The first ADD of the "new boot" records the four as earlier and takes the last free address.
    await ipamAdd(cmdArgs(conf, 'x'));
    // Every remaining earlier reservation is rewritten in this boot (same owner, same
    // name, maybe the same recycled inode), a tick of the file clock later.
    await new Promise((r) => setTimeout(r, 20));
    for (const a of addresses(net)) {
      if (fs.readFileSync(path.join(net, a), 'latin1').startsWith('x\r')) continue;
      const body = fs.readFileSync(path.join(net, a));
      fs.rmSync(path.join(net, a));
      fs.writeFileSync(path.join(net, `${a}.new`), body);
      fs.renameSync(path.join(net, `${a}.new`), path.join(net, a));
    }
    const e = cniError(() => ipamAdd(cmdArgs(conf, 'y')));
    expect(e.message).toContain('no IP addresses available');
  });

  it('STATUS does not answer 50 for a full range: capacity is not unavailability', async () => {
    const { net, conf } = setup();
    fs.mkdirSync(net, { recursive: true });
    for (const a of FULL) fs.writeFileSync(path.join(net, a), `x-${a}\r\neth0`);
    expect(() => hostLocalStatus(conf)).not.toThrow();
  });
});
