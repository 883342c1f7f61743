// npm run build:standalone: one self-contained executable (Bun's runtime compiled in,
// no Node.js needed on the node) that is both plugins, plus links named bridge and
// flannel and the native helper beside it. Output: dist-standalone/.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist-standalone');
const bun = path.join(root, 'node_modules', '@oven', `bun-linux-${process.arch === 'arm64' ? 'aarch64' : 'x64'}`, 'bin', 'bun');
if (!fs.existsSync(bun)) throw new Error(`${bun} is missing: run npm ci (the @oven/bun-linux-* package ships Bun)`);
const addon = path.join(root, 'build', 'Release', 'cninative.node');
if (!fs.existsSync(addon)) throw new Error('build/Release/cninative.node is missing: run npm run build first');

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const buildId = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
const exe = path.join(out, 'cni-plugins');
// --bytecode: precompiled JavaScript roughly halves start-up, the cost that dominates a CNI call.
// A compiled Bun executable would otherwise read bunfig.toml (whose `preload` runs any script)
// and .env from its working directory, which is whatever the runtime's is: code and
// variables nobody installed would run as root in every plugin call. The Node bundles and
// the reference plugins read nothing from there; neither may this.
const noAutoload = ['--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig', '--no-compile-autoload-tsconfig', '--no-compile-autoload-package-json'];
// The banner is the marker conf/install.sh recognises our files by (the Node bundles carry the same).
const marker = 'built by cni-flannel-bridge';
const banner = `// ${marker} (TypeScript CNI plugins) build ${buildId}`;
execFileSync(bun, ['build', '--compile', '--bytecode', '--minify', ...noAutoload, path.join(root, 'plugins', 'standalone', 'main.ts'), '--outfile', exe, '--define', `__CNI_BUILD_ID__=${JSON.stringify(buildId)}`, '--define', `__CNI_BUILD_KIND__=${JSON.stringify('standalone')}`, '--banner', banner], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
});
// Without it, install.sh could not tell this executable from a foreign one and would leave it behind on a switch.
if (!fs.readFileSync(exe).includes(marker)) throw new Error(`${exe} does not carry "${marker}": did Bun's --banner change? update scripts/build-standalone.mjs`);
fs.copyFileSync(addon, path.join(out, 'cninative.node'));
for (const name of ['bridge', 'flannel']) fs.symlinkSync('cni-plugins', path.join(out, name));
console.error('built dist-standalone/cni-plugins (+ bridge, flannel links, cninative.node)');
