// conf/install.sh into a temporary root: what lands where, and the refusal to
// overwrite plugins we did not build.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { distDir, repoRoot, tempDir } from '../helpers/ns';

const install = (...args: string[]) => spawnSync('bash', [path.join(repoRoot, 'conf', 'install.sh'), ...args], { encoding: 'utf8' });

describe.skipIf(!fs.existsSync(path.join(distDir, 'flannel')))('conf/install.sh', () => {
  let root: string;
  beforeEach(() => {
    root = tempDir('cnit-install-');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('installs the plugins, their native files and the flannel conflist', () => {
    const r = install('--prefix', root);
    expect(r.status, r.stderr).toBe(0);
    const bin = path.join(root, 'opt', 'cni', 'bin');
    expect(fs.readdirSync(bin).sort()).toEqual(['bridge', 'cnictl', 'cninative.node', 'flannel']);
    expect(fs.statSync(path.join(bin, 'flannel')).mode & 0o777).toBe(0o755);
    expect(fs.readFileSync(path.join(bin, 'bridge'))).toEqual(fs.readFileSync(path.join(distDir, 'bridge')));
    const conflist = JSON.parse(fs.readFileSync(path.join(root, 'etc', 'cni', 'net.d', '10-flannel.conflist'), 'utf8'));
    expect(conflist.plugins[0]).toMatchObject({ type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } });
    expect(r.stdout).toContain(`installed ${path.join(bin, 'flannel')}`);
    // The installed plugin runs from there with no node_modules around it.
    const v = spawnSync(path.join(bin, 'bridge'), [], { env: { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' }, encoding: 'utf8' });
    expect(JSON.parse(v.stdout).supportedVersions).toContain('1.1.0');
  });

  it('refuses to replace a bridge it did not build unless --force', () => {
    const bin = path.join(root, 'opt', 'cni', 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'bridge'), '\x7fELF a Go binary');
    const r = install('--prefix', root, '--conf', 'bridge');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--force');
    expect(fs.readFileSync(path.join(bin, 'bridge'), 'utf8')).toBe('\x7fELF a Go binary');
    expect(install('--prefix', root, '--conf', 'bridge', '--force').status).toBe(0);
    expect(fs.readFileSync(path.join(bin, 'bridge'))).toEqual(fs.readFileSync(path.join(distDir, 'bridge')));
    expect(fs.existsSync(path.join(root, 'etc', 'cni', 'net.d', '10-bridge.conflist'))).toBe(true);
  });
});

describe.skipIf(!fs.existsSync(path.join(repoRoot, 'dist-standalone', 'cni-plugins')))('conf/install.sh --standalone', () => {
  let root: string;
  beforeEach(() => {
    root = tempDir('cnit-install-sa-');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('installs one executable with bridge and flannel links, replacing a Node install in place', () => {
    expect(install('--prefix', root, '--conf', 'none').status).toBe(0);
    const r = install('--prefix', root, '--standalone');
    expect(r.status, r.stderr).toBe(0);
    const bin = path.join(root, 'opt', 'cni', 'bin');
    expect(fs.readlinkSync(path.join(bin, 'bridge'))).toBe('cni-plugins');
    expect(fs.readlinkSync(path.join(bin, 'flannel'))).toBe('cni-plugins');
    const v = spawnSync(path.join(bin, 'flannel'), [], { env: { PATH: '/nonexistent', CNI_COMMAND: 'VERSION' }, encoding: 'utf8' });
    expect(JSON.parse(v.stdout).supportedVersions).toContain('1.1.0');
    // Back to the Node build over the links: they are ours, no --force needed.
    expect(install('--prefix', root, '--conf', 'none').status).toBe(0);
    expect(fs.lstatSync(path.join(bin, 'bridge')).isSymbolicLink()).toBe(false);
  });
});
