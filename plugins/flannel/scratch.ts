// The saved delegate configs: `<dataDir>/<containerID>`, one per container, same
// layout as the reference (https://github.com/flannel-io/cni-plugin/blob/main/pkg/flannel/flannel_linux.go) so either plugin can DEL what
// the other ADDed. DEL needs the exact config ADD used, even after a reboot or with
// flanneld down, so the file must never be seen half-written (cni-plugin#43).
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { CniError, Code } from '../../lib/cni/errors';
import { readRegularFile, resolveConfiguredDir, writeAtomic } from '../../lib/regular-file';
import { hexDigest } from '../../lib/hash';

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;
// Temp names start with "." so they can never be mistaken for a container ID, and are
// exactly what saveScratch makes (tempStem + 12 hex): nothing else is ever removed as one.
const TEMP_RE = /^\.(?:@[0-9a-f]{64}|[a-zA-Z0-9][a-zA-Z0-9_.\-]*)\.tmp-[0-9a-f]{12}$/;

// Defence in depth: the dispatcher validated the ID, but a name that could leave
// dataDir ("/" anywhere, "." or ".." as the whole name) is refused here as well. A
// ".." inside a name ("a..b") stays one harmless path component and is a valid ID.
// NAME_MAX: the spec sets no length limit on container IDs, but a longer one cannot
// be a file name, and failing later would be an ENAMETOOLONG wrapped as 999.
const MAX_ID = 255;
// A saved config was a stdin once, so it is never bigger than that.
const MAX_SCRATCH = 1 << 20;
const isSafeId = (id: string): boolean => id.length <= MAX_ID && ID_RE.test(id) && !id.includes('/') && id !== '.' && id !== '..';

/**
 * The start of a container's temp file names: `.<id>.tmp-`, or for an ID too long for
 * that to fit NAME_MAX, `.@<sha256 of the id>.tmp-` ("@" never occurs in an ID). Each
 * ID has its own, so a DEL never takes another container's temp file for its own.
 */
function tempStem(containerId: string): string {
  return containerId.length <= 200 ? `.${containerId}.tmp-` : `.@${hexDigest('sha256', containerId)}.tmp-`;
}

/** Is `name` one of this container's temp files, exactly (stem, then the 12 hex saveScratch adds)? */
export function isTempOf(name: string, containerId: string): boolean {
  const stem = tempStem(containerId);
  return name.length === stem.length + 12 && name.startsWith(stem) && /^[0-9a-f]{12}$/.test(name.slice(stem.length));
}

/** `<dataDir>/<containerID>`. */
export function scratchPath(dataDir: string, containerId: string): string {
  if (!isSafeId(containerId)) {
    const why = containerId.length > MAX_ID ? `it is longer than ${MAX_ID} bytes` : 'it has characters a file name cannot have';
    const shown = containerId.length > 80 ? `${containerId.slice(0, 80)}…` : containerId;
    throw new CniError(Code.InvalidEnv, `invalid container ID "${shown}" for a file name in ${dataDir}: ${why}`);
  }
  return nodePath.join(dataDir, containerId);
}

/**
 * The real directory behind dataDir: links in its path are followed once, as the
 * reference follows them (/var/lib on another disk is a link), and everything then
 * happens inside the result. Inside it nothing is followed (O_NOFOLLOW, rename and
 * unlink act on a planted link itself).
 */
function ownDir(dataDir: string): string {
  try {
    return resolveConfiguredDir(dataDir);
  } catch (err) {
    throw new CniError(Code.InvalidConfig, `flannel config: "dataDir" ${dataDir} cannot be used: ${(err as Error).message}`);
  }
}

/**
 * Write kill-safely: temp file in the same directory, rename over the final name. A
 * reader sees the old file or the new one, never a torn one; a power loss may tear it
 * (no fsync), and DEL then rebuilds the config from the current one. Directory 0700,
 * file 0600: the config may carry runtimeConfig.
 */
export function saveScratch(dataDir: string, containerId: string, bytes: Buffer): void {
  scratchPath(dataDir, containerId); // refuses an ID that cannot be a file name, before anything is made
  const dir = ownDir(dataDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeAtomic(scratchPath(dir, containerId), bytes, { tmpPrefix: tempStem(containerId), randomBytes: 6 });
}

/** The saved bytes, or undefined when there is no file. Other read errors are thrown. */
export function readScratch(dataDir: string, containerId: string): Buffer | undefined {
  scratchPath(dataDir, containerId);
  const file = scratchPath(ownDir(dataDir), containerId);
  try {
    // Never follow a link planted in place of the file, nor wait on a FIFO (only root
    // writes a 0700 dir, but DEL must not hang or read a device to the end).
    return readRegularFile(file, MAX_SCRATCH, { noFollow: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Remove the saved config; an absent file is fine (DEL twice). */
export function removeScratch(dataDir: string, containerId: string): void {
  scratchPath(dataDir, containerId);
  const file = scratchPath(ownDir(dataDir), containerId);
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export interface ScratchListing {
  /** Regular files named like a container ID, sorted. */
  ids: string[];
  /** Leftover temp files (a crash between create and rename), with their age source. */
  temps: { name: string; mtimeMs: number }[];
}

/** What GC may look at in dataDir; a missing dir is an empty listing. */
export function listScratch(dataDir: string): ScratchListing {
  const dir = ownDir(dataDir);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ids: [], temps: [] };
    throw err;
  }
  const out: ScratchListing = { ids: [], temps: [] };
  // One listing; only temp files are stat'ed (GC ages them): a DEL lists the directory of
  // every pod on the node, and must not stat each pod's saved config.
  for (const ent of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!ent.isFile()) continue;
    if (isSafeId(ent.name)) {
      out.ids.push(ent.name);
      continue;
    }
    if (!TEMP_RE.test(ent.name)) continue;
    try {
      out.temps.push({ name: ent.name, mtimeMs: fs.lstatSync(nodePath.join(dir, ent.name)).mtimeMs });
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

/** Remove a leftover temp file by its listed name. */
export function removeTemp(dataDir: string, name: string): void {
  if (!TEMP_RE.test(name) || name.includes('/')) throw new Error(`refusing to remove "${name}": not a temp file name`);
  fs.rmSync(nodePath.join(ownDir(dataDir), name), { force: true });
}
