// JSON as Go's encoding/json prints it, for bytes that must equal what the reference
// plugins and libcni write (flannel's saved delegate config, libcni's result cache).

// Objects that Go encodes from a struct (field order) rather than a map (sorted keys).
const structOrder = new WeakSet<object>();
export function goStruct<T extends object>(o: T): T {
  structOrder.add(o);
  return o;
}

// Go compares map keys as UTF-8 bytes; JS's default sort compares UTF-16 units.
const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

// Go escapes <, > and & (HTML safety) and the JS line separators; JSON.stringify does not.
const goString = (s: string): string =>
  JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/**
 * Compact JSON as Go's json.Marshal prints a map[string]interface{}: keys sorted at
 * every level, HTML characters escaped, no trailing newline. Numbers print alike in
 * both languages (shortest round-trip, exponent from 1e21 and below 1e-6).
 */
export function marshalGo(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new TypeError(`cannot encode ${v} as JSON`);
      return Object.is(v, -0) ? '-0' : String(v);
    case 'string':
      return goString(v);
    case 'object': {
      if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : marshalGo(x))).join(',')}]`;
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).filter((k) => o[k] !== undefined);
      if (!structOrder.has(o)) keys.sort(byUtf8);
      return `{${keys.map((k) => `${goString(k)}:${marshalGo(o[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`cannot encode a ${typeof v} as JSON`);
  }
}
