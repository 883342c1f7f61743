// Opt-in timing trace (CNI_TRACE=1): where each millisecond of a call goes, printed
// to stderr when the process ends. Off, it costs one env lookup per mark.
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';

const enabled = process.env.CNI_TRACE === '1';
const spans = new Map<string, { ms: number; count: number }>();
let lastMark = 0;
const marks: string[] = [];

/** A point in time since process start, e.g. "config parsed". */
export function mark(label: string): void {
  if (!enabled) return;
  const now = performance.now();
  marks.push(`${now.toFixed(1).padStart(7)} ms  +${(now - lastMark).toFixed(1).padStart(6)}  ${label}`);
  lastMark = now;
}

/** Time a unit of work and add it to the total of `kind` (e.g. every netlink request). */
export function timed<T>(kind: string, fn: () => T): T {
  if (!enabled) return fn();
  const t = performance.now();
  try {
    return fn();
  } finally {
    const s = spans.get(kind) ?? { ms: 0, count: 0 };
    s.ms += performance.now() - t;
    s.count++;
    spans.set(kind, s);
  }
}

if (enabled) {
  process.on('exit', () => {
    const lines = [...marks, ...[...spans].map(([k, s]) => `  total ${k}: ${s.ms.toFixed(1)} ms in ${s.count} call(s)`)];
    try {
      fs.writeSync(2, `trace (pid ${process.pid}, since process start):\n${lines.join('\n')}\n`);
    } catch {
      // stderr closed: nothing to report to
    }
  });
}
