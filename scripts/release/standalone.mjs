// Compiles the standalone executable (Bun's runtime compiled in) for one Bun target, and
// lays out a build directory around it: cni-plugins, the bridge and flannel links, the
// native helper, and host-requirements (what the executable needs of a node).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostRequirements, writeRequirements } from './requirements.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MARKER = 'built by cni-flannel-bridge';

/** The Bun that compiles: the one for this machine, from the @oven/bun-linux-* package. */
export function hostBun() {
  const bun = path.join(root, 'node_modules', '@oven', `bun-linux-${process.arch === 'arm64' ? 'aarch64' : 'x64'}`, 'bin', 'bun');
  if (!fs.existsSync(bun)) throw new Error(`${bun} is missing: run npm ci (the @oven/bun-linux-* package ships Bun)`);
  return bun;
}

// --bytecode: precompiled JavaScript roughly halves start-up, the cost that dominates a CNI call.
// A compiled Bun executable would otherwise read bunfig.toml (whose `preload` runs any script)
// and .env from its working directory, which is whatever the runtime's is: code and
// variables nobody installed would run as root in every plugin call. The Node bundles and
// the reference plugins read nothing from there; neither may this.
const noAutoload = ['--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig', '--no-compile-autoload-tsconfig', '--no-compile-autoload-package-json'];
// --format=esm --splitting: each module a lazy require() reaches (the bridge, flannel, the
// installer, IPAM, masquerade) becomes its own chunk inside the executable, loaded at that
// require(); one CommonJS bundle would load all of its bytecode even to answer VERSION.
// --compile-jit-policy: a plugin call is run-once code that lives ~20 ms; compiling it
// costs more than it saves (measured: ~2 ms and ~3 MB of RSS per call at 1). 30x the
// tier-up thresholds still compiles a loop over 10,000 reservations.
const startup = ['--format=esm', '--splitting', '--compile-jit-policy=30'];
/** Every flag of the standalone build but its target, entry, defines and banner (the bench's bare-Bun floor uses them too). */
export const BUN_COMPILE_FLAGS = ['--compile', '--bytecode', '--minify', ...startup, ...noAutoload];

/**
 * target: a Bun compile target (bun-linux-x64, bun-linux-x64-baseline, bun-linux-arm64);
 * a target other than this machine's own makes Bun fetch that runtime from the npm registry.
 * addon: the cninative.node built for the same architecture.
 */
export function buildStandalone({ target, out, addon }) {
  if (!fs.existsSync(addon)) throw new Error(`${addon} is missing: run npm run build first`);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const buildId = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const exe = path.join(out, 'cni-plugins');
  // The banner is the marker conf/install.sh recognises our files by (the Node bundles carry the same).
  const banner = `// ${MARKER} (TypeScript CNI plugins) build ${buildId}`;
  execFileSync(
    hostBun(),
    ['build', ...BUN_COMPILE_FLAGS, `--target=${target}`, path.join(root, 'plugins', 'standalone', 'main.ts'), '--outfile', exe, '--define', `__CNI_BUILD_ID__=${JSON.stringify(buildId)}`, '--define', `__CNI_BUILD_KIND__=${JSON.stringify('standalone')}`, '--banner', banner],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  // Without it, install.sh could not tell this executable from a foreign one and would leave it behind on a switch.
  if (!fs.readFileSync(exe).includes(MARKER)) throw new Error(`${exe} does not carry "${MARKER}": did Bun's --banner change? update scripts/release/standalone.mjs`);
  fs.copyFileSync(addon, path.join(out, 'cninative.node'));
  for (const name of ['bridge', 'flannel']) fs.symlinkSync('cni-plugins', path.join(out, name));
  writeRequirements(out, hostRequirements({ target, binaries: [exe, path.join(out, 'cninative.node')] }));
  return out;
}
