// What the bench compares against, assembled at bench time in its own temp dirs:
// - the reference chain a kube-flannel node runs: flannel -> bridge -> host-local;
// - a bare compiled Bun executable, the floor under the standalone build.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { aptInstall, isExecutable, log, sh } from './sys.mjs';

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
// Debian stopped packaging the reference flannel after bullseye (upstream moved it to
// flannel-io/cni-plugin, which Debian does not ship), so bullseye's
// containernetworking-plugins 0.9.0 is the only packaged one. It speaks CNI <= 0.4.0.
const SUITE = 'bullseye';
const PKG = 'containernetworking-plugins';

export const sha256 = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * Download bullseye's containernetworking-plugins with apt through a private sources
 * list, lists, cache and (empty) dpkg status, all under `work`, and unpack its flannel
 * there. The machine's /etc/apt and /var/lib/apt are not written, and the machine's own
 * sources are not consulted; apt still checks the .deb against the signed release file.
 * Returns { file, version, debSha256 }.
 */
export function fetchReferenceFlannel(work) {
  if (!fs.existsSync(KEYRING)) aptInstall('debian-archive-keyring');
  for (const d of ['lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(work, d), { recursive: true });
  const sources = path.join(work, 'sources.list');
  fs.writeFileSync(sources, `deb [signed-by=${KEYRING}] http://deb.debian.org/debian ${SUITE} main\n`);
  const opts = [
    ['Dir::Etc::SourceList', sources],
    ['Dir::Etc::SourceParts', '/dev/null'],
    ['Dir::State::Lists', path.join(work, 'lists')],
    ['Dir::Cache', path.join(work, 'cache')],
    // With the machine's dpkg status, madison would list the installed (bookworm) package too.
    ['Dir::State::status', '/dev/null'],
    // The lists are private, so the machine's apt lock guards nothing of ours, and an
    // apt-get running on the machine must not stall the bench.
    ['Debug::NoLocking', '1'],
    // _apt cannot enter a 0700 mkdtemp dir; apt would fall back to root with a warning anyway.
    ['APT::Sandbox::User', 'root'],
    ['Acquire::Languages', 'none'],
  ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  log(`fetching the reference flannel: ${PKG} from Debian ${SUITE}, private apt state in ${work}`);
  sh(['apt-get', ...opts, 'update', '-qq']);
  const madison = sh(['apt-cache', ...opts, 'madison', PKG]).stdout;
  const version = madison
    .split('\n')
    .map((l) => l.split('|')[1]?.trim())
    .find(Boolean);
  if (!version) throw new Error(`${PKG} is not in Debian ${SUITE}: ${madison.trim() || 'no madison output'}`);
  // apt-get download writes into its working directory.
  sh(['apt-get', ...opts, '-qq', 'download', `${PKG}=${version}`], { cwd: work });
  const deb = fs.readdirSync(work).find((n) => n.startsWith(`${PKG}_`) && n.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${PKG}=${version} left no .deb in ${work}`);
  const x = path.join(work, 'x');
  sh(['dpkg-deb', '-x', path.join(work, deb), x]);
  const file = path.join(x, 'usr', 'lib', 'cni', 'flannel');
  if (!isExecutable(file)) throw new Error(`${deb} has no usr/lib/cni/flannel`);
  return { file, version, debSha256: sha256(path.join(work, deb)) };
}

/**
 * One CNI_PATH dir for the reference chain: that flannel beside the machine's current
 * reference bridge and host-local. Copies, so the chain is one consistent set even if
 * the machine's package is upgraded mid-run.
 */
export function assembleReferenceChain(dir, { flannel, bridge, hostLocal }) {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, from] of [
    ['flannel', flannel],
    ['bridge', bridge],
    ['host-local', hostLocal],
  ]) {
    fs.copyFileSync(from, path.join(dir, name));
    fs.chmodSync(path.join(dir, name), 0o755);
  }
  return dir;
}

// The standalone build's own flags, so the bare executable differs from ours only by the
// code it carries: same runtime, same bytecode, same JIT policy and start-up work.
import { BUN_COMPILE_FLAGS as BUN_FLAGS, hostBun } from '../../scripts/release/standalone.mjs';

/**
 * Compile an empty program with Bun into `dir`/bare-bun: the cheapest process a
 * `bun build --compile` executable can be. Returns { file, bunVersion } or throws.
 */
export function buildBareBun(dir) {
  const bun = hostBun();
  fs.mkdirSync(dir, { recursive: true });
  const src = path.join(dir, 'empty.js');
  fs.writeFileSync(src, '');
  const file = path.join(dir, 'bare-bun');
  // cwd = the temp dir: nothing of the project's (bunfig, tsconfig) can leak into the build.
  sh([bun, 'build', ...BUN_FLAGS, src, '--outfile', file], { cwd: dir });
  if (!isExecutable(file)) throw new Error(`bun build --compile left no ${file}`);
  return { file, bunVersion: sh([bun, '--version']).stdout.trim() };
}
