// The one door for switching network namespaces. A netlink socket belongs to the
// netns of the thread that created it, so the pod side is configured by opening a
// socket while the main thread is inside the pod netns and switching straight back.
// Only synchronous work may run inside the switch: the first async fs/dns/crypto
// call would create libuv's thread pool in the pod netns for good
// (node-netlink-notes.md), so the callback's return type excludes promises.
import * as fs from 'node:fs';
import { CLONE_NEWNET, native } from './native';
import { CniError, Code } from './cni/errors';

export interface NetnsHandle {
  readonly path: string;
  readonly fd: number;
  close(): void;
}

/** Open a netns path (bind mount or /proc/<pid>/ns/net). ENOENT → undefined so DEL can carry on. */
export function tryOpenNetns(path: string): NetnsHandle | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CniError(Code.Internal, `failed to open netns "${path}": ${(err as Error).message}`);
  }
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

export function openNetns(path: string): NetnsHandle {
  const h = tryOpenNetns(path);
  if (!h) throw new CniError(Code.Internal, `failed to open netns "${path}": no such file or directory`);
  // Entering and leaving proves it is a network namespace before anything is created.
  try {
    inNetns(h, () => undefined);
  } catch (err) {
    h.close();
    throw err;
  }
  return h;
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
      throw new CniError(Code.Internal, `"${ns.path}" is not a usable network namespace: ${(err as Error).message}`);
    }
    try {
      return fn();
    } finally {
      // If this fails the process is stranded in the pod netns; nothing safe can follow.
      try {
        n.setns(home, CLONE_NEWNET);
      } catch (err) {
        process.stderr.write(`fatal: cannot return to the host netns: ${(err as Error).message}\n`);
        process.exit(70);
      }
    }
  } finally {
    fs.closeSync(home);
  }
}
