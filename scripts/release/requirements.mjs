// What a build needs of the node it runs on, written beside it as `host-requirements`
// (KEY=value lines): conf/install.sh sources it, the image's installer reads it
// (tools/install/requirements.ts), and both refuse a node that falls short.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The oldest kernel we accept: Node.js 20's minimum and RHEL 8's kernel. Bun's runtime starts
 * on older ones, but nothing here is tested below the 6.x this project runs on, so an older
 * node is refused rather than guessed at.
 */
export const MIN_KERNEL = '4.18';

/**
 * CPU features by Bun target, as /proc/cpuinfo names them. Bun compiles its x64 runtime for
 * Haswell (AVX2, BMI2, FMA: any of its code may use them, and a CPU without them stops it
 * with SIGILL wherever it does) and its baseline runtime for Nehalem (SSE4.2, POPCNT).
 * The aarch64 runtime runs on ARMv8.0 (an emulated Cortex-A53 in test/runtimes/release.test.ts);
 * asimd is the part of ARMv8.0 every such node has.
 */
export const CPU_FEATURES = {
  'bun-linux-x64': ['sse4_2', 'popcnt', 'avx', 'avx2', 'bmi1', 'bmi2', 'fma'],
  'bun-linux-x64-baseline': ['sse4_2', 'popcnt'],
  'bun-linux-arm64': ['asimd'],
};

export const archOfTarget = (target) => (target.startsWith('bun-linux-arm64') ? 'arm64' : 'amd64');

/** The newest GLIBC_x.y symbol version the ELF files ask for (readelf reads any architecture). */
export function glibcNeeded(files) {
  let best = [0, 0];
  for (const f of files) {
    const out = execFileSync('readelf', ['-V', '--wide', f], { encoding: 'utf8', maxBuffer: 64 << 20 });
    for (const m of out.matchAll(/GLIBC_(\d+)\.(\d+)/g)) {
      const v = [Number(m[1]), Number(m[2])];
      if (v[0] > best[0] || (v[0] === best[0] && v[1] > best[1])) best = v;
    }
  }
  return best.join('.');
}

export function hostRequirements({ target, binaries }) {
  const cpu = CPU_FEATURES[target];
  if (!cpu) throw new Error(`no CPU requirements known for Bun target ${target}`);
  return { ARCH: archOfTarget(target), KERNEL: MIN_KERNEL, GLIBC: glibcNeeded(binaries), CPU: cpu.join(' '), TARGET: target };
}

export function writeRequirements(dir, req) {
  const lines = ['# What this build needs of a node; conf/install.sh and the image installer check it.', ...Object.entries(req).map(([k, v]) => `${k}="${v}"`), ''];
  fs.writeFileSync(path.join(dir, 'host-requirements'), lines.join('\n'));
}
