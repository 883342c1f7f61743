// After a reboot no pod of the old boot exists: when a range is full, reservations
// written in an earlier boot (by the store's boot_id record, never by file times) are
// reclaimed, and only then, and only those (the allocator's part: allocator.test.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BOOT_ID_FILE } from '../../../../lib/ipam/boot';
import { currentBootId } from '../../../../lib/bootid';
import { ipamAdd } from '../../../../lib/ipam/host-local';
import { hostLocalStatus } from '../../../../lib/ipam/status';
import { cmdArgs, cniError, netConf, tempDirs } from './helpers';

const FULL = ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'];
const EARLIER_BOOT = '00000000-0000-4000-8000-000000000000';

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
