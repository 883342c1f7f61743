import { describe, expect, it } from 'vitest';
import { Code } from '../../../../lib/cni/errors';
import { formatIP } from '../../../../lib/ip';
import { allocate, reclaimFromBeforeBoot, releaseOwner, releaseReserved } from '../../../../lib/ipam/allocator';
import { ownedBy } from '../../../../lib/ipam/store';
import { type RangeInput, type RangeSet, canonicalizeRange } from '../../../../lib/ipam/range';
import { MemoryStore, type Owner } from '../../../../lib/ipam/store';
import { cniError, ip } from './helpers';

const set = (...inputs: RangeInput[]): RangeSet => inputs.map(canonicalizeRange);
const A: Owner = { containerId: 'aaa', ifName: 'eth0' };
const B: Owner = { containerId: 'bbb', ifName: 'eth0' };
const names = (s: MemoryStore) => [...s.files.keys()].sort();
const got = (s: MemoryStore, sets: RangeSet[], o: Owner, req: string[] = []) => allocate(s, sets, o, req.map(ip)).map((a) => formatIP(a.ip));

const v4 = set({ subnet: '10.0.0.0/29' }); // allocatable .2-.6 (.1 gateway)

describe('allocate: order', () => {
  it('hands out rangeStart+1 first (the gateway is .1), then moves on, recording the marker', () => {
    const s = new MemoryStore();
    expect(got(s, [v4], A)).toEqual(['10.0.0.2']);
    expect(formatIP(s.markers.get(0)!)).toBe('10.0.0.2');
    expect(got(s, [v4], B)).toEqual(['10.0.0.3']);
    expect(formatIP(s.markers.get(0)!)).toBe('10.0.0.3');
  });

  it('continues after the marker instead of reusing a freed lower address', () => {
    const s = new MemoryStore();
    got(s, [v4], A);
    got(s, [v4], B);
    releaseOwner(s, A); // .2 is free again
    expect(got(s, [v4], { containerId: 'ccc', ifName: 'eth0' })).toEqual(['10.0.0.4']);
  });

  it('wraps around past the end, and takes the marker itself when nothing else is free', () => {
    const s = new MemoryStore();
    s.setLastReserved(0, ip('10.0.0.5'));
    for (const x of ['10.0.0.6', '10.0.0.2', '10.0.0.3', '10.0.0.4']) s.put(ip(x), 'other\r\neth0');
    expect(got(s, [v4], A)).toEqual(['10.0.0.5']);

    const t = new MemoryStore();
    t.setLastReserved(0, ip('10.0.0.5'));
    t.put(ip('10.0.0.6'), 'other\r\neth0');
    expect(got(t, [v4], A)).toEqual(['10.0.0.2']);
  });

  it('ignores a marker outside the range set', () => {
    const s = new MemoryStore();
    s.setLastReserved(0, ip('192.168.9.9'));
    expect(got(s, [v4], A)).toEqual(['10.0.0.2']);
  });

  it('uses one marker per range-set index', () => {
    const s = new MemoryStore();
    const sets = [v4, set({ subnet: '10.1.0.0/29' })];
    s.setLastReserved(1, ip('10.1.0.4'));
    expect(got(s, sets, A)).toEqual(['10.0.0.2', '10.1.0.5']);
    expect(formatIP(s.markers.get(0)!)).toBe('10.0.0.2');
    expect(formatIP(s.markers.get(1)!)).toBe('10.1.0.5');
  });

  it('dual stack: one address per range set, IPv6 names canonical', () => {
    const s = new MemoryStore();
    const res = allocate(s, [v4, set({ subnet: 'fc00:0:0:0::/64' })], A);
    expect(res.map((a) => [formatIP(a.ip), a.rangeSet, formatIP(a.range.gateway)])).toEqual([
      ['10.0.0.2', 0, '10.0.0.1'],
      ['fc00::2', 1, 'fc00::1'],
    ]);
    expect(names(s)).toEqual(['10.0.0.2', 'fc00::2']);
    expect(s.files.get('fc00::2')!.content).toBe('aaa\r\neth0');
  });

  it('a failing marker write does not fail the allocation', () => {
    const s = new MemoryStore();
    s.setLastReserved = () => {
      throw new Error('disk full');
    };
    expect(got(s, [v4], A)).toEqual(['10.0.0.2']);
  });
});

describe('allocate: errors', () => {
  it('exhaustion names the range set, is code 999, and rolls back earlier range sets', () => {
    const s = new MemoryStore();
    const tiny = set({ subnet: '10.1.0.0/30' }, { subnet: '10.2.0.0/30' }); // .2 of each
    s.put(ip('10.1.0.2'), 'x\r\neth0');
    s.put(ip('10.2.0.2'), 'y\r\neth0');
    const e = cniError(() => allocate(s, [v4, tiny], A));
    expect(e.code).toBe(Code.Internal);
    expect(e.message).toBe('failed to allocate for range 1: no IP addresses available in range set: 10.1.0.1-10.1.0.2,10.2.0.1-10.2.0.2');
    expect(names(s)).toEqual(['10.1.0.2', '10.2.0.2']); // A's 10.0.0.2 from set 0 is gone again
  });

  it('rollback leaves the owner\'s unrelated reservations alone', () => {
    const s = new MemoryStore();
    s.put(ip('10.9.0.9'), 'aaa\r\neth0'); // outside every set: not a duplicate, not ours to undo
    const full = set({ subnet: '10.1.0.0/30' });
    s.put(ip('10.1.0.2'), 'x\r\neth0');
    cniError(() => allocate(s, [v4, full], A));
    expect(names(s)).toEqual(['10.1.0.2', '10.9.0.9']);
  });

  it('a second ADD of the same attachment is a duplicate', () => {
    const s = new MemoryStore();
    got(s, [v4], A);
    const e = cniError(() => allocate(s, [v4], A));
    expect(e.code).toBe(Code.Internal);
    expect(e.message).toBe('failed to allocate for range 0: 10.0.0.2 has been allocated to aaa, duplicate allocation is not allowed');
    expect(names(s)).toEqual(['10.0.0.2']);
  });

  it('a legacy id-only file in the set also counts as a duplicate', () => {
    const s = new MemoryStore();
    s.put(ip('10.0.0.4'), 'aaa\n');
    expect(cniError(() => allocate(s, [v4], A)).message).toMatch(/10\.0\.0\.4 has been allocated to aaa/);
  });

  it('the same container on another interface is not a duplicate', () => {
    const s = new MemoryStore();
    got(s, [v4], A);
    expect(got(s, [v4], { containerId: 'aaa', ifName: 'net1' })).toEqual(['10.0.0.3']);
  });

  it('an address the owner holds outside this range set is not a duplicate', () => {
    const s = new MemoryStore();
    s.put(ip('10.0.0.7'), 'aaa\r\neth0'); // broadcast: in the subnet, outside the range
    expect(got(s, [v4], A)).toEqual(['10.0.0.2']);
  });

  it('empty or garbage files occupy their address but belong to nobody', () => {
    const s = new MemoryStore();
    s.put(ip('10.0.0.2'), '');
    s.put(ip('10.0.0.3'), '\u0000\u0001garbage');
    expect(got(s, [v4], A)).toEqual(['10.0.0.4']);
    expect(ownedBy(s.reservations(), { containerId: '', ifName: '' })).toEqual([]);
  });
});

describe('allocate: requested IPs', () => {
  const sets = [v4, set({ subnet: 'fc00::/64' })];

  it('serves a requested IP from the set containing it and allocates the rest normally', () => {
    const s = new MemoryStore();
    expect(got(s, sets, A, ['fc00::99'])).toEqual(['10.0.0.2', 'fc00::99']);
    expect(formatIP(s.markers.get(1)!)).toBe('fc00::99');
  });

  it('the requested IP must not be the gateway', () => {
    const e = cniError(() => allocate(new MemoryStore(), sets, A, [ip('10.0.0.1')]));
    expect(e.message).toMatch(/^failed to allocate for range 0: requested IP 10\.0\.0\.1 is the gateway/);
  });

  it('a taken requested IP fails and rolls back', () => {
    const s = new MemoryStore();
    s.put(ip('fc00::5'), 'x\r\neth0');
    const e = cniError(() => allocate(s, sets, A, [ip('fc00::5')]));
    expect(e.message).toBe('failed to allocate for range 1: requested IP address fc00::5 is not available in range set fc00::1-fc00::ffff:ffff:ffff:ffff');
    expect(names(s)).toEqual(['fc00::5']);
  });

  it('requests no range set can serve are reported, and everything is rolled back', () => {
    const s = new MemoryStore();
    const e = cniError(() => allocate(s, sets, A, [ip('10.0.0.3'), ip('192.168.1.1'), ip('10.0.0.4')]));
    expect(e.code).toBe(Code.Internal);
    expect(e.message).toBe('failed to allocate all requested IPs: 192.168.1.1 10.0.0.4');
    expect(names(s)).toEqual([]);
  });
});

describe('releaseOwner / ownedBy', () => {
  it('releases every address of the attachment and nothing else', () => {
    const s = new MemoryStore();
    s.put(ip('10.0.0.2'), 'aaa\r\neth0');
    s.put(ip('fc00::2'), 'aaa\r\neth0\n'); // white space is trimmed before comparing
    s.put(ip('10.0.0.3'), 'aaa\r\nnet1');
    s.put(ip('10.0.0.4'), 'bbb\r\neth0');
    s.put(ip('10.0.0.5'), 'aaa'); // legacy, but a current-format file matched: keep it
    expect(releaseOwner(s, A).map(formatIP).sort()).toEqual(['10.0.0.2', 'fc00::2']);
    expect(names(s)).toEqual(['10.0.0.3', '10.0.0.4', '10.0.0.5']);
  });

  it('falls back to legacy id-only files when no current-format file matches', () => {
    const s = new MemoryStore();
    s.put(ip('10.0.0.5'), 'aaa');
    s.put(ip('10.0.0.6'), 'aaab');
    expect(ownedBy(s.reservations(), A).map((r) => formatIP(r.ip))).toEqual(['10.0.0.5']);
    expect(releaseOwner(s, A).map(formatIP)).toEqual(['10.0.0.5']);
    expect(names(s)).toEqual(['10.0.0.6']);
  });

  it('releasing nothing is fine, twice', () => {
    const s = new MemoryStore();
    s.put(ip('10.0.0.4'), 'bbb\r\neth0');
    expect(releaseOwner(s, A)).toEqual([]);
    expect(releaseOwner(s, A)).toEqual([]);
    expect(names(s)).toEqual(['10.0.0.4']);
  });

  it('keeps going past a failing release and reports it', () => {
    const s = new MemoryStore();
    s.put(ip('10.0.0.2'), 'aaa\r\neth0');
    s.put(ip('10.0.0.3'), 'aaa\r\neth0');
    const real = s.release.bind(s);
    s.release = (x) => {
      if (formatIP(x) === '10.0.0.2') throw new Error('EIO');
      real(x);
    };
    const e = cniError(() => releaseOwner(s, A));
    expect(e.message).toMatch(/10\.0\.0\.2: EIO/);
    expect(names(s)).toEqual(['10.0.0.2']);
  });
});

// After a reboot no pod of the old boot exists: when a range is full, reservations
// written in an earlier boot are reclaimed, and only then, and only those (the boot
// record on disk: boot.test.ts).
describe('reclaimFromBeforeBoot', () => {
  const owner = (id: string): Owner => ({ containerId: id, ifName: 'eth0' });
  const FULL = ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'];

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

describe('releaseReserved: the undo of one ADD', () => {
  it('releases exactly the addresses that ADD reserved, never the same owner\'s others', () => {
    // A live attachment holds 10.61.7.5 under an old lease; its retried ADD in the new
    // lease reserved 10.61.8.2 and then failed: only 10.61.8.2 may go.
    const s = new MemoryStore();
    const o: Owner = { containerId: 'live', ifName: 'eth0' };
    expect(s.reserve(ip('10.61.7.5'), o)).toBe(true);
    expect(s.reserve(ip('10.61.8.2'), o)).toBe(true);
    releaseReserved(s, o, [ip('10.61.8.2')]);
    expect(names(s)).toEqual(['10.61.7.5']);
  });

  it('releases nothing another owner holds now, even an address of that ADD\'s own list', () => {
    const s = new MemoryStore();
    expect(s.reserve(ip('10.61.8.2'), { containerId: 'other', ifName: 'eth0' })).toBe(true);
    releaseReserved(s, { containerId: 'mine', ifName: 'eth0' }, [ip('10.61.8.2')]);
    expect(names(s)).toEqual(['10.61.8.2']);
  });
});
