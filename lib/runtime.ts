// Where this plugin runs from. Two builds exist: Node bundles (dist/bridge, dist/flannel,
// run by the node's Node.js) and the standalone executable compiled by Bun, which
// carries its own runtime. In the latter, argv[1] points into Bun's embedded file
// system and __dirname is the build tree's, compiled in (never use it there), so the
// real location comes from process.execPath, and the
// name a plugin was invoked as (bridge or flannel, both links to one executable)
// from process.argv0. The standalone executable loads this module before answering
// VERSION, so it imports node:fs alone (node:path costs Bun ~2 MB of RSS per call).
import * as fs from 'node:fs';

/** In every file a build writes (the bundles' banner, inside the standalone executable): how our plugins are told from others. */
export const BUILD_MARKER = 'built by cni-flannel-bridge';

export const isStandalone = (): boolean => typeof process.versions.bun === 'string' && (process.argv[1] ?? '').startsWith('/$bunfs/');

/** The file this plugin was started from. */
export function selfPath(): string {
  // Node makes argv[1] absolute before our code runs.
  return isStandalone() ? process.execPath : (process.argv[1] ?? '');
}

/** The name this plugin was invoked as (the link name for the standalone executable). */
export function invokedAs(): string {
  const file = isStandalone() ? process.argv0 : selfPath();
  return file.slice(file.lastIndexOf('/') + 1);
}

export function sameFile(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a);
    const y = fs.statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Whether `file` (a link is followed) is a plugin of this project's builds: false for anything unreadable. */
export function isOurBuild(file: string): boolean {
  try {
    // the standalone executable is ~110 MB and carries the marker deep inside
    return (require('./regular-file') as typeof import('./regular-file')).fileContains(file, BUILD_MARKER, 512 << 20);
  } catch {
    return false;
  }
}
