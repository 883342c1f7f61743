// conf/install.sh into a temporary root: what lands where, and the refusal to
// overwrite plugins we did not build. It ships cnictl beside the plugins: always with
// the Node bundles, and with --standalone when this node has Node.js 20+ (skipped with
// a message otherwise).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { distDir, repoRoot, tempDir } from '../../helpers/ns';

const install = (...args: string[]) => spawnSync('bash', [path.join(repoRoot, 'conf', 'install.sh'), ...args], { encoding: 'utf8', timeout: 60_000 });
const haveStandalone = fs.existsSync(path.join(repoRoot, 'dist-standalone', 'cni-plugins'));

/** Every entry under `dir`: its kind and, for a file, its bytes (a directory moved inside shows up too). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    out[name] = st.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : st.isDirectory() ? 'dir' : `${st.mode.toString(8)} ${fs.readFileSync(p).toString('base64').slice(0, 64)} ${st.size}`;
  }
  return out;
}

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

  it.each([
    ['a plugin', 'opt/cni/bin/bridge', []],
    ['a native helper', 'opt/cni/bin/cninative.node', []],
    ['the conflist', 'etc/cni/net.d/10-flannel.conflist', []],
    ...(haveStandalone ? [['the standalone executable', 'opt/cni/bin/cni-plugins', ['--standalone']] as const] : []),
  ] as const)('refuses a directory where %s goes, naming it, and changes nothing', (_what, rel, extra) => {
    // A first install, then a directory (with a file in it) in place of one target.
    expect(install('--prefix', root).status).toBe(0);
    const target = path.join(root, rel);
    fs.rmSync(target, { force: true });
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep'), 'mine');
    const before = tree(root);
    const r = install('--prefix', root, ...extra);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${target} is a directory`);
    expect(r.stdout).toBe('');
    expect(tree(root)).toEqual(before);
  });

  it('refuses a link to a directory there too, before creating anything', () => {
    const bin = path.join(root, 'opt', 'cni', 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.mkdirSync(path.join(root, 'elsewhere'));
    fs.symlinkSync(path.join(root, 'elsewhere'), path.join(bin, 'flannel'));
    const before = tree(root);
    const r = install('--prefix', root);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${path.join(bin, 'flannel')} is a directory`);
    expect(tree(root)).toEqual(before);
    expect(fs.existsSync(path.join(root, 'etc'))).toBe(false);
  });

  it('an unknown --conf is refused before any plugin is installed', () => {
    const r = install('--prefix', root, '--conf', 'calico');
    expect(r.status).toBe(2);
    expect(fs.readdirSync(root)).toEqual([]);
  });
});

describe.skipIf(!haveStandalone || !fs.existsSync(path.join(distDir, 'flannel')))('conf/install.sh: switching builds', () => {
  let root: string;
  let bin: string;
  beforeEach(() => {
    root = tempDir('cnit-install-sw-');
    bin = path.join(root, 'opt', 'cni', 'bin');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  const files = () => fs.readdirSync(bin).sort();
  const NODE = ['bridge', 'cnictl', 'cninative.node', 'flannel'];
  const STANDALONE = ['bridge', 'cni-plugins', 'cnictl', 'cninative.node', 'flannel'];

  it('standalone → bundles → standalone leaves exactly the files of the current build, saying what it removed', () => {
    let r = install('--prefix', root, '--conf', 'none', '--standalone');
    expect(r.status, r.stderr).toBe(0);
    expect(files()).toEqual(STANDALONE);
    r = install('--prefix', root, '--conf', 'none');
    expect(r.status, r.stderr).toBe(0);
    expect(files()).toEqual(NODE);
    expect(r.stdout).toContain(`removed ${path.join(bin, 'cni-plugins')}`);
    expect(fs.lstatSync(path.join(bin, 'bridge')).isSymbolicLink()).toBe(false);
    r = install('--prefix', root, '--conf', 'none', '--standalone');
    expect(r.status, r.stderr).toBe(0);
    expect(files()).toEqual(STANDALONE);
    expect(r.stdout).not.toContain('removed');
    expect(fs.readlinkSync(path.join(bin, 'flannel'))).toBe('cni-plugins');
  });

  it('an install from before the marker: cni-plugins is recognised by the links to it', () => {
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'cni-plugins'), '\x7fELF an older standalone build', { mode: 0o755 });
    for (const l of ['bridge', 'flannel']) fs.symlinkSync('cni-plugins', path.join(bin, l));
    const r = install('--prefix', root, '--conf', 'none');
    expect(r.status, r.stderr).toBe(0);
    expect(files()).toEqual(NODE);
  });

  it('never removes a foreign file of the same name', () => {
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'cni-plugins'), 'someone else\'s', { mode: 0o755 });
    const r = install('--prefix', root, '--conf', 'none');
    expect(r.status, r.stderr).toBe(0);
    expect(files()).toEqual([...NODE, 'cni-plugins'].sort());
    expect(fs.readFileSync(path.join(bin, 'cni-plugins'), 'utf8')).toBe("someone else's");
    expect(r.stderr).toContain(`keeping ${path.join(bin, 'cni-plugins')}`);
  });

  it('bundles → standalone on a node without Node.js 20: cnictl goes, and an older release\'s netlink.node; a foreign netlink.node stays', () => {
    expect(install('--prefix', root, '--conf', 'none').status).toBe(0);
    // Releases before this one installed the netlink package's binary beside the bundles.
    const prebuilt = path.join(repoRoot, 'node_modules', 'netlink', 'prebuilds', `linux-${process.arch}`, 'node.napi.node');
    fs.copyFileSync(prebuilt, path.join(bin, 'netlink.node'));
    // A `node` that reports 18 comes first in PATH.
    const fake = path.join(root, 'fakebin');
    fs.mkdirSync(fake);
    fs.writeFileSync(path.join(fake, 'node'), '#!/bin/sh\ncase "$1" in -p) echo 18 ;; *) echo v18.20.0 ;; esac\n', { mode: 0o755 });
    const env = { ...process.env, PATH: `${fake}:${process.env.PATH}` };
    const sa = () => spawnSync('bash', [path.join(repoRoot, 'conf', 'install.sh'), '--prefix', root, '--conf', 'none', '--standalone'], { encoding: 'utf8', env });
    let r = sa();
    expect(r.status, r.stderr).toBe(0);
    expect(files()).toEqual(['bridge', 'cni-plugins', 'cninative.node', 'flannel']);
    expect(r.stdout).toContain(`removed ${path.join(bin, 'cnictl')}`);
    expect(r.stdout).toContain(`removed ${path.join(bin, 'netlink.node')}`);
    fs.writeFileSync(path.join(bin, 'netlink.node'), 'not the netlink package');
    r = sa();
    expect(r.status, r.stderr).toBe(0);
    expect(files()).toEqual(['bridge', 'cni-plugins', 'cninative.node', 'flannel', 'netlink.node']);
  });
});

describe.skipIf(!haveStandalone)('conf/install.sh --standalone', () => {
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

describe.skipIf(!haveStandalone)('conf/install.sh: what the node needs', () => {
  let root: string;
  let build: string;
  beforeEach(() => {
    root = tempDir('cnit-install-host-');
    // A copy of the standalone build whose host-requirements each test edits.
    build = path.join(root, 'build');
    fs.mkdirSync(build);
    for (const f of ['cni-plugins', 'cninative.node', 'host-requirements']) fs.copyFileSync(path.join(repoRoot, 'dist-standalone', f), path.join(build, f));
    fs.chmodSync(path.join(build, 'cni-plugins'), 0o755);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  const requirements = (edit: (t: string) => string) => {
    const f = path.join(build, 'host-requirements');
    fs.writeFileSync(f, edit(fs.readFileSync(f, 'utf8')));
  };
  const installed = () => fs.existsSync(path.join(root, 'opt')) || fs.existsSync(path.join(root, 'etc'));

  it('installs a build this node can run (--from a build directory)', () => {
    const r = install('--prefix', root, '--from', build, '--conf', 'none');
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readlinkSync(path.join(root, 'opt', 'cni', 'bin', 'flannel'))).toBe('cni-plugins');
  });

  it.each([
    ['an older kernel', (t: string) => t.replace(/KERNEL="[^"]*"/, 'KERNEL="99.0"'), /kernel .* is older than 99\.0, the oldest this build supports/],
    ['a newer glibc', (t: string) => t.replace(/GLIBC="[^"]*"/, 'GLIBC="9.99"'), /glibc 2\.\d+ is older than 9\.99/],
    ['a CPU feature this CPU lacks', (t: string) => t.replace(/CPU="[^"]*"/, 'CPU="avx2 cnit_no_such_feature"'), /the CPU lacks cnit_no_such_feature, which this build's runtime is compiled for/],
    ['another architecture', (t: string) => t.replace(/ARCH="[^"]*"/, `ARCH="${process.arch === 'arm64' ? 'amd64' : 'arm64'}"`), /this build is for .*, the node is .*: use the .* build/],
  ])('refuses a build that needs %s, says why, and changes nothing', (_what, edit, message) => {
    requirements(edit);
    const r = install('--prefix', root, '--from', build);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('install: this node cannot run these plugins; nothing was changed:');
    expect(r.stderr).toMatch(message);
    expect(installed()).toBe(false);
  });

  it('refuses an executable that does not start here, whatever its requirements say', () => {
    fs.writeFileSync(path.join(build, 'cni-plugins'), '#!/bin/sh\necho "cannot execute: required file not found" >&2\nexit 127\n');
    const r = install('--prefix', root, '--from', build);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the plugins do not start here: .*required file not found/);
    expect(installed()).toBe(false);
  });

  it('refuses a build without host-requirements (built before it existed)', () => {
    fs.rmSync(path.join(build, 'host-requirements'));
    const r = install('--prefix', root, '--from', build);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/host-requirements is missing: rebuild/);
  });
});

const haveDist = fs.existsSync(path.join(distDir, 'cnictl'));

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
