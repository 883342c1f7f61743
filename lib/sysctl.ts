// Sysctls through /proc/sys. /proc/sys/net resolves against the netns of the thread
// that opens the file, so these calls act on the pod netns inside lib/netns.inNetns
// (unlike /sys/class/net, which follows the mount, not setns).
import * as fs from 'node:fs';
import { log } from './log';

const file = (key: string): string => `/proc/sys/${key.replace(/\./g, '/')}`;

// Interface names may contain dots (cni0.100); callers pass path segments to keep them intact.
export const sysctlPath = (...segments: string[]): string => `/proc/sys/${segments.join('/')}`;

export function readSysctl(key: string): string {
  return fs.readFileSync(key.startsWith('/') ? key : file(key), 'utf8').trim();
}

export function writeSysctl(key: string, value: string): void {
  fs.writeFileSync(key.startsWith('/') ? key : file(key), value);
}

/** Write only when the value differs, as the reference does for ip_forward (a write is not free and may be denied). */
export function ensureSysctl(key: string, value: string): void {
  if (readSysctl(key) !== value) writeSysctl(key, value);
}

/** Ignore a sysctl that cannot be written (IPv6 disabled on the node, an old kernel), as the reference does. */
export function trySysctl(path: string, value: string, ensure = false): void {
  try {
    if (ensure) ensureSysctl(path, value);
    else writeSysctl(path, value);
  } catch (err) {
    log.debug(`sysctl ${path}=${value} skipped: ${(err as Error).message}`);
  }
}
