// conf/install.sh ships cnictl beside the plugins: always with the Node bundles, and with
// --standalone when this node has Node.js 20+ (skipped with a message otherwise).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { distDir, repoRoot, tempDir } from '../../helpers/ns';

const haveDist = fs.existsSync(path.join(distDir, 'cnictl'));
const haveStandalone = fs.existsSync(path.join(repoRoot, 'dist-standalone', 'cni-plugins'));

describe.skipIf(!haveDist)('conf/install.sh and cnictl', () => {
  let root: string;
  let bin: string;
  const install = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
    spawnSync('bash', [path.join(repoRoot, 'conf', 'install.sh'), '--prefix', root, '--conf', 'none', ...args], { encoding: 'utf8', env });
  const runsHelp = () => {
    const r = spawnSync(path.join(bin, 'cnictl'), ['--help'], { encoding: 'utf8', cwd: '/' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('cnictl add    NETWORK NETNS');
  };
  beforeEach(() => {
    root = tempDir('cnit-ctl-install-');
    bin = path.join(root, 'opt', 'cni', 'bin');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('installs cnictl with the Node bundles, and it runs from there', () => {
    const r = install([]);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readdirSync(bin).sort()).toEqual(['bridge', 'cnictl', 'cninative.node', 'flannel']);
    expect(fs.readFileSync(path.join(bin, 'cnictl'))).toEqual(fs.readFileSync(path.join(distDir, 'cnictl')));
    expect(fs.statSync(path.join(bin, 'cnictl')).mode & 0o777).toBe(0o755);
    expect(r.stdout).toContain(`installed ${path.join(bin, 'cnictl')}`);
    runsHelp();
  });

  it('refuses to replace a cnictl it did not build unless --force', () => {
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'cnictl'), '#!/bin/sh\necho someone else\n');
    const r = install([]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${path.join(bin, 'cnictl')} exists and was not built by this project`);
    expect(fs.readFileSync(path.join(bin, 'cnictl'), 'utf8')).toContain('someone else');
    expect(install(['--force']).status).toBe(0);
    runsHelp();
  });

  it.skipIf(!haveStandalone)('--standalone with Node.js here: the Node cnictl beside the executable', () => {
    const r = install(['--standalone']);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readdirSync(bin).sort()).toEqual(['bridge', 'cni-plugins', 'cnictl', 'cninative.node', 'flannel']);
    runsHelp();
  });

  it.skipIf(!haveStandalone)('--standalone without Node.js 20: the plugins, and cnictl skipped with a message', () => {
    // A `node` that reports 18 comes first in PATH.
    const fake = path.join(root, 'fakebin');
    fs.mkdirSync(fake);
    fs.writeFileSync(path.join(fake, 'node'), '#!/bin/sh\ncase "$1" in -p) echo 18 ;; *) echo v18.20.0 ;; esac\n', { mode: 0o755 });
    const r = install(['--standalone'], { ...process.env, PATH: `${fake}:${process.env.PATH}` });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('skipping cnictl: it runs on Node.js 20 or later (found: v18.20.0)');
    expect(fs.readdirSync(bin).sort()).toEqual(['bridge', 'cni-plugins', 'cninative.node', 'flannel']);
  });
});
