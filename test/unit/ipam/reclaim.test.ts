// After a reboot no pod of the old boot exists: when a range is full, reservations
// written before this boot are reclaimed (and only then, and only those).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatIP } from '../../../lib/ip';
import { allocate, reclaimFromBeforeBoot } from '../../../lib/ipam/allocator';
import { bootTimeMs } from '../../../lib/ipam/boot';
import { ipamAdd } from '../../../lib/ipam/host-local';
import { type RangeInput, type RangeSet, canonicalizeRange } from '../../../lib/ipam/range';
import { MemoryStore, type Owner } from '../../../lib/ipam/store';
import { cmdArgs, cniErrorAsync, ip, netConf, tempDirs } from './helpers';

const set = (...inputs: RangeInput[]): RangeSet => inputs.map(canonicalizeRange);
const v4 = set({ subnet: '10.0.0.0/29' }); // .2-.6 allocatable
const owner = (id: string): Owner => ({ containerId: id, ifName: 'eth0' });
const BOOT = Date.parse('2026-11-25T10:00:00Z');

describe('reclaimFromBeforeBoot', () => {
  it('releases only reservations in the set written before boot', () => {
    const s = new MemoryStore();
    for (const [a, id, t] of [['10.0.0.2', 'old1', BOOT - 1000], ['10.0.0.3', 'new1', BOOT + 1000], ['10.1.0.9', 'other', BOOT - 1000]] as const) {
      s.put(ip(a), `${id}\r\neth0`);
      s.times.set(a, t);
    }
    expect(reclaimFromBeforeBoot(s, v4, BOOT)).toBe(1);
    expect([...s.files.keys()].sort()).toEqual(['10.0.0.3', '10.1.0.9']);
  });

  it('allocation reclaims only when the range is exhausted', () => {
    const s = new MemoryStore();
    const before = bootTimeMs();
    expect(before).toBeGreaterThan(0);
    for (const a of ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']) {
      s.put(ip(a), `old-${a}\r\neth0`);
      s.times.set(a, before! - 60_000);
    }
    // One address still free: it is used, nothing is reclaimed.
    expect(allocate(s, [v4], owner('n1')).map((x) => formatIP(x.ip))).toEqual(['10.0.0.6']);
    expect(s.files.size).toBe(5);
    // Now full: the pre-boot reservations give way.
    expect(allocate(s, [v4], owner('n2')).map((x) => formatIP(x.ip))).toHaveLength(1);
    expect([...s.files.values()].map((f) => f.content).filter((c) => c.startsWith('old-'))).toHaveLength(0);
  });

  it('a full range of this boot stays full', () => {
    const s = new MemoryStore();
    for (const a of ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']) {
      s.put(ip(a), `live-${a}\r\neth0`);
      s.times.set(a, Date.now());
    }
    expect(() => allocate(s, [v4], owner('n3'))).toThrow('no IP addresses available in range set');
    expect(s.files.size).toBe(5);
  });
});

describe('reboot reclaim on disk', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.cleanup());

  it('host-local ADD into a range filled before boot succeeds and frees the stale files', async () => {
    const dataDir = dirs.make();
    const net = path.join(dataDir, 'testnet');
    fs.mkdirSync(net, { recursive: true });
    const stale = new Date(bootTimeMs()! - 3_600_000);
    for (const a of ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']) {
      fs.writeFileSync(path.join(net, a), `gone-${a}\r\neth0`, { mode: 0o600 });
      fs.utimesSync(path.join(net, a), stale, stale);
    }
    const conf = netConf({ dataDir, ranges: [[{ subnet: '10.0.0.0/29' }]] });
    const r = await ipamAdd(cmdArgs(conf, 'fresh'));
    expect(r.ips).toHaveLength(1);
    const left = fs.readdirSync(net).filter((f) => /^\d/.test(f));
    expect(left).toEqual([r.ips![0].address.split('/')[0]]);
    expect(fs.readFileSync(path.join(net, left[0]), 'latin1')).toBe('fresh\r\neth0');
    // Filled again in this boot: exhaustion is reported as before.
    for (const id of ['b', 'c', 'd', 'e']) await ipamAdd(cmdArgs(conf, id));
    const e = await cniErrorAsync(ipamAdd(cmdArgs(conf, 'f')));
    expect(e.message).toContain('no IP addresses available in range set: 10.0.0.1-10.0.0.6');
  });
});

describe('STATUS and pre-boot reservations', () => {
  const dirs = tempDirs();
  afterEach(() => dirs.cleanup());

  it('a range full only of reservations from before this boot is still available', async () => {
    const { hostLocalStatus } = await import('../../../lib/ipam/status');
    const dataDir = dirs.make();
    const net = path.join(dataDir, 'testnet');
    fs.mkdirSync(net, { recursive: true });
    const conf = netConf({ dataDir, ranges: [[{ subnet: '10.0.0.0/29' }]] });
    for (const a of ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']) fs.writeFileSync(path.join(net, a), `x-${a}\r\neth0`);
    expect(() => hostLocalStatus(conf)).toThrowError(expect.objectContaining({ code: 50 }));
    const stale = new Date(bootTimeMs()! - 3_600_000);
    fs.utimesSync(path.join(net, '10.0.0.4'), stale, stale);
    expect(() => hostLocalStatus(conf)).not.toThrow();
  });
});
