// The image's install step, run from the built standalone executable under the name
// `install` (as the image's entrypoint runs it), with the target directories moved by
// CNI_BIN_DIR and CNI_NET_DIR: what lands in an empty directory, that it works, and the
// refusals that leave the node as it was. test/runtimes/image.test.ts runs it in the image.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { repoRoot, standaloneDir, tempDir } from '../helpers/ns';

const built = fs.existsSync(path.join(standaloneDir, 'cni-plugins'));

describe.skipIf(!built)('the install step of the image (standalone executable as `install`)', () => {
  let work: string;
  let src: string;
  let bin: string;
  let net: string;
  beforeEach(() => {
    work = tempDir('cnit-installer-');
    // A copy of the build, as the image holds it: the installer reads what it installs from beside itself.
    src = path.join(work, 'image');
    fs.mkdirSync(src);
    for (const f of ['cni-plugins', 'cninative.node', 'host-requirements']) fs.copyFileSync(path.join(standaloneDir, f), path.join(src, f));
    fs.chmodSync(path.join(src, 'cni-plugins'), 0o755);
    fs.copyFileSync(path.join(repoRoot, 'conf', '10-flannel.conflist'), path.join(src, '10-flannel.conflist'));
    fs.symlinkSync('cni-plugins', path.join(src, 'install'));
    bin = path.join(work, 'bin');
    net = path.join(work, 'net.d');
    fs.mkdirSync(bin);
    fs.mkdirSync(net);
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  const install = (...args: string[]) =>
    spawnSync(path.join(src, 'install'), args, { encoding: 'utf8', env: { PATH: process.env.PATH, CNI_BIN_DIR: bin, CNI_NET_DIR: net }, timeout: 60_000 });
  const requirements = (edit: (text: string) => string) => {
    const f = path.join(src, 'host-requirements');
    fs.writeFileSync(f, edit(fs.readFileSync(f, 'utf8')));
  };

  it('with no argument installs bridge and flannel into an empty directory, and they work', () => {
    const r = install();
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readdirSync(bin).sort()).toEqual(['bridge', 'cni-plugins', 'cninative.node', 'flannel']);
    expect(fs.readlinkSync(path.join(bin, 'bridge'))).toBe('cni-plugins');
    expect(fs.readlinkSync(path.join(bin, 'flannel'))).toBe('cni-plugins');
    expect(fs.readFileSync(path.join(bin, 'cni-plugins')).equals(fs.readFileSync(path.join(src, 'cni-plugins')))).toBe(true);
    expect(fs.statSync(path.join(bin, 'cni-plugins')).mode & 0o777).toBe(0o755);
    expect(r.stdout).toContain(`installed ${path.join(bin, 'flannel')} -> cni-plugins`);
    const v = spawnSync(path.join(bin, 'flannel'), [], { encoding: 'utf8', env: { CNI_COMMAND: 'VERSION' } });
    expect(JSON.parse(v.stdout).supportedVersions).toContain('1.0.0');
    // Again over itself: the same result, no temporary file left.
    expect(install().status).toBe(0);
    expect(fs.readdirSync(bin).sort()).toEqual(['bridge', 'cni-plugins', 'cninative.node', 'flannel']);
  });

  it('replaces plugins that are not ours, as kube-flannel\'s cp -f does, and says so', () => {
    fs.writeFileSync(path.join(bin, 'bridge'), '#!/bin/sh\n# the reference bridge\n', { mode: 0o755 });
    const r = install();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`installed ${path.join(bin, 'bridge')} -> cni-plugins (replaced a plugin not built by this project)`);
    expect(fs.readlinkSync(path.join(bin, 'bridge'))).toBe('cni-plugins');
  });

  it.each([
    ['an older kernel', (t: string) => t.replace(/KERNEL="[^"]*"/, 'KERNEL="99.0"'), /kernel .* is older than 99\.0/],
    ['a CPU feature this CPU lacks', (t: string) => t.replace(/CPU="[^"]*"/, 'CPU="sse4_2 cnit_no_such_feature"'), /the CPU lacks cnit_no_such_feature/],
    ['another architecture', (t: string) => t.replace(/ARCH="[^"]*"/, `ARCH="${process.arch === 'arm64' ? 'amd64' : 'arm64'}"`), /this build is for .*, the node is/],
  ])('refuses a build that needs %s, and installs nothing', (_what, edit, message) => {
    requirements(edit);
    const r = install();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/this node cannot run these plugins; nothing was installed/);
    expect(r.stderr).toMatch(message);
    expect(fs.readdirSync(bin)).toEqual([]);
  });

  it('refuses a directory where a plugin goes, before writing anything', () => {
    fs.mkdirSync(path.join(bin, 'flannel'));
    const r = install();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${path.join(bin, 'flannel')} is a directory`);
    expect(fs.readdirSync(bin)).toEqual(['flannel']);
  });

  it('with --conflist installs its own conflist, or the file named, into the config directory', () => {
    let r = install('--conflist');
    expect(r.status, r.stderr).toBe(0);
    const target = path.join(net, '10-flannel.conflist');
    expect(fs.readFileSync(target, 'utf8')).toBe(fs.readFileSync(path.join(repoRoot, 'conf', '10-flannel.conflist'), 'utf8'));
    const mine = path.join(work, 'cni-conf.json');
    fs.writeFileSync(mine, JSON.stringify({ name: 'cbr0', cniVersion: '0.4.0', plugins: [{ type: 'flannel' }] }));
    r = install('--conflist', mine);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(target, 'utf8')).cniVersion).toBe('0.4.0');
    expect(fs.readdirSync(net)).toEqual(['10-flannel.conflist']);
    expect(fs.readdirSync(bin)).toEqual([]);
  });

  it('refuses a conflist that does not parse and keeps the installed one', () => {
    expect(install('--conflist').status).toBe(0);
    const bad = path.join(work, 'bad.json');
    fs.writeFileSync(bad, '{"name": "cbr0", ');
    const r = install('--conflist', bad);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/is not JSON/);
    expect(JSON.parse(fs.readFileSync(path.join(net, '10-flannel.conflist'), 'utf8')).name).toBe('cbr0');
  });

  it('answers a wrong argument with its usage (exit 2)', () => {
    const r = install('--nonsense');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: install/);
  });
});
