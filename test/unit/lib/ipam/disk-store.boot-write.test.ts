// A boot record that cannot be written (a full disk: the earlier-boot list is ~170 bytes a
// reservation, a reservation one block) must never leave a stale record beside a
// reservation of this boot: the ADD that could finally write it would list that
// reservation as an earlier boot's, and a full range would hand its address to a second pod.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { currentBootId } from '../../../../lib/bootid';
import { BOOT_ID_FILE } from '../../../../lib/ipam/boot';
import { ipamAdd } from '../../../../lib/ipam/host-local';
import { cmdArgs, cniError, netConf, tempDirs } from './helpers';

const failing = vi.hoisted(() => ({ over: Infinity, always: false }));
vi.mock('../../../../lib/regular-file', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../../lib/regular-file')>();
  return {
    ...real,
    writeAtomic: (file: string, data: string | Buffer, opts?: Parameters<typeof real.writeAtomic>[2]) => {
      if (file.endsWith(`/${BOOT_ID_FILE}`) && (failing.always || data.length > failing.over)) {
        throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC' });
      }
      return real.writeAtomic(file, data, opts);
    },
  };
});

const EARLIER_BOOT = '00000000-0000-4000-8000-000000000000';

describe('the boot record when the disk is full', () => {
  const dirs = tempDirs();
  afterEach(() => {
    dirs.cleanup();
    failing.over = Infinity;
    failing.always = false;
  });
  const setup = () => {
    const dataDir = dirs.make();
    const conf = netConf({ dataDir, ranges: [[{ subnet: '10.0.0.0/29' }]] });
    return { net: path.join(dataDir, 'testnet'), conf };
  };
  const addresses = (net: string) => fs.readdirSync(net).filter((f) => /^\d/.test(f)).sort();

  it('records this boot alone when the earlier-boot list does not fit, and reclaims nothing then', () => {
    const { net, conf } = setup();
    for (const id of ['a', 'b', 'c', 'd']) ipamAdd(cmdArgs(conf, id));
    fs.writeFileSync(path.join(net, BOOT_ID_FILE), EARLIER_BOOT);
    failing.over = 40; // the boot id fits, the list does not
    ipamAdd(cmdArgs(conf, 'fresh'));
    expect(fs.readFileSync(path.join(net, BOOT_ID_FILE), 'utf8')).toBe(currentBootId());
    // The range is full now, and with room on the disk again nothing is taken for an
    // earlier boot's: the four earlier ones were given up with the list.
    failing.over = Infinity;
    const e = cniError(() => ipamAdd(cmdArgs(conf, 'f')));
    expect(e.message).toContain('no IP addresses available');
    expect(addresses(net).map((a) => fs.readFileSync(path.join(net, a), 'latin1'))).toContain('fresh\r\neth0');
  });

  it('fails the ADD with code 11 and reserves nothing when not even the boot id can be written', () => {
    const { net, conf } = setup();
    ipamAdd(cmdArgs(conf, 'a'));
    fs.writeFileSync(path.join(net, BOOT_ID_FILE), EARLIER_BOOT);
    failing.always = true;
    const e = cniError(() => ipamAdd(cmdArgs(conf, 'b')));
    expect(e.code).toBe(11);
    expect(e.message).toContain('cannot record this boot');
    expect(addresses(net)).toHaveLength(1);
    expect(fs.readFileSync(path.join(net, BOOT_ID_FILE), 'utf8')).toBe(EARLIER_BOOT);
  });

  it('a store that never had a record still serves the ADD (nothing is ever earlier there)', () => {
    const { net, conf } = setup();
    failing.always = true;
    expect(ipamAdd(cmdArgs(conf, 'a')).ips).toHaveLength(1);
    expect(fs.existsSync(path.join(net, BOOT_ID_FILE))).toBe(false);
  });
});
