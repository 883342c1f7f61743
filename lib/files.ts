// Reading a small file that someone else may have replaced with a FIFO, a device or a
// link: opened without blocking (a FIFO nobody writes would hang the call forever),
// checked on the open fd, and read with a bound (a link to /dev/zero never ends).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type BoundedRead = { ok: true; data: Buffer } | { ok: false; why: 'not a regular file' | 'too large' };

/**
 * The whole content of `file` when it is a regular file of at most `max` bytes.
 * `follow: false` refuses a symbolic link at the last component (ELOOP is thrown).
 * Errors of open(2) (ENOENT, EACCES, ELOOP...) are thrown as they are.
 */
export function readBounded(file: string, max: number, opts: { follow?: boolean } = {}): BoundedRead {
  const flags = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (opts.follow === false ? fs.constants.O_NOFOLLOW : 0);
  const fd = fs.openSync(file, flags);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { ok: false, why: 'not a regular file' };
    if (st.size > max) return { ok: false, why: 'too large' };
    // One byte past the bound: a file growing meanwhile is caught too.
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    for (let got; n < buf.length && (got = fs.readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += got;
    if (n > max) return { ok: false, why: 'too large' };
    return { ok: true, data: buf.subarray(0, n) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Replace `file` with `text` so that a reader (or a SIGKILL) sees the old content or
 * the new, never a part: a temp file in the same directory, then rename(2), which also
 * replaces a link planted at `file` instead of writing through it. Not fsync'ed: for
 * state that a reboot discards anyway. `tmpPrefix` lets a directory's owner recognise
 * (and clean) a temp file a kill left behind.
 */
export function writeAtomic(file: string, text: string, tmpPrefix = '.tmp-', mode = 0o600): void {
  const tmp = path.join(path.dirname(file), `${tmpPrefix}${randomBytes(8).toString('hex')}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    try {
      fs.fchmodSync(fd, mode);
      const buf = Buffer.from(text);
      for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
