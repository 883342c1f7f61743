// What the builds carry: no path of the tree they were built in. Such a path is useless
// on a node, and code that falls back to it loads whatever sits there (lib/native).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { distDir, repoRoot, standaloneDir } from '../../helpers/ns';

const outputs = [...['bridge', 'flannel', 'cnictl'].map((f) => path.join(distDir, f)), path.join(standaloneDir, 'cni-plugins')].filter((f) => fs.existsSync(f));

describe.skipIf(outputs.length === 0)('the built executables', () => {
  for (const file of outputs) {
    it(`${path.relative(repoRoot, file)} holds no build tree path`, () => {
      const bytes = fs.readFileSync(file);
      for (const needle of [repoRoot, fs.realpathSync(repoRoot), '/build/Release/', 'netlink/dist']) {
        expect(bytes.includes(needle), `${needle} in ${file}`).toBe(false);
      }
    });
  }

  it('dist/ ships one native file, the helper', () => {
    expect(fs.readdirSync(distDir).filter((f) => f.endsWith('.node'))).toEqual(['cninative.node']);
  });
});
