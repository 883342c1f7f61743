// Reading a file that configuration names, or that sits in a directory other people
// write (/etc/cni/net.d, a data dir): the open never waits (O_NONBLOCK: opening a FIFO
// for reading blocks until a writer comes), the type is checked on the open fd (a stat
// before the open races a rename), and at most `maxBytes` are read whatever st.size
// says (procfs reports 0, a file may grow meanwhile), so /dev/zero behind a symlink or
// a 256 MiB sparse file is refused instead of read until memory runs out.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomHex } from './random';

/** What a non-regular inode is, for messages: "a FIFO", "a character device"... */
export function fileType(st: fs.Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** The file is a FIFO, device, directory or socket (what it is: `type`). */
function typeOf(file: string, noFollow?: boolean): string {
  try {
    return fileType(noFollow ? fs.lstatSync(file) : fs.statSync(file));
  } catch {
    return 'not a regular file';
  }
}

export class NotRegularFile extends Error {
  constructor(
    readonly file: string,
    readonly type: string,
  ) {
    super(`${file} is not a regular file (it is ${type})`);
    this.name = 'NotRegularFile';
  }
}

export class FileTooLarge extends Error {
  constructor(
    readonly file: string,
    readonly maxBytes: number,
  ) {
    super(`${file} is larger than ${maxBytes} bytes`);
    this.name = 'FileTooLarge';
  }
}

export interface ReadOptions {
  /** O_NOFOLLOW: a symbolic link in place of the file fails with ELOOP (for files we write ourselves). */
  noFollow?: boolean;
}

/**
 * The bytes of a regular file of at most `maxBytes`. Throws NotRegularFile or
 * FileTooLarge, and the open's own errno error (ENOENT, EACCES, ELOOP) as is.
 */
export function readRegularFile(file: string, maxBytes: number, opts: ReadOptions = {}): Buffer {
  const flags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (opts.noFollow ? fs.constants.O_NOFOLLOW : 0);
  let fd: number;
  try {
    fd = fs.openSync(file, flags);
  } catch (e) {
    // open(2) of a unix socket (or a device without a driver) fails with ENXIO: say what it is.
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') throw new NotRegularFile(file, typeOf(file, opts.noFollow));
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new NotRegularFile(file, fileType(st));
    if (st.size > maxBytes) throw new FileTooLarge(file, maxBytes);
    // Sized by st.size (plus one byte, to see growth), grown only for files that lie about it.
    let buf = Buffer.allocUnsafe(Math.min(maxBytes, Math.max(st.size, 4096)) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > maxBytes) throw new FileTooLarge(file, maxBytes);
        const bigger = Buffer.allocUnsafe(Math.min(maxBytes + 1, buf.length * 2));
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const got = fs.readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > maxBytes) throw new FileTooLarge(file, maxBytes);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

export interface AtomicWrite {
  /** Start of the temp file's name, so the directory's owner can recognise (and clean) one a kill left. */
  tmpPrefix?: string;
  /** Random bytes (as hex) after the prefix. */
  randomBytes?: number;
  mode?: number;
  /** fsync the file before it is renamed: only for what must outlive a power loss (an installed conflist). */
  sync?: boolean;
}

/**
 * Whether a regular file holds `needle` in its first `maxBytes`, read in chunks (a
 * plugin executable is 100 MB). Opened as readRegularFile opens: never waits on a
 * FIFO; anything but a regular file throws NotRegularFile.
 */
export function fileContains(file: string, needle: string, maxBytes: number): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') throw new NotRegularFile(file, typeOf(file));
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new NotRegularFile(file, fileType(st));
    const want = Buffer.from(needle);
    const chunk = Buffer.allocUnsafe(1 << 20);
    // the chunk keeps the previous chunk's tail, so a needle across two reads is found
    let kept = 0;
    for (let done = 0; done < maxBytes; ) {
      const got = fs.readSync(fd, chunk, kept, Math.min(chunk.length - kept, maxBytes - done), null);
      if (got === 0) return false;
      done += got;
      const n = kept + got;
      if (chunk.subarray(0, n).includes(want)) return true;
      kept = Math.min(want.length - 1, n);
      chunk.copy(chunk, 0, n - kept, n);
    }
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replace `file` with `data` so that a reader (or a SIGKILL) sees the old content or
 * the new, never a part: a temp file in the same directory, then rename(2), which also
 * replaces a link planted at `file` instead of writing through it. Not fsync'ed unless
 * `sync`: what SIGKILL safety needs is atomic visibility, and the plugins' state is only
 * worth keeping within one boot (docs/crash-safety.md).
 */
export function writeAtomic(file: string, data: string | Buffer, opts: AtomicWrite = {}): void {
  const tmp = writeTempFile(path.dirname(file), data, opts);
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * A new file `<tmpPrefix><random hex>` in `dir` holding `data`, with exactly `mode`
 * whatever the umask, for the caller to rename or link into place; returns its path.
 * Nothing is left behind when writing fails.
 */
export function writeTempFile(dir: string, data: string | Buffer, opts: AtomicWrite = {}): string {
  const { tmpPrefix = '.tmp-', mode = 0o600 } = opts;
  const tmp = path.join(dir, `${tmpPrefix}${randomHex(opts.randomBytes ?? 8)}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    fs.fchmodSync(fd, mode);
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
    if (opts.sync) fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  return tmp;
}

/**
 * Append `text` to a log file named by configuration (CNI_LOG_FILE, the call log). A
 * symbolic link at the last component is refused (O_NOFOLLOW: a planted link would make
 * a root process append to any file it points at), and so is anything but a regular
 * file (O_NONBLOCK: opening a FIFO nobody reads fails instead of waiting). O_APPEND:
 * lines of parallel calls interleave whole. Throws with the reason.
 */
export function appendToLog(file: string, text: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new Error(`${file} is a symbolic link; refusing to follow it`);
    if (code === 'ENXIO') throw new NotRegularFile(file, typeOf(file, true));
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new NotRegularFile(file, fileType(st));
    const buf = Buffer.from(text);
    for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A directory named by configuration (a data dir), with every symbolic link in it
 * resolved once, as the reference's plain path operations follow them: /var/lib on
 * another disk (a link) is common. The caller then works inside the returned real
 * directory, so a link swapped in later does not move its writes. The missing tail of
 * the path (created by the caller) is kept as given. A link whose target is missing
 * throws (the reference's mkdir fails on it too).
 */
export function resolveConfiguredDir(dir: string): string {
  const missing: string[] = [];
  let cur = path.resolve(dir);
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...missing);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A file where a directory should be: the caller's mkdir or open says so in its words.
      if (code === 'ENOTDIR') return path.resolve(dir);
      if (code !== 'ENOENT') throw e;
    }
    let linked = false;
    try {
      linked = fs.lstatSync(cur).isSymbolicLink();
    } catch {
      // absent: look at the parent
    }
    if (linked) throw new Error(`${cur} is a symbolic link to a missing directory (${fs.readlinkSync(cur)})`);
    const parent = path.dirname(cur);
    if (parent === cur) return path.resolve(dir);
    missing.unshift(path.basename(cur));
    cur = parent;
  }
}
