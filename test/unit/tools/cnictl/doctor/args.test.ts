// cnictl doctor's command line, and which value of each input wins (the config's
// facts: conflist.test.ts; the output: render.test.ts).
import { describe, expect, it } from 'vitest';
import { DEFAULTS, UsageError, parseDoctorArgs, resolveInputs } from '../../../../../tools/cnictl/doctor/args';

describe('parseDoctorArgs', () => {
  it('takes every flag, as "--flag value" and "--flag=value"', () => {
    const a = parseDoctorArgs([
      '--subnet-file', '/s', '--flannel-data-dir=/f', '--ipam-data-dir', '/i', '--network', 'n1',
      '--bridge=br9', '--confdir', '/c', '--cache-dir', '/k', '--json',
    ]);
    expect(a).toEqual({
      json: true,
      help: false,
      given: { subnetFile: '/s', flannelDataDir: '/f', ipamDataDir: '/i', network: 'n1', bridge: 'br9', confDir: '/c', cacheDir: '/k' },
    });
  });

  it('refuses unknown flags, missing values and a network name with a slash', () => {
    expect(() => parseDoctorArgs(['--nope'])).toThrow(UsageError);
    expect(() => parseDoctorArgs(['--bridge'])).toThrow(/--bridge needs a value/);
    expect(() => parseDoctorArgs(['--bridge', '--json'])).toThrow(/needs a value/);
    expect(() => parseDoctorArgs(['--network=a/b'])).toThrow(/cannot be a network name/);
  });

  it('knows --help', () => {
    expect(parseDoctorArgs(['-h']).help).toBe(true);
  });
});

describe('resolveInputs: flag > network config > default', () => {
  it('uses the defaults of the plugins', () => {
    expect(resolveInputs({}, undefined)).toEqual(DEFAULTS);
    expect(DEFAULTS).toMatchObject({ subnetFile: '/run/flannel/subnet.env', bridge: 'cni0', network: 'cbr0', cacheDir: '/var/lib/cni' });
  });

  it('takes what the config sets, unless a flag overrides it', () => {
    const facts = { file: 'x', pluginType: 'flannel', hairpinMode: true, subnetFile: '/conf/s', bridge: 'brc', ipamDataDir: '/conf/i' };
    expect(resolveInputs({ bridge: 'brflag' }, facts)).toMatchObject({ subnetFile: '/conf/s', bridge: 'brflag', ipamDataDir: '/conf/i', flannelDataDir: DEFAULTS.flannelDataDir });
  });
});
