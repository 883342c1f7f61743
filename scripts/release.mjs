// npm run release: the standalone build for every architecture a cluster mixes, each in
// release/linux-<arch>/ (cni-plugins, cninative.node, the bridge and flannel links,
// host-requirements), and an image of each in dist-image/. amd64 uses Bun's baseline
// runtime, which runs on any x86-64 CPU (the default one needs AVX2); arm64 uses Bun's
// aarch64 runtime, which Bun fetches from the npm registry, with cninative.node from
// Debian's cross compiler. npm run image: the same for this machine's architecture only.
//   node scripts/release.mjs [--arch amd64,arm64|host] [--no-image]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImage } from './release/image.mjs';
import { nativeAddon } from './release/native.mjs';
import { buildStandalone, root } from './release/standalone.mjs';

const TARGETS = { amd64: 'bun-linux-x64-baseline', arm64: 'bun-linux-arm64' };
const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';

const args = process.argv.slice(2);
const archArg = args.includes('--arch') ? args[args.indexOf('--arch') + 1] : 'amd64,arm64';
const arches = archArg === 'host' ? [hostArch] : archArg.split(',');
for (const a of arches) if (!TARGETS[a]) throw new Error(`unknown --arch ${a} (amd64, arm64, host)`);
const withImage = !args.includes('--no-image');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cnit-release-'));
try {
  for (const arch of arches) {
    const out = path.join(root, 'release', `linux-${arch}`);
    buildStandalone({ target: TARGETS[arch], out, addon: nativeAddon(arch, work) });
    console.error(`built ${path.relative(root, out)}/ (${TARGETS[arch]})`);
    if (withImage) {
      const img = buildImage(arch, out);
      console.error(`built ${path.relative(root, img.file)} (${img.tag}, ${arch})`);
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
