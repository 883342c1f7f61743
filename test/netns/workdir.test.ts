// A runtime starts plugins in whatever working directory it has, and whoever can write
// there must not get code or settings into a plugin that runs as root. A compiled Bun
// executable reads bunfig.toml (whose `preload` runs a script) and .env from its working
// directory unless the build turns that off; the Node bundles and the reference plugins
// read nothing from there. Each built plugin is run in a directory holding both.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Netns, builds, isRoot, runPlugin, tempDir } from '../helpers/ns';

describe.skipIf(!isRoot || builds.length === 0)('the built plugins read nothing from their working directory (root)', () => {
  let node: Netns;
  let pod: Netns;
  let cwd: string;
  const at = (f: string): string => path.join(cwd, f);
  const marker = (): string => at('preload-ran');
  const logFiles = (): Record<string, string> => ({ CNI_CALL_LOG: at('calls.log'), CNI_LOG_FILE: at('plugin.log'), CNI_LOG_LEVEL: 'debug' });

  beforeEach(() => {
    node = Netns.create('cnit-wd-');
    pod = Netns.create('cnit-wd-pod-');
    cwd = tempDir('cnit-wd-');
    fs.writeFileSync(at('bunfig.toml'), 'preload = ["./p.js"]\n');
    fs.writeFileSync(at('p.js'), `require('fs').writeFileSync(${JSON.stringify(marker())}, 'ran')\n`);
    fs.writeFileSync(at('.env'), Object.entries(logFiles()).map(([k, v]) => `${k}=${v}\n`).join(''));
  });
  afterEach(() => {
    node.destroy();
    pod.destroy();
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  const bridgeConf = () => ({ cniVersion: '1.1.0', name: 'cnit-wd', type: 'bridge', bridge: 'cnitwd0', ipam: { type: 'host-local', subnet: '10.99.7.0/24', dataDir: at('ipam') } });
  // No subnet.env: ADD fails before it touches anything; DEL has nothing to release and logs a warning.
  const flannelConf = () => ({ cniVersion: '1.1.0', name: 'cnit-wd', type: 'flannel', subnetFile: at('missing-subnet.env'), dataDir: at('flannel') });
  const flannelAddDel = (dir: string, extra?: Record<string, string>): void => {
    const env = { containerId: 'wd1', netns: pod.path, ifName: 'eth0', cwd, extra };
    const add = runPlugin(node, 'flannel', { command: 'ADD', ...env }, flannelConf(), dir);
    expect(add.json?.code, add.stdout + add.stderr).toBe(11);
    const del = runPlugin(node, 'flannel', { command: 'DEL', ...env }, flannelConf(), dir);
    expect(del.status, del.stdout + del.stderr).toBe(0);
  };
  const written = (): string[] => [marker(), at('calls.log'), at('plugin.log')].filter((f) => fs.existsSync(f)).map((f) => path.basename(f));

  for (const dir of builds) {
    const build = path.basename(dir);

    it(`${build}: no call runs bunfig.toml's preload or takes .env's variables`, () => {
      for (const plugin of ['bridge', 'flannel']) {
        const v = runPlugin(node, plugin, { command: 'VERSION', cwd }, '', dir);
        expect(v.json?.supportedVersions, v.stdout + v.stderr).toContain('1.1.0');
      }
      const status = runPlugin(node, 'bridge', { command: 'STATUS', cwd }, bridgeConf(), dir);
      expect(status.status, status.stdout + status.stderr).toBe(0);
      flannelAddDel(dir);
      expect(written()).toEqual([]);
    });

    it(`${build}: the same variables given by the runtime do take effect (so the test would see a leak)`, () => {
      flannelAddDel(dir, logFiles());
      expect(written().sort()).toEqual(['calls.log', 'plugin.log']);
    });
  }
});
