// When this machine booted, from the kernel (/proc/stat "btime", seconds since the
// epoch). A reservation written before it cannot belong to a live pod.
import * as fs from 'node:fs';

let cached: number | null | undefined;

export function bootTimeMs(): number | undefined {
  if (cached === undefined) {
    try {
      const m = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'));
      cached = m ? Number(m[1]) * 1000 : null;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}
