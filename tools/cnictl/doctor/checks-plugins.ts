// Pure checks of the plugins the runtime would run for the network.
import { compareVersions } from '../../../lib/cni/version';
import type { Finding, Snapshot } from './snapshot';

/** The reference flannel as Debian and older kube-flannel releases ship it speaks up to this. */
const REFERENCE_MAX = '0.4.0';

/**
 * Switching back to the reference flannel works at cniVersion 0.3.1 and 0.4.0; a flannel
 * that does not speak the network's version refuses every ADD and DEL, and a runtime that
 * removes a container anyway (podman does) leaks its reservation.
 */
export function checkFlannelVersion(s: Snapshot): Finding[] {
  const bin = s.flannelBinary;
  if (s.netConf.state !== 'ok' || s.netConf.pluginType !== 'flannel' || !bin || 'error' in bin || bin.ours) return [];
  const { file, cniVersion } = s.netConf;
  const version = cniVersion || '0.1.0';
  // A runtime that caches the config at ADD (podman) deletes with the version it added with.
  const fix = `set "cniVersion": "${REFERENCE_MAX}" (or 0.3.1) in ${file} and recreate the pods started under ${version} before this flannel serves them (podman deletes with the config it cached at ADD), or install this project's flannel again (conf/install.sh)`;
  const effect = `it refuses every ADD and DEL of the network ("incompatible CNI versions"): pods get no network, and a runtime that removes a container anyway (podman does) leaks its address reservation`;
  if (bin.supportedVersions) {
    if (bin.supportedVersions.includes(version)) return [];
    return [{ severity: 'warning', check: 'flannel-version', subject: bin.path, detail: `${bin.path} is not this project's flannel and speaks CNI ${bin.supportedVersions.join(', ')}, but ${file} asks for ${version}: ${effect}`, fix }];
  }
  if (compareVersions(version, REFERENCE_MAX) <= 0) return [];
  return [
    {
      severity: 'warning',
      check: 'flannel-version',
      subject: bin.path,
      detail: `${bin.path} is not this project's flannel and did not say which versions it speaks (${bin.versionError}); ${file} asks for ${version}, and the reference flannel Debian and older kube-flannel releases ship speaks up to ${REFERENCE_MAX}: if it is one of those, ${effect}`,
      fix,
    },
  ];
}
