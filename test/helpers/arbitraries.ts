// Shared hostile-input generators and the one property every parser must keep:
// any input ends in a value or a CniError with a numeric code. Never another
// exception type (a TypeError or a RangeError becomes an unlabelled 999 in the
// field), and never a hang. Not a test file itself; the *.test.ts files use it.
import fc from 'fast-check';
import { CniError } from '../../lib/cni/errors';

/** Each property gets this much wall time at most, so the whole suite stays well under 10 s. */
export const TIME_LIMIT_MS = 600;

/** fc.assert with a time budget; an interrupted run counts as passed (it found nothing in time). */
export function check<Ts extends [unknown, ...unknown[]]>(prop: fc.IProperty<Ts>, numRuns = 300): void {
  fc.assert(prop, { numRuns, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] });
}

export async function checkAsync<Ts extends [unknown, ...unknown[]]>(prop: fc.IAsyncProperty<Ts>, numRuns = 300): Promise<void> {
  await fc.assert(prop, { numRuns, plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS)] });
}

function describeThrown(e: unknown): string {
  try {
    return e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack}` : `a thrown ${typeof e}: ${String(e)}`;
  } catch {
    return 'a thrown value that cannot even be printed';
  }
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; err: CniError };

/** Run `fn`; a CniError with an integer code is an outcome, anything else thrown fails the property. */
export function outcome<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof CniError && Number.isInteger(e.code) && e.code >= 0 && typeof e.message === 'string') return { ok: false, err: e };
    throw new Error(`expected a value or a CniError, got ${describeThrown(e)}`);
  }
}

/** The error of a run that must fail; a success fails the property. */
export function failure<T>(fn: () => T): CniError {
  const r = outcome(fn);
  if (r.ok) throw new Error(`expected a CniError, got the value ${safeJson(r.value)}`);
  return r.err;
}

/** Does `message` name `field`? Case, spaces and quotes aside ("ipmasq backend" names ipMasqBackend). */
export const namesField = (message: string, field: string): boolean =>
  message.toLowerCase().replace(/[\s"'_-]/g, '').includes(field.toLowerCase().replace(/[\s"'_-]/g, ''));

export function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 300) ?? String(v);
  } catch {
    return '<unprintable>';
  }
}

// ------------------------------------------------------------------ strings

/** Strings a runtime or an attacker could send: path tricks, NUL, unicode, prototype names, numbers as text. */
export const nastyConstants = [
  '',
  ' ',
  '\0',
  'a\0b',
  '.',
  '..',
  '../..',
  '/',
  '/etc/passwd',
  'a/b',
  '..\\..',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'a'.repeat(256),
  'x'.repeat(5000),
  '\r\n',
  'eth0\n',
  '\u2028',
  '\uFEFF',
  '\uD800',
  '😀',
  'ü',
  '1e400',
  '-0',
  'NaN',
  'Infinity',
  '0x10',
  '10.0.0.0/8',
  '10.1.2.3',
  '::',
  '::/0',
  'fe80::1%eth0',
  '::ffff:1.2.3.4',
  '256.1.1.1',
  '01.2.3.4',
  'true',
  'null',
  '{}',
  '[]',
  '%s%n',
  '$(reboot)',
  '`id`',
] as const;

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...nastyConstants) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
);

export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, -1, 1.5, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324, 70000, 4095, 4096, 65536, 4294967296),
);

/** Object keys: anything, prototype names, and the field names our parsers read, in odd cases. */
export const FIELD_NAMES = [
  'name', 'type', 'cniVersion', 'ipam', 'dns', 'args', 'runtimeConfig', 'prevResult', 'capabilities',
  'bridge', 'isGateway', 'isDefaultGateway', 'mtu', 'vlan', 'ipMasq', 'hairpinMode', 'subnet', 'ranges',
  'routes', 'dataDir', 'rangeStart', 'rangeEnd', 'gateway', 'delegate', 'subnetFile', 'ips', 'mac', 'cni',
  'dst', 'gw', 'interfaces', 'address', 'version', 'nameservers', 'Subnet', 'RANGES',
] as const;
export const nastyKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', ...FIELD_NAMES),
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);

/** Build an object from entries so that "__proto__" stays an own data property, as JSON.parse makes it. */
export const objectOf = <T>(entries: [string, T][]): Record<string, T> => Object.fromEntries(entries);

// ------------------------------------------------------------------ JSON values

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export const hostileJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    nastyNumber,
    nastyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(nastyKey, tie('value')), { maxLength: 4 }).map(objectOf),
  ),
})).value;

/** `depth` levels of arrays (or objects) around 1. */
export function nested(depth: number, kind: 'array' | 'object' = 'array'): Json {
  let v: Json = 1;
  for (let i = 0; i < depth; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
}

/** Values of the wrong JSON type for a field of type `want` (null excluded: it means "absent", as in Go). */
export function wrongTypes(want: 'string' | 'bool' | 'number' | 'object' | 'array'): Json[] {
  const all: Record<string, Json[]> = {
    string: ['x', '', '10.0.0.0/8', '__proto__'],
    bool: [true, false],
    number: [0, 1, -1, 1500, 1e308],
    object: [{}, objectOf<Json>([['__proto__', 'x']]), { a: 1 }],
    array: [[], ['x'], [1, 2]],
  };
  const wrong = Object.entries(all).filter(([k]) => k !== want).flatMap(([, v]) => v);
  // A number field also refuses non-integers; a string field refuses numeric look-alikes as numbers.
  return want === 'number' ? [...wrong, 1.5, -0.5] : wrong;
}

/** A copy of `base` with the value at `path` replaced (paths through arrays use numeric strings). */
export function setAt(base: Json, path: readonly (string | number)[], value: Json): Json {
  const copy = structuredClone(base) as Record<string, Json>;
  let cur: Record<string, Json> = copy;
  for (const k of path.slice(0, -1)) {
    // A missing (or non-container) step becomes an object, so the leaf can be set.
    if (cur[k as string] === null || typeof cur[k as string] !== 'object') cur[k as string] = {};
    cur = cur[k as string] as Record<string, Json>;
  }
  Object.defineProperty(cur, path[path.length - 1], { value, enumerable: true, writable: true, configurable: true });
  return copy as Json;
}
