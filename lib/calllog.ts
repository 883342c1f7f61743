// The opt-in call log: one JSON line per plugin call (verb, attachment, network,
// outcome and error code, how long each step took), appended to the file named by
// the config key `callLog` or the env var CNI_CALL_LOG. Never on stdout. For an
// operator asking "what did the plugin do for this pod, and why did it fail".
import * as fs from 'node:fs';
import type { CniErrorJson } from './cni/errors';
import type { Verb } from './cni/types';
import { stepsSince } from './trace';
import { appendToLog } from './regular-file';

export interface CallRecord {
  plugin: string;
  verb: Verb | string;
  network?: string;
  cniVersion?: string;
  containerId?: string;
  ifName?: string;
  netns?: string;
  /** the addresses of an ADD result */
  ips?: string[];
  error?: CniErrorJson;
}

/** The file to log this call to: the config's `callLog`, else CNI_CALL_LOG; undefined when off. */
export function callLogFile(conf: Record<string, unknown> | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const fromConf = conf?.callLog;
  if (typeof fromConf === 'string' && fromConf.startsWith('/')) return fromConf;
  const fromEnv = env.CNI_CALL_LOG;
  return fromEnv && fromEnv.startsWith('/') ? fromEnv : undefined;
}

export function writeCallLog(file: string, rec: CallRecord, t0: number): void {
  const line = JSON.stringify({
    time: new Date().toISOString(),
    pid: process.pid,
    ...rec,
    result: rec.error ? 'error' : 'ok',
    ms: Math.round((performance.now() - t0) * 10) / 10,
    steps: stepsSince(t0),
  });
  try {
    appendToLog(file, `${line}\n`);
  } catch (err) {
    try {
      fs.writeSync(2, `cni: cannot write the call log ${file}: ${(err as Error).message}\n`);
    } catch {
      // nowhere left to report it
    }
  }
}
