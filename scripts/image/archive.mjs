// A one-layer image as a docker-archive tarball (what `docker save` writes), which
// `podman load` and `ctr images import` both take: no registry and no image tool is
// needed to build it. Also a CLI for the tests: node scripts/image/archive.mjs SPEC.json OUT.tar
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTar } from './tar.mjs';

/**
 * spec: {tag, arch (OCI: amd64, arm64), entrypoint?, cmd?, env?, labels?, files} (files as for writeTar).
 * The time is SOURCE_DATE_EPOCH's when set, else the epoch, so a rebuild gives the same digest.
 */
export function writeImage(spec, outFile) {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? 0);
  const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cnit-image-'));
  try {
    const layerFile = path.join(tmp, 'layer.tar');
    const hash = createHash('sha256');
    const fd = fs.openSync(layerFile, 'w');
    try {
      writeTar(fd, spec.files, (b) => hash.update(b));
    } finally {
      fs.closeSync(fd);
    }
    const layerDigest = hash.digest('hex');
    const arch = spec.arch;
    const config = {
      architecture: arch,
      ...(arch === 'arm64' ? { variant: 'v8' } : {}),
      os: 'linux',
      created,
      config: {
        Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        WorkingDir: '/',
        Labels: spec.labels ?? {},
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
      history: [{ created, created_by: 'scripts/image/archive.mjs (cni-flannel-bridge)' }],
    };
    const configJson = JSON.stringify(config);
    const configName = `${createHash('sha256').update(configJson).digest('hex')}.json`;
    const manifest = JSON.stringify([{ Config: configName, RepoTags: [spec.tag], Layers: [`${layerDigest}/layer.tar`] }]);
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    // Written beside the target and renamed: a reader never sees half an archive.
    const partial = `${outFile}.partial`;
    const out = fs.openSync(partial, 'w');
    try {
      writeTar(out, [
        { path: layerDigest, dir: true },
        { path: `${layerDigest}/layer.tar`, src: layerFile },
        { path: configName, content: configJson },
        { path: 'manifest.json', content: manifest },
      ]);
    } finally {
      fs.closeSync(out);
    }
    fs.renameSync(partial, outFile);
    return { tag: spec.tag, arch, layerDigest, configDigest: configName.slice(0, -5) };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The manifest.json of a docker-archive written by writeImage (one image). */
export function readArchiveManifest(file) {
  const buf = fs.readFileSync(file);
  for (let off = 0; off + 512 <= buf.length; ) {
    const name = buf.toString('utf8', off, off + 100).replace(/\0.*$/s, '');
    if (!name) break;
    const size = parseInt(buf.toString('ascii', off + 124, off + 136).replace(/\0.*$/s, '').trim() || '0', 8);
    if (name === 'manifest.json') return JSON.parse(buf.toString('utf8', off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${file}: no manifest.json`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [specFile, outFile] = process.argv.slice(2);
  if (!specFile || !outFile) {
    console.error('usage: node scripts/image/archive.mjs SPEC.json OUT.tar');
    process.exit(2);
  }
  const r = writeImage(JSON.parse(fs.readFileSync(specFile, 'utf8')), outFile);
  console.log(JSON.stringify(r));
}
