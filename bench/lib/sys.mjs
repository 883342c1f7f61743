// Bench-only system helpers: running commands, installing what the bench needs,
// throwaway network namespaces and temp dirs with guaranteed cleanup.
// The bench uses `ip` to build and inspect namespaces; it never touches the root
// namespace's links, addresses, routes, sysctls or firewall.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

/** Run argv synchronously; throws on non-zero exit unless allowFail. */
export function sh(argv, { input, allowFail = false, env, cwd } = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { input, cwd, encoding: 'utf8', env: env ?? process.env, maxBuffer: 64 << 20 });
  const out = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
  if (!allowFail && (out.status !== 0 || r.error)) {
    throw new Error(`${argv.join(' ')} failed (${r.error ? r.error.message : out.status}): ${(out.stderr || out.stdout).trim()}`);
  }
  return out;
}

export function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `apt-get install -y <pkg>`, after `apt-get update` if the first attempt fails. */
export function aptInstall(pkg) {
  log(`installing Debian package ${pkg} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = sh(['apt-get', 'install', '-y', pkg], { allowFail: true, env });
  if (r.status !== 0) {
    log(`apt-get install ${pkg} failed; running apt-get update and retrying`);
    sh(['apt-get', 'update'], { allowFail: true, env });
    r = sh(['apt-get', 'install', '-y', pkg], { allowFail: true, env });
  }
  if (r.status !== 0) throw new Error(`cannot install ${pkg}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
}

// ---- cleanup registry: everything created is undone in reverse order, once ----

const undo = [];
const first = [];
let cleanedUp = false;

export function onCleanup(fn) {
  undo.push(fn);
}

/** Runs before any undo step (e.g. stopping plugins still running from a burst). */
export function beforeCleanup(fn) {
  first.push(fn);
}

export function cleanupAll() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const fn of first) {
    try {
      fn();
    } catch (err) {
      log(`cleanup step failed: ${err?.message ?? err}`);
    }
  }
  while (undo.length) {
    const fn = undo.pop();
    try {
      fn();
    } catch (err) {
      log(`cleanup step failed: ${err?.message ?? err}`);
    }
  }
}

let signalsInstalled = false;
export function installSignalCleanup() {
  if (signalsInstalled) return;
  signalsInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      log(`${sig}: cleaning up namespaces and temp dirs`);
      cleanupAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  process.on('exit', cleanupAll);
}

export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A throwaway network namespace, deleted at cleanup. */
export class Netns {
  constructor(name) {
    this.name = name;
    this.path = `/run/netns/${name}`;
  }

  static create(name, { lo = true } = {}) {
    sh(['ip', 'netns', 'add', name]);
    const ns = new Netns(name);
    onCleanup(() => ns.destroy());
    if (lo) sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  destroy() {
    sh(['ip', 'netns', 'del', this.name], { allowFail: true });
  }

  ip(args) {
    return sh(['ip', '-n', this.name, ...args]).stdout;
  }

  /** Links of a type (e.g. veth) in this namespace, by name. */
  links(type) {
    const args = ['-j', '-n', this.name, 'link', 'show'];
    if (type) args.push('type', type);
    const r = sh(['ip', ...args], { allowFail: true });
    if (r.status !== 0) return null;
    try {
      return JSON.parse(r.stdout || '[]').map((l) => l.ifname);
    } catch {
      return null;
    }
  }
}

/** Our namespaces that an earlier, interrupted run may have left behind (reported, not removed). */
export function strayNamespaces(prefix) {
  const r = sh(['ip', 'netns', 'list'], { allowFail: true });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n && n.startsWith(prefix));
}
