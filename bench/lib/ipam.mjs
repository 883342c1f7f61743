// The host-local store on disk (https://github.com/containernetworking/plugins/blob/main/plugins/ipam/host-local/backend/disk/backend.go): `<dataDir>/<network>/<ip>`
// holding `<containerID>\r\n<ifname>`, plus `last_reserved_ip.<rangeSet>` and `lock`.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ipToInt = (ip) => ip.split('.').reduce((v, o) => v * 256 + Number(o), 0);
export const intToIp = (v) => [Math.floor(v / 2 ** 24) % 256, Math.floor(v / 2 ** 16) % 256, Math.floor(v / 256) % 256, v % 256].join('.');

/**
 * Pre-create `count` reservations in `subnet` (IPv4 CIDR) the way host-local writes
 * them: host addresses from network+2 upwards (network+1 is the gateway), owned by
 * made-up containers, and `last_reserved_ip.0` pointing at the last one.
 * Returns the set of file names created.
 */
export function prefill(networkDir, subnet, count, { idPrefix = 'cnib-fill-', ifName = 'eth0' } = {}) {
  const [addr, bits] = subnet.split('/');
  const size = 2 ** (32 - Number(bits));
  const base = ipToInt(addr);
  if (count > size - 3) throw new Error(`${count} reservations do not fit in ${subnet}`);
  fs.mkdirSync(networkDir, { recursive: true, mode: 0o755 });
  const names = new Set();
  let last;
  for (let i = 0; i < count; i++) {
    last = intToIp(base + 2 + i);
    fs.writeFileSync(path.join(networkDir, last), `${idPrefix}${i}\r\n${ifName}`, { mode: 0o600 });
    names.add(last);
  }
  if (last) fs.writeFileSync(path.join(networkDir, 'last_reserved_ip.0'), last, { mode: 0o600 });
  return names;
}

/** Reservation files (IP-named) in a host-local network dir; [] if the dir is missing. */
export function reservations(networkDir) {
  let names;
  try {
    names = fs.readdirSync(networkDir);
  } catch {
    return [];
  }
  return names.filter((n) => n !== 'lock' && !n.startsWith('last_reserved_ip.') && /^[0-9a-f.:_]+$/i.test(n));
}

/** Files in flannel's scratch dir (saved delegate configs and temp files). */
export function scratchFiles(dataDir) {
  try {
    return fs.readdirSync(dataDir);
  } catch {
    return [];
  }
}
