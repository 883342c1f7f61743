// npm run build: the native helper (node-gyp, against this Node's own headers since
// nothing can be downloaded here), then one esbuild bundle per plugin. dist/ is
// self-contained: `cp dist/* /opt/cni/bin/` works on a node with Node and no node_modules.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { randomBytes } from 'node:crypto';
import { MIN_KERNEL, glibcNeeded, writeRequirements } from './release/requirements.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
// `node scripts/build.mjs bridge` builds one bundle (quicker while working on it).
// cnictl (tools/cnictl/main.ts) is the operator's tool shipped beside the plugins, not a plugin.
const entries = { bridge: 'plugins/bridge/main.ts', flannel: 'plugins/flannel/main.ts', cnictl: 'tools/cnictl/main.ts' };
const plugins = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(entries);
for (const name of plugins) if (!entries[name]) throw new Error(`unknown bundle "${name}": one of ${Object.keys(entries).join(', ')}`);

// node-gyp wants the directory holding include/node; derive it from this Node.
const nodedir = [path.resolve(path.dirname(process.execPath), '..'), '/usr'].find((d) =>
  fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')),
);
if (!nodedir) throw new Error('Node headers (include/node/node_api.h) not found; install them with your Node');
const gyp = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
execFileSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist, { recursive: true });
fs.copyFileSync(path.join(root, 'build', 'Release', 'cninative.node'), path.join(dist, 'cninative.node'));
// Node.js itself checks the CPU and its own C library; the helper adds its glibc symbols.
writeRequirements(dist, { ARCH: process.arch === 'arm64' ? 'arm64' : 'amd64', KERNEL: MIN_KERNEL, GLIBC: glibcNeeded([path.join(dist, 'cninative.node')]), CPU: '', NODE: '20' });

// One id per build, in every bundle's banner and code: flannel runs bridge in-process
// only when the bridge it finds in CNI_PATH carries the same id (lib/cni/invoke.ts).
const buildId = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

for (const name of plugins) {
  const out = path.join(dist, name);
  await esbuild.build({
    entryPoints: [path.join(root, entries[name])],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    banner: { js: `#!/usr/bin/env node\n// built by cni-flannel-bridge (TypeScript CNI plugins) build ${buildId}` },
    define: { __CNI_BUILD_ID__: JSON.stringify(buildId), __CNI_BUILD_KIND__: JSON.stringify('node') },
    // Folds the defines and drops the branches they rule out (lib/build-defines.d.ts),
    // such as the source tree's helper path; names and layout stay readable.
    minifySyntax: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  fs.chmodSync(out, 0o755);
}
console.error(`built ${plugins.map((p) => `dist/${p}`).join(', ')} (+ cninative.node)`);
