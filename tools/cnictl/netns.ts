// The netns argument, the container ID cnitool derives from it, and --create: a named
// namespace under /run/netns made as `ip netns add` makes one (a shared /run/netns, an
// empty file, the new namespace bind-mounted on it), without iproute2: util-linux's
// `unshare --net=FILE` creates and mounts it, `mount`/`umount` do the rest. Those three
// are on every Debian/Ubuntu (util-linux, Essential: yes).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorText } from '../../lib/cni/errors';
import { findExecutable, runTool } from '../../lib/exec';

export const NETNS_DIR = '/run/netns';
const NSFS_MAGIC = 0x6e736673;
const TOOL_TIMEOUT_MS = 10_000;

export interface NetnsRef {
  /** What CNI_NETNS gets: an absolute, cleaned path. */
  path: string;
  /** Set when it lives in /run/netns (a name, or a path there). */
  name?: string;
}

/** A bare name means /run/netns/NAME; anything with a "/" is a path (made absolute, as cnitool's filepath.Abs). */
export function resolveNetns(arg: string, cwd = process.cwd()): NetnsRef {
  if (arg.includes('/')) {
    const p = path.resolve(cwd, arg);
    return path.dirname(p) === NETNS_DIR ? { path: p, name: path.basename(p) } : { path: p };
  }
  if (arg === '' || arg === '.' || arg === '..' || arg.includes('\0')) throw new Error(`invalid netns name "${arg}"`);
  return { path: path.join(NETNS_DIR, arg), name: arg };
}

/** cnitool's container ID: "cnitool-" and the first 10 bytes of sha512(netns path) in hex. */
export function defaultContainerId(netnsPath: string): string {
  return `cnitool-${createHash('sha512').update(netnsPath).digest().subarray(0, 10).toString('hex')}`;
}

/** A mounted namespace file (nsfs), as opposed to an empty mount point or anything else. */
export function isNamespaceMount(p: string): boolean {
  try {
    return fs.statfsSync(p).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

export interface MountEntry {
  mountPoint: string;
  optional: string[];
}

/** /proc/self/mountinfo → mount points (octal escapes decoded) with their propagation tags. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (f.length < 7 || dash < 6) continue;
    out.push({ mountPoint: f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), optional: f.slice(6, dash) });
  }
  return out;
}

/** The mount `target` lives on: the last-mounted entry whose mount point contains it. */
export function mountOf(entries: MountEntry[], target: string): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const e of entries) {
    const mp = e.mountPoint;
    if (target === mp || target.startsWith(mp === '/' ? '/' : `${mp}/`)) {
      if (!found || mp.length >= found.mountPoint.length) found = e;
    }
  }
  return found;
}

/**
 * Why a namespace mounted by this process would not outlive it, or undefined. `ip netns
 * exec` (and systemd's private mounts) start us in a mount namespace of our own, slave to
 * the one we came from: a bind mount made here is seen by nobody else and is gone when we
 * exit, taking the pod network with it. Only a mount shared both ways would carry it out.
 */
export function privateMountReason(selfNs: string | undefined, parentNs: string | undefined, entries: MountEntry[], target: string): string | undefined {
  if (selfNs === undefined || parentNs === undefined || selfNs === parentNs) return undefined;
  const m = mountOf(entries, target);
  const shared = m?.optional.some((t) => t.startsWith('shared:')) && !m.optional.some((t) => t.startsWith('master:'));
  if (shared) return undefined;
  return (
    `cnictl runs in a mount namespace of its own (${selfNs}, its parent is in ${parentNs}; \`ip netns exec\` does that), ` +
    `so a namespace it mounts at ${target} would exist only for this command; run it without a private mount namespace ` +
    `(e.g. \`nsenter --net=/run/netns/NODE cnictl ...\` instead of \`ip netns exec NODE cnictl ...\`), or create the namespace beforehand`
  );
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

function refuseIfPrivate(target: string): void {
  const entries = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  const why = privateMountReason(readLink('/proc/self/ns/mnt'), readLink(`/proc/${process.ppid}/ns/mnt`), entries, target);
  if (why) throw new Error(why);
}

function tool(name: string): string {
  const file = findExecutable(name, process.env.PATH);
  if (!file) throw new Error(`"${name}" (util-linux) is needed to create or remove a named netns and was not found; install util-linux`);
  return file;
}

function runUtil(name: string, args: string[]): void {
  const r = runTool(tool(name), name, args, { timeoutMs: TOOL_TIMEOUT_MS });
  if (!r.ok) throw new Error(`${r.command} failed: ${r.stderr}`);
}

/** iproute2's netns_add prologue: /run/netns a mount point of its own with shared propagation, so later namespaces reach every mount namespace. */
function ensureSharedRunDir(): void {
  fs.mkdirSync(NETNS_DIR, { recursive: true, mode: 0o755 });
  const m = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter((e) => e.mountPoint === NETNS_DIR).pop();
  if (m?.optional.some((t) => t.startsWith('shared:'))) return;
  if (!m) runUtil('mount', ['--rbind', NETNS_DIR, NETNS_DIR]);
  runUtil('mount', ['--make-rshared', NETNS_DIR]);
}

/** --create: make /run/netns/NAME unless it already is a namespace. Returns whether it was made now. */
export function createNamedNetns(ref: NetnsRef): boolean {
  if (!ref.name) throw new Error(`--create makes a named namespace in ${NETNS_DIR}; "${ref.path}" is not there`);
  if (isNamespaceMount(ref.path)) return false;
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(ref.path);
  } catch {
    st = undefined;
  }
  // An empty file is a mount point left by an interrupted create (ours or ip's): reuse it.
  if (st && !(st.isFile() && st.size === 0)) throw new Error(`${ref.path} exists and is not a network namespace; remove it first`);
  refuseIfPrivate(ref.path);
  ensureSharedRunDir();
  if (!st) fs.closeSync(fs.openSync(ref.path, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0));
  try {
    runUtil('unshare', [`--net=${ref.path}`, 'true']);
    if (!isNamespaceMount(ref.path)) throw new Error(`${ref.path} is not a namespace after unshare`);
  } catch (err) {
    fs.rmSync(ref.path, { force: true });
    throw new Error(`cannot create netns ${ref.path}: ${errorText(err)}`);
  }
  return true;
}

/** del --create: unmount (detached, as `ip netns del`) and remove /run/netns/NAME. Returns whether there was one. */
export function removeNamedNetns(ref: NetnsRef): boolean {
  if (!ref.name) throw new Error(`--create removes a named namespace in ${NETNS_DIR}; "${ref.path}" is not there`);
  if (!fs.existsSync(ref.path)) return false;
  refuseIfPrivate(ref.path);
  if (isNamespaceMount(ref.path)) runUtil('umount', ['--lazy', ref.path]);
  fs.rmSync(ref.path, { force: true });
  return true;
}
