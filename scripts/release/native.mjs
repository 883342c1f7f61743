// cninative.node for an architecture: this machine's node-gyp output for its own, Debian's
// cross compiler for the other (the addon is plain C against N-API, whose headers and ABI
// do not depend on the architecture; the runtime that loads it provides the symbols).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { root } from './standalone.mjs';

const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';
const crossCc = { arm64: 'aarch64-linux-gnu-gcc', amd64: 'x86_64-linux-gnu-gcc' };

export function nativeAddon(arch, workDir) {
  if (arch === hostArch) return path.join(root, 'build', 'Release', 'cninative.node');
  const headers = [path.resolve(path.dirname(process.execPath), '..'), '/usr'].map((d) => path.join(d, 'include', 'node')).find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  if (!headers) throw new Error('Node headers (include/node/node_api.h) not found');
  const out = path.join(workDir, `cninative-${arch}.node`);
  try {
    execFileSync(crossCc[arch], ['-O2', '-Wall', '-fPIC', '-shared', `-I${headers}`, path.join(root, 'lib', 'native', 'cninative.c'), '-o', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error(`${crossCc[arch]} is missing: apt-get install gcc-${arch === 'arm64' ? 'aarch64' : 'x86-64'}-linux-gnu`);
    throw e;
  }
  return out;
}
