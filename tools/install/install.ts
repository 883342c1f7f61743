// The image's install step: the standalone executable started under the name `install`
// (the image's entrypoint). The contract is kube-flannel's two init containers:
//   no argument              → bridge and flannel into /opt/cni/bin (the node's, mounted)
//   --conflist [FILE]        → FILE (default: the image's own conflist) into /etc/cni/net.d
// A file is written under a temporary name in the target directory, synced, and renamed
// into place, so a runtime never executes a half-written plugin nor reads half a
// conflist; the node is checked first and nothing is written on a node that cannot run it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BIN_DIR as CNI_BIN_DIR, CONF_DIR } from '../../lib/cni/paths';
import { runTool } from '../../lib/exec';
import { writeAtomic } from '../../lib/regular-file';
import { isOurBuild, selfPath } from '../../lib/runtime';
import { checkHost, parseRequirements, readHostFacts } from './requirements';

const BIN_DIR = process.env.CNI_BIN_DIR ?? CNI_BIN_DIR;
const NET_DIR = process.env.CNI_NET_DIR ?? CONF_DIR;
const CONFLIST = '10-flannel.conflist';

const say = (msg: string) => process.stdout.write(`${msg}\n`);

class Refused extends Error {}

function refuseDirectory(target: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(target);
  } catch {
    return;
  }
  if (st.isDirectory()) throw new Refused(`${target} is a directory, where this install puts a file; refusing (nothing was changed)`);
}

function stagedName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp.${process.pid}`);
}

/** Copies `src` beside `target` under a temporary name, synced; returns that name. */
function stage(src: string, target: string, mode: number): string {
  const tmp = stagedName(target);
  fs.rmSync(tmp, { force: true });
  const out = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    const input = fs.openSync(src, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      for (let n; (n = fs.readSync(input, buf, 0, buf.length, null)) > 0; ) {
        for (let off = 0; off < n; ) off += fs.writeSync(out, buf, off, n - off);
      }
    } finally {
      fs.closeSync(input);
    }
    fs.fchmodSync(out, mode);
    fs.fsyncSync(out);
  } catch (e) {
    fs.closeSync(out);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(out);
  return tmp;
}

function describeReplaced(target: string): string {
  // Our own link (the usual re-run) is known by its target, without reading 110 MB through it.
  const link = fs.lstatSync(target, { throwIfNoEntry: false })?.isSymbolicLink() ? fs.readlinkSync(target) : undefined;
  if (link === 'cni-plugins' || !fs.existsSync(target)) return '';
  return isOurBuild(target) ? '' : ' (replaced a plugin not built by this project)';
}

function installPlugins(srcDir: string): void {
  const req = parseRequirements(fs.readFileSync(path.join(srcDir, 'host-requirements'), 'utf8'));
  const problems = checkHost(req, readHostFacts());
  if (problems.length > 0) throw new Refused(`this node cannot run these plugins; nothing was installed:\n  ${problems.join('\n  ')}`);
  if (!fs.statSync(BIN_DIR, { throwIfNoEntry: false })?.isDirectory()) throw new Refused(`${BIN_DIR} is not a directory: mount the node's CNI plugin directory there`);
  const targets = ['cninative.node', 'cni-plugins', 'bridge', 'flannel'].map((f) => path.join(BIN_DIR, f));
  for (const t of targets) refuseDirectory(t);

  const native = stage(path.join(srcDir, 'cninative.node'), targets[0], 0o644);
  let exe: string | undefined;
  try {
    exe = stage(path.join(srcDir, 'cni-plugins'), targets[1], 0o755);
    // The copy starts here on the node's kernel and CPU, as the runtime will start it.
    const probe = runTool(exe, 'cni-plugins', [], { timeoutMs: 30_000, env: { CNI_COMMAND: 'VERSION' }, argv0: 'bridge' });
    if (!probe.ok || !probe.stdout.includes('supportedVersions')) throw new Refused(`the staged executable does not start on this node (${probe.stderr}); nothing was installed`);
  } catch (e) {
    fs.rmSync(native, { force: true });
    if (exe) fs.rmSync(exe, { force: true });
    throw e;
  }
  fs.renameSync(native, targets[0]);
  say(`installed ${targets[0]}`);
  fs.renameSync(exe, targets[1]);
  say(`installed ${targets[1]}`);
  for (const t of targets.slice(2)) {
    const note = describeReplaced(t);
    const tmp = stagedName(t);
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync('cni-plugins', tmp);
    fs.renameSync(tmp, t);
    say(`installed ${t} -> cni-plugins${note}`);
  }
}

function installConflist(src: string): void {
  const text = fs.readFileSync(src, 'utf8');
  let conf: { plugins?: unknown };
  try {
    conf = JSON.parse(text) as { plugins?: unknown };
  } catch (e) {
    throw new Refused(`${src} is not JSON (${(e as Error).message}); ${NET_DIR} was left as it was`);
  }
  if (!Array.isArray(conf.plugins)) throw new Refused(`${src} has no "plugins" list; ${NET_DIR} was left as it was`);
  if (!fs.statSync(NET_DIR, { throwIfNoEntry: false })?.isDirectory()) throw new Refused(`${NET_DIR} is not a directory: mount the node's CNI config directory there`);
  const target = path.join(NET_DIR, CONFLIST);
  refuseDirectory(target);
  writeAtomic(target, text, { tmpPrefix: `.${CONFLIST}.tmp-`, mode: 0o644, sync: true });
  say(`installed ${target} (from ${src})`);
}

const USAGE = `usage: install                  bridge and flannel into ${BIN_DIR}
       install --conflist [FILE]  FILE (default: this image's ${CONFLIST}) into ${NET_DIR}/${CONFLIST}`;

/** Exit status: 0 installed, 1 refused or failed (with the reason on stderr), 2 usage. */
export function runInstall(argv: readonly string[]): number {
  const srcDir = path.dirname(selfPath());
  try {
    if (argv.length === 0) installPlugins(srcDir);
    else if (argv[0] === '--conflist' && argv.length <= 2) installConflist(argv[1] ?? path.join(srcDir, CONFLIST));
    else {
      process.stderr.write(`${USAGE}\n`);
      return argv[0] === '--help' || argv[0] === '-h' ? 0 : 2;
    }
    return 0;
  } catch (e) {
    process.stderr.write(`install: ${e instanceof Refused ? e.message : `failed: ${(e as Error).message}`}\n`);
    return 1;
  }
}
