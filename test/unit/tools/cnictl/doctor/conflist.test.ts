// Doctor finds the network's config as libcni does, and takes from it where state lives.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { factsOf, loadNetConf } from '../../../../../tools/cnictl/doctor/conflist';
import type { SkippedConf } from '../../../../../tools/cnictl/conf';

describe('network config, found like libcni', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doctor-conf-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, body: unknown): void => fs.writeFileSync(path.join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));

  it('reads the kube-flannel conflist: delegate hairpinMode, paths, bridge', () => {
    const f = factsOf('f', {
      name: 'cbr0',
      plugins: [
        { type: 'flannel', subnetFile: '/s', dataDir: '/d', ipam: { dataDir: '/i' }, delegate: { hairpinMode: true, bridge: 'br1' } },
        { type: 'portmap' },
      ],
    });
    expect(f).toEqual({ file: 'f', pluginType: 'flannel', hairpinMode: true, cniVersion: '', subnetFile: '/s', flannelDataDir: '/d', ipamDataDir: '/i', bridge: 'br1' });
    // the version a runtime speaks to the list, as cnictl negotiates it
    expect(factsOf('f', { name: 'cbr0', cniVersion: '0.3.1', cniVersions: ['1.0.0', '9.9.9'], plugins: [{ type: 'flannel' }] }).cniVersion).toBe('1.0.0');
  });

  it('reads a bridge config (a single .conf as well)', () => {
    expect(factsOf('b', { name: 'n', type: 'bridge', bridge: 'br2', hairpinMode: true, ipam: { type: 'host-local', dataDir: '/x' } })).toEqual({
      file: 'b', pluginType: 'bridge', hairpinMode: true, cniVersion: '', ipamDataDir: '/x', bridge: 'br2',
    });
    expect(factsOf('c', { name: 'n', plugins: [{ type: 'bridge' }] }).hairpinMode).toBe(false);
  });

  it('takes the first .conflist by name order with the network name, then single configs', () => {
    write('30-late.conflist', { name: 'cbr0', plugins: [{ type: 'bridge', bridge: 'late' }] });
    write('20-other.conflist', { name: 'other', plugins: [{ type: 'bridge', bridge: 'other' }] });
    write('05-single.conf', { name: 'cbr0', type: 'bridge', bridge: 'single' });
    write('06-two.conf', { name: 'two', type: 'bridge', bridge: 'two' });
    write('25-cbr0.conflist', { name: 'cbr0', plugins: [{ type: 'flannel', delegate: { bridge: 'right' } }] });
    const r = loadNetConf(dir, 'cbr0');
    expect(r.state === 'ok' && r.facts.bridge).toBe('right');
    expect(r.state === 'ok' && r.facts.file).toBe(path.join(dir, '25-cbr0.conflist'));
    const single = loadNetConf(dir, 'two');
    expect(single.state === 'ok' && single.facts.bridge).toBe('two');
    fs.rmSync(path.join(dir, '25-cbr0.conflist'));
    fs.rmSync(path.join(dir, '30-late.conflist'));
    const fallback = loadNetConf(dir, 'cbr0');
    expect(fallback.state === 'ok' && fallback.facts.bridge).toBe('single');
  });

  it('a file libcni cannot load ends the search with an error naming it, as in the runtime', () => {
    write('10-broken.conflist', '{not json');
    write('20-cbr0.conflist', { name: 'cbr0', plugins: [{ type: 'flannel' }] });
    const r = loadNetConf(dir, 'cbr0');
    expect(r).toMatchObject({ state: 'error', file: path.join(dir, '10-broken.conflist') });
    expect(r.state === 'error' && r.message).toContain('not valid JSON');
    write('10-broken.conflist', { name: 'x' });
    expect(loadNetConf(dir, 'cbr0')).toMatchObject({ state: 'error', message: expect.stringContaining('no "plugins"') });
    fs.rmSync(path.join(dir, '10-broken.conflist'));
    write('05-notype.conf', { name: 'cbr9' });
    // .conflist files are searched first: cbr0 is found before the bad single config
    expect(loadNetConf(dir, 'cbr0').state).toBe('ok');
    expect(loadNetConf(dir, 'cbr9')).toMatchObject({ state: 'error', message: expect.stringContaining('no "type"') });
  });

  it('passes over what is not a regular file (a FIFO, a link to /dev/zero) and tells which', () => {
    expect(spawnSync('mkfifo', [path.join(dir, '01-fifo.conflist')]).status).toBe(0);
    fs.symlinkSync('/dev/zero', path.join(dir, '02-zero.conflist'));
    write('10-cbr0.conflist', { name: 'cbr0', plugins: [{ type: 'bridge', bridge: 'br1' }] });
    const skipped: SkippedConf[] = [];
    const r = loadNetConf(dir, 'cbr0', (s) => skipped.push(s));
    expect(r.state === 'ok' && r.facts.bridge).toBe('br1');
    expect(skipped).toEqual([
      { file: path.join(dir, '01-fifo.conflist'), type: 'a FIFO' },
      { file: path.join(dir, '02-zero.conflist'), type: 'a character device' },
    ]);
  });

  it('missing network or directory', () => {
    expect(loadNetConf(dir, 'nope')).toEqual({ state: 'missing' });
    expect(loadNetConf(path.join(dir, 'absent'), 'cbr0')).toEqual({ state: 'missing' });
  });
});
