// The one door for switching network namespaces. A netlink socket belongs to the
// netns of the thread that created it, so the pod side is configured by opening a
// socket while the main thread is inside the pod netns and switching straight back.
// Only synchronous work may run inside the switch: the first async fs/dns/crypto
// call would create libuv's thread pool in the pod netns for good
// (node-netlink-notes.md), so the callback's return type excludes promises.
import * as fs from 'node:fs';
import { CLONE_NEWNET, native } from './native';
import { CniError, Code } from './cni/errors';
import { writeAll } from './cni/stdio';
import { log } from './log';
import { fileType } from './regular-file';

const EINVAL = 22;

export interface NetnsHandle {
  readonly path: string;
  readonly fd: number;
  close(): void;
}

type Probe = { fd: number } | { missing: true } | { notNetns: string };

/**
 * Open `path` and prove it is a network namespace, without ever blocking: O_NONBLOCK,
 * because opening a FIFO for reading waits for a writer forever (ADD and DEL hung on a
 * CNI_NETNS that was one). A namespace file is a regular nsfs inode; anything else is
 * refused by type, and a regular file (or another kind of namespace) by a trial setns,
 * which fails with EINVAL for anything but a network namespace.
 */
function probeNetns(path: string): Probe {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { missing: true };
    if (code === 'ENXIO') return { notNetns: 'it is a socket' }; // open(2) of a unix socket
    throw new CniError(Code.Internal, `failed to open netns "${path}": ${(err as Error).message}`);
  }
  let notNetns: string | undefined;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) notNetns = `it is ${fileType(st)}`;
    else inNetns({ path, fd, close: () => undefined }, () => undefined);
  } catch (err) {
    if (!(err instanceof CniError && (err.cause as { errno?: number } | undefined)?.errno === EINVAL)) {
      fs.closeSync(fd);
      throw err;
    }
    notNetns = 'setns(2) refuses it (EINVAL): not a network namespace file';
  }
  if (notNetns === undefined) return { fd };
  fs.closeSync(fd);
  return { notNetns };
}

function handle(path: string, fd: number): NetnsHandle {
  let closed = false;
  return {
    path,
    fd,
    close() {
      if (!closed) fs.closeSync(fd);
      closed = true;
    },
  };
}

/**
 * Open a netns path (bind mount or /proc/<pid>/ns/net). Absent, or not a network
 * namespace at all (a FIFO, a regular file...) → undefined, logged, so DEL can carry
 * on and release what does not live in the namespace (IPAM, masquerade rules):
 * nothing of ours can be inside something that is not a network namespace.
 */
export function tryOpenNetns(path: string): NetnsHandle | undefined {
  const p = probeNetns(path);
  if ('missing' in p) return undefined;
  if ('notNetns' in p) {
    log.warn(`CNI_NETNS "${path}" is not a network namespace (${p.notNetns}); treating it as gone`);
    return undefined;
  }
  return handle(path, p.fd);
}

/** Why `path` is not a usable CNI_NETNS (code 4 for ADD/CHECK), or undefined. Absent is left to the caller. */
export function netnsProblem(path: string): string | undefined {
  let p: Probe;
  try {
    p = probeNetns(path);
  } catch {
    return undefined; // cannot tell (permissions...): the handler's own open reports it
  }
  if ('fd' in p) fs.closeSync(p.fd);
  return 'notNetns' in p ? `CNI_NETNS "${path}" is not a network namespace: ${p.notNetns}` : undefined;
}

export function openNetns(path: string): NetnsHandle {
  // The probe enters and leaves: it is a network namespace before anything is created.
  const p = probeNetns(path);
  if ('missing' in p) throw new CniError(Code.Internal, `failed to open netns "${path}": no such file or directory`);
  if ('notNetns' in p) throw new CniError(Code.InvalidEnv, `CNI_NETNS "${path}" is not a network namespace: ${p.notNetns}`);
  return handle(path, p.fd);
}

type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

/** Run `fn` synchronously with this thread inside `ns`, then return to the original netns. */
export function inNetns<T>(ns: NetnsHandle, fn: () => NotPromise<T>): T {
  const n = native();
  const home = fs.openSync('/proc/thread-self/ns/net', fs.constants.O_RDONLY);
  try {
    try {
      n.setns(ns.fd, CLONE_NEWNET);
    } catch (err) {
      throw new CniError(Code.Internal, `"${ns.path}" is not a usable network namespace: ${(err as Error).message}`, undefined, { cause: err });
    }
    try {
      return fn();
    } finally {
      // If this fails the process is stranded in the pod netns; nothing safe can follow.
      // The runtime still gets its one error document (stdout carries nothing before the
      // dispatcher's final write), then the process ends at once.
      try {
        n.setns(home, CLONE_NEWNET);
      } catch (err) {
        const msg = `cannot return to the host network namespace after entering "${ns.path}": ${(err as Error).message}; the call was aborted`;
        writeAll(1, `${JSON.stringify(new CniError(Code.Internal, msg).toJSON())}\n`);
        writeAll(2, `fatal: ${msg}\n`);
        process.exit(70);
      }
    }
  } finally {
    fs.closeSync(home);
  }
}

/** Is `path` this process's own network namespace (same nsfs inode)? False when it cannot be read. */
export const isOwnNetns = (path: string): boolean => sameNetns(path, '/proc/self/ns/net');

/** Do two paths name one network namespace (the same string, or the same nsfs inode)? False when either cannot be read. */
export function sameNetns(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    const x = fs.statSync(a);
    const y = fs.statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}
