// VERSION as the built executables answer it, before any plugin module loads
// (lib/cni/version-verb.ts): never waiting on a stdin nobody closes (a terminal, an
// idle pipe), echoing a supported cniVersion from a config file on stdin.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { builds, tempDir } from '../helpers/ns';
import { SUPPORTED_VERSIONS } from '../../lib/cni/versions';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: 'VERSION' };

describe.each(builds)('VERSION of the built plugins (%s)', (dir) => {
  it.each(['bridge', 'flannel'])('%s answers with stdin an idle pipe that is never closed', async (plugin) => {
    const child = spawn(path.join(dir, plugin), [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => {
      // Generous: this is about hanging for ever, not about speed.
      const timer = setTimeout(() => (child.kill('SIGKILL'), resolve(null)), 20_000);
      child.on('exit', (c) => (clearTimeout(timer), resolve(c)));
    });
    child.stdin.destroy();
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  });

  it('echoes the cniVersion of a config file given as stdin, and answers its highest for one it does not speak', () => {
    const d = tempDir('cnit-version-');
    try {
      for (const [cniVersion, want] of [['0.4.0', '0.4.0'], ['9.9.9', '1.1.0']]) {
        const f = path.join(d, 'conf.json');
        fs.writeFileSync(f, JSON.stringify({ cniVersion }));
        const fd = fs.openSync(f, 'r');
        try {
          const r = spawnSync(path.join(dir, 'bridge'), [], { env, stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
          expect(r.status).toBe(0);
          expect(JSON.parse(r.stdout).cniVersion).toBe(want);
        } finally {
          fs.closeSync(fd);
        }
      }
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
