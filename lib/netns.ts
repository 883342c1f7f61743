// The one door for switching network namespaces (notes in lib/netns.md). A netlink
// socket belongs to the netns of the thread that created it, so the pod side is
// worked on through a socket created while the main thread is inside the pod netns,
// and the thread switches straight back. Only synchronous work may run inside a switch:
// the first async fs/dns/crypto call would create libuv's thread pool in the pod netns
// for good, so the callback's type excludes promises.
//
// A namespace is opened once per call, proved by the first visit (setns accepts only a
// network namespace), and the handle is passed down: each visit is two setns(2).
import * as fs from 'node:fs';
import { CLONE_NEWNET, native } from './native';

const EINVAL = 22;

export interface NetnsHandle {
  readonly path: string;
  readonly fd: number;
  close(): void;
}

/** Why a path cannot be used as a network namespace: absent, not one, or refused by the kernel. */
export class NetnsError extends Error {
  constructor(
    readonly path: string,
    readonly reason: 'missing' | 'not-netns' | 'unusable',
    why: string,
  ) {
    super(`"${path}" ${why}`);
    this.name = 'NetnsError';
  }
}

function kindOf(st: fs.Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a namespace file';
}

/**
 * Open without blocking (O_NONBLOCK: opening a FIFO for reading waits for a writer
 * forever) and refuse by type what cannot be a namespace: a namespace file is a
 * regular nsfs inode. Nothing is entered yet.
 */
function openFile(path: string): number {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NetnsError(path, 'missing', 'does not exist');
    if (code === 'ENXIO') throw new NetnsError(path, 'not-netns', 'is not a network namespace: it is a socket'); // open(2) of a unix socket
    throw new NetnsError(path, 'unusable', `cannot be opened: ${(err as Error).message}`);
  }
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw new NetnsError(path, 'not-netns', `is not a network namespace: it is ${kindOf(st)}`);
  }
  return fd;
}

/** Why `path` cannot be a network namespace by its type alone (no switch), or undefined. Absent is left to the caller. */
export function netnsTypeProblem(path: string): string | undefined {
  try {
    fs.closeSync(openFile(path));
  } catch (err) {
    if (err instanceof NetnsError && err.reason === 'not-netns') return err.message;
  }
  return undefined;
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
 * Open a netns path (a bind mount or /proc/<pid>/ns/net) and visit it once, running
 * `inside` there (typically: create the socket that works on the pod's side). The
 * visit is the proof that it is a network namespace: setns refuses anything else.
 * Throws NetnsError; the caller decides what each reason means for its verb.
 */
export function openNetns<T>(path: string, inside: () => NotPromise<T>): { ns: NetnsHandle; value: T } {
  const ns = handle(path, openFile(path));
  try {
    return { ns, value: inNetns(ns, inside) };
  } catch (err) {
    ns.close();
    throw err;
  }
}

type NotPromise<T> = T extends PromiseLike<unknown> ? never : T;

let stranded = (msg: string): void => {
  try {
    fs.writeSync(2, `fatal: ${msg}\n`);
  } catch {
    // nowhere left to say it
  }
};

/**
 * What to say before the process exits when it cannot leave a namespace it entered:
 * the dispatcher answers the runtime with its one error document.
 */
export function onStranded(fn: (msg: string) => void): void {
  stranded = fn;
}

/** Run `fn` synchronously with this thread inside `ns`, then return to the original netns. */
export function inNetns<T>(ns: NetnsHandle, fn: () => NotPromise<T>): T {
  const n = native();
  const home = fs.openSync('/proc/thread-self/ns/net', fs.constants.O_RDONLY);
  try {
    try {
      n.setns(ns.fd, CLONE_NEWNET);
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      if (errno === EINVAL) throw new NetnsError(ns.path, 'not-netns', 'is not a network namespace: setns(2) refuses it (EINVAL)');
      throw new NetnsError(ns.path, 'unusable', `is not a usable network namespace: ${(err as Error).message}`);
    }
    try {
      return fn();
    } finally {
      // If this fails the process is stranded in the pod netns; nothing safe can follow.
      try {
        n.setns(home, CLONE_NEWNET);
      } catch (err) {
        stranded(`cannot return to the host network namespace after entering "${ns.path}": ${(err as Error).message}; the call was aborted`);
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
