// The kernel's boot id: a random UUID per boot. State that describes this boot (a
// reservation, an address we put on a bridge) is tied to it instead of to file or
// clock times, which step, and are copied and restored with files.
import * as fs from 'node:fs';

const SOURCE = '/proc/sys/kernel/random/boot_id';
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let cached: string | null | undefined;

/** This boot's id, or undefined when the kernel does not say (then nothing is tied to a boot). */
export function currentBootId(): string | undefined {
  if (cached === undefined) {
    try {
      const id = fs.readFileSync(SOURCE, 'utf8').trim();
      cached = UUID_RE.test(id) ? id : null;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}
