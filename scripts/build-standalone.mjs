// npm run build:standalone: one self-contained executable (Bun's runtime compiled in,
// no Node.js needed on the node) that is both plugins, plus links named bridge and
// flannel and the native helper beside it, for this machine's CPU (Bun's default x64
// runtime needs AVX2; `npm run release` builds for any x86-64). Output: dist-standalone/.
import * as path from 'node:path';
import { buildStandalone, root } from './release/standalone.mjs';

const target = process.arch === 'arm64' ? 'bun-linux-arm64' : 'bun-linux-x64';
buildStandalone({ target, out: path.join(root, 'dist-standalone'), addon: path.join(root, 'build', 'Release', 'cninative.node') });
console.error('built dist-standalone/cni-plugins (+ bridge, flannel links, cninative.node, host-requirements)');
