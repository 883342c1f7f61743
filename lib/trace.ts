// Timing of a call's phases. Two consumers: the opt-in trace (CNI_TRACE=1), printed
// to stderr when the process ends, and the call log (lib/calllog.ts), which records
// each step's duration. With neither on, a mark costs one boolean test.
import * as fs from 'node:fs';

const traceOn = process.env.CNI_TRACE === '1';
let recording = traceOn;
const spans = new Map<string, { ms: number; count: number }>();
const marks: { label: string; at: number }[] = [];

/** Start keeping marks (the call log asks for it once it knows it will write). */
export function startRecording(): void {
  recording = true;
}

export const now = (): number => performance.now();

/** A point in time since process start, e.g. "config parsed". */
export function mark(label: string): void {
  if (recording) marks.push({ label, at: performance.now() });
}

/** The steps marked since `t0`, each with the milliseconds since the step before. */
export function stepsSince(t0: number): { step: string; ms: number }[] {
  let last = t0;
  return marks
    .filter((m) => m.at >= t0)
    .map((m) => {
      const ms = Math.round((m.at - last) * 10) / 10;
      last = m.at;
      return { step: m.label, ms };
    });
}

/** Time a unit of work and add it to the total of `kind` (e.g. every netlink request). */
export function timed<T>(kind: string, fn: () => T): T {
  if (!traceOn) return fn();
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

if (traceOn) {
  process.on('exit', () => {
    let last = 0;
    const lines = marks.map((m) => {
      const line = `${m.at.toFixed(1).padStart(7)} ms  +${(m.at - last).toFixed(1).padStart(6)}  ${m.label}`;
      last = m.at;
      return line;
    });
    for (const [k, s] of spans) lines.push(`  total ${k}: ${s.ms.toFixed(1)} ms in ${s.count} call(s)`);
    lines.push(`  memory: ${memoryNow()}`);
    try {
      fs.writeSync(2, `trace (pid ${process.pid}, since process start):\n${lines.join('\n')}\n`);
    } catch {
      // stderr closed: nothing to report to
    }
  });
}

/**
 * The process's resident memory split as the kernel counts it: RssAnon is what this call
 * allocated; RssFile is mostly pages of the executable it touched, shared with every
 * other plugin process through the page cache (docs/performance.md).
 */
function memoryNow(): string {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const mb = (key: string) => `${(kb(key) / 1024).toFixed(1)} MB`;
    return `VmHWM ${mb('VmHWM')} (peak), now RssAnon ${mb('RssAnon')} + RssFile ${mb('RssFile')}`;
  } catch {
    return 'unknown (no /proc/self/status)';
  }
}
