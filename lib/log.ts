// Every diagnostic goes to stderr (or, opt-in, a file): stdout carries the CNI
// protocol and nothing else (https://github.com/containernetworking/cni/blob/main/SPEC.md#section-2-execution-protocol).
import * as fs from 'node:fs';
import { appendToLog } from './regular-file';

let warnedFile = false;

type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const threshold = (): number => order[(process.env.CNI_LOG_LEVEL as Level) ?? 'info'] ?? order.info;

let prefix = 'cni';
export function setLogPrefix(p: string): void {
  prefix = p;
}

function write(level: Level, msg: string): void {
  if (order[level] < threshold()) return;
  const line = `${new Date().toISOString()} ${prefix} ${level}: ${msg}\n`;
  const file = process.env.CNI_LOG_FILE;
  try {
    if (file) appendToLog(file, line);
    else fs.writeSync(2, line);
  } catch (err) {
    // Logging must never turn a working call into a failing one; say once why it went nowhere.
    if (file && !warnedFile) {
      warnedFile = true;
      try {
        fs.writeSync(2, `${new Date().toISOString()} ${prefix} warn: cannot write CNI_LOG_FILE: ${(err as Error).message}\n${line}`);
      } catch {
        // nowhere left to report it
      }
    }
  }
}

export const log = {
  debug: (m: string) => write('debug', m),
  info: (m: string) => write('info', m),
  warn: (m: string) => write('warn', m),
  error: (m: string) => write('error', m),
};
