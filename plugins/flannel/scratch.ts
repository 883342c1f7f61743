// The saved delegate configs: `<dataDir>/<containerID>`, one per container, same
// layout as the reference (reference-plugins.md §3) so either plugin can DEL what
// the other ADDed. DEL needs the exact config ADD used, even after a reboot or with
// flanneld down, so the file must never be seen half-written (cni-plugin#43).
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { randomBytes } from 'node:crypto';
import { CniError, Code } from '../../lib/cni/errors';

const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;
// Temp names start with "." so they can never be mistaken for a container ID.
const TEMP_RE = /^\..*\.tmp-[0-9a-f]+$/;

// Defence in depth: the dispatcher validated the ID, but a name that could leave
// dataDir ("/" anywhere, "." or ".." as the whole name) is refused here as well. A
// ".." inside a name ("a..b") stays one harmless path component and is a valid ID.
const isSafeId = (id: string): boolean => ID_RE.test(id) && !id.includes('/') && id !== '.' && id !== '..';

/** `<dataDir>/<containerID>`. */
export function scratchPath(dataDir: string, containerId: string): string {
  if (!isSafeId(containerId)) {
    throw new CniError(Code.InvalidEnv, `invalid container ID "${containerId}" for a file name in ${dataDir}`);
  }
  return nodePath.join(dataDir, containerId);
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Write crash-safely: temp file in the same directory, fsync, rename over the final
 * name, fsync the directory. A reader sees the old file or the new one, never a torn
 * or empty one. Directory 0700, file 0600: the config may carry runtimeConfig.
 */
export function saveScratch(dataDir: string, containerId: string, bytes: Buffer): void {
  const file = scratchPath(dataDir, containerId);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = nodePath.join(dataDir, `.${containerId}.tmp-${randomBytes(6).toString('hex')}`);
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    try {
      let off = 0;
      while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dataDir);
}

/** The saved bytes, or undefined when there is no file. Other read errors are thrown. */
export function readScratch(dataDir: string, containerId: string): Buffer | undefined {
  try {
    return fs.readFileSync(scratchPath(dataDir, containerId));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Remove the saved config; an absent file is fine (DEL twice). */
export function removeScratch(dataDir: string, containerId: string): void {
  try {
    fs.unlinkSync(scratchPath(dataDir, containerId));
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
  let names: string[];
  try {
    names = fs.readdirSync(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ids: [], temps: [] };
    throw err;
  }
  const out: ScratchListing = { ids: [], temps: [] };
  for (const name of names.sort()) {
    const isId = isSafeId(name);
    if (!isId && !TEMP_RE.test(name)) continue;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(nodePath.join(dataDir, name));
    } catch {
      continue; // removed meanwhile
    }
    if (!st.isFile()) continue;
    if (isId) out.ids.push(name);
    else out.temps.push({ name, mtimeMs: st.mtimeMs });
  }
  return out;
}

/** Remove a leftover temp file by its listed name. */
export function removeTemp(dataDir: string, name: string): void {
  if (!TEMP_RE.test(name) || name.includes('/')) throw new Error(`refusing to remove "${name}": not a temp file name`);
  fs.rmSync(nodePath.join(dataDir, name), { force: true });
}
