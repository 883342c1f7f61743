// cnictl doctor: the reference flannel put back under a conflist whose cniVersion it does not speak.
import { describe, expect, it } from 'vitest';
import { diagnose } from '../../../../../tools/cnictl/doctor/diagnose';
import type { Snapshot } from '../../../../../tools/cnictl/doctor/snapshot';
import { healthy } from './fixtures';

const REFERENCE = { path: '/opt/cni/bin/flannel', ours: false, supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0'] };
const at = (cniVersion: string, flannelBinary: Snapshot['flannelBinary']): Snapshot => {
  const s = healthy();
  s.netConf = { state: 'ok', file: '/etc/cni/net.d/10-flannel.conflist', pluginType: 'flannel', hairpinMode: true, cniVersion };
  s.flannelBinary = flannelBinary;
  return s;
};
const versionFindings = (s: Snapshot) => diagnose(s).filter((f) => f.check === 'flannel-version');

describe('diagnose: flannel-version', () => {
  it('warns when the flannel in the plugin directory is not ours and does not speak the network\'s version', () => {
    const [f] = versionFindings(at('1.0.0', REFERENCE));
    expect(f).toMatchObject({ severity: 'warning', subject: '/opt/cni/bin/flannel' });
    expect(f.detail).toContain('speaks CNI 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, but /etc/cni/net.d/10-flannel.conflist asks for 1.0.0');
    expect(f.detail).toContain('leaks its address reservation');
    expect(f.fix).toContain('"cniVersion": "0.4.0"');
  });

  it('is quiet at 0.3.1 and 0.4.0, for our own flannel, without a flannel, and on a bridge network', () => {
    expect(versionFindings(at('0.3.1', REFERENCE))).toEqual([]);
    expect(versionFindings(at('0.4.0', REFERENCE))).toEqual([]);
    expect(versionFindings(at('1.0.0', { path: '/opt/cni/bin/flannel', ours: true }))).toEqual([]);
    expect(versionFindings(at('1.0.0', undefined))).toEqual([]);
    expect(versionFindings(at('1.0.0', { ...REFERENCE, supportedVersions: [...REFERENCE.supportedVersions, '1.0.0', '1.1.0'] }))).toEqual([]);
    const bridge = at('1.0.0', REFERENCE);
    bridge.netConf = { state: 'ok', file: '/etc/cni/net.d/10-bridge.conflist', pluginType: 'bridge', hairpinMode: false, cniVersion: '1.0.0' };
    expect(versionFindings(bridge)).toEqual([]);
  });

  it('a flannel that would not say its versions: warned about above 0.4.0 only', () => {
    const silent = { path: '/opt/cni/bin/flannel', ours: false, versionError: 'exit status 1' };
    expect(versionFindings(at('1.0.0', silent))[0].detail).toMatch(/did not say which versions it speaks \(exit status 1\).*speaks up to 0\.4\.0/);
    expect(versionFindings(at('0.4.0', silent))).toEqual([]);
  });
});
