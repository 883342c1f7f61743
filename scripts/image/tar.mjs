// A ustar writer for image layers: entries are described, not read from a directory,
// so owner (root), modes and times are exactly what the image needs whatever the build
// machine's files say, and the same inputs give the same bytes (the layer's digest).
import * as fs from 'node:fs';

const BLOCK = 512;

function octal(buf, offset, width, value) {
  const s = value.toString(8);
  if (s.length > width - 1) throw new Error(`tar: ${value} does not fit a ${width}-byte field`);
  buf.write(s.padStart(width - 1, '0'), offset, 'ascii');
}

/** Splits a path into ustar's prefix (≤155) and name (≤100) at a slash. */
function splitName(p) {
  if (Buffer.byteLength(p) <= 100) return ['', p];
  for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name) return [prefix, name];
  }
  throw new Error(`tar: path too long for ustar: ${p}`);
}

export function header({ path, type, size = 0, mode, link = '', mtime = 0 }) {
  const h = Buffer.alloc(BLOCK);
  const [prefix, name] = splitName(path);
  h.write(name, 0, 'utf8');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.fill(' ', 148, 156);
  h.write({ file: '0', symlink: '2', dir: '5' }[type], 156, 'ascii');
  if (Buffer.byteLength(link) > 100) throw new Error(`tar: link target too long: ${link}`);
  h.write(link, 157, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write('root', 265, 'ascii');
  h.write('root', 297, 'ascii');
  h.write(prefix, 345, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/**
 * Writes a tar to `fd`, feeding every byte to `onData` too (the digest).
 * entries: {path, dir:true} | {path, symlink} | {path, src, mode} | {path, content, mode};
 * paths are relative (no leading slash), directories listed before what they hold.
 */
export function writeTar(fd, entries, onData = () => {}) {
  const out = (buf) => {
    fs.writeSync(fd, buf);
    onData(buf);
  };
  const pad = (size) => {
    if (size % BLOCK) out(Buffer.alloc(BLOCK - (size % BLOCK)));
  };
  for (const e of entries) {
    if (e.dir) {
      out(header({ path: e.path.endsWith('/') ? e.path : `${e.path}/`, type: 'dir', mode: e.mode ?? 0o755 }));
    } else if (e.symlink !== undefined) {
      out(header({ path: e.path, type: 'symlink', mode: 0o777, link: e.symlink }));
    } else if (e.content !== undefined) {
      const data = Buffer.from(e.content);
      out(header({ path: e.path, type: 'file', size: data.length, mode: e.mode ?? 0o644 }));
      out(data);
      pad(data.length);
    } else {
      const size = fs.statSync(e.src).size;
      out(header({ path: e.path, type: 'file', size, mode: e.mode ?? 0o644 }));
      const src = fs.openSync(e.src, 'r');
      try {
        const chunk = Buffer.alloc(1 << 20);
        let done = 0;
        while (done < size) {
          const n = fs.readSync(src, chunk, 0, Math.min(chunk.length, size - done), done);
          if (n <= 0) throw new Error(`tar: ${e.src} shrank while it was read`);
          out(n === chunk.length ? chunk : chunk.subarray(0, n));
          done += n;
        }
      } finally {
        fs.closeSync(src);
      }
      pad(size);
    }
  }
  out(Buffer.alloc(BLOCK * 2));
}
