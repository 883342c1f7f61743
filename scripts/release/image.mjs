// The image of a release build: the standalone executable, its native helper, the conflist,
// and the dynamic loader and C library the executable links (the image has no base: the
// executable needs glibc, so it carries Debian's, for its architecture). Its entrypoint is
// the executable under the name `install` (tools/install/install.ts), so the image needs
// no shell. Output: dist-image/<name>-<arch>.tar, a docker-archive `podman load` takes.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeImage } from '../image/archive.mjs';
import { root } from './standalone.mjs';

export const IMAGE_NAME = 'cni-flannel-bridge';
export const IMAGE_DIR = '/usr/lib/cni-flannel-bridge';
const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
/** The reference conf/kube-flannel.yml uses; one tag for every architecture, as a registry's multi-arch image has. */
export const IMAGE_REF = `localhost/${IMAGE_NAME}:${version}`;
export const imageFile = (arch) => path.join(root, 'dist-image', `${IMAGE_NAME}-${arch}.tar`);

/** Where each architecture's Debian C library is: this machine's, or the cross package's (libc6-arm64-cross). */
const LIB_DIRS = {
  amd64: ['/lib/x86_64-linux-gnu', '/usr/x86_64-linux-gnu/lib'],
  arm64: ['/usr/aarch64-linux-gnu/lib', '/lib/aarch64-linux-gnu'],
};
const TRIPLET = { amd64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

function readelf(args, file) {
  return execFileSync('readelf', [...args, file], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** The ELF's program interpreter and the shared libraries it needs, transitively, with where they come from. */
function runtimeFiles(arch, binaries) {
  const dirs = LIB_DIRS[arch].filter((d) => fs.existsSync(d));
  const find = (lib) => {
    for (const d of dirs) if (fs.existsSync(path.join(d, lib))) return fs.realpathSync(path.join(d, lib));
    throw new Error(`${lib} (${arch}) not found in ${LIB_DIRS[arch].join(', ')}${arch === 'arm64' ? ': apt-get install libc6-arm64-cross' : ''}`);
  };
  const interp = /Requesting program interpreter: ([^\]]+)\]/.exec(readelf(['-l'], binaries[0]))?.[1];
  if (!interp) throw new Error(`${binaries[0]} names no program interpreter`);
  const libs = new Map();
  const queue = [...binaries];
  while (queue.length) {
    for (const m of readelf(['-d'], queue.shift()).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)) {
      if (libs.has(m[1]) || m[1] === path.basename(interp)) continue;
      libs.set(m[1], find(m[1]));
      queue.push(libs.get(m[1]));
    }
  }
  return [
    { path: interp.slice(1), src: find(path.basename(interp)), mode: 0o755 },
    ...[...libs].map(([name, src]) => ({ path: `lib/${TRIPLET[arch]}/${name}`, src, mode: 0o644 })),
  ];
}

export function buildImage(arch, buildDir) {
  const exe = path.join(buildDir, 'cni-plugins');
  const runtime = runtimeFiles(arch, [exe, path.join(buildDir, 'cninative.node')]);
  const dirs = new Set(['dev', 'proc', 'sys', 'tmp', 'etc', 'etc/cni', 'etc/cni/net.d', 'opt', 'opt/cni', 'opt/cni/bin', 'usr', 'usr/lib', IMAGE_DIR.slice(1)]);
  for (const f of runtime) for (let d = path.dirname(f.path); d !== '.'; d = path.dirname(d)) dirs.add(d);
  const d = IMAGE_DIR.slice(1);
  const files = [
    ...[...dirs].sort().map((p) => ({ path: p, dir: true })),
    ...runtime,
    { path: `${d}/cni-plugins`, src: exe, mode: 0o755 },
    { path: `${d}/cninative.node`, src: path.join(buildDir, 'cninative.node'), mode: 0o644 },
    { path: `${d}/host-requirements`, src: path.join(buildDir, 'host-requirements'), mode: 0o644 },
    { path: `${d}/10-flannel.conflist`, src: path.join(root, 'conf', '10-flannel.conflist'), mode: 0o644 },
    ...['bridge', 'flannel', 'install'].map((n) => ({ path: `${d}/${n}`, symlink: 'cni-plugins' })),
  ];
  const spec = {
    tag: IMAGE_REF,
    arch,
    entrypoint: [`${IMAGE_DIR}/install`],
    labels: { 'org.opencontainers.image.title': IMAGE_NAME, 'org.opencontainers.image.version': version },
    files,
  };
  return { file: imageFile(arch), ...writeImage(spec, imageFile(arch)) };
}
