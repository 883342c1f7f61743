// The plugin's own stdin and stdout, read and written synchronously: there is one
// config to read and one document to print, and nothing else to do meanwhile.
import * as fs from 'node:fs';
import { sleepSync } from '../time';
import { CniError, Code } from './errors';
import { MAX_STDIN } from './versions';

/** Read all of stdin synchronously, refusing more than MAX_STDIN without buffering it whole. */
export function readStdinSync(): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A non-blocking stdin with nothing in it yet: wait instead of spinning a core.
      if (code === 'EAGAIN') {
        sleepSync(5);
        continue;
      }
      if (code === 'EOF' || code === 'EBADF') break; // stdin closed or absent: treat as empty
      throw err;
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_STDIN) throw new CniError(Code.DecodeFailure, `config on stdin is larger than ${MAX_STDIN} bytes`);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

/**
 * Write all of `text`, looping over partial writes and EAGAIN (a runtime may hand us
 * a non-blocking pipe; a single write can then take less than everything, and under
 * load the pipe can be momentarily full). False when the fd is unusable.
 */
export function writeAll(fd: number, text: string): boolean {
  const buf = Buffer.from(text);
  for (let off = 0, spins = 0; off < buf.length; ) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++spins > 5000) return false;
      sleepSync(1);
    }
  }
  return true;
}

/** stdin is a regular file (cat conf | ... is a pipe, < conf a file): reading it cannot block. */
export function stdinIsFinite(): boolean {
  try {
    return fs.fstatSync(0).isFile();
  } catch {
    return false;
  }
}
