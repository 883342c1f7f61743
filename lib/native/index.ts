// Loads the native helper, which runs as root in every call. A build loads it only from
// beside its own file (/opt/cni/bin/cninative.node next to the plugins): a path fixed at
// build time (the build tree) may not exist on the node, or be writable by anyone there.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Native {
  setns(fd: number, nstype: number): void;
  /** 0 on success, else the errno (EWOULDBLOCK when LOCK_NB finds it held). */
  flock(fd: number, op: number): number;
  /** A NETLINK_ROUTE socket in the calling thread's netns. */
  nlOpen(): number;
  nlSend(fd: number, msg: Buffer): void;
  /** One datagram, or null when nothing arrived within timeoutMs. */
  nlRecv(fd: number, timeoutMs: number): Buffer | null;
  close(fd: number): void;
}

export const CLONE_NEWNET = 0x40000000;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const EWOULDBLOCK = 11;

let loaded: Native | undefined;

/** The one file the helper is loaded from. */
export function helperPath(): string {
  // From source (no bundle) it is node-gyp's output; the bundlers drop this line.
  if (typeof __CNI_BUILD_KIND__ === 'undefined') return path.join(__dirname, '..', '..', 'build', 'Release', 'cninative.node');
  // The standalone executable's __dirname would be the build tree's, compiled in; its file is execPath.
  return path.join(__CNI_BUILD_KIND__ === 'standalone' ? path.dirname(process.execPath) : __dirname, 'cninative.node');
}

export function native(): Native {
  if (loaded) return loaded;
  const file = helperPath();
  if (!fs.existsSync(file)) {
    const fix = typeof __CNI_BUILD_KIND__ === 'undefined' ? 'run npm run build' : 'install cninative.node from the same build beside the plugin';
    throw new Error(`native helper ${file} not found: ${fix}`);
  }
  // Not a require(): bundlers would try to resolve it at build time. process.dlopen loads
  // the file from disk at run time, in Node, Bun and vitest alike.
  const mod = { exports: {} as Native };
  process.dlopen(mod, file);
  loaded = mod.exports;
  return loaded;
}
