// The VERSION verb, answered before the rest of a plugin is even loaded: runtimes and
// operators probe with it, and a call that only prints two constants should cost no more
// than the process start. Nothing here may import more than the versions and stdio.
import { readStdinSync, stdinIsFinite, writeAll } from './stdio';
import { SUPPORTED_VERSIONS } from './versions';

/** The VERSION document: the config's cniVersion echoed when it is one we speak (libcni sends one). */
export function versionOutput(stdin: Buffer | undefined): string {
  let echo = '1.1.0';
  try {
    const v = stdin && stdin.length ? (JSON.parse(stdin.toString('utf8')) as { cniVersion?: unknown }).cniVersion : undefined;
    if (typeof v === 'string' && SUPPORTED_VERSIONS.includes(v)) echo = v;
  } catch {
    // VERSION never fails on what stdin says.
  }
  return JSON.stringify({ cniVersion: echo, supportedVersions: SUPPORTED_VERSIONS }) + '\n';
}

/** When CNI_COMMAND is VERSION: answer and exit. Otherwise return, and the plugin loads. */
export function answerVersion(): void {
  if (process.env.CNI_COMMAND !== 'VERSION') return;
  let stdin: Buffer | undefined;
  try {
    // It must never hang on a stdin nobody closes (a terminal, an idle pipe).
    stdin = stdinIsFinite() ? readStdinSync() : undefined;
  } catch {
    stdin = undefined;
  }
  process.exit(writeAll(1, versionOutput(stdin)) ? 0 : 1);
}
