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

/** One file of a tar, parsed as JSON (the manifest.json or config of a docker-archive); header by header, not read whole. */
export function readTarJson(file, name) {
  const fd = fs.openSync(file, 'r');
  try {
    const h = Buffer.alloc(512);
    for (let off = 0; fs.readSync(fd, h, 0, 512, off) === 512 && h[0] !== 0; ) {
      const entry = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
      const size = parseInt(h.toString('ascii', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
      if (entry === name) {
        const data = Buffer.alloc(size);
        fs.readSync(fd, data, 0, size, off + 512);
        return JSON.parse(data.toString('utf8'));
      }
      off += 512 + Math.ceil(size / 512) * 512;
    }
  } finally {
    fs.closeSync(fd);
  }
  throw new Error(`${file}: no ${name}`);
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
