// Loads the native helper. In a build it sits beside the bundle (dist/cninative.node,
// copied into /opt/cni/bin with the plugins); from source it is node-gyp's output.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { isStandalone } from '../runtime';

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
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;
export const EWOULDBLOCK = 11;

let loaded: Native | undefined;

export function native(): Native {
  if (loaded) return loaded;
  const candidates = [
    // Beside the executable: the standalone build, whose __dirname is not on disk.
    ...(isStandalone() ? [path.join(path.dirname(process.execPath), 'cninative.node')] : []),
    path.join(__dirname, 'cninative.node'),
    path.join(__dirname, '..', '..', 'build', 'Release', 'cninative.node'),
  ];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`native helper cninative.node not found (looked in ${candidates.join(', ')}); run npm run build`);
  // Not a bare require(): esbuild leaves createRequire alone, so the .node file is loaded
  // from disk at run time, and it also works where `module` is not Node's (vitest).
  loaded = createRequire(__filename)(found) as Native;
  return loaded;
}
