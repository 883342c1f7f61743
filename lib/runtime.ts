// Where this plugin runs from. Two builds exist: Node bundles (dist/bridge, dist/flannel,
// run by the node's Node.js) and the standalone executable compiled by Bun, which
// carries its own runtime. In the latter, argv[1] points into Bun's embedded file
// system and __dirname is the build tree's, compiled in (never use it there), so the
// real location comes from process.execPath, and the
// name a plugin was invoked as (bridge or flannel, both links to one executable)
// from process.argv0.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const isStandalone = (): boolean => typeof process.versions.bun === 'string' && (process.argv[1] ?? '').startsWith('/$bunfs/');

/** The file this plugin was started from. */
export function selfPath(): string {
  return isStandalone() ? process.execPath : path.resolve(process.argv[1] ?? '.');
}

/** The name this plugin was invoked as (the link name for the standalone executable). */
export const invokedAs = (): string => path.basename(isStandalone() ? process.argv0 : selfPath());

export function sameFile(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a);
    const y = fs.statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}
